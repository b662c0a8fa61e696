"""The run ledger (core.ledger) and its recorder (core.recorder): runs, history, snapshots, thinning,
crashed runs, two writers at once, and the files it refuses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_model
from core.config import TrainConfig
from core.dataset import Dataset
from core.evaluate import neg_elbo
from core.ledger import MAX_SNAPSHOTS, SCHEMA_VERSION, Ledger, LedgerError, default_dir, snapshot_every, thin
from core.recorder import Recorder, parse_run_spec, snapshot_file
from core.run import TrainingRun

ROOT = Path(__file__).resolve().parent.parent


def tiny_dataset(n: int = 120, seed: int = 0) -> Dataset:
    return Dataset(np.random.default_rng(seed).random((n, 12), dtype=np.float32), (4, 3), "synthetic")


def tiny_config(**changes) -> TrainConfig:
    values = dict(hidden=[8], latent=2, batch_size=16, steps=60, log_every=10, eval_every=20,
                  checkpoint_every=0, dtype="float64")
    return TrainConfig(**{**values, **changes}).validate()


def test_the_ledger_folder_is_vae_runs_else_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "r"))
    assert default_dir() == tmp_path / "r"
    monkeypatch.delenv("VAE_RUNS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_dir() == tmp_path / "xdg" / "vae-explorer"


def test_a_run_round_trips_with_its_history_tags_and_metrics(tmp_path):
    with Ledger(tmp_path) as ledger:
        assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        run_id = ledger.start_run({"kind": "vae", "beta": 2.0, "latent": 4}, {"name": "frey", "fingerprint": "ab"},
                                  tags=["a", "b", " "], note="first")
        ledger.log(run_id, [{"step": 10, "wall": 0.1, "total": 5.0, "rec": 4.0, "kl": 1.0, "objective": 5.0,
                             "kl_weight": 1.0}], [(10, 0.2, float("nan"))])
        ledger.finish(run_id, "finished", {"test_neg_elbo": 4.5, "iwae": float("inf")}, step=10)
        record = ledger.run(run_id)
        history = ledger.history(run_id)
    assert (record.status, record.kind, record.dataset, record.tags, record.note) == (
        "finished", "vae", "frey", ["a", "b"], "first")
    assert record.settings["beta"] == 2.0 and record.metrics == {"test_neg_elbo": 4.5, "iwae": None}
    assert history["step"] == [10] and history["total"] == [5.0] and history["eval"] == [None]
    assert set(record.as_json()) >= {"id", "status", "parent", "settings", "metrics", "snapshots"}


def test_filters_and_sorting_by_a_metric(tmp_path):
    with Ledger(tmp_path) as ledger:
        ids = [ledger.start_run({"kind": kind}, {"name": "frey"}, tags=tags)
               for kind, tags in (("vae", ["x"]), ("ae", []), ("vae", []))]
        for run_id, value in zip(ids, (3.0, 1.0, 2.0), strict=True):
            ledger.finish(run_id, "finished", {"test_neg_elbo": value})
        assert [r.id for r in ledger.runs(kind="vae")] == [ids[0], ids[2]]
        assert [r.id for r in ledger.runs(tag="x")] == [ids[0]]
        assert [r.id for r in ledger.runs(sort="test_neg_elbo")] == [ids[1], ids[2], ids[0]]
        assert [r.id for r in ledger.runs(sort="test_neg_elbo", descending=True)] == [ids[0], ids[2], ids[1]]


def test_snapshots_are_thinned_to_the_limit_keeping_the_first_and_the_newest(tmp_path):
    assert snapshot_every(60_000, 100) == 2000
    assert snapshot_every(1000, 100) == 100
    every = snapshot_every(60_000, 100)
    assert len(range(every, 60_001, every)) <= MAX_SNAPSHOTS
    steps = list(range(100, 4100, 100))  # 40
    dropped = thin(steps, 30)
    left = sorted(set(steps) - set(dropped))
    assert len(left) == 30 and left[0] == 100 and left[-1] == 4000
    assert max(np.diff(left)) == 200 and min(np.diff(left[-15:])) == 100  # older ones sparser
    with Ledger(tmp_path) as ledger:
        run_id = ledger.start_run({}, {})
        for step in range(1, 6):
            path = ledger.snapshot_dir(run_id) / f"{step}.npz"
            path.write_bytes(b"x" * step)
            ledger.add_snapshot(run_id, step, path, keep=3)
        record = ledger.run(run_id)
        assert record.snapshots == [1, 3, 5] and record.disk_bytes == 9
        assert sorted(p.name for p in ledger.snapshot_dir(run_id).iterdir()) == ["1.npz", "3.npz", "5.npz"]
        with pytest.raises(LedgerError, match="has steps 1, 3, 5"):
            ledger.snapshot_path(run_id, 2)
        assert ledger.remove([run_id]) == 9
        assert not ledger.runs() and not (tmp_path / "snapshots" / str(run_id)).exists()


def test_a_run_whose_process_is_gone_shows_as_crashed(tmp_path):
    with Ledger(tmp_path) as ledger:
        run_id = ledger.start_run({}, {})
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        ledger.conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (int(child.stdout), run_id))
        assert ledger.run(run_id).status == "crashed"
        live = ledger.start_run({}, {})
        assert ledger.run(live).status == "running"  # this process is alive


def test_newer_corrupt_and_unwritable_ledgers_are_one_clear_line(tmp_path):
    newer = tmp_path / "newer"
    with Ledger(newer) as ledger:
        ledger.conn.execute("UPDATE info SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(LedgerError, match="newer VAE Explorer") as caught:
        Ledger(newer)
    assert "\n" not in str(caught.value)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "runs.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="damaged or not a run ledger"):
        Ledger(corrupt)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(LedgerError, match="cannot create the run ledger's folder"):
        Ledger(tmp_path / "a_file" / "runs")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_clear_line(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(LedgerError, match="read-only folder"):
            Ledger(tmp_path)
    finally:
        tmp_path.chmod(0o700)


WRITER = textwrap.dedent("""
    import sys
    from core.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    run = ledger.start_run({"who": sys.argv[2]}, {})
    for step in range(1, 201):
        evals = [(step, 0.0, 1.0)] if step % 10 == 0 else []
        ledger.log(run, [{"step": step, "wall": 0.0, "total": float(step)}], evals)
    ledger.finish(run, "finished", {"rows": 200})
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    Ledger(tmp_path).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), who], env=env) for who in "ab"]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with Ledger(tmp_path) as ledger:
        runs = ledger.runs()
        assert sorted(r.settings["who"] for r in runs) == ["a", "b"]
        for run in runs:
            history = ledger.history(run.id)
            assert history["step"] == list(range(1, 201)) and len(history["eval"]) == 20
            assert run.status == "finished" and run.last_step == 200
        assert ledger.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_recorded_run_opens_at_a_middle_snapshot_as_the_model_it_was_then(tmp_path):
    dataset = tiny_dataset()
    run = TrainingRun(tiny_config(), dataset)
    recorder = Recorder(tmp_path, tags=["t"], every=20, source="test")
    run_id = recorder.begin(run)
    seen = {}

    def on_log(stats):
        recorder.on_log(stats)
        seen[int(stats["step"])] = neg_elbo(run.model, dataset.split("test"))

    result = run.run(on_log=on_log, on_eval=recorder.on_eval)
    run.finish(result)
    recorder.end(run, "finished")
    with Ledger(tmp_path) as ledger:
        record = ledger.run(run_id)
        history = ledger.history(run_id)
    assert record.status == "finished" and record.snapshots == [20, 40, 60] and record.tags == ["t"]
    assert history["step"] == [10, 20, 30, 40, 50, 60] and history["eval_step"] == [20, 40, 60]
    assert {"test_neg_elbo", "train_neg_elbo", "active_units", "dead_units", "test_iwae"} <= set(record.metrics)
    path, found_id, step = snapshot_file(tmp_path, f"{run_id}@40")
    loaded = load_model(path)
    assert (found_id, step, loaded.model.step) == (run_id, 40, 40)
    assert neg_elbo(loaded.model, dataset.split("test")) == seen[40]
    assert loaded.meta["ledger_run"] == run_id


def test_a_broken_ledger_turns_the_recorder_off_with_one_warning(tmp_path):
    (tmp_path / "runs.db").write_bytes(b"garbage" * 200)
    warnings = []
    run = TrainingRun(tiny_config(steps=20), tiny_dataset())
    recorder = Recorder(tmp_path, warn=warnings.append)
    assert recorder.begin(run) is None
    result = run.run(on_log=recorder.on_log, on_eval=recorder.on_eval)
    recorder.end(run, "finished")
    assert result.status == "finished" and run.model.step == 20
    assert len(warnings) == 1 and "training goes on without it" in warnings[0]


def test_run_specs():
    assert parse_run_spec("12") == (12, None) and parse_run_spec("3@500") == (3, 500)
    for bad in ("x", "1@y", "0", "-1@5"):
        with pytest.raises(LedgerError, match="--run takes"):
            parse_run_spec(bad)


def test_integrity_of_a_fresh_ledger_file(tmp_path):
    Ledger(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "runs.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
