"""Model files (.npz round trip, exact resume, atomic writes) and the assignment's legacy pickles
(import reproduces the assignment's forward pass; hostile pickles are refused before they run)."""

from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers.factories import small_model

import core.checkpoint as checkpoint
from core.checkpoint import (
    FORMAT,
    LegacyPickleError,
    ModelFileError,
    import_legacy,
    load_model,
    read_legacy_pickle,
    read_meta,
    save_model,
)
from core.models import ModelConfig
from core.optim import make_optimizer
from core.train import Trainer

REFERENCE_NAME = "seed_ae_weights.pkl"


# ============================================================================ legacy import
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def relu(a):
    return np.maximum(a, 0.0)


def assignment_forward(arrays, X):
    """The assignment's AE, column-wise in float64: p = σ(Wo·relu(Wd·relu(Wm·relu(Wi·x+Bi)+Bm)+Bd)+Bo)."""
    Wi, Wm, Wd, Wo, Bi, Bm, Bd, Bo = (np.asarray(a, dtype=np.float64) for a in arrays)
    x = X.T.astype(np.float64)  # (560, N): one face per column
    return sigmoid(Wo @ relu(Wd @ relu(Wm @ relu(Wi @ x + Bi) + Bm) + Bd) + Bo).T


def test_legacy_import_reproduces_assignment_forward_pass(reference_pickle, frey):
    with open(reference_pickle, "rb") as f:  # a trusted test file: plain pickle is fine here
        arrays = pickle.load(f)
    assert len(arrays) == 8
    expected = assignment_forward(arrays, frey)

    exact = import_legacy(reference_pickle, kind="ae", dtype="float64")
    assert exact.dtype == np.float64 and exact.config.kind == "ae" and exact.config.code_activation == "relu"
    assert exact.config.hidden == [arrays[0].shape[0]] and exact.config.latent == arrays[1].shape[0]
    got = np.asarray(exact.reconstruct(frey))
    assert np.abs(got - expected).max() < 1e-12

    default = import_legacy(reference_pickle)
    assert default.dtype == np.float32
    got32 = np.asarray(default.reconstruct(frey), dtype=np.float64)
    assert np.abs(got32 - expected).max() < 1e-5


def test_legacy_import_of_a_made_pickle_reproduces_its_forward_pass(legacy_ae_pickle, frey):
    """The same check on a pickle the test makes itself (runs on a plain clone)."""
    with open(legacy_ae_pickle, "rb") as f:
        arrays = pickle.load(f)
    model = import_legacy(legacy_ae_pickle, kind="ae", dtype="float64")
    assert np.abs(np.asarray(model.reconstruct(frey[:200])) - assignment_forward(arrays, frey[:200])).max() < 1e-12


def test_legacy_import_copies_every_array(legacy_ae_pickle):
    with open(legacy_ae_pickle, "rb") as f:
        Wi, Wm, Wd, Wo, Bi, Bm, Bd, Bo = pickle.load(f)
    model = import_legacy(legacy_ae_pickle, dtype="float64")
    p = model.params
    for ours, theirs in [(p["enc0.W"], Wi.T), (p["code.W"], Wm.T), (p["dec0.W"], Wd.T), (p["out.W"], Wo.T),
                         (p["enc0.b"], Bi.ravel()), (p["code.b"], Bm.ravel()), (p["dec0.b"], Bd.ravel()),
                         (p["out.b"], Bo.ravel())]:
        np.testing.assert_array_equal(ours, theirs)


def test_imported_model_saves_and_loads(legacy_ae_pickle, tmp_path):
    model = import_legacy(legacy_ae_pickle)
    path = save_model(tmp_path / "legacy.npz", model)
    loaded = load_model(path).model
    np.testing.assert_array_equal(loaded.flat, model.flat)
    assert loaded.config.to_dict() == model.config.to_dict()


def random_vae_arrays(rng, d=30, hidden=12, latent=3):
    """A VAE-layout pickle's arrays: Wi, Wm, Wv, Wd, Wo, Bi, Bm, Bv, Bd, Bo (column-vector shapes)."""
    shapes = [(hidden, d), (latent, hidden), (latent, hidden), (hidden, latent), (d, hidden),
              (hidden, 1), (latent, 1), (latent, 1), (hidden, 1), (d, 1)]
    return tuple(rng.standard_normal(s) * 0.5 for s in shapes)


def test_legacy_vae_layout_import(tmp_path, rng):
    arrays = random_vae_arrays(rng)
    path = tmp_path / "vae.pkl"
    path.write_bytes(pickle.dumps(arrays))
    Wi, Wm, Wv, Wd, Wo, Bi, Bm, Bv, Bd, Bo = arrays
    model = import_legacy(path, kind="vae", dtype="float64")
    assert model.config.kind == "vae" and model.config.input_dim == 30 and model.config.latent == 3
    X = rng.random((5, 30))
    h = relu(Wi @ X.T + Bi)
    mean, logvar = model.encode(X)
    np.testing.assert_allclose(mean, (Wm @ h + Bm).T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logvar, (Wv @ h + Bv).T, rtol=1e-12, atol=1e-14)
    z = rng.standard_normal((5, 3))
    np.testing.assert_allclose(model.decode(z), sigmoid(Wo @ relu(Wd @ z.T + Bd) + Bo).T, rtol=1e-12, atol=1e-14)


def test_legacy_wrong_array_count_is_a_clear_error(tmp_path, rng):
    path = tmp_path / "vae.pkl"
    path.write_bytes(pickle.dumps(random_vae_arrays(rng)))
    with pytest.raises(LegacyPickleError, match=r"10 arrays.*AE layout needs 8"):
        import_legacy(path, kind="ae")
    eight = tmp_path / "ae.pkl"
    eight.write_bytes(pickle.dumps(random_vae_arrays(rng)[:8]))
    with pytest.raises(LegacyPickleError, match=r"8 arrays.*VAE layout needs 10"):
        import_legacy(eight, kind="vae")


def test_legacy_wrong_shape_names_the_array(tmp_path, rng):
    arrays = list(random_vae_arrays(rng))
    arrays[3] = rng.standard_normal((12, 4))  # Wd should be (hidden, latent) = (12, 3)
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(tuple(arrays)))
    with pytest.raises(LegacyPickleError, match=r"Wd has shape \(12, 4\), expected \(12, 3\)"):
        import_legacy(path, kind="vae")


def test_legacy_not_a_tuple_of_arrays(tmp_path):
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"Wi": 1}))
    with pytest.raises(LegacyPickleError, match="tuple of arrays"):
        read_legacy_pickle(path)
    with pytest.raises(LegacyPickleError, match="not found"):
        read_legacy_pickle(tmp_path / "nope.pkl")
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(LegacyPickleError):
        read_legacy_pickle(garbage)


def test_legacy_learned_variance_is_refused(legacy_ae_pickle):
    with pytest.raises(LegacyPickleError, match="variance"):
        import_legacy(legacy_ae_pickle, likelihood="gaussian-learned")


class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __init__(self, source):
        self.source = source

    def __reduce__(self):
        return (builtins.eval, (self.source,))


def hostile_pickles(sentinel: Path) -> dict[str, bytes]:
    touch = f"__import__('pathlib').Path({str(sentinel)!r}).touch()"
    return {
        "os.system": pickle.dumps(_SystemCall(f"touch '{sentinel}'")),
        "builtins.eval": pickle.dumps(_Eval(touch)),
        # protocol 0 by hand: numpy.load('<sentinel>') (would read any file; with allow_pickle, run code)
        "numpy.load": b"cnumpy\nload\n(V" + str(sentinel).encode() + b"\ntR.",
        # the hostile call hidden inside an otherwise valid tuple of arrays
        "nested": pickle.dumps((np.zeros((2, 2)), _SystemCall(f"touch '{sentinel}'"))),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "numpy.load", "nested"])
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, kind):
    sentinel = tmp_path / "sentinel"
    path = tmp_path / f"{kind}.pkl"
    path.write_bytes(hostile_pickles(sentinel)[kind])
    # (the match is specific: tmp_path itself contains this test's name, "...refused...")
    with pytest.raises(LegacyPickleError, match=r"refused: the pickle asks for (posix|os|builtins|numpy)\."):
        import_legacy(path)
    with pytest.raises(LegacyPickleError, match=r"refused: the pickle asks for (posix|os|builtins|numpy)\."):
        read_legacy_pickle(path)
    assert not sentinel.exists()


def test_hostile_pickle_sentinel_would_be_created_by_plain_pickle(tmp_path):
    """Proves the os.system fixture is really hostile (so the refusal test means something)."""
    sentinel = tmp_path / "sentinel"
    pickle.loads(hostile_pickles(sentinel)["os.system"])
    assert sentinel.exists()


# ============================================================================ model files
def make_trainer(model, opt, X):
    return Trainer(model, opt, X, None, batch_size=16, seed=3, log_every=4, eval_every=0)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adagrad"])
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_resume_gives_bit_identical_next_steps(tmp_path, synthetic_faces, kind, optimizer):
    model = small_model(kind, hidden=(16,), latent=4, dtype="float32", warmup_steps=20)
    opt = make_optimizer(optimizer, model, lr=1e-2)
    trainer = make_trainer(model, opt, synthetic_faces)
    for _ in range(7):  # k steps, not a multiple of the batches per epoch (4)
        trainer.step()
    path = save_model(tmp_path / "m.npz", model, opt)

    loaded = load_model(path)
    resumed_model, resumed_opt = loaded.model, loaded.optimizer()
    assert resumed_model.step == 7 and resumed_opt.t == 7
    np.testing.assert_array_equal(resumed_model.flat, model.flat)
    resumed = make_trainer(resumed_model, resumed_opt, synthetic_faces)
    for _ in range(3):
        trainer.step()
        resumed.step()
        np.testing.assert_array_equal(resumed_model.flat, model.flat)
    assert resumed_model.step == model.step == 10


def test_resume_differs_without_optimizer_state(tmp_path, synthetic_faces):
    """Control for the test above: a fresh Adam after loading does not reproduce the next step."""
    model = small_model("vae", hidden=(16,), latent=4, dtype="float32")
    opt = make_optimizer("adam", model, lr=1e-2)
    trainer = make_trainer(model, opt, synthetic_faces)
    for _ in range(5):
        trainer.step()
    loaded = load_model(save_model(tmp_path / "m.npz", model, opt)).model
    fresh = make_trainer(loaded, make_optimizer("adam", loaded, lr=1e-2), synthetic_faces)
    trainer.step()
    fresh.step()
    assert not np.array_equal(loaded.flat, model.flat)


def test_meta_holds_config_step_optimizer_and_extra(tmp_path):
    model = small_model("vae", likelihood="gaussian-learned", hidden=(8, 6), latent=3, beta=2.0, warmup_steps=5)
    model.step = 42
    opt = make_optimizer("adam", model, lr=3e-4)
    path = save_model(tmp_path / "sub" / "m.npz", model, opt, extra={"train": {"batch_size": 32}, "note": "hi"})
    meta = read_meta(path)
    assert meta["format"] == FORMAT and meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["config"] == model.config.to_dict()
    assert ModelConfig.from_dict(meta["config"]).to_dict() == model.config.to_dict()
    assert meta["step"] == 42
    assert meta["optimizer"] == {"name": "adam", "t": 0, "lr": 3e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                 "m_scale": 1.0, "v_scale": 1.0}
    assert meta["train"] == {"batch_size": 32} and meta["note"] == "hi"
    loaded = load_model(path)
    assert loaded.meta["note"] == "hi" and loaded.model.step == 42
    assert loaded.model.config.describe() == model.config.describe()


def test_file_loads_with_allow_pickle_false(tmp_path):
    model = small_model("ae", hidden=(8,), latent=3)
    opt = make_optimizer("sgd", model)
    path = save_model(tmp_path / "m.npz", model, opt)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}  # reading every entry needs no pickle
    assert {f"param/{n}" for n in model.params} | {"optim/buf", "meta"} == set(arrays)
    for name, value in model.params.items():
        np.testing.assert_array_equal(arrays[f"param/{name}"], value)
    assert all(a.dtype != object for a in arrays.values())


def test_model_without_optimizer_state(tmp_path):
    model = small_model("vae", hidden=(8,), latent=3)
    loaded = load_model(save_model(tmp_path / "m.npz", model))
    assert loaded.optimizer_state is None and loaded.optimizer() is None


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model = small_model("vae", hidden=(8,), latent=3)
    target = tmp_path / "m.npz"
    save_model(target, model)
    save_model(target, model, make_optimizer("adam", model))  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    good_bytes = target.read_bytes()

    def crash(f, *args, **kwargs):  # half a file, then a failure (disk full, power cut in the middle)
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", crash)
    model.params["out.b"][...] = 1.0
    with pytest.raises(OSError, match="disk full"):
        save_model(target, model)
    monkeypatch.undo()
    assert target.read_bytes() == good_bytes  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert not load_model(target).model.params["out.b"].any()


def test_non_finite_parameters_are_not_saved(tmp_path):
    model = small_model("vae", hidden=(8,), latent=3)
    model.params["dec0.W"][0, 0] = np.nan
    with pytest.raises(ModelFileError, match="dec0.W"):
        save_model(tmp_path / "m.npz", model)
    assert list(tmp_path.iterdir()) == []


def test_damaged_files_raise_model_file_error(tmp_path):
    model = small_model("vae", hidden=(8,), latent=3)
    good = save_model(tmp_path / "m.npz", model).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"hello world" * 10)
    for path in (tmp_path / "missing.npz", truncated, garbage):
        with pytest.raises(ModelFileError):
            load_model(path)
