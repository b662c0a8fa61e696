"""Several sweep processes on one study, for real: on SQLite (``--jobs 2``) and on a PostgreSQL server
started here (two separate ``main.py sweep`` processes, as on two machines), together finishing exactly
N trials with none lost or run twice; a killed sweep process leaves its trial failed and the study usable.

To make the two processes really compete, the test holds the study's claim lock (core.sweep.ClaimLock)
until both are waiting on it, then lets go: from then on they take trials turn about.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="the sweep command's tests need Optuna (requirements-dev.txt)")

from helpers.postgres import start_postgres  # noqa: E402
from helpers.sweeps import shown, start_sweep, sweep_main, tiny_data, tiny_space, trial_numbers  # noqa: E402

from core import sweep  # noqa: E402
from core.ledger import Ledger  # noqa: E402

N = 6


def wait_until(predicate, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def flock_waiters(path: Path) -> int:
    """Processes blocked on an flock of ``path`` (the '->' lines of /proc/locks for its inode)."""
    inode = os.stat(path).st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum("->" in line and f":{inode} " in line for line in lines)


def finish(procs, timeout: float = 180) -> list[str]:
    """Each process's stdout once it exited 0."""
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def assert_exactly_n_trials_shared(report: dict, outputs: list[str], runs: Path) -> None:
    """N trials, all complete, numbered 0…N−1, each reported once, run by two processes, each a run in the
    ledger tagged with the study."""
    trials = report["trials"]
    with Ledger(runs) as ledger:
        recorded = ledger.runs(tag=f"study:{report['study']}")
    assert sorted(r.id for r in recorded) == sorted(t["run"] for t in trials)
    assert all(r.status == "finished" for r in recorded)
    assert len(trials) == N and [t["number"] for t in trials] == list(range(N))
    assert all(t["state"] == "COMPLETE" and t["steps"] == 40 for t in trials)
    reported = [n for out in outputs for n in trial_numbers(out)]
    assert sorted(reported) == list(range(N))  # none lost, none run twice
    assert len({t["worker"] for t in trials}) == 2  # both processes took trials


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks to see the waiters")
def test_jobs_2_share_one_sqlite_study_and_finish_exactly_n(tmp_path, capsys):
    data, space = tiny_data(tmp_path), tiny_space(tmp_path)
    db = tmp_path / "runs" / "sweeps.db"
    db.parent.mkdir()
    lock_path = Path(sweep.claim_file(str(db)))
    with open(lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = start_sweep(tmp_path, data, "--space", space, "--trials", N, "--jobs", 2, "--study", "pair")
        wait_until(lambda: flock_waiters(lock_path) == 2 or proc.poll() is not None, what="two workers")
        fcntl.flock(held, fcntl.LOCK_UN)
    (out,) = finish([proc])
    code, shown_out, err = sweep_main(capsys, tmp_path, data, "--study", "pair", "--show", "--json")
    assert code == 0, err
    report = json.loads(shown_out)
    assert_exactly_n_trials_shared(report, [out], tmp_path / "runs")
    best = min(report["trials"], key=lambda t: t["value"])
    assert report["best"]["number"] == best["number"] and f"best: trial {best['number']}" in out


@pytest.fixture(scope="module")
def postgres():
    server, why = start_postgres()
    if server is None:
        pytest.skip(f"no PostgreSQL server for the shared-study test: {why}")
    yield server
    server.stop()


def test_two_sweep_processes_share_one_postgresql_study_and_finish_exactly_n(tmp_path, postgres):
    data, space = tiny_data(tmp_path), tiny_space(tmp_path)
    args = ("--space", space, "--trials", N, "--study", "pg", "--storage", postgres.url)
    conn = postgres.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (sweep.claim_key("pg"),))
        procs = [start_sweep(tmp_path, data, *args) for _ in range(2)]

        def waiting() -> int:
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            return cur.fetchone()[0]

        wait_until(lambda: waiting() == 2 or any(p.poll() is not None for p in procs), what="two processes")
        cur.execute("SELECT pg_advisory_unlock(%s)", (sweep.claim_key("pg"),))
    conn.close()
    outputs = finish(procs)
    assert_exactly_n_trials_shared(shown(tmp_path, data, "pg", "--storage", postgres.url), outputs, tmp_path / "runs")


def test_a_killed_sweep_process_leaves_its_trial_failed_and_the_study_usable(tmp_path, capsys):
    data = tiny_data(tmp_path)
    space = tiny_space(tmp_path, steps=1500, eval_every=10)  # a trial lasts a second or more: killed inside it
    proc = start_sweep(tmp_path, data, "--space", space, "--trials", 2, "--study", "k", "--heartbeat", 1)
    storage = None

    def running_with_a_report() -> bool:
        nonlocal storage
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        db = tmp_path / "runs" / "sweeps.db"
        if not db.exists():
            return False
        storage = storage or sweep.open_storage(sweep.default_storage(tmp_path / "runs"), heartbeat_s=1)
        if "k" not in optuna.study.get_all_study_names(storage):
            return False
        trials = optuna.load_study(study_name="k", storage=storage).get_trials()
        return any(t.state.name == "RUNNING" and t.intermediate_values for t in trials)

    wait_until(running_with_a_report, what="a running trial")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the grace period is 3 heartbeats of 1 s; SQLite keeps whole seconds, so a heartbeat may look up to 1 s
    # younger than it is: ask again until the dead trial shows as failed (a live process would keep it running)
    before: list[str] = []

    def the_dead_trial_failed() -> bool:
        nonlocal before
        code, out, err = sweep_main(capsys, tmp_path, data, "--study", "k", "--show", "--json", "--heartbeat", 1)
        assert code == 0, err
        before = [t["state"] for t in json.loads(out)["trials"]]
        return "RUNNING" not in before

    time.sleep(3.0)
    wait_until(the_dead_trial_failed, timeout=30.0, what="the killed trial to be failed")
    assert before.count("FAIL") == 1 and "RUNNING" not in before  # (a first trial may have finished in time)
    with Ledger(tmp_path / "runs") as ledger:  # the killed trial's run is a crashed run in the ledger
        assert [r.status for r in ledger.runs(tag="study:k")].count("crashed") == 1
    # the study goes on: --resume runs trials until 2 have finished (the failed one is not counted)
    code, out, err = sweep_main(capsys, tmp_path, data, "--study", "k", "--resume", "--heartbeat", 1)
    assert code == 0, err
    states = [t.state.name for t in optuna.load_study(study_name="k", storage=storage).get_trials()]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2 and len(states) == 3
    assert trial_numbers(out) == [n for n, s in enumerate(states) if s == "COMPLETE" and n >= len(before)]


def test_a_study_another_process_is_still_creating_is_joined_once_its_plan_is_written(tmp_path):
    """Two processes starting one study at once: the second may see the study before the first has written its
    plan (a KeyError once); it waits for the whole plan instead, and a study without one is refused in a line."""
    import threading

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="race", storage=storage)
    study.set_user_attr("space", {"lr": {"low": 1e-4, "high": 1e-2, "log": True}})

    def finish_plan():
        time.sleep(0.3)
        for key, value in {"n_trials": 5, "metric": "val", "sampler": "tpe", "prune": False, "data": ""}.items():
            study.set_user_attr(key, value)

    writer = threading.Thread(target=finish_plan)
    writer.start()
    attrs = sweep.stored_plan(storage, "race")
    writer.join()
    assert attrs["n_trials"] == 5 and attrs["data"] == ""
    other = optuna.create_study(study_name="bare", storage=storage)
    other.set_user_attr("space", {})
    with pytest.raises(sweep.SweepError, match="not made by main.py sweep"):
        sweep.StudyPlan.from_attrs(sweep.stored_plan(storage, "bare", wait_s=0.2), "study 'bare'")
