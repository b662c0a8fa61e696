"""Measure how responsive the GUI stays while it trains, and what a 100 000-point loss plot costs
to paint (not part of the test suite; the numbers go in docs/RELIABILITY.md).

    OPENBLAS_NUM_THREADS=1 python tests/helpers/measure_gui_latency.py [SECONDS]

1. Opens the real main window offscreen with the Frey data, starts training a VAE 560-256-16
   (batch 100, Adam) and, for SECONDS, lets a 10 ms QTimer record the gaps between its ticks:
   a gap much longer than 10 ms is time the UI thread could not react. Prints the median, 99th
   percentile and largest gap, with the same numbers for an idle window for comparison.
2. Fills the curves with 100 000 logged points (a very long run), records the same gaps while
   training goes on, and times one redraw + repaint of the loss plots (what the panel does every
   100 ms while points arrive): as the panel builds its curves, then with antialiasing off, then
   also without downsampling and clip-to-view.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PyQt6.QtCore import QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from core.data import ensure_data, load_frey  # noqa: E402
from vae_gui.app import MainWindow, make_settings, wait_until  # noqa: E402
from vae_gui.state import Session  # noqa: E402


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
    window = MainWindow(Session(), settings=settings)
    path = ensure_data(None, allow_download=False)
    window.state.set_data(load_frey(path), path)
    window.files.load_initial_model(None, remembered=False)
    window.resize(1400, 900)
    window.show()
    wait_until(lambda: False, 1.0, app)
    print(f"idle window:         {describe(tick_gaps(app, seconds / 2))}")

    panel = window.panels["training"]
    window.tabs.setCurrentWidget(panel)
    panel.form.new_radio.setChecked(True)
    panel.form.model_form.hidden_edit.setText("256")
    panel.form.model_form.latent_spin.setValue(16)
    panel.form.steps_spin.setValue(10_000_000)
    panel.form.eval_spin.setValue(200)
    assert panel.start_training()
    wait_until(lambda: panel.plots.series["step"].n >= 2, 60, app)
    gaps = tick_gaps(app, seconds)
    steps = int(panel.plots.series["step"].values()[-1])
    print(f"while training:      {describe(gaps)}; {steps} steps trained, last rate: {panel.rate_label.text()}")
    panel.stop_training()
    wait_until(lambda: not panel.is_running(), 60, app)

    n = 100_000
    x = np.arange(1, n + 1) * 10.0
    y = 300 + 50 * np.exp(-x / 1e5) + np.random.default_rng(0).normal(0, 2, n)
    for key, series in panel.plots.series.items():
        series.clear()
        for value in (x if key == "step" else y):
            series.append(float(value))

    def redraw_ms() -> float:
        """One more logged point, then the panel's redraw and the repaint it causes."""
        times = []
        for i in range(5):
            panel.plots.series["step"].append(x[-1] + 10 * (i + 1))
            for key in panel.plots.series:
                if key != "step":
                    panel.plots.series[key].append(300.0)
            panel._dirty = True
            t0 = time.perf_counter()
            panel.plots.redraw()
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(times[1:]))

    # a long run going on: training continues with the 100 000 points in the curves
    window.state.model.step = int(x[-1])  # the run goes on after the logged points (x stays sorted)
    panel.form.continue_radio.setChecked(True)
    assert panel.start_training()
    gaps = tick_gaps(app, seconds)
    print(f"training on with 100000 points in the curves: {describe(gaps)}")
    panel.stop_training()
    wait_until(lambda: not panel.is_running(), 60, app)

    antialiased = [name for name, curve in panel.plots.curves.items() if curve.opts["antialias"]]
    print(f"redraw + paint with {n} logged points, curves as built ({len(antialiased)} of {len(panel.plots.curves)} "
          f"antialiased): median {redraw_ms():.0f} ms")
    for curve in panel.plots.curves.values():
        curve.opts.update(antialias=False)
        curve.updateItems(styleUpdate=True)
    print(f"redraw + paint with {n} logged points, antialiasing off: median {redraw_ms():.0f} ms")
    for curve in panel.plots.curves.values():
        curve.setDownsampling(auto=False)
        curve.setClipToView(False)
    print(f"redraw + paint with {n} logged points, antialiasing, downsampling and clip-to-view off: "
          f"median {redraw_ms():.0f} ms")
    window.close()


if __name__ == "__main__":
    main()
