"""GUI latencies, measured with the real widgets (offscreen unless a display is set); benchmarks/run.py runs them
in a process of their own (``run_in_own_process``), as a user runs the program.

* slider: one latent slider moved → the decoded face set *and painted* (setValue, then the
  event loop runs until idle), p50/p95 over many moves on the shipped VAE 256/16;
* grid15: LatentGridPanel.rebuild_grid for a 15×15 grid, painted, median;
* slider_train: the same on the Sampling tab while the Training tab trains (threads auto);
* ui_stall: a 10 ms QTimer in the main window's event loop measures its own lateness while the
  Training tab trains a VAE 256/16 in its worker thread (loss curves and live faces updating), p99/max;
* gradcheck_direction_gui: GradcheckPanel in direction mode on the current (shipped 256/16) VAE,
  run_check → report shown (worker thread, signals), median;
* cold_start: wall time from spawning ``python benchmarks/cold_start_child.py`` (which runs
  ``main.main([])``, i.e. ``python main.py``) to the main window's first show event, median.

Each measurement that fails (a panel missing, an API changed) gives None for its keys and a
message under ``gui_errors``; the others still run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def _app():
    from PyQt6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([sys.argv[0]])


def _settle(app, condition, timeout_s: float = 60.0) -> bool:
    """Run the event loop until condition() (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.005)
    return True


def _state():
    """A Session with the shipped VAE 256/16 and the Frey faces (or noise faces without the file)."""
    from benchmarks.engine import load_faces
    from core.checkpoint import load_model
    from vae_gui.state import Session

    state = Session()
    state.set_model(load_model(ROOT / "model" / "vae.npz").model, ROOT / "model" / "vae.npz")
    X, _ = load_faces()
    state.set_data(X)
    return state


def _shown_panel(panel_class, size: tuple[int, int]):
    """(app, a shown ``panel_class`` on the shipped VAE and the faces, ready)."""
    app = _app()
    panel = panel_class(_state())
    panel.resize(*size)
    panel.show()
    _settle(app, panel.is_ready)
    return app, panel


def _slider_moves(app, panel, moves: int) -> dict:
    """Move random latent sliders of a shown SamplingPanel ``moves`` times: p50/p95 wall ms and p95 UI-thread
    CPU ms from QSlider.setValue to the new face painted."""
    from vae_gui.panels.sampling import SLIDER_STEPS

    rng = np.random.default_rng(0)
    sliders = panel.sliders.sliders
    times, cpu_times = [], []
    before = panel.face.current_image()
    for i in range(moves + 10):
        slider = sliders[i % len(sliders)]
        value = int(rng.integers(0, SLIDER_STEPS + 1))
        if value == slider.value():
            value = (value + 50) % (SLIDER_STEPS + 1)
        t0, c0 = time.perf_counter(), time.thread_time()
        slider.setValue(value)  # valueChanged → decode on the UI thread → ImageItem.setImage
        app.processEvents()  # the repaint of the face
        if i >= 10:  # the first moves warm caches
            times.append(1e3 * (time.perf_counter() - t0))
            cpu_times.append(1e3 * (time.thread_time() - c0))  # the UI thread's own work, without waiting for a core
    if np.array_equal(before, panel.face.current_image()):
        raise RuntimeError("the face never changed while the sliders moved")
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "cpu_p95": percentile(cpu_times, 95)}


def slider_latency(moves: int) -> dict:
    """p50/p95 ms from QSlider.setValue to the new face painted, over ``moves`` moves of random sliders."""
    from vae_gui.panels.sampling import SamplingPanel

    app, panel = _shown_panel(SamplingPanel, (1200, 800))
    ms = _slider_moves(app, panel, moves)
    panel.close()
    panel.deleteLater()
    return {"slider_p50_ms": ms["p50"], "slider_p95_ms": ms["p95"], "slider_cpu_p95_ms": ms["cpu_p95"]}


def _training_window(app, tmp: str):
    """The main window with its Training tab training a VAE 256/16 (threads auto) in its worker thread."""
    from vae_gui.app import MainWindow, make_settings

    window = MainWindow(_state(), settings=make_settings(os.path.join(tmp, "bench.ini")))
    window.show()
    panel = window.panels["training"]
    window.tabs.setCurrentWidget(panel)
    panel.form.steps_spin.setValue(panel.form.steps_spin.maximum())
    _settle(app, lambda: False, 0.3)
    return window, panel


def _stop_training(app, window, panel) -> dict | None:
    """Stop the run and close the window; the run's thread use (threads "auto", core.parallel)."""
    panel.stop_training()
    _settle(app, lambda: not panel.is_running(), 60)
    record = getattr(panel, "last_record", None)
    threads = record.results.get("threads_used") if record is not None else None
    window.close()
    window.deleteLater()
    app.processEvents()
    return threads


def slider_while_training(moves: int) -> dict:
    """slider_latency on the Sampling tab of a window whose Training tab is training (threads auto): the UI
    thread shares the machine with the training thread and, at two threads, NumPy's second BLAS thread."""
    app = _app()
    with tempfile.TemporaryDirectory() as tmp:
        window, training = _training_window(app, tmp)
        if not training.start_training():
            raise RuntimeError("the training panel refused to start a run")
        _settle(app, lambda: len(training.plots.series["step"].values()) > 0, 30)
        sampling = window.panels["sampling"]
        window.tabs.setCurrentWidget(sampling)
        _settle(app, sampling.is_ready)
        _settle(app, lambda: False, 2.0)  # past the first thread probe (~50 steps)
        ms = _slider_moves(app, sampling, moves)
        threads = _stop_training(app, window, training)
    return {"slider_train_p50_ms": ms["p50"], "slider_train_p95_ms": ms["p95"],
            "slider_train_cpu_p95_ms": ms["cpu_p95"], "slider_train_threads": threads}


def grid_rebuild(reps: int) -> dict:
    """Median ms of LatentGridPanel.rebuild_grid at 15×15, including the paint."""
    from vae_gui.panels.latent_grid import LatentGridPanel

    app, panel = _shown_panel(LatentGridPanel, (1200, 900))
    panel.n_spin.setValue(15)
    app.processEvents()
    times = []
    for _ in range(reps + 2):
        t0 = time.perf_counter()
        panel.rebuild_grid()
        app.processEvents()
        times.append(1e3 * (time.perf_counter() - t0))
    if panel.grid.grid_shape() != (15, 15):
        raise RuntimeError(f"the grid is {panel.grid.grid_shape()}, not 15×15")
    panel.close()
    panel.deleteLater()
    return {"grid15_ms": statistics.median(times[2:])}


def timer_lateness_ms(seconds: float, interval_ms: int = 10) -> np.ndarray:
    """Run the event loop for ``seconds`` with a precise ``interval_ms`` timer; how late each tick came (ms)."""
    from PyQt6.QtCore import QEventLoop, Qt, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(interval_ms)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return np.maximum(np.diff(ticks) * 1e3 - interval_ms, 0.0)


def ui_stall(seconds: float) -> dict:
    """Lateness of a 10 ms timer on the UI thread while the Training tab trains (p99 and max, ms),
    and the same with the window idle (the machine's own noise floor)."""
    app = _app()
    with tempfile.TemporaryDirectory() as tmp:
        window, panel = _training_window(app, tmp)
        idle = timer_lateness_ms(seconds / 2)
        if not panel.start_training():
            raise RuntimeError("the training panel refused to start a run")
        _settle(app, lambda: len(panel.plots.series["step"].values()) > 0, 30)  # the worker is stepping
        late = timer_lateness_ms(seconds)
        steps_seen = len(panel.plots.series["step"].values())
        threads = _stop_training(app, window, panel)
    return {"ui_stall_p99_ms": percentile(late, 99), "ui_stall_max_ms": float(late.max()),
            "ui_stall_idle_p99_ms": percentile(idle, 99), "ui_stall_ticks": len(late) + 1,
            "ui_stall_train_logs": steps_seen, "ui_stall_train_threads": threads}


def gradcheck_direction_gui(reps: int) -> dict:
    """Median seconds from GradcheckPanel.run_check (direction mode, the current VAE 256/16's weights)
    to its report shown, the worker thread included."""
    from vae_gui.panels.gradcheck import GradcheckPanel

    app = _app()
    panel = GradcheckPanel(_state())
    panel.show()
    panel.current_check.setChecked(True)
    panel.mode_combo.setCurrentText("direction")
    app.processEvents()
    times = []
    for _ in range(reps):
        panel.report = None
        t0 = time.perf_counter()
        if not panel.run_check():
            raise RuntimeError("the gradcheck panel refused to run")
        if not _settle(app, lambda: panel.report is not None, 60):
            raise RuntimeError("the gradcheck panel showed no report within 60 s")
        times.append(time.perf_counter() - t0)
        if not panel.report.passed or panel.report.mode != "direction":
            raise RuntimeError("the direction check on the shipped VAE did not pass")
        _settle(app, lambda: not panel.is_running(), 30)
    panel.close()
    panel.deleteLater()
    return {"gradcheck_direction_gui_s": statistics.median(times)}


def cold_start(reps: int) -> dict:
    """Median seconds from spawning the GUI process to its main window's first show event."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               "VAE_EXPLORER_SETTINGS": os.path.join(tmp, "cold.ini")}
        for _ in range(reps):
            t0 = time.time()
            out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cold_start_child.py")], env=env,
                                 capture_output=True, text=True, timeout=120, cwd=ROOT)
            shown = [line for line in out.stdout.splitlines() if line.startswith("SHOWN ")]
            if not shown:
                raise RuntimeError(f"the GUI never showed its window: {out.stderr.strip()[-300:]}")
            times.append(float(shown[0].split()[1]) - t0)
    return {"cold_start_s": statistics.median(times)}


def run_in_own_process(quick: bool = False, only: list[str] | None = None, timeout_s: float = 900) -> dict:
    """``run_all`` in a fresh ``python -m benchmarks.gui`` process: the GUI as a user runs it. In the process of
    benchmarks/run.py the engine parts have already raised NumPy's BLAS to two threads from the main thread, so its
    second BLAS thread runs at the UI's priority; in the program it is started by the training thread and runs
    TRAINING_NICE steps below (vae_gui.training_job). slider_train_p95 after the engine parts against a fresh
    process, five alternating pairs: median 2.85 against 1.87 ms (benchmarks/RESULTS.md)."""
    command = [sys.executable, "-m", "benchmarks.gui", *(["--quick"] if quick else []),
               *(["--only", ",".join(only)] if only else [])]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"gui_errors": {"process": f"no answer within {timeout_s:.0f} s"}}
    lines = out.stdout.strip().splitlines()
    try:
        if out.returncode == 0 and lines:
            return json.loads(lines[-1])
    except ValueError:  # something else printed last: reported like a failed run, not raised into run.py
        pass
    return {"gui_errors": {"process": f"exit {out.returncode}: {out.stderr.strip()[-400:]}"}}


def run_all(quick: bool = False, only: list[str] | None = None) -> dict:
    """Every GUI measurement (or those whose first key starts with a name in ``only``, e.g. 'grid15'); a failing
    one gives None for its keys and a note in 'gui_errors'."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    results: dict = {}
    errors: dict = {}
    plan = [
        (("slider_p50_ms", "slider_p95_ms", "slider_cpu_p95_ms"), lambda: slider_latency(40 if quick else 200)),
        (("grid15_ms",), lambda: grid_rebuild(5 if quick else 30)),
        (("ui_stall_p99_ms", "ui_stall_max_ms"), lambda: ui_stall(1.5 if quick else 8.0)),
        (("slider_train_p50_ms", "slider_train_p95_ms", "slider_train_cpu_p95_ms"),
         lambda: slider_while_training(40 if quick else 200)),
        (("gradcheck_direction_gui_s",), lambda: gradcheck_direction_gui(1 if quick else 5)),
        (("cold_start_s",), lambda: cold_start(1 if quick else 5)),
    ]
    if only:
        plan = [(keys, measure) for keys, measure in plan if keys[0].startswith(tuple(only))]
    for keys, measure in plan:
        try:
            results.update(measure())
        except Exception as exc:  # noqa: BLE001 - one broken piece must not hide the other numbers
            errors[keys[0]] = f"{type(exc).__name__}: {exc}"
            results.update(dict.fromkeys(keys))
    if errors:
        results["gui_errors"] = errors
    return results


if __name__ == "__main__":
    chosen = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    print(json.dumps(run_all(quick="--quick" in sys.argv, only=chosen)))
