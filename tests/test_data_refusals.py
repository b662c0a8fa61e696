"""Reliability: a wrong data file is refused with a message naming the problem (engine and CLI),
and a download with the wrong checksum leaves no file behind. See docs/RELIABILITY.md."""

from __future__ import annotations

import http.server
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from helpers.reliability import assert_cli_error, local_http_server, run_cli

import core.data as data
from core.data import DataError, ensure_data, load_frey

FACES = (np.arange(560 * 1965) % 256).astype(np.uint8).reshape(560, 1965)  # a well-formed 'ff'


def _mat(path: Path, **variables) -> Path:
    scipy.io.savemat(str(path), variables)
    return path


def _bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _truncated(fraction: float):
    def make(tmp: Path, frey_path: Path) -> Path:
        real = frey_path.read_bytes()
        return _bytes(tmp / "truncated.mat", real[: int(len(real) * fraction)])
    return make


# name -> (builder(tmp_path, frey_path) -> path, words the message must contain)
BAD_DATA = {
    "missing file": (lambda t, f: t / "nowhere.mat", ["not found", "nowhere.mat"]),
    "folder": (lambda t, f: t, ["folder"]),
    "text file": (lambda t, f: _bytes(t / "notes.mat", b"these are not faces\n"), ["not a readable", ".mat"]),
    "empty file": (lambda t, f: _bytes(t / "empty.mat", b""), ["not a readable", "truncated"]),
    "npz instead of mat": (lambda t, f: _bytes(t / "m.mat", b"PK\x03\x04" + bytes(200)), ["not a readable"]),
    "no ff variable": (lambda t, f: _mat(t / "faces.mat", faces=FACES), ["no variable 'ff'", "faces"]),
    "wrong shape": (lambda t, f: _mat(t / "s.mat", ff=FACES[:, :100]), ["shape", "(560, 100)"]),
    "transposed": (lambda t, f: _mat(t / "tr.mat", ff=FACES.T), ["shape", "(1965, 560)"]),
    "text variable": (lambda t, f: _mat(t / "txt.mat", ff="hello"), ["shape"]),
    "complex dtype": (lambda t, f: _mat(t / "c.mat", ff=FACES.astype(np.complex128)), ["dtype", "complex"]),
    "values above 255": (lambda t, f: _mat(t / "hi.mat", ff=FACES.astype(np.float64) * 2), ["outside 0…255"]),
    "negative values": (lambda t, f: _mat(t / "neg.mat", ff=FACES.astype(np.int16) - 1), ["outside 0…255"]),
    "NaN pixels": (lambda t, f: _mat(t / "nan.mat", ff=np.where(FACES > 250, np.nan, FACES)), ["outside 0…255"]),
    "scaled to [0, 1]": (lambda t, f: _mat(t / "unit.mat", ff=FACES / 255.0), ["non-integer"]),
    "truncated 1%": (_truncated(0.01), ["truncated"]),
    "truncated 50%": (_truncated(0.5), ["truncated"]),
    "truncated 99%": (_truncated(0.99), ["truncated"]),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_file_is_refused_with_a_clear_message(case, tmp_path, frey_path):
    make, words = BAD_DATA[case]
    path = make(tmp_path, frey_path)
    with pytest.raises(DataError) as info:
        load_frey(path)
    message = str(info.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_valid_variants_still_load(tmp_path):
    """The checks are not over-strict: integer-valued float pixels are fine."""
    X = load_frey(_mat(tmp_path / "float.mat", ff=FACES.astype(np.float64)))
    assert X.shape == (1965, 560) and X.dtype == np.float32
    np.testing.assert_array_equal(X, FACES.T.astype(np.float32) / 255)


@pytest.mark.parametrize("case", ["missing file", "text file", "no ff variable", "wrong shape", "complex dtype",
                                  "values above 255", "truncated 50%"])
def test_cli_bad_data_exits_2_with_one_line(case, tmp_path, frey_path, capsys):
    make, words = BAD_DATA[case]
    path = make(tmp_path, frey_path)
    out = tmp_path / "model.npz"
    code, _, err = run_cli(capsys, "train", "--data", path, "--out", out, "--steps", "1", "--quiet")
    assert_cli_error(code, err, *words)
    assert not out.exists()


# ----------------------------------------------------------------------------- downloads
class _BadMirror(http.server.BaseHTTPRequestHandler):
    """Serves plausible bytes whose SHA-256 is not the Frey file's."""

    body = b"MATLAB 5.0 MAT-file, but not the faces" + bytes(4000)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def bad_mirror():
    for base in local_http_server(_BadMirror):
        yield f"{base}/frey_rawface.mat"


@pytest.fixture
def default_data_in(tmp_path, monkeypatch):
    """The default data path points into tmp_path (data/ is never touched)."""
    target = tmp_path / "data" / "frey_rawface.mat"
    monkeypatch.setattr(data, "DEFAULT_PATH", target)
    monkeypatch.delenv("VAE_DATA", raising=False)
    return target


def test_ensure_data_deletes_a_download_with_the_wrong_checksum(bad_mirror, default_data_in):
    with pytest.raises(DataError, match="SHA-256") as info:
        ensure_data(None, url=bad_mirror)
    assert "deleted" in str(info.value)
    assert not default_data_in.exists()
    assert list(default_data_in.parent.iterdir()) == []  # no .part left either


@pytest.mark.parametrize("quiet", [True, False])
def test_cli_download_with_the_wrong_checksum(bad_mirror, default_data_in, monkeypatch, tmp_path, capsys, quiet):
    """`train` without --data downloads the set; a bad checksum is one clear error line, exit 2,
    and neither the data file nor the model file exists afterwards."""
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout=30: real_urlopen(bad_mirror, timeout=5))
    out = tmp_path / "model.npz"
    code, _, err = run_cli(capsys, "train", "--out", out, "--steps", "1", *(["--quiet"] if quiet else []))
    if not quiet:  # the progress line is ended before the error, which then has a line of its own
        assert err.startswith("\rdownloading the Frey faces")
        err = err.split("\n", 1)[1]
    assert_cli_error(code, err, "SHA-256", "deleted")
    assert not default_data_in.exists() and not out.exists()
    assert list(default_data_in.parent.iterdir()) == []
