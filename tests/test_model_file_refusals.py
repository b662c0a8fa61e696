"""Reliability: bad model files, hostile legacy pickles and bad hyper-parameters are refused
with a message naming the problem (engine and CLI); nothing is run, nothing is written.
See docs/RELIABILITY.md."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.reliability import (
    ROOT,
    assert_cli_error,
    npz_arrays,
    run_cli,
    save_small_model,
    small_model,
    write_npz,
)

from core.checkpoint import FORMAT_VERSION, LegacyPickleError, ModelFileError, import_legacy, load_model
from core.data import BatchSchedule
from core.models import ConfigError, ModelConfig
from core.optim import make_optimizer


# ----------------------------------------------------------------------------- model files
def _edited(tmp: Path, name: str, edit_arrays=None, edit_meta=None) -> Path:
    """A copy of a valid model file with its arrays and/or meta edited."""
    arrays, meta = npz_arrays(save_small_model(tmp / "good.npz"))
    if edit_arrays:
        edit_arrays(arrays)
    if edit_meta:
        edit_meta(meta)
    return write_npz(tmp / name, arrays, meta)


def _cut(keep):
    def make(tmp: Path) -> Path:
        raw = save_small_model(tmp / "good.npz").read_bytes()
        n = keep(len(raw))
        (tmp / "cut.npz").write_bytes(raw[:n])
        return tmp / "cut.npz"
    return make


def _corrupt_middle(tmp: Path) -> Path:
    raw = bytearray(save_small_model(tmp / "good.npz").read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\xff" * 64
    (tmp / "corrupt.npz").write_bytes(raw)
    return tmp / "corrupt.npz"


def _array_bomb(tmp: Path) -> Path:
    """A valid file plus an array whose header claims 10^11 float64 values (800 GB)."""
    good = save_small_model(tmp / "good.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp / "bomb.npz", "w") as dst:
        for item in src.namelist():
            if item != "param/out.b.npy":
                dst.writestr(item, src.read(item))
        dst.writestr("param/out.b.npy", header.getvalue() + bytes(64))
    return tmp / "bomb.npz"


def _set(key, value):
    def edit(d):
        d[key] = value
    return edit


def _set_config(key, value):
    def edit(meta):
        meta["config"][key] = value
    return edit


def _poke(key, index, value):
    def edit(arrays):
        arrays[key].flat[index] = value
    return edit


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _pickle_file(tmp: Path) -> Path:
    (tmp / "weights.npz").write_bytes(pickle.dumps((np.zeros(3),)))
    return tmp / "weights.npz"


def _npy_file(tmp: Path) -> Path:
    np.save(tmp / "weights.npy", np.ones(5))
    return tmp / "weights.npy"


# name -> (builder(tmp_path) -> path, words the message must contain)
BAD_MODELS = {
    "missing file": (lambda t: t / "nothing.npz", ["not found"]),
    "folder": (lambda t: t, ["folder"]),
    "empty file": (lambda t: _write(t / "e.npz", b""), ["not a VAE Explorer model file"]),
    "text file": (lambda t: _write(t / "t.npz", b"hello"), ["not a VAE Explorer model file"]),
    "a pickle": (_pickle_file, ["pickle", "never loaded"]),
    "a single .npy": (_npy_file, [".npy", "not a VAE Explorer model file"]),
    "npz without meta": (lambda t: write_npz(t / "x.npz", {"a": np.ones(3)}, None), ["no 'meta'"]),
    "another format": (lambda t: write_npz(t / "x.npz", {}, {"format": "keras"}), ["not a VAE Explorer", "keras"]),
    "truncated to 10 bytes": (_cut(lambda n: 10), ["truncated"]),
    "truncated to half": (_cut(lambda n: n // 2), ["truncated"]),
    "last 22 bytes cut": (_cut(lambda n: n - 22), ["truncated"]),
    "corrupted middle": (_corrupt_middle, ["damaged"]),
    "missing array": (lambda t: _edited(t, "m.npz", edit_arrays=lambda a: a.pop("param/out.b")),
                      ["missing parameter arrays", "out.b"]),
    "unknown array": (lambda t: _edited(t, "u.npz", edit_arrays=_set("param/extra.W", np.ones(2))), ["extra.W"]),
    "shape contradicts config": (lambda t: _edited(t, "s.npz", edit_meta=_set_config("hidden", [9])),
                                 ["shape", "needs"]),
    "config claims 10^9 hidden units": (lambda t: _edited(t, "h.npz", edit_meta=_set_config("hidden", [100_000] * 5)),
                                   ["80,113,600,564 parameters", "limit of 50,000,000", "--max-params"]),
    "array header claims 800 GB": (_array_bomb, ["shape", "(100000000000,)"]),
    "NaN parameter": (lambda t: _edited(t, "nan.npz", edit_arrays=_poke("param/enc0.W", 7, np.nan)),
                      ["NaN or infinite", "enc0.W"]),
    "inf parameter": (lambda t: _edited(t, "inf.npz", edit_arrays=_poke("param/out.b", 0, np.inf)),
                      ["NaN or infinite", "out.b"]),
    "NaN optimiser state": (lambda t: _edited(t, "on.npz", edit_arrays=_poke("optim/v", 3, np.nan)),
                            ["NaN or infinite", "v"]),
    "text parameter": (lambda t: _edited(t, "str.npz", edit_arrays=_set("param/out.b", np.array(["x"] * 560))),
                       ["dtype"]),
    "complex parameter": (lambda t: _edited(t, "c.npz", edit_arrays=_set("param/out.b", np.ones(560, complex))),
                          ["dtype"]),
    "newer format version": (lambda t: _edited(t, "v.npz", edit_meta=_set("format_version", FORMAT_VERSION + 1)),
                             ["newer", "update"]),
    "format version text": (lambda t: _edited(t, "vt.npz", edit_meta=_set("format_version", "2")),
                            ["invalid format version"]),
    "config not a mapping": (lambda t: _edited(t, "cl.npz", edit_meta=_set("config", [1, 2])), ["no model config"]),
    "hidden size is text": (lambda t: _edited(t, "ht.npz", edit_meta=_set_config("hidden", ["a"])),
                            ["config hidden must be a list of 1 to 64 whole numbers in [1, 100000]", "['a']"]),
    "negative beta": (lambda t: _edited(t, "b.npz", edit_meta=_set_config("beta", -1)), ["beta"]),
    "step is text": (lambda t: _edited(t, "st.npz", edit_meta=_set("step", "abc")), ["step"]),
    "optimiser not a mapping": (lambda t: _edited(t, "o.npz", edit_meta=_set("optimizer", [1])), ["optimiser"]),
    "unknown optimiser": (lambda t: _edited(t, "on2.npz", edit_meta=lambda m: m["optimizer"].update(name="lbfgs")),
                          ["optimiser", "lbfgs"]),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_model_file_is_refused_with_a_clear_message(case, tmp_path):
    make, words = BAD_MODELS[case]
    path = make(tmp_path)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_the_data_file_is_not_a_model(frey_path):
    with pytest.raises(ModelFileError, match="not a VAE Explorer model file"):
        load_model(frey_path)


def test_a_valid_file_still_loads(tmp_path):
    """The checks are not over-strict: a saved model with optimiser state loads and resumes."""
    loaded = load_model(save_small_model(tmp_path / "good.npz"))
    assert loaded.model.config.hidden == [8] and loaded.optimizer().name == "adam"


@pytest.mark.parametrize("case", ["a pickle", "truncated to half", "missing array", "shape contradicts config",
                                  "NaN parameter", "newer format version", "text file"])
def test_cli_bad_model_file_exits_2_with_one_line(case, tmp_path, capsys):
    make, words = BAD_MODELS[case]
    path = make(tmp_path)
    png = tmp_path / "faces.png"
    code, out, err = run_cli(capsys, "sample", "--weights", path, "--save", png)
    assert_cli_error(code, err, *words)
    assert out == "" and not png.exists()


def test_cli_resume_from_a_bad_file_keeps_it(tmp_path, capsys, frey_path):
    """`train --resume` on a damaged file refuses and leaves the file byte-for-byte as it was."""
    path = BAD_MODELS["truncated to half"][0](tmp_path)
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "train", "--resume", "--out", path, "--steps", "5", "--data", frey_path, "--quiet")
    assert_cli_error(code, err, "truncated")
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------- legacy pickles
AE_SHAPES = {"Wi": (8, 560), "Wm": (2, 8), "Wd": (8, 2), "Wo": (560, 8),
             "Bi": (8, 1), "Bm": (2, 1), "Bd": (8, 1), "Bo": (560, 1)}


def _ae_arrays(**override) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [override.get(n, rng.standard_normal(s) * 0.1) for n, s in AE_SHAPES.items()]


class _Payload:
    """Pickles as a call of ``func(*args)``: what a malicious weights file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_payloads(sentinel: Path) -> dict[str, object]:
    shell = f"touch {sentinel}"
    return {
        "os.system": _Payload(os.system, shell),
        "subprocess.call": _Payload(subprocess.call, ["touch", str(sentinel)]),
        "builtins.exec": _Payload(exec, f"open({str(sentinel)!r}, 'w').close()"),
        "builtins.eval": _Payload(eval, f"open({str(sentinel)!r}, 'w').close()"),
        # a NumPy function that is not an array constructor: np.save would write a file
        "numpy.save": _Payload(np.save, str(sentinel), np.zeros(1)),
        # the payload hidden among valid arrays
        "os.system inside a weight tuple": tuple(_ae_arrays()[:4]) + (_Payload(os.system, shell),),
    }


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("payload", ["os.system", "subprocess.call", "builtins.exec", "builtins.eval", "numpy.save",
                                     "os.system inside a weight tuple"])
def test_hostile_pickle_is_refused_and_runs_nothing(payload, protocol, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(_hostile_payloads(sentinel)[payload], protocol=protocol))
    with pytest.raises(LegacyPickleError, match="refused") as info:
        import_legacy(path)
    assert "nothing was run" in str(info.value)
    assert not sentinel.exists()


def test_the_hostile_payload_is_live(tmp_path):
    """Control for the test above: the plain unpickler does run the payload (in a child
    process), so a missing sentinel really means the restricted unpickler stopped it."""
    sentinel = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(_hostile_payloads(sentinel)["os.system"]))
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open({str(path)!r}, 'rb'))"], check=True)
    assert sentinel.exists()


def test_cli_import_legacy_refuses_a_hostile_pickle(tmp_path, capsys):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(_hostile_payloads(sentinel)["os.system"]))
    out = tmp_path / "imported.npz"
    code, _, err = run_cli(capsys, "import-legacy", path, "--out", out)
    assert_cli_error(code, err, "refused", "system")
    assert not sentinel.exists() and not out.exists()


def _swap(name: str, value):
    return _ae_arrays(**{name: value})


BAD_PICKLES = {
    "7 arrays for an AE": (lambda: _ae_arrays()[:7], "ae", ["7 arrays", "needs 8"]),
    "AE arrays imported as VAE": (_ae_arrays, "vae", ["8 arrays", "needs 10"]),
    "Wm contradicts Wi": (lambda: _swap("Wm", np.zeros((2, 9))), "ae", ["Wm", "shape", "expected"]),
    "bias of wrong shape": (lambda: _swap("Bo", np.zeros((559, 1))), "ae", ["Bo", "(559, 1)"]),
    "1-D weight": (lambda: _swap("Wi", np.zeros(560)), "ae", ["Wi", "2-D"]),
    "text weights": (lambda: _swap("Wo", np.full((560, 8), "x")), "ae", ["refused", "dtype <U1", "plain numbers"]),
    "NaN weights": (lambda: _swap("Wd", np.full((8, 2), np.nan)), "ae", ["Wd", "NaN"]),
    "a dict": (lambda: {"Wi": np.zeros((8, 560))}, "ae", ["tuple of arrays", "dict"]),
    "zero-sized layers": (lambda: [np.zeros((0, 560)), np.zeros((2, 0)), np.zeros((0, 2)), np.zeros((560, 0)),
                                   np.zeros((0, 1)), np.zeros((2, 1)), np.zeros((0, 1)), np.zeros((560, 1))],
                          "ae", ["usable"]),
}


@pytest.mark.parametrize("case", list(BAD_PICKLES))
def test_malformed_legacy_pickle_is_refused(case, tmp_path):
    make, kind, words = BAD_PICKLES[case]
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(make()))
    with pytest.raises(LegacyPickleError) as info:
        import_legacy(path, kind=kind)
    for word in words:
        assert word in str(info.value), f"{case}: {word!r} not in {info.value}"


def test_a_pickle_asking_for_a_9_tb_array_is_refused(tmp_path):
    """NumPy's own array constructor is allowed, so a pickle can ask it for a huge array: the
    allocation error becomes a refusal instead of a crash."""
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps((_Payload(np._core.multiarray._reconstruct, np.ndarray, (9 * 10**12,), b"b"),)))
    with pytest.raises(LegacyPickleError):
        import_legacy(path)


def test_not_a_pickle_at_all(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_text("just text")
    with pytest.raises(LegacyPickleError, match="not a readable weights pickle"):
        import_legacy(path)


def test_a_valid_legacy_pickle_imports(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(tuple(_ae_arrays())))
    model = import_legacy(path)
    np.testing.assert_allclose(model.params["enc0.W"], _ae_arrays()[0].T, rtol=1e-6)


@pytest.mark.parametrize("case", ["7 arrays for an AE", "Wm contradicts Wi", "text weights"])
def test_cli_import_legacy_malformed_exits_2(case, tmp_path, capsys):
    make, kind, words = BAD_PICKLES[case]
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(make()))
    out = tmp_path / "imported.npz"
    code, _, err = run_cli(capsys, "import-legacy", path, "--model", kind, "--out", out)
    assert_cli_error(code, err, *words)
    assert not out.exists()


# ----------------------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("field, value, word", [
    ("hidden", [0], "hidden"), ("hidden", [-5], "hidden"), ("hidden", [], "hidden"), ("hidden", [16, 0], "hidden"),
    ("latent", 0, "latent"), ("latent", -2, "latent"),
    ("beta", -0.5, "beta"), ("beta", float("nan"), "beta"), ("beta", float("inf"), "beta"),
    ("warmup_steps", -1, "warmup_steps"),
])
def test_bad_model_config_is_refused(field, value, word):
    with pytest.raises(ConfigError, match=word):
        ModelConfig(**{field: value}).validate()


@pytest.mark.parametrize("lr", [0, -1e-3, float("nan"), float("inf"), "0.1"])
@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_bad_learning_rate_is_refused(name, lr):
    with pytest.raises(ValueError, match="learning rate"):
        make_optimizer(name, small_model(), lr)


@pytest.mark.parametrize("batch, word", [(0, "must be > 0"), (-3, "must be > 0"), (101, "larger than")])
def test_bad_batch_size_is_refused(batch, word):
    with pytest.raises(ValueError, match=word):
        BatchSchedule(np.arange(100), batch)


def _cli_train(capsys, tmp_path, frey_path, *extra):
    out = tmp_path / "model.npz"
    result = run_cli(capsys, "train", "--data", frey_path, "--out", out, "--quiet", "--steps", "3", *extra)
    assert not out.exists()
    return result


@pytest.mark.parametrize("argv, words", [
    (["--hidden", "0"], ["--hidden", "> 0"]),
    (["--hidden=-8"], ["--hidden", "> 0"]),
    (["--hidden", "256,abc"], ["--hidden", "whole number"]),
    (["--latent", "0"], ["--latent", ">= 1"]),
    (["--latent=-1"], ["--latent", ">= 1"]),
    (["--batch-size", "0"], ["--batch-size", ">= 1"]),
    (["--batch-size", "5000"], ["batch size 5000", "larger than the training split"]),
    (["--lr", "0"], ["--lr", "> 0"]),
    (["--lr=-0.01"], ["--lr", "> 0"]),
    (["--lr", "nan"], ["--lr"]),
    (["--lr", "fast"], ["--lr", "must be a number"]),
    (["--beta=-1"], ["--beta", ">= 0"]),
    (["--beta", "inf"], ["--beta"]),
    (["--warmup-steps=-5"], ["--warmup-steps", ">= 0"]),
    (["--epochs", "0"], ["--epochs", ">= 1"]),
    (["--log-every", "0"], ["--log-every", ">= 1"]),
])
def test_cli_bad_hyper_parameters_exit_2_with_one_line(argv, words, tmp_path, frey_path, capsys):
    code, _, err = _cli_train(capsys, tmp_path, frey_path, *argv)
    assert_cli_error(code, err, *words)


def test_cli_steps_zero(tmp_path, frey_path, capsys):
    out = tmp_path / "model.npz"
    code, _, err = run_cli(capsys, "train", "--data", frey_path, "--out", out, "--steps", "0")
    assert_cli_error(code, err, "--steps", ">= 1")


@pytest.mark.parametrize("where", ["a folder", "inside a file"])
def test_cli_unwritable_out_is_refused_before_training(where, tmp_path, capsys):
    """--out that cannot be written is refused up front (the data path is bogus on purpose:
    the --out check comes first, so no data is loaded and no training is lost)."""
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path if where == "a folder" else tmp_path / "notes.txt" / "model.npz"
    code, _, err = run_cli(capsys, "train", "--out", out, "--data", tmp_path / "missing.mat", "--steps", "5")
    assert_cli_error(code, err, "--out" if where == "a folder" else "not a writable folder")


def test_cli_error_is_one_line_in_a_real_process(tmp_path):
    """The same contract seen from outside: a child process, its real stderr and exit status."""
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "sample", "--weights", str(tmp_path / "none.npz"),
                           "--save", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "model file not found" in proc.stderr
