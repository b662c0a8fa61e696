"""The run ledger's costs (issue "Experiments"), each in a temporary ledger folder (never the user's):

- ``ledger_overhead_ratio``: training steps/s of the default VAE 560-256-16 with the recorder on / off
  (every log step committed, a weight snapshot every 2 000 steps as in a 60 000-step run): two runs in
  lockstep, 200 steps at a time (see ledger_overhead); ``ledger_overhead_cpu_ratio``: the same in steps
  per CPU second; ``ledger_overhead_inrun_ratio``: 1 − the share of the recorded run's wall time spent in
  the recorder's callbacks; ``ledger_end_s``: the recorder's end of a run (a final snapshot).
- ``runs_list_1000_s``: ``main.py runs list --json`` over 1 000 runs (30 snapshots and 600 logged steps
  each), wall time of the whole command (interpreter start included), median of 3.
- ``compare_overlay_ms``: the Runs tab overlaying 6 runs of 60 000 steps logged every 100 steps (train's
  default: 600 points each): histories read from the ledger, curves drawn and the plot painted, median
  of 5; ``compare_overlay_log10_ms``: the same logged every 10 steps (6 000 points each).
The ``*_cpu_*`` keys give the same measurements in CPU time (this machine is shared: under load the wall
times grow, the CPU times much less); ``runs_load_avg`` is the 1-minute load average at the start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("ledger_overhead_ratio", "ledger_overhead_cpu_ratio", "ledger_overhead_inrun_ratio", "ledger_steps_per_s_on",
        "ledger_steps_per_s_off", "ledger_end_s", "runs_list_1000_s", "runs_list_1000_cpu_s", "compare_overlay_ms",
        "compare_overlay_cpu_ms", "compare_overlay_log10_ms", "compare_overlay_log10_cpu_ms", "runs_load_avg")
SNAPSHOT_EVERY = 2000


def _training_run(X: np.ndarray, steps: int):
    from core.config import TrainConfig
    from core.dataset import FREY_IMAGE_SHAPE, Dataset
    from core.run import TrainingRun

    config = TrainConfig(steps=steps, eval_every=0, checkpoint_every=0).validate()  # 560-256-16, log every 100
    return TrainingRun(config, Dataset(X, FREY_IMAGE_SHAPE, "frey"))


class _Timed:
    """A callback with the wall time spent inside it added up."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args):
        t0 = time.perf_counter()
        self.fn(*args)
        self.seconds += time.perf_counter() - t0


def ledger_overhead(X: np.ndarray, reps: int, steps: int, chunk: int = 200) -> dict:
    """Two identical runs trained in lockstep, ``chunk`` steps at a time in alternating order, one recorded
    and one not, so both see the same load from the rest of the machine (whole runs one after the other
    differed by up to 45 % in CPU time on this shared machine); ``reps`` such pairs (an even number). Ratios
    are of the summed times; also 1 − the share of the recorded run's time spent inside the recorder."""
    from core.recorder import Recorder

    wall = {True: 0.0, False: 0.0}
    cpu = {True: 0.0, False: 0.0}
    inside, ends, done = 0.0, [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            # the run built first trained ~5 % faster in lockstep with nothing recorded (measured): which of the
            # two is recorded alternates between repetitions, so that bias cancels
            built = [_training_run(X, steps), _training_run(X, steps)]
            runs = {True: built[rep % 2], False: built[1 - rep % 2]}
            recorder = Recorder(Path(tmp) / "runs", every=SNAPSHOT_EVERY)
            recorder.begin(runs[True])
            on_log, on_eval = _Timed(recorder.on_log), _Timed(recorder.on_eval)
            for i in range(steps // chunk):
                for recorded in ((True, False) if i % 2 == 0 else (False, True)):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    runs[recorded].trainer.run(chunk, on_log=on_log if recorded else None,
                                               on_eval=on_eval if recorded else None)
                    wall[recorded] += time.perf_counter() - t0
                    cpu[recorded] += time.thread_time() - c0
            done += steps // chunk * chunk
            inside += on_log.seconds + on_eval.seconds
            t1 = time.perf_counter()
            recorder.end(runs[True], "finished", measure=False)
            ends.append(time.perf_counter() - t1)
    return {"ledger_overhead_ratio": wall[False] / wall[True], "ledger_overhead_cpu_ratio": cpu[False] / cpu[True],
            "ledger_overhead_inrun_ratio": 1.0 - inside / wall[True], "ledger_steps_per_s_on": done / wall[True],
            "ledger_steps_per_s_off": done / wall[False], "ledger_end_s": statistics.median(ends)}


def fill_ledger(folder: Path, n_runs: int, log_points: int, log_every: int, snapshots: int = 30) -> list[int]:
    """A ledger of ``n_runs`` finished runs with ``log_points`` logged steps and ``snapshots`` snapshot rows
    each (the snapshot files are not written: listing reads only the rows)."""
    from core.ledger import Ledger

    rng = np.random.default_rng(0)
    ids = []
    with Ledger(folder) as ledger:
        for i in range(n_runs):
            settings = {"kind": "vae", "hidden": [256], "latent": 16, "beta": float(i % 5) / 2, "lr": 1e-3,
                        "batch_size": 64, "steps": log_points * log_every, "log_every": log_every}
            run_id = ledger.start_run(settings, {"name": "frey", "fingerprint": "0" * 16}, tags=[f"t{i % 7}"])
            steps = np.arange(1, log_points + 1) * log_every
            total = 30 + 100 / np.sqrt(steps) + rng.normal(0, 0.5, log_points)
            with ledger.transaction() as conn:
                conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(run_id, int(s), float(s) / 500, float(t), float(t) - 5, 5.0, float(t), 1.0)
                                  for s, t in zip(steps, total, strict=True)])
                conn.executemany("INSERT INTO evals VALUES (?, ?, ?, ?)",
                                 [(run_id, int(s), float(s) / 500, float(t) + 1) for s, t in
                                  zip(steps[::100], total[::100], strict=True)])
                every = max(len(steps) // snapshots, 1)
                conn.executemany("INSERT INTO snapshots VALUES (?, ?, ?, ?)",
                                 [(run_id, int(s), f"snapshots/{run_id}/step-{int(s):09d}.npz", 3_600_000)
                                  for s in steps[every - 1::every][:snapshots]])
            ledger.finish(run_id, "finished", {"test_neg_elbo": float(total[-1]), "train_neg_elbo": float(total[-1])})
            ids.append(run_id)
    return ids


def runs_list_seconds(reps: int = 3, log_points: int = 600) -> tuple[float, float]:
    """(wall, CPU) seconds of `main.py runs list --json` over 1 000 runs with ``log_points`` logged steps
    each (listing never reads them; they make the file its real size), medians."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "runs"
        fill_ledger(folder, 1000, log_points, 100)
        env = {**os.environ, "VAE_RUNS": str(folder), "PYTHONPATH": str(ROOT)}
        times, cpu = [], []
        for _ in range(reps):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, str(ROOT / "main.py"), "runs", "list", "--json"], env=env,
                                 capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            assert out.stdout.count(b'"id"') == 1000
    return statistics.median(times), statistics.median(cpu)


def compare_overlay_ms(reps: int = 5, log_every: int = 100) -> tuple[float, float]:
    """(wall, CPU) ms of the Runs tab drawing 6 runs of 60 000 steps logged every ``log_every``, each time
    read from the ledger."""
    from PyQt6.QtCore import QEvent

    from benchmarks.gui import _app
    from vae_gui.panels.runs import RunsPanel
    from vae_gui.state import Session
    from vae_gui.workers import drain

    app = _app()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "runs"
        ids = fill_ledger(folder, 6, 60_000 // log_every, log_every)
        old = os.environ.get("VAE_RUNS")
        os.environ["VAE_RUNS"] = str(folder)
        try:
            session = Session()
            panel = RunsPanel(session)
            panel.resize(1280, 720)
            panel.show()
            panel.refresh_table(force=True)
            panel.select_runs(ids)
            app.processEvents()
            times, cpu = [], []
            for _ in range(reps):
                panel.histories.clear()
                t0, c0 = time.perf_counter(), time.thread_time()
                panel.draw_curves()
                panel.plot.viewport().repaint()
                times.append(time.perf_counter() - t0)
                cpu.append(time.thread_time() - c0)
            assert len(panel.curves) == 6
            panel.shutdown()
            drain()  # the faces job of the selection ends before the panel goes
            panel.close()
            panel.deleteLater()  # deleted here, with its session alive, not by Python's collector later
            app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        finally:
            if old is None:
                os.environ.pop("VAE_RUNS", None)
            else:
                os.environ["VAE_RUNS"] = old
    return 1000 * statistics.median(times), 1000 * statistics.median(cpu)


def run(X: np.ndarray, quick: bool = False, with_gui: bool = True) -> dict:
    results = {"runs_load_avg": os.getloadavg()[0]}
    results.update(ledger_overhead(X, 2 if quick else 4, 400 if quick else 4000))
    results["runs_list_1000_s"], results["runs_list_1000_cpu_s"] = runs_list_seconds(*((1, 20) if quick else (3, 600)))
    overlay = compare_overlay_ms(2 if quick else 5) if with_gui else (None, None)
    results["compare_overlay_ms"], results["compare_overlay_cpu_ms"] = overlay
    overlay = compare_overlay_ms(2 if quick else 5, log_every=10) if with_gui else (None, None)
    results["compare_overlay_log10_ms"], results["compare_overlay_log10_cpu_ms"] = overlay
    return results
