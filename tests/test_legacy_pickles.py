"""Legacy assignment pickles of every protocol, and Python 2's, import; only NumPy's exact forms are allowed
See docs/RELIABILITY.md."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers.reliability import assert_cli_error, py2_array_pickle, run_cli

from core.checkpoint import LegacyPickleError, import_legacy, load_model, read_legacy_pickle

AE_SHAPES = [(8, 560), (2, 8), (8, 2), (560, 8), (8, 1), (2, 1), (8, 1), (560, 1)]


def _arrays(dtype="f8") -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    # values whose bytes are not ASCII: a Python 2 str of them only decodes as latin1
    return [(rng.standard_normal(s) * 0.1).astype(dtype) for s in AE_SHAPES]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_python3_pickles_of_every_protocol_import(protocol, tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(tuple(_arrays()), protocol=protocol))
    for got, want in zip(read_legacy_pickle(path), _arrays(), strict=True):
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    model = import_legacy(path)
    np.testing.assert_allclose(model.params["enc0.W"], _arrays()[0].T, rtol=1e-6)


@pytest.mark.parametrize("protocol", [0, 2])
@pytest.mark.parametrize("dtype", ["f8", "f4"])
def test_python2_pickles_import(protocol, dtype, tmp_path, capsys):
    path = tmp_path / "py2.pkl"
    path.write_bytes(py2_array_pickle(_arrays(dtype), protocol))
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(path.read_bytes())  # what Python 3 does with them by default
    for got, want in zip(read_legacy_pickle(path), _arrays(dtype), strict=True):
        np.testing.assert_array_equal(got, want)
    out = tmp_path / "py2.npz"
    code, _, err = run_cli(capsys, "import-legacy", path, "--out", out)
    assert code == 0, err
    np.testing.assert_allclose(load_model(out).model.params["out.W"], _arrays(dtype)[3].T, rtol=1e-6)


class _Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _codecs_encode():
    import _codecs

    return _codecs.encode


@pytest.mark.parametrize("name, payload, words", [
    ("_codecs.encode to utf-8", lambda: _Call(_codecs_encode(), "abc", "utf-8"), ["_codecs.encode", "'utf-8'"]),
    ("_codecs.encode with rot13", lambda: _Call(_codecs_encode(), "abc", "rot13"), ["'rot13'"]),
    ("_codecs.encode of bytes", lambda: _Call(_codecs_encode(), b"abc", "latin1"), ["(bytes, 'latin1')"]),
    ("a structured dtype", lambda: np.zeros(2, dtype=[("a", "f8")]), ["dtype"]),
    ("a record of objects", lambda: np.zeros(2, dtype=[("a", "O")]), ["dtype"]),
    ("a sub-array dtype", lambda: np.dtype(("f8", (2,))), ["dtype"]),
])
def test_only_numpys_exact_forms_are_allowed(name, payload, words, tmp_path, capsys):
    for protocol in (0, 2, 5):
        path = tmp_path / "w.pkl"
        path.write_bytes(pickle.dumps((payload(),), protocol=protocol))
        with pytest.raises(LegacyPickleError) as info:
            read_legacy_pickle(path)
        for word in ["refused", *words]:
            assert word in str(info.value), (protocol, info.value)
    code, _, err = run_cli(capsys, "import-legacy", path, "--out", tmp_path / "m.npz")
    assert_cli_error(code, err, "refused")
    assert not (tmp_path / "m.npz").exists()


def test_a_state_whose_data_does_not_fill_the_shape_is_refused(tmp_path):
    """A Python 2 array state claiming 10^7 floats with 8 bytes of data: refused before NumPy allocates."""
    good = py2_array_pickle([np.zeros(1)], 2)
    bomb = good.replace(b"(J\x01\x00\x00\x00t", b"(J\x80\x96\x98\x00t")  # shape (1,) -> (10 000 000,)
    assert bomb != good
    path = tmp_path / "w.pkl"
    path.write_bytes(bomb)
    with pytest.raises(LegacyPickleError, match="does not fill an array of shape"):
        read_legacy_pickle(path)
