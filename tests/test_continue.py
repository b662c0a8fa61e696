"""Continuing a trained model: the one rule CLI --resume and GUI Continue share (core.run.TrainingRun.resume),
segments, a fresh optimiser's learning-rate warm-up, keep-best, and files of the previous version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_model, save_record
from core.dataset import Dataset
from core.errors import ConfigError
from core.record import cut_history
from core.run import FRESH_OPTIMIZER_LR_WARMUP, TrainingRun, continue_settings

# written by tests/fixtures/make_v030_files.py with the code of commit 7bc951a (before ModelRecord)
FIXTURES = Path(__file__).parent / "fixtures"


def _dataset() -> Dataset:  # the data the fixtures were trained on
    rng = np.random.default_rng(0)
    return Dataset(rng.random((120, 12), dtype=np.float32), (4, 3), "synthetic")


def test_a_file_of_the_previous_version_opens_and_resumes_bit_exactly(tmp_path):
    record = load_model(FIXTURES / "v030_step17.npz")
    assert record.model.step == 17 and record.optimizer_state is not None
    assert (record.settings.batch_size, record.settings.seed, record.settings.mirror) == (16, 3, True)
    assert record.data["image_shape"] == [4, 3] and record.check_data(_dataset()) == []
    run = TrainingRun.resume(record, _dataset(), {"steps": 40, "log_every": 5, "eval_every": 10})
    assert len(run.segments) == 1  # nothing changed: the run's one segment goes on
    run.run()
    whole = load_model(FIXTURES / "v030_whole.npz")
    np.testing.assert_array_equal(run.model.flat, whole.model.flat)
    # what this version writes reads back as the same record
    save_record(tmp_path / "again.npz", run.record("finished"))
    again = load_model(tmp_path / "again.npz")
    np.testing.assert_array_equal(again.model.flat, whole.model.flat)
    assert again.settings == run.config and again.segments == run.segments
    assert again.provenance.parent_run is None and again.provenance.run_id == run.provenance.run_id


def test_continue_changes_optimiser_and_objective_settings_never_the_model_or_its_data(tmp_path):
    record = load_model(FIXTURES / "v030_step17.npz")
    with pytest.raises(ConfigError) as info:
        continue_settings(record, {"batch_size": 32, "hidden": [16], "optimizer": "sgd", "lr": 0.5, "seed": 3})
    message = str(info.value)
    for clash in ("batch_size 32 (the model has 16)", "hidden [16] (the model has [8])",
                  "optimizer sgd (the model has adam)"):
        assert clash in message
    assert "lr" not in message and "seed" not in message  # allowed, and unchanged
    run = TrainingRun.resume(record, _dataset(), {"lr": 1e-4, "beta": 0.5, "weight_decay": 0.0, "steps": 30})
    assert run.optimizer.lr == 1e-4 and run.model.config.beta == 0.5 and run.trainer.weight_decay == 0.0
    assert (run.config.batch_size, run.config.seed, run.config.mirror) == (16, 3, True)
    assert run.segments[-1] == {"from_step": 17, "optimizer": "kept",
                                "settings": {"lr": 1e-4, "beta": 0.5, "warmup_steps": 0, "weight_decay": 0.0,
                                             "lr_warmup_steps": 0, "lr_schedule": "constant"},
                                "changed": {"lr": [1e-3, 1e-4], "beta": [1.0, 0.5], "weight_decay": [0.01, 0.0]}}
    assert run.segments[0]["from_step"] == 0 and run.segments[0]["settings"]["lr"] == 1e-3
    run.run()
    save_record(tmp_path / "changed.npz", run.record("finished"))
    reread = load_model(tmp_path / "changed.npz")
    assert reread.segments == run.segments and reread.settings.lr == 1e-4 and reread.model.config.beta == 0.5
    assert reread.optimizer().lr == 1e-4


def test_a_model_without_optimiser_state_continues_only_on_purpose_with_a_warm_up():
    record = load_model(FIXTURES / "v030_keep_best.npz")  # keep-best went back to step 55 and dropped Adam
    assert record.optimizer_state is None and record.model.step == 55
    with pytest.raises(ConfigError, match="no optimiser state"):
        TrainingRun.resume(record.copy(), _dataset(), {"steps": 80})
    run = TrainingRun.resume(record, _dataset(), {"steps": 80}, fresh_optimizer=True)
    assert run.config.lr_warmup_steps == FRESH_OPTIMIZER_LR_WARMUP
    assert run.segments[-1]["optimizer"] == "fresh" and run.segments[-1]["from_step"] == 55
    assert run.trainer.lr_schedule.at(55) == pytest.approx(0.05 / FRESH_OPTIMIZER_LR_WARMUP)  # the first: tiny
    run.run()
    assert run.optimizer.lr == pytest.approx(0.05 * 25 / FRESH_OPTIMIZER_LR_WARMUP)  # step 80's update
    chosen = TrainingRun.resume(load_model(FIXTURES / "v030_keep_best.npz"), _dataset(),
                                {"steps": 80, "lr_warmup_steps": 10}, fresh_optimizer=True)
    assert chosen.config.lr_warmup_steps == 10


def test_keep_best_cuts_the_history_back_to_the_kept_step():
    with pytest.raises(ConfigError, match="val_size"):  # keep-best needs a validation set, which the file lacks
        TrainingRun.resume(load_model(FIXTURES / "v030_step17.npz"), _dataset(), {"steps": 120, "keep_best": True})
    history = {"step": [10, 20, 30, 40], "total": [4.0, 3.0, 2.0, 1.0], "test_step": [20, 40],
               "test_neg_elbo": [3.0, 1.0]}
    assert cut_history(history, 25) == {"step": [10, 20], "total": [4.0, 3.0], "test_step": [20],
                                        "test_neg_elbo": [3.0]}
    record = load_model(FIXTURES / "v030_keep_best.npz")
    record.history = {"step": [50, 55, 60], "total": [3.0, 2.0, 1.0]}
    record.segments.append({"from_step": 58, "settings": {}, "optimizer": "kept"})
    record.cut_to_step()
    assert record.history == {"step": [50, 55], "total": [3.0, 2.0]} and record.segments == []


def test_the_cli_continues_a_model_without_optimiser_state_only_with_fresh_optimizer(tmp_path, capsys):
    import shutil

    from main import main

    data = tmp_path / "faces.npy"
    np.save(data, _dataset().images)
    out = shutil.copy(FIXTURES / "v030_keep_best.npz", tmp_path / "kept.npz")
    argv = ["train", "--data", str(data), "--image-shape", "4x3", "--out", str(out), "--resume", "--steps", "70",
            "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no optimiser state" in err and "--fresh-optimizer" in err
    assert "--steps can" not in err  # field names become flags, ordinary words stay words
    assert main([*argv, "--fresh-optimizer"]) == 0
    record = load_model(out)
    assert record.model.step == 70 and record.segments[-1]["optimizer"] == "fresh"
    assert record.settings.lr_warmup_steps == FRESH_OPTIMIZER_LR_WARMUP
