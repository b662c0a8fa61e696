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


# ------------------------------------------------------------------ TrainConfig-driven runs (CLI and GUI alike)
def _synthetic_dataset(n=120, seed=0):
    from core.dataset import Dataset

    rng = np.random.default_rng(seed)
    return Dataset(rng.random((n, 12), dtype=np.float32), (4, 3), "synthetic")


def test_patience_stops_the_run_and_keep_best_restores_the_best_validation_weights():
    from core.config import TrainConfig
    from core.run import TrainingRun

    dataset = _synthetic_dataset()
    # uniform noise has nothing to learn: after a few evaluations the validation −ELBO stops improving
    config = TrainConfig(hidden=[8], latent=2, optimizer="sgd", lr=0.1, batch_size=16, steps=400, eval_every=5,
                         log_every=5, val_size=20, patience=3, keep_best=True).validate()
    run = TrainingRun(config, dataset)
    evals = []
    result = run.run(on_eval=lambda step, value: evals.append((step, value)))
    assert result.status == "stopped" and result.patience_stop and result.steps_done < 400
    best_step, best_value = min(evals, key=lambda e: e[1])
    # stopped exactly `patience` evaluations after the best one
    assert evals[-1][0] == best_step + 3 * 5
    run.finish(result)
    assert run.kept_best and run.optimizer is None and run.model.step == best_step
    fit_ids, val_ids = dataset.train_val_ids(20)
    assert neg_elbo(run.model, dataset.images[val_ids]) == pytest.approx(best_value, rel=1e-6)
    meta = run.meta("finished")
    assert meta["train"]["early_stopping"] == {"best_val_neg_elbo": best_value, "best_step": best_step,
                                               "last_step": evals[-1][0], "patience_stop": True}
    assert meta["data"] == dataset.to_meta() and meta["train"]["val_size"] == 20


def test_a_resumed_training_run_is_bitwise_the_uninterrupted_one(tmp_path):
    from core.checkpoint import load_model
    from core.config import TrainConfig
    from core.run import TrainingRun

    dataset = _synthetic_dataset()
    config = TrainConfig(kind="vae", hidden=[8], latent=2, batch_size=16, steps=40, log_every=5, eval_every=10,
                         mirror=True, weight_decay=0.01, seed=3).validate()
    whole = TrainingRun(config, dataset)
    whole.run()
    half = TrainingRun(config.updated(steps=17), dataset)
    half.run()
    half.save(tmp_path / "half.npz", "checkpoint")
    # the resumed run takes batch size, seed, mirror and weight decay from the file, not from the caller
    resumed = TrainingRun.resume(load_model(tmp_path / "half.npz"), dataset,
                                 {"steps": 40, "log_every": 5, "eval_every": 10})
    assert resumed.remaining == 23 and resumed.config.batch_size == 16 and resumed.config.mirror
    resumed.run()
    np.testing.assert_array_equal(resumed.model.flat, whole.model.flat)


def test_resuming_on_images_of_another_size_is_refused(tmp_path):
    from core.checkpoint import load_model
    from core.config import TrainConfig
    from core.dataset import Dataset
    from core.run import TrainingRun

    dataset = _synthetic_dataset()
    run = TrainingRun(TrainConfig(hidden=[8], latent=2, batch_size=16, steps=5, eval_every=0), dataset)
    run.run()
    run.save(tmp_path / "m.npz", "finished")
    other = Dataset(np.zeros((50, 12), np.float32), (3, 4), "other")
    with pytest.raises(ValueError, match="trained on 4×3 images, these are 3×4"):
        TrainingRun.resume(load_model(tmp_path / "m.npz"), other, {"steps": 10})


def test_an_inspector_sees_the_log_steps_activations_only(synthetic_faces):
    class Recorder:
        def __init__(self):
            self.calls = []

        def before_update(self, model, record):
            self.calls.append((model.step, sorted(record)))

        def after_update(self, model):
            return {"step": model.step}

    model = small_model("vae", hidden=(8,), latent=3)
    trainer = Trainer(model, make_optimizer("adam", model), synthetic_faces, batch_size=16, log_every=4, eval_every=0)
    trainer.inspector = Recorder()
    logs = []
    trainer.run(12, on_log=logs.append)
    assert [s for s, _ in trainer.inspector.calls] == [3, 7, 11]  # the step before each logged update
    assert trainer.inspector.calls[0][1] == ["dec0", "dec0.pre", "enc0", "enc0.pre", "logvar", "mean", "out"]
    assert [s["inspect"] for s in logs] == [{"step": 4}, {"step": 8}, {"step": 12}]


def test_weight_decay_adds_wd_theta_to_the_gradient(synthetic_faces):
    """One SGD step with decay wd moves θ by an extra −lr·wd·θ against the same step without it."""
    runs = {}
    for wd in (0.0, 0.5):
        model = small_model("vae", hidden=(8,), latent=3, dtype="float64")
        start = model.flat.copy()
        trainer = Trainer(model, make_optimizer("sgd", model, lr=0.1), synthetic_faces, batch_size=16,
                          eval_every=0, weight_decay=wd)
        trainer.run(1)
        runs[wd] = model.flat.copy()
    np.testing.assert_allclose(runs[0.5] - runs[0.0], -0.1 * 0.5 * start, rtol=1e-9, atol=1e-12)


def test_a_run_records_its_command_lines(tmp_path):
    from core.checkpoint import load_model
    from core.config import TrainConfig
    from core.run import TrainingRun

    dataset = _synthetic_dataset()
    first = TrainingRun(TrainConfig(hidden=[8], latent=2, batch_size=16, steps=4, eval_every=0), dataset,
                        command="main.py train --steps 4")
    first.run()
    first.save(tmp_path / "m.npz", "finished")
    again = TrainingRun.resume(load_model(tmp_path / "m.npz"), dataset, {"steps": 8, "eval_every": 0},
                               command="main.py train --resume --steps 8")
    record = again.record("finished")
    assert record.provenance.commands == ["main.py train --steps 4", "main.py train --resume --steps 8"]
    assert record.provenance.parent_run == first.provenance.run_id != record.provenance.run_id
    assert "commands" not in TrainingRun(TrainConfig(steps=1), dataset).meta("x")  # the GUI passes none


def test_a_cosine_learning_rate_schedule_decays_to_zero_over_the_run_and_is_recorded(tmp_path):
    from core.checkpoint import load_model
    from core.config import TrainConfig
    from core.run import TrainingRun

    dataset = _synthetic_dataset()
    config = TrainConfig(hidden=[8], latent=2, batch_size=16, steps=40, eval_every=0, lr=0.01, lr_schedule="cosine")
    run = TrainingRun(config, dataset)
    schedule = run.trainer.lr_schedule
    assert schedule.at(0) == pytest.approx(0.01) and schedule.at(20) == pytest.approx(0.005)
    run.run()
    assert run.optimizer.lr == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi * 39 / 40)))  # the last update's
    run.save(tmp_path / "m.npz", "finished")
    record = load_model(tmp_path / "m.npz")
    assert record.settings.lr_schedule == "cosine"
    again = TrainingRun.resume(record, dataset, {"steps": 60, "lr_schedule": "constant"})
    assert again.trainer.lr_schedule is None and again.segments[-1]["changed"]["lr_schedule"] == ["cosine",
                                                                                                   "constant"]
