"""Measure how responsive the GUI stays while it trains, and what a 100 000-point loss plot costs
to paint (not part of the test suite; the numbers go in docs/RELIABILITY.md).

    OPENBLAS_NUM_THREADS=1 python tests/helpers/measure_gui_latency.py [SECONDS]

1. Opens the real main window offscreen with the Frey data, starts training a VAE 560-256-16
   (batch 100, Adam) and, for SECONDS, lets a 10 ms QTimer record the gaps between its ticks:
   a gap much longer than 10 ms is time the UI thread could not react. Prints the median, 99th
   percentile and largest gap, with the same numbers for an idle window for comparison.
2. Goes on training with 100 000 points already in the curves (a very long run) and records
   the same gaps.
3. Sets 100 000 points on every loss curve and times painting the loss plot with the panel's
   downsampling and clip-to-view, then without them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PyQt6.QtCore import QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from core.data import ensure_data, load_frey  # noqa: E402
from vae_gui.app import MainWindow, make_settings, wait_until  # noqa: E402
from vae_gui.state import AppState  # noqa: E402


def tick_gaps(app: QApplication, seconds: float) -> np.ndarray:
    """Gaps (ms) between the ticks of a 10 ms timer over ``seconds`` of event processing."""
    stamps: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start()
    wait_until(lambda: False, seconds, app)
    timer.stop()
    return np.diff(stamps) * 1e3


def describe(gaps: np.ndarray) -> str:
    return (f"{len(gaps)} ticks, median {np.median(gaps):.1f} ms, 99th percentile {np.percentile(gaps, 99):.1f} ms, "
            f"max {gaps.max():.1f} ms")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    app = QApplication(sys.argv[:1])
    QMessageBox.critical = staticmethod(lambda _p, title, text, *a, **k: print(f"dialog {title}: {text}"))
    settings = make_settings(Path(os.environ.get("TMPDIR", "/tmp")) / "vae-explorer-latency.ini")
    window = MainWindow(AppState(), settings=settings)
    path = ensure_data(None, allow_download=False)
    window.state.set_data(load_frey(path), path)
    window.load_initial_model(None, remembered=False)
    window.resize(1400, 900)
    window.show()
    wait_until(lambda: False, 1.0, app)
    print(f"idle window:         {describe(tick_gaps(app, seconds / 2))}")

    panel = window.panels["training"]
    window.tabs.setCurrentWidget(panel)
    panel.new_radio.setChecked(True)
    panel.hidden_edit.setText("256")
    panel.latent_spin.setValue(16)
    panel.steps_spin.setValue(10_000_000)
    panel.eval_spin.setValue(200)
    assert panel.start_training()
    wait_until(lambda: panel.series["step"].n >= 2, 60, app)
    gaps = tick_gaps(app, seconds)
    steps = int(panel.series["step"].values()[-1])
    print(f"while training:      {describe(gaps)}; {steps} steps trained, last rate: {panel.rate_label.text()}")
    panel.stop_training()
    wait_until(lambda: not panel.is_running(), 60, app)

    n = 100_000
    x = np.arange(1, n + 1) * 10.0
    y = 300 + 50 * np.exp(-x / 1e5) + np.random.default_rng(0).normal(0, 2, n)
    # 3. a long run: the curves already hold 100 000 logged points when training goes on
    panel.continue_radio.setChecked(True)
    assert panel.start_training()
    wait_until(lambda: panel.series["step"].n >= 2, 60, app)
    for key, series in panel.series.items():
        series.clear()
        for value in (x if key == "step" else y):
            series.append(float(value))
    panel._dirty = True
    gaps = tick_gaps(app, seconds)
    print(f"training, 100k points in the curves: {describe(gaps)}")
    panel.stop_training()
    wait_until(lambda: not panel.is_running(), 60, app)
    for curve in panel.curves.values():
        curve.setData(x, y)
    app.processEvents()
    for label, downsample in (("with downsampling", True), ("without downsampling", False)):
        for curve in panel.curves.values():
            curve.setDownsampling(auto=downsample, method="peak")
            curve.setClipToView(downsample)
        app.processEvents()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            panel.loss_plot.grab()
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"paint of the loss plot, 6 curves × {n} points, {label}: median {np.median(times):.0f} ms")
    window.close()


if __name__ == "__main__":
    main()
