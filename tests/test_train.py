"""The training loop: it learns on the real faces, follows the KL warm-up schedule, stops on
request, and survives divergence with the last good (finite) weights in place."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.data import split_indices
from core.evaluate import neg_elbo
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer, TrainingDiverged, mirror_faces, sample_faces


@pytest.mark.frey
def test_training_lowers_test_neg_elbo_on_real_faces(frey):
    train_ids, test_ids = split_indices()
    model = Model(ModelConfig(kind="vae", hidden=[256], latent=16), seed=0)
    opt = make_optimizer("adam", model, lr=1e-3)
    trainer = Trainer(model, opt, frey[train_ids], frey[test_ids], batch_size=64, log_every=50, eval_every=250)
    before = neg_elbo(model, frey[test_ids])
    evals = []
    result = trainer.run(500, on_eval=lambda step, value: evals.append((step, value)))
    after = neg_elbo(model, frey[test_ids])
    assert result.status == "finished" and result.steps_done == 500 and model.step == 500
    # the untrained VAE costs ~466 nats/image; 400 Adam steps reach ~352 (measured)
    assert before - after > 90, (before, after)
    assert np.isfinite(after)
    assert [s for s, _ in evals] == [250, 500]
    assert evals[-1][1] == pytest.approx(after)  # the loop's test evaluation is the same −ELBO
    history = result.history["train"]
    assert history["step"] == list(range(50, 501, 50))
    assert np.mean(history["total"][-3:]) < history["total"][0]
    faces = sample_faces(model, 4, seed=1)
    assert faces.shape == (4, 560) and faces.min() >= 0 and faces.max() <= 1


def test_kl_warmup_weight_schedule(synthetic_faces):
    model = small_model("vae", hidden=(8,), latent=3, beta=2.0, warmup_steps=10)
    assert [model.kl_weight_at(s) for s in range(12)] == pytest.approx([0.2 * (s + 1) for s in range(10)] + [2.0, 2.0])
    no_warmup = small_model("vae", hidden=(8,), latent=3, beta=0.5)
    assert no_warmup.kl_weight_at(0) == no_warmup.kl_weight_at(1000) == 0.5

    # the trainer uses it: the logged objective is rec + w(step)·KL
    trainer = Trainer(model, make_optimizer("adam", model), synthetic_faces, batch_size=16, log_every=1,
                      eval_every=0)
    logs = []
    trainer.run(12, on_log=logs.append)
    assert [round(s["kl_weight"], 12) for s in logs] == [round(min(2.0, 0.2 * (s + 1)), 12) for s in range(12)]
    for s in logs:
        assert s["objective"] == pytest.approx(s["rec"] + s["kl_weight"] * s["kl"], rel=1e-6)


def test_kl_warmup_changes_the_gradient(synthetic_faces):
    """Step 0 of a 10-step warm-up weighs the KL by β/10, not β."""
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, 3))
    model = small_model("vae", hidden=(8,), latent=3, warmup_steps=10)
    model.forward_backward(x, eps, kl_weight=model.kl_weight_at(0))
    warm = model.grads["mean.b"].copy()
    model.forward_backward(x, eps, kl_weight=1.0)
    full = model.grads["mean.b"].copy()
    model.forward_backward(x, eps, kl_weight=0.0)
    none = model.grads["mean.b"].copy()
    np.testing.assert_allclose(warm, none + 0.1 * (full - none), rtol=1e-10, atol=1e-14)


def run_with_snapshots(trainer, n_steps):
    """Run, recording (step, weights) at every logging step: the trainer's 'last good' snapshots."""
    snaps = []
    result = trainer.run(n_steps, on_log=lambda s: snaps.append((s["step"], trainer.model.flat.copy())))
    return result, snaps


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_huge_learning_rate_diverges_to_last_good_weights(synthetic_faces, optimizer):
    model = small_model("vae", hidden=(32,), latent=4, dtype="float32")
    initial = model.flat.copy()
    trainer = Trainer(model, make_optimizer(optimizer, model, lr=1e6), synthetic_faces, batch_size=16,
                      log_every=2, eval_every=0)
    result, snaps = run_with_snapshots(trainer, 50)
    assert result.status == "diverged", result.message
    assert result.steps_done < 50 and "diverged" in result.message
    assert np.all(np.isfinite(model.flat))
    last_step, last_flat = snaps[-1] if snaps else (0, initial)
    assert model.step == trainer.last_good_step == last_step
    np.testing.assert_array_equal(model.flat, last_flat)
    assert f"step {last_step}" in result.message


def test_injected_nan_gradient_restores_snapshot_and_optimizer(synthetic_faces, monkeypatch):
    model = small_model("vae", hidden=(16,), latent=4, dtype="float32")
    opt = make_optimizer("adam", model, lr=1e-3)
    trainer = Trainer(model, opt, synthetic_faces, batch_size=16, log_every=4, eval_every=0)
    original = model.forward_backward

    def poisoned(*args, **kwargs):
        result = original(*args, **kwargs)
        if model.step == 9:  # the 10th step's gradient
            model.grad_flat[5] = np.nan
        return result

    monkeypatch.setattr(model, "forward_backward", poisoned)
    result, snaps = run_with_snapshots(trainer, 20)
    assert result.status == "diverged" and result.steps_done == 9
    assert [s for s, _ in snaps] == [4, 8]
    np.testing.assert_array_equal(model.flat, snaps[-1][1])
    assert model.step == 8 and opt.t == 8
    assert np.all(np.isfinite(opt.m)) and np.all(np.isfinite(opt.v))
    # Adam's moment scales are restored with its arrays (the poisoned 9th step had decayed them once more)
    assert opt.m_scale == pytest.approx(0.9**8, rel=1e-12) and opt.v_scale == pytest.approx(0.999**8, rel=1e-12)
    # training can go on from the restored state
    monkeypatch.undo()
    again = trainer.run(3)
    assert again.status == "finished" and model.step == 11


def test_step_raises_training_diverged(synthetic_faces):
    model = small_model("ae", hidden=(8,), latent=3, dtype="float32")
    trainer = Trainer(model, make_optimizer("sgd", model), synthetic_faces, batch_size=8, log_every=1, eval_every=0)
    trainer.step()
    good = model.flat.copy()
    trainer.X_train[...] = np.nan
    with pytest.raises(TrainingDiverged, match="step 2"):
        trainer.step()
    np.testing.assert_array_equal(model.flat, good)


def test_should_stop_ends_the_run_early(synthetic_faces):
    model = small_model("ae", hidden=(8,), latent=3, dtype="float32")
    trainer = Trainer(model, make_optimizer("adam", model), synthetic_faces, batch_size=8, log_every=5, eval_every=0)
    checks = []

    def stop_after_seven() -> bool:  # asked after every step
        checks.append(1)
        return len(checks) >= 7

    result = trainer.run(100, should_stop=stop_after_seven)
    assert result.status == "stopped" and result.steps_done == 7 and model.step == 7
    assert "7 of 100" in result.message


def test_checkpoint_callback_and_progress_fields(synthetic_faces):
    model = small_model("vae", hidden=(8,), latent=3, dtype="float32")
    trainer = Trainer(model, make_optimizer("adam", model), synthetic_faces, synthetic_faces[:10], batch_size=8,
                      log_every=5, eval_every=0)
    saved, logs = [], []
    trainer.run(20, on_log=logs.append, on_checkpoint=saved.append, checkpoint_every=8)
    assert saved == [8, 16]
    assert [s["done"] for s in logs] == [5, 10, 15, 20] and all(s["of"] == 20 for s in logs)
    assert all(s["steps_per_s"] > 0 and s["eta_s"] >= 0 for s in logs)


def test_mirror_doubles_the_training_set(synthetic_faces):
    mirrored = mirror_faces(synthetic_faces)
    np.testing.assert_array_equal(mirrored.reshape(-1, 28, 20), synthetic_faces.reshape(-1, 28, 20)[:, :, ::-1])
    model = small_model("ae", hidden=(8,), latent=3, dtype="float32")
    trainer = Trainer(model, make_optimizer("adam", model), synthetic_faces, batch_size=8, mirror=True)
    assert len(trainer.X_train) == 2 * len(synthetic_faces)
