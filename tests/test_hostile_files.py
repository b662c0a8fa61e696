"""Memory bombs and hangs: hostile model files, .mat files, pickles and paths.

Every bomb is opened in a child process whose address space is capped (``run_limited``), so a
regression fails the test (the child reports a MemoryError or the wrong message) instead of
exhausting the machine; the child's peak RSS is asserted too. See docs/RELIABILITY.md."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers.reliability import (
    ROOT,
    assert_cli_error,
    deflated_zeros,
    mat_bytes,
    mat_uint8_element,
    npy_bytes,
    npy_header,
    npz_arrays,
    patch_zip_member,
    run_cli,
    run_limited,
    save_small_model,
    write_zip_members,
)

from core.checkpoint import LegacyPickleError, ModelFileError, import_legacy, load_model, read_meta
from core.data import FREY_SHAPE, DataError, load_frey

RSS_LIMIT_MB = 600


def _load_in_child(path, call: str = "core.checkpoint.load_model") -> tuple[str, float]:
    module = call.rsplit(".", 1)[0]
    return run_limited(f"import {module}\n{call}({str(path)!r})")


# ----------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def meta_bomb(tmp_path_factory):
    """A valid small model whose meta.npy declares a 1 GB string: the JSON, then zeros (4.7 MB on disk)."""
    folder = tmp_path_factory.mktemp("meta_bomb")
    arrays, meta = npz_arrays(save_small_model(folder / "valid.npz"))
    text = json.dumps(meta).encode("utf-32-le")
    n_chars = 250_000_000
    prefix = npy_header((), f"<U{n_chars}") + text
    stream, crc = deflated_zeros(n_chars * 4 - len(text), prefix=prefix)
    members = {f"{k}.npy": npy_bytes(a) for k, a in arrays.items()}
    return write_zip_members(folder / "bomb.npz", members, {"meta.npy": (stream, crc, len(prefix) + n_chars * 4
                                                                         - len(text))})


def test_a_model_whose_meta_inflates_to_1_gb_is_refused_unread(meta_bomb):
    assert meta_bomb.stat().st_size < 6_000_000
    result, rss = _load_in_child(meta_bomb)
    assert result.startswith("ModelFileError") and "array meta declares" in result and "refused before reading" \
        in result, result
    assert rss < RSS_LIMIT_MB, rss


@pytest.fixture(scope="module")
def params_bomb(tmp_path_factory):
    """A consistent model file (config, names, shapes and headers all agree) of 60.5 M float32
    parameters, all zeros, deflated: 1 MB on disk, 242 MB of weights once inflated."""
    folder = tmp_path_factory.mktemp("params_bomb")
    _, meta = npz_arrays(save_small_model(folder / "valid.npz"))
    meta.pop("optimizer")
    meta["config"]["hidden"] = [53_600]
    from core.models import ModelConfig, param_shapes

    shapes = dict(param_shapes(ModelConfig.from_dict(meta["config"])))
    deflated = {}
    for name, shape in shapes.items():
        header = npy_header(shape, "<f4")
        stream, crc = deflated_zeros(int(np.prod(shape)) * 4, prefix=header)
        deflated[f"param/{name}.npy"] = (stream, crc, len(header) + int(np.prod(shape)) * 4)
    members = {"meta.npy": npy_bytes(np.array(json.dumps(meta)))}
    return write_zip_members(folder / "bomb.npz", members, deflated), sum(int(np.prod(s)) for s in shapes.values())


def test_a_consistent_model_over_the_parameter_limit_is_refused(params_bomb, capsys, tmp_path):
    path, n_params = params_bomb
    assert n_params > 50_000_000 and path.stat().st_size < 3_000_000
    result, rss = _load_in_child(path)
    assert result.startswith("ModelFileError") and f"{n_params:,} parameters" in result \
        and "limit of 50,000,000" in result and "--max-params" in result, result
    assert rss < RSS_LIMIT_MB, rss
    code, _, err = run_cli(capsys, "sample", "--weights", path, "--save", tmp_path / "s.png")
    assert_cli_error(code, err, "limit of 50,000,000", "--max-params")


def test_max_params_is_a_limit_the_user_can_raise_or_lower(tmp_path, capsys):
    path = save_small_model(tmp_path / "m.npz")  # 560-8-2: 13 k parameters
    with pytest.raises(ModelFileError, match="more than the limit of 1,000"):
        load_model(path, max_params=1000)
    code, _, err = run_cli(capsys, "sample", "--weights", path, "--save", tmp_path / "s.png", "--max-params", "1000")
    assert_cli_error(code, err, "limit of 1,000")
    code, _, _ = run_cli(capsys, "sample", "--weights", path, "--save", tmp_path / "s.png", "--n", "2")
    assert code == 0 and (tmp_path / "s.png").exists()


def test_a_header_claiming_a_huge_shape_names_the_array_and_the_needed_shape(tmp_path):
    """The .npy header is checked against the config before the array is read."""
    arrays, meta = npz_arrays(save_small_model(tmp_path / "valid.npz"))
    path = tmp_path / "huge.npz"
    members = {f"{k}.npy": npy_bytes(a) for k, a in arrays.items() if k != "param/enc0.W"}
    members["meta.npy"] = npy_bytes(np.array(json.dumps(meta)))
    members["param/enc0.W.npy"] = npy_header((560, 10**9), "<f4")  # a header alone: 2 TB declared
    write_zip_members(path, members, {})
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "param/enc0.W" in message and "(560, 1000000000)" in message and "needs (560, 8)" in message, message


@pytest.mark.parametrize("where", ["meta", "parameter"])
def test_a_pickled_member_never_runs(where, tmp_path):
    """An .npz whose meta.npy or a parameter array is a pickled object array (what np.load with
    allow_pickle=True would unpickle): refused, and the marker file its payload writes never appears."""
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    hostile = np.empty((), dtype=object)
    hostile[()] = Payload()
    arrays, meta = npz_arrays(save_small_model(tmp_path / "valid.npz"))
    payload = {**arrays, "meta": np.array(json.dumps(meta))}
    payload["meta" if where == "meta" else "param/out.b"] = hostile
    path = tmp_path / "hostile.npz"
    with open(path, "wb") as f:
        np.savez(f, allow_pickle=True, **payload)
    with pytest.raises(ModelFileError, match="meta|param/out.b"):
        load_model(path)
    assert not marker.exists()
    if where == "meta":
        with pytest.raises(ModelFileError):
            read_meta(path)
        assert not marker.exists()
    # the control: the payload is live, as the plain unpickler shows in a child process
    key = "meta" if where == "meta" else "param/out.b"
    code = f"import numpy as np; np.load({str(path)!r}, allow_pickle=True)[{key!r}]"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert marker.exists()


def test_deeply_nested_meta_is_one_clear_error(tmp_path):
    arrays, meta = npz_arrays(save_small_model(tmp_path / "valid.npz"))
    text = json.dumps(meta)[:-1] + ', "deep": ' + "[" * 50_000 + "]" * 50_000 + "}"
    path = tmp_path / "deep.npz"
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(text), **arrays)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load_model(path)


@pytest.mark.parametrize("flag_bits, method, words", [
    (0x1, None, ["meta", "is encrypted; model files are never encrypted"]),
    (None, 99, ["meta", "compression method 99", "stored (0) and deflated (8)"]),
    (None, 12, ["meta", "compression method 12"]),
])
def test_encrypted_or_oddly_compressed_members_are_refused(flag_bits, method, words, tmp_path, capsys):
    path = patch_zip_member(save_small_model(tmp_path / "m.npz"), "meta.npy", flag_bits, method)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    for word in words:
        assert word in str(info.value), info.value
    code, _, err = run_cli(capsys, "sample", "--weights", path, "--save", tmp_path / "s.png")
    assert_cli_error(code, err, *words)


# ----------------------------------------------------------------------------- .mat files
@pytest.fixture(scope="module")
def frey_like():
    return np.random.default_rng(0).integers(0, 256, FREY_SHAPE, dtype=np.uint8)


def test_a_mat_with_1_gb_of_compressed_junk_reads_only_ff(frey_like, tmp_path):
    path = tmp_path / "junk.mat"
    path.write_bytes(mat_bytes(ff=frey_like) + mat_uint8_element(b"junk", (1, 1_000_000_000)))
    assert path.stat().st_size < 8_000_000
    body = (f"import numpy as np, core.data\nX = core.data.load_frey({str(path)!r})\n"
            "assert X.shape == (1965, 560), X.shape")
    result, rss = run_limited(body)
    assert result == "ok", result
    assert rss < RSS_LIMIT_MB, rss
    np.testing.assert_array_equal(load_frey(path), frey_like.T.astype(np.float32) / np.float32(255))


def test_a_compressed_ff_that_inflates_past_its_shape_is_refused_while_inflating(tmp_path):
    """ff declares 560×1965 but its zlib stream holds 1 GB: refused after ~1.1 MB inflated."""
    path = tmp_path / "ffbomb.mat"
    header = mat_bytes(x=np.zeros(1))[:128]
    path.write_bytes(header + mat_uint8_element(b"ff", FREY_SHAPE, n_data=1_000_000_000))
    result, rss = run_limited(f"import core.data\ncore.data.load_frey({str(path)!r})")
    assert result.startswith("DataError") and "inflates to more than" in result, result
    assert rss < RSS_LIMIT_MB, rss


def test_a_declared_huge_ff_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "huge.mat"
    header = mat_bytes(x=np.zeros(1))[:128]
    path.write_bytes(header + mat_uint8_element(b"ff", (560, 2_000_000_000), n_data=8, compress=False))
    result, rss = run_limited(f"import core.data\ncore.data.load_frey({str(path)!r})")
    assert result.startswith("DataError") and "declares shape (560, 2000000000)" in result \
        and "refused before reading" in result, result
    assert rss < RSS_LIMIT_MB, rss
    code, _, err = run_cli(capsys, "evaluate", "--weights", ROOT / "model" / "ae.npz", "--data", path)
    assert_cli_error(code, err, "declares shape (560, 2000000000)")


def test_a_sparse_ff_is_one_clear_error(tmp_path, capsys):
    import scipy.sparse

    path = tmp_path / "sparse.mat"
    path.write_bytes(mat_bytes(ff=scipy.sparse.csc_matrix(np.ones(FREY_SHAPE))))
    with pytest.raises(DataError, match="'ff' in .* is a sparse matrix"):
        load_frey(path)
    code, _, err = run_cli(capsys, "evaluate", "--weights", ROOT / "model" / "ae.npz", "--data", path)
    assert_cli_error(code, err, "sparse matrix")


# ----------------------------------------------------------------------------- pickles
class _Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("name, payload, words", [
    ("10^8 object array", lambda: _Call(np.ndarray, (10**8,), np.dtype("O")), ["dtype object"]),
    ("10^9 float array", lambda: _Call(np.ndarray, (10**9,), np.dtype("f8")), ["1,000,000,000 elements"]),
    ("reconstructed object array", lambda: np.empty(3, dtype=object), ["dtype object"]),
])
def test_pickle_bombs_are_refused_before_allocating(name, payload, words, tmp_path):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(pickle.dumps((payload(),), protocol=2))
    assert path.stat().st_size < 300
    result, rss = _load_in_child(path, "core.checkpoint.read_legacy_pickle")
    assert result.startswith("LegacyPickleError") and "refused" in result, result
    for word in words:
        assert word in result, result
    assert rss < RSS_LIMIT_MB, rss


# ----------------------------------------------------------------------------- paths that never end
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_as_every_kind_of_input(device, capsys, tmp_path):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    for call, error in ((load_model, ModelFileError), (import_legacy, LegacyPickleError), (load_frey, DataError)):
        with pytest.raises(error, match="character device, not a regular file"):
            call(device)
    code, _, err = run_cli(capsys, "sample", "--weights", device, "--save", tmp_path / "s.png")
    assert_cli_error(code, err, device, "character device")


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_at_once_and_never_blocks(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    start = time.monotonic()
    for call, error in ((load_model, ModelFileError), (import_legacy, LegacyPickleError), (load_frey, DataError),
                        (read_meta, ModelFileError)):
        with pytest.raises(error, match="FIFO"):
            call(fifo)
    code, _, err = run_cli(capsys, "import-legacy", fifo, "--out", tmp_path / "m.npz")
    assert_cli_error(code, err, "FIFO")
    code, _, err = run_cli(capsys, "evaluate", "--weights", ROOT / "model" / "ae.npz", "--data", fifo)
    assert_cli_error(code, err, "FIFO")
    assert time.monotonic() - start < 10
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
