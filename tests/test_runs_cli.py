"""``main.py runs …`` and the ledger side of ``main.py train``: every run recorded, listed, compared,
exported, opened with --run ID@STEP; a killed training process leaves a sound ledger."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_model
from core.ledger import Ledger
from main import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_file(tmp_path) -> Path:
    path = tmp_path / "faces.npy"
    np.save(path, np.random.default_rng(0).random((200, 12), dtype=np.float32))
    return path


def train_args(data: Path, out: Path, *extra: str, steps: int = 60) -> list[str]:
    return ["train", "--data", str(data), "--image-shape", "4x3", "--hidden", "8", "--latent", "2", "--steps",
            str(steps), "--log-every", "10", "--eval-every", "20", "--out", str(out), "--quiet", *extra]


def cli_json(capsys, *argv: str):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_two_cli_runs_are_listed_and_compared_by_their_settings(tmp_path, data_file, capsys):
    assert main(train_args(data_file, tmp_path / "a.npz", "--beta", "0.5", "--tag", "sweep", "--note", "low")) == 0
    assert main(train_args(data_file, tmp_path / "b.npz", "--beta", "2")) == 0
    runs = cli_json(capsys, "runs", "list", "--json")
    assert [r["settings"]["beta"] for r in runs] == [0.5, 2.0]
    for r in runs:
        assert r["status"] == "finished" and r["parent"] is None and r["settings"]["latent"] == 2
        assert r["snapshots"][-1] == 60 and isinstance(r["metrics"]["test_neg_elbo"], float)
    assert runs[0]["tags"] == ["sweep"] and runs[0]["note"] == "low"
    assert [r["id"] for r in cli_json(capsys, "runs", "list", "--tag", "sweep", "--json")] == [runs[0]["id"]]
    ordered = cli_json(capsys, "runs", "list", "--sort", "test_neg_elbo", "--json")
    assert [r["metrics"]["test_neg_elbo"] for r in ordered] == sorted(r["metrics"]["test_neg_elbo"] for r in runs)
    ids = [str(r["id"]) for r in runs]
    compared = cli_json(capsys, "runs", "compare", *ids, "--json")
    assert compared["differs"] == {"beta": [0.5, 2.0]}
    assert set(compared["metrics"]) == set(ids) and "test_neg_elbo" in compared["metrics"][ids[0]]
    capsys.readouterr()
    assert main(["runs", "compare", *ids]) == 0
    assert "beta" in capsys.readouterr().out


def test_a_resumed_run_records_its_parent(tmp_path, data_file, capsys):
    out = tmp_path / "m.npz"
    assert main(train_args(data_file, out, steps=40)) == 0
    assert main(train_args(data_file, out, "--resume", steps=80)) == 0
    first, second = cli_json(capsys, "runs", "list", "--json")
    assert (second["parent"], second["parent_step"], second["step"]) == (first["id"], 40, 80)
    assert load_model(out).meta["ledger_run"] == second["id"]


def test_a_branch_continues_a_middle_snapshot_as_a_child_run(tmp_path, data_file, capsys):
    assert main(train_args(data_file, tmp_path / "m.npz")) == 0
    parent = cli_json(capsys, "runs", "list", "--json")[0]
    assert main(train_args(data_file, tmp_path / "b.npz", "--branch", f"{parent['id']}@30", "--lr", "0.0005",
                           steps=50)) == 0
    child = cli_json(capsys, "runs", "list", "--json")[1]
    assert (child["parent"], child["parent_step"], child["step"]) == (parent["id"], 30, 50)
    assert child["segments"] == [{"step": 30, "changed": {"lr": [0.001, 0.0005]}}]
    capsys.readouterr()
    assert main(["runs", "show", str(child["id"])]) == 0
    assert f"branched from run {parent['id']} at step 30" in capsys.readouterr().out
    assert load_model(tmp_path / "b.npz").model.step == 50 and load_model(tmp_path / "m.npz").model.step == 60
    capsys.readouterr()
    assert main(train_args(data_file, tmp_path / "b.npz", "--branch", f"{parent['id']}@30")) == 2
    assert "exists" in capsys.readouterr().err


def test_run_at_a_step_opens_that_snapshot_in_every_weights_command(tmp_path, data_file, capsys):
    assert main(train_args(data_file, tmp_path / "m.npz")) == 0
    run_id = cli_json(capsys, "runs", "list", "--json")[0]["id"]
    exported = cli_json(capsys, "runs", "export", f"{run_id}@20", "--model", str(tmp_path / "s.npz"),
                        "--csv", str(tmp_path / "c.csv"), "--json")
    assert exported["step"] == 20 and load_model(tmp_path / "s.npz").model.step == 20
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    assert rows[1]["eval_neg_elbo"] and not rows[0]["eval_neg_elbo"] and rows[1]["images_seen"] == str(20 * 64)
    common = ["--data", str(data_file), "--image-shape", "4x3", "--json"]
    by_file = cli_json(capsys, "evaluate", "--weights", str(tmp_path / "s.npz"), *common)
    by_run = cli_json(capsys, "evaluate", "--run", f"{run_id}@20", *common)
    assert by_run == by_file
    capsys.readouterr()
    assert main(["evaluate", "--run", f"{run_id}@25", *common]) == 2
    assert "no snapshot at step 25" in capsys.readouterr().err


def test_rm_and_gc_reclaim_disk(tmp_path, data_file, capsys, run_ledger_folder):
    assert main(train_args(data_file, tmp_path / "m.npz")) == 0
    run_id = cli_json(capsys, "runs", "list", "--json")[0]["id"]
    stray = run_ledger_folder / "snapshots" / str(run_id) / "step-stray.npz"
    stray.write_bytes(b"x" * 100)
    collected = cli_json(capsys, "runs", "gc", "--keep", "2", "--json")
    assert collected["files"] == 1 + 4 and collected["bytes"] > 100  # the stray file and 4 of 6 snapshots
    assert not stray.exists()
    assert len(cli_json(capsys, "runs", "show", str(run_id), "--json")["snapshots"]) == 2
    removed = cli_json(capsys, "runs", "rm", str(run_id), "--json")
    assert removed["bytes"] > 0 and cli_json(capsys, "runs", "list", "--json") == []


def test_a_broken_ledger_is_one_line_and_training_goes_on(tmp_path, data_file, capsys, run_ledger_folder):
    (run_ledger_folder / "runs.db").write_bytes(b"not a database " * 100)
    capsys.readouterr()
    assert main(train_args(data_file, tmp_path / "m.npz")) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run ledger off" in err[0] and "damaged" in err[0]
    assert load_model(tmp_path / "m.npz").model.step == 60
    assert main(["runs", "list"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_sigkill_during_training_leaves_a_sound_ledger_with_the_run_crashed(tmp_path, data_file,
                                                                           run_ledger_folder):
    # 60 000 steps: a snapshot every 2000
    argv = [sys.executable, str(ROOT / "main.py"), *train_args(data_file, tmp_path / "m.npz", steps=60_000)]
    child = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if (run_ledger_folder / "runs.db").exists():
                with Ledger(run_ledger_folder) as ledger:
                    runs = ledger.runs()
                    if runs and runs[0].snapshots:
                        assert runs[0].status == "running"
                        break
        else:
            child.kill()
            pytest.fail(f"the child recorded no snapshot in 60 s: {child.communicate()[1].decode()}")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    conn = sqlite3.connect(run_ledger_folder / "runs.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Ledger(run_ledger_folder) as ledger:
        (run,) = ledger.runs()
        history = ledger.history(run.id)
        latest = ledger.snapshot_path(run.id)[1]
    assert run.status == "crashed" and run.ended is not None
    assert history["step"] == list(range(10, history["step"][-1] + 1, 10)) and history["step"][-1] >= 200
    assert load_model(latest).model.step == run.snapshots[-1]


def test_every_command_that_takes_weights_also_takes_run():
    import argparse

    from cli.parser import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    with_weights = {name for name, p in sub.choices.items() if "--weights" in p._option_string_actions}
    assert {"sample", "evaluate", "grid", "step", "gui"} <= with_weights
    for name in with_weights:
        options = sub.choices[name]._option_string_actions
        assert "--run" in options and options["--run"].dest == "weights", name


def test_two_training_processes_recording_at_once_lose_nothing(tmp_path, data_file, run_ledger_folder):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, str(ROOT / "main.py"),
                                  *train_args(data_file, tmp_path / f"{n}.npz", "--beta", beta, steps=400)],
                                 env=env, stderr=subprocess.PIPE) for n, beta in (("a", "0.5"), ("b", "2"))]
    errors = [c.communicate(timeout=120)[1].decode() for c in children]
    assert [c.returncode for c in children] == [0, 0], errors
    assert not any("run ledger off" in e for e in errors), errors  # e.g. a new file taken for a damaged one
    with Ledger(run_ledger_folder) as ledger:
        runs = ledger.runs()
        histories = [ledger.history(r.id) for r in runs]
    assert sorted(r.settings["beta"] for r in runs) == [0.5, 2.0]
    assert all(r.status == "finished" and r.snapshots[-1] == 400 for r in runs)
    assert [h["step"] for h in histories] == [list(range(10, 401, 10))] * 2
    assert [h["eval_step"] for h in histories] == [list(range(20, 401, 20))] * 2
