"""``main.py sweep`` and core.sweep's trials: the objective, pruning, --jobs, --show --json, --resume and
the one-line errors. Trials are tiny (4×4 synthetic images, a few dozen steps)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="the sweep command's tests need Optuna (requirements-dev.txt)")

from helpers.sweeps import (  # noqa: E402
    assert_one_line_error,
    sweep_main,
    tiny_data,
    tiny_space,
    trial_numbers,
)

from core import sweep  # noqa: E402
from core.dataset import Dataset  # noqa: E402
from core.evaluate import neg_elbo  # noqa: E402
from core.ledger import Ledger  # noqa: E402


@pytest.fixture
def tiny(tmp_path):
    return tmp_path, tiny_data(tmp_path), tiny_space(tmp_path)


def tiny_dataset(path) -> Dataset:
    return Dataset(np.load(path), (4, 4), "tiny")


def open_tiny_study(folder, space_text: str, n_trials: int, prune: bool = False, name: str = "s"):
    space = sweep.SearchSpace.parse(space_text)
    plan = sweep.StudyPlan(space, n_trials, prune=prune)
    storage = sweep.open_storage(sweep.default_storage(folder / "runs"), heartbeat_s=2)
    return sweep.open_study(storage, name, plan, resume=False, seed=0)


def test_a_trials_value_is_the_validation_neg_elbo_of_its_final_weights(tmp_path):
    dataset = tiny_dataset(tiny_data(tmp_path))
    study, plan = open_tiny_study(tmp_path, tiny_space(tmp_path).read_text(), 2)
    outcomes = []
    worker = sweep.SweepWorker(study, plan, dataset, on_trial=outcomes.append, runs_folder=tmp_path / "runs")
    assert worker.run() == 2
    with Ledger(tmp_path / "runs") as ledger:
        runs = {r.id: r for r in ledger.runs(tag="study:s")}
    assert sorted(runs) == sorted(t.user_attrs["run"] for t in study.get_trials())  # every trial is a run
    for outcome, trial in zip(outcomes, study.get_trials(), strict=True):
        record = runs[trial.user_attrs["run"]]
        assert record.status == "finished" and record.source == "sweep" and record.snapshots == [40]
        assert record.settings["lr"] == trial.params["lr"] and record.settings["beta"] == trial.params["beta"]
        assert record.metrics["val_neg_elbo"] == pytest.approx(trial.value)
        run = outcome.run
        val_ids = dataset.train_val_ids(run.config.val_size)[1]
        assert run.config.val_size == int(len(dataset.train_ids) * sweep.VAL_FRACTION)
        assert outcome.value == pytest.approx(neg_elbo(run.model, dataset.images[val_ids], seed=0), rel=1e-6)
        assert trial.value == pytest.approx(outcome.value)
        # the held-out curve went to Optuna at every evaluation, ending at the same number
        assert sorted(trial.intermediate_values) == [10, 20, 30, 40]
        assert trial.intermediate_values[40] == pytest.approx(outcome.value, rel=1e-6)


def test_the_median_pruner_stops_a_trial_whose_held_out_curve_is_worse(tmp_path):
    dataset = tiny_dataset(tiny_data(tmp_path))
    text = tiny_space(tmp_path, steps=60, eval_every=10).read_text()
    study, plan = open_tiny_study(tmp_path, text, 5, prune=True)
    for _ in range(4):
        study.enqueue_trial({"lr": 2e-2, "beta": 1.0})
    study.enqueue_trial({"lr": 1e-4, "beta": 1.0})  # learns almost nothing in 60 steps
    sweep.SweepWorker(study, plan, dataset, runs_folder=tmp_path / "runs").run()
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["PRUNED"]
    with Ledger(tmp_path / "runs") as ledger:
        assert ledger.run(trials[-1].user_attrs["run"]).status == "stopped"  # the pruned run, kept in the ledger
    assert trials[-1].user_attrs["steps"] < 60 and trials[-1].user_attrs["status"] == "pruned"
    assert all(t.user_attrs["steps"] == 60 for t in trials[:4])


def test_resume_continues_the_study_to_a_new_total_with_its_own_space(tiny, capsys):
    folder, data, space = tiny
    code, _, err = sweep_main(capsys, folder, data, "--space", space, "--trials", 2, "--study", "r")
    assert code == 0, err
    code, out, err = sweep_main(capsys, folder, data, "--study", "r", "--resume", "--trials", 3)
    assert code == 0, err
    assert trial_numbers(out) == [2]
    code, out, _ = sweep_main(capsys, folder, data, "--study", "r", "--show", "--json")
    report = json.loads(out)
    assert report["n_trials"] == 3 and [t["state"] for t in report["trials"]] == ["COMPLETE"] * 3


@pytest.mark.parametrize("args, fragments", [
    (["--space", "{bad}", "--trials", 2], ["bad.toml [search] betaa", "unknown setting 'betaa'", "did you mean beta"]),
    (["--space", "{space}", "--trials", 2, "--storage", "postgresql://u:secret@127.0.0.1:9/db"],
     ["cannot open the study storage", "u:***@127.0.0.1:9/db"]),
    (["--space", "{space}", "--trials", 2, "--storage", "nosuchdb://x"], ["cannot open the study storage"]),
    (["--study", "missing", "--resume"], ["there is no study 'missing'", "to resume"]),
    (["--space", "{space}"], ["--trials N"]),
    (["--space", "{nofile}", "--trials", 2], ["cannot read the space file"]),
])
def test_a_bad_sweep_is_one_line_and_exit_2(tiny, args, fragments, capsys):
    folder, data, space = tiny
    (folder / "bad.toml").write_text("[search]\nbetaa = [1.0, 2.0]\n")
    paths = {"{bad}": folder / "bad.toml", "{space}": space, "{nofile}": folder / "none.toml"}
    result = sweep_main(capsys, folder, data, *[paths.get(a, a) for a in args])
    assert_one_line_error(result, *fragments)
    assert "secret" not in result[2]


def test_another_space_or_plan_under_an_existing_study_name_is_refused(tiny, capsys):
    folder, data, space = tiny
    assert sweep_main(capsys, folder, data, "--space", space, "--trials", 1, "--study", "x")[0] == 0
    other = tiny_space(folder, steps=20, name="other.toml")
    assert_one_line_error(sweep_main(capsys, folder, data, "--space", other, "--trials", 1, "--study", "x"),
                          "searches another space")
    resumed = sweep_main(capsys, folder, data, "--study", "x", "--resume", "--prune", "--sampler", "random")
    assert_one_line_error(resumed, "runs with --sampler tpe --metric val", "drop --sampler random, --prune")


def test_without_optuna_the_sweep_command_says_how_to_install_it(tiny, monkeypatch, capsys):
    folder, data, space = tiny
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    assert_one_line_error(sweep_main(capsys, folder, data, "--space", space, "--trials", 2), "pip install optuna")


def test_importances_name_the_searched_settings(tmp_path):
    dataset = tiny_dataset(tiny_data(tmp_path))
    study, plan = open_tiny_study(tmp_path, tiny_space(tmp_path, steps=20).read_text(), 5)
    sweep.SweepWorker(study, plan, dataset).run()
    found = sweep.importances(study)
    assert set(found) == {"lr", "beta"} and math.isclose(sum(found.values()), 1.0, rel_tol=1e-6)


def test_main_lists_the_sweep_command_and_it_has_help(capsys):
    from main import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "sweep" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: main.py sweep")
    assert all(flag in out for flag in ("--space", "--trials", "--jobs", "--storage", "--prune", "--resume"))


def test_the_grid_sampler_visits_each_point_once_and_refuses_more_trials_than_points(tiny, capsys):
    folder, data, _ = tiny
    grid = folder / "grid.toml"
    grid.write_text("[fixed]\nhidden = [8]\nlatent = 2\nsteps = 20\neval-every = 10\nbatch-size = 16\n"
                    "[search]\nbeta = [0.5, 1.0]\nlatent = { low = 2, high = 3 }\n".replace("latent = 2\n", ""))
    code, out, err = sweep_main(capsys, folder, data, "--space", grid, "--trials", 4, "--sampler", "grid")
    assert code == 0, err
    code, out, _ = sweep_main(capsys, folder, data, "--study", "grid", "--show", "--json")
    points = sorted((t["params"]["beta"], t["params"]["latent"]) for t in json.loads(out)["trials"])
    assert points == [(0.5, 2), (0.5, 3), (1.0, 2), (1.0, 3)]
    assert_one_line_error(sweep_main(capsys, folder, data, "--space", grid, "--trials", 5, "--sampler", "grid",
                                     "--study", "grid5"), "the grid has 4 points")
    code, out, _ = sweep_main(capsys, folder, data, "--study", "grid5", "--show")
    assert code == 2  # no empty study was left behind
