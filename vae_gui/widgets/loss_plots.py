"""Live loss curves: −ELBO and reconstruction on the left, KL on the right, a smoothing slider below.

Raw points are drawn pale, the smoothed line bold. Smoothing is an exponential moving average whose
window is set in *steps* (points are ``log_every`` steps apart, so the weight per point follows from
the spacing) and is bias-corrected like TensorBoard's: the average is divided by the total weight
it has seen, so the line starts on the first raw point instead of rising from zero — it stays on
the raw curve from step one. Redraws run on a timer (4 Hz) and only when something changed.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from vae_gui.style import COLOURS, style_plot

REDRAW_MS = 250
SMOOTHING_STEPS = (0, 50, 100, 200, 500, 1000, 2000, 5000)  # slider positions: EMA window in steps
DEFAULT_SMOOTHING = 1  # 50 steps: stays on the raw curve even in a short run's steep start
HISTORY_POINTS = 1000  # a model file keeps at most this many points per curve
KEYS = ("total", "rec", "kl")

TIPS = {
    "total": "−ELBO per image in nats: reconstruction + KL (for an AE, the reconstruction alone), an upper bound "
             "on −log p(x). Lower is better. With a Gaussian decoder it can be negative: a density on [0, 1] "
             "pixels can exceed 1, so −log p(x) < 0 — compare models by it, it is not a probability.",
    "rec": "Reconstruction loss per image in nats: −log p(x|z) summed over the image's pixels. Lower is better; "
           "with a Bernoulli decoder it can never go below the BCE floor (the pixels' own entropy).",
    "kl": "KL(q(z|x) ‖ N(0, I)) per image in nats: how much information the code carries. Near 0 means the "
          "latent is unused (posterior collapse); a few nats or more means the code is used.",
    "test": "−ELBO per image on held-out faces (the validation split when there is one, else the test split; "
            "same fixed noise every time). If it rises while the training curve falls, the model overfits.",
    "smoothing": "Window of the smoothed (bold) lines in optimiser steps: an exponential moving average, "
                 "bias-corrected so it starts on the first point (like TensorBoard's smoothing slider).",
}


class Series:
    """A growing float series (amortised O(1) append) whose view goes straight into setData."""

    def __init__(self):
        self._data = np.zeros(1024)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.zeros(len(self._data))])
        self._data[self.n] = value
        self.n += 1

    def extend(self, values) -> None:
        for v in np.asarray(values, dtype=np.float64):
            self.append(float(v))

    def clear(self) -> None:
        self.n = 0

    def values(self) -> np.ndarray:
        return self._data[: self.n]

    def last(self) -> float:
        return float(self._data[self.n - 1]) if self.n else math.nan


def smooth(steps: np.ndarray, values: np.ndarray, window_steps: float) -> np.ndarray:
    """Bias-corrected EMA of ``values`` logged at ``steps``: ema_i = Σ_j w_ij x_j / Σ_j w_ij with
    w_ij = exp(−(s_i − s_j)/window). Window 0 returns the values themselves."""
    values = np.asarray(values, dtype=np.float64)
    if window_steps <= 0 or len(values) < 2:
        return values.copy()
    decay = np.exp(-np.diff(np.asarray(steps, dtype=np.float64)) / window_steps)
    ema = np.empty_like(values)
    ema[0], den = values[0], 1.0
    for i in range(1, len(values)):  # O(n) and only on a slider change or a file open; appends are O(1)
        den = decay[i - 1] * den + 1.0
        ema[i] = ema[i - 1] + (values[i] - ema[i - 1]) / den  # = Σ w x / Σ w, exact for a constant series
    return ema


def downsample(history: dict, points: int = HISTORY_POINTS) -> dict:
    """At most ``points`` evenly spaced entries of each curve (the last one always kept), as lists."""
    out = {}
    for prefix, step_key in (("", "step"), ("test_", "test_step")):
        steps = np.asarray(history.get(step_key, []))
        keep = np.unique(np.r_[np.linspace(0, len(steps) - 1, min(points, len(steps))).astype(int)]) \
            if len(steps) else np.zeros(0, dtype=int)
        names = [step_key] + ([*KEYS] if not prefix else ["test_neg_elbo"])
        for name in names:
            out[name] = [float(v) for v in np.asarray(history.get(name, []), dtype=np.float64)[keep]]
    return out


NO_CURVES = ("No loss curves are stored with this model: it was saved with its weights only (the shipped models "
             "are), so its training history cannot be shown. A run — new, or Continue — draws curves here and a "
             "save keeps them.")


class LossPlots(QWidget):
    """The two training plots, their data and the smoothing slider."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.series = {k: Series() for k in ("step", *KEYS)}
        self.test_series = {"step": Series(), "neg_elbo": Series()}
        self._ema = {k: (0.0, 0.0) for k in KEYS}  # running (smoothed value, total weight) of each line
        self._smoothed = {k: Series() for k in KEYS}
        self.divergence_lines: list[pg.InfiniteLine] = []
        self._dirty = False
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    def _build(self) -> None:
        self.loss_plot, self.kl_plot = pg.PlotWidget(), pg.PlotWidget()
        style_plot(self.loss_plot, "−ELBO and reconstruction (nats / image)", bottom="step")
        style_plot(self.kl_plot, "KL (nats / image)", bottom="step")
        for plot in (self.loss_plot, self.kl_plot):
            plot.addLegend(offset=(-10, 10), brush=(255, 255, 255, 210))
            plot.setMinimumSize(200, 140)
        self.loss_plot.setToolTip(f"<p>{TIPS['total']}</p><p>{TIPS['rec']}</p><p>{TIPS['test']}</p>"
                                  "<p>Thin pale lines: each logged minibatch; bold lines: smoothed.</p>")
        self.kl_plot.setToolTip(f"<p>{TIPS['kl']}</p><p>Thin pale line: each logged minibatch; bold: smoothed.</p>")
        self.kl_plot.setXLink(self.loss_plot)
        plot_of = {"total": self.loss_plot, "rec": self.loss_plot, "kl": self.kl_plot}
        names = {"total": "−ELBO (train)", "rec": "reconstruction (train)", "kl": "KL (train)"}
        self.curves = {}
        for key in KEYS:
            self.curves[key] = _curve(plot_of[key], COLOURS[key], 1, alpha=70)
            self.curves[key + "_ema"] = _curve(plot_of[key], COLOURS[key], 2.5, name=names[key] + ", smoothed")
        self.test_curve = self.loss_plot.plot(pen=pg.mkPen(COLOURS["test"], width=2), symbol="o", symbolSize=6,
                                              symbolBrush=COLOURS["test"], name="−ELBO (held out)")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, len(SMOOTHING_STEPS) - 1)
        self.smoothing_slider.setValue(DEFAULT_SMOOTHING)
        self.smoothing_slider.setToolTip(TIPS["smoothing"])
        self.smoothing_slider.valueChanged.connect(self._smoothing_changed)
        self.smoothing_label = QLabel()
        self.smoothing_label.setToolTip(TIPS["smoothing"])
        self._smoothing_changed()
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.kl_plot, 2)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Smoothing:"))
        slider_row.addWidget(self.smoothing_slider, 1)
        slider_row.addWidget(self.smoothing_label)
        self.empty_note = QLabel(NO_CURVES)
        self.empty_note.setWordWrap(True)
        self.empty_note.setStyleSheet("color: #555;")
        self.empty_note.setVisible(False)  # shown by set_history for a model file without curves
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_note)
        layout.addLayout(plots, 1)
        layout.addLayout(slider_row)

    # ------------------------------------------------------------------ data
    @property
    def window_steps(self) -> int:
        return SMOOTHING_STEPS[self.smoothing_slider.value()]

    def append(self, step: int, stats: dict) -> None:
        """One logged step: raw values and their smoothed continuation (O(1))."""
        self.empty_note.setVisible(False)
        prev = self.series["step"].last()
        decay = math.exp(-(step - prev) / self.window_steps) if self.window_steps and not math.isnan(prev) else 0.0
        self.series["step"].append(step)
        for key in KEYS:
            value = float(stats[key])
            self.series[key].append(value)
            ema, den = self._ema[key]
            den = decay * den + 1.0
            ema = ema + (value - ema) / den
            self._ema[key] = (ema, den)
            self._smoothed[key].append(ema)
        self._dirty = True

    def append_test(self, step: int, value: float) -> None:
        self.test_series["step"].append(step)
        self.test_series["neg_elbo"].append(value)
        self._dirty = True

    def smoothed(self, key: str) -> np.ndarray:
        return self._smoothed[key].values()

    def _smoothing_changed(self, *_args) -> None:
        window = self.window_steps
        self.smoothing_label.setText(f"{window} steps" if window else "off")
        steps = self.series["step"].values()
        for key in KEYS:
            values = smooth(steps, self.series[key].values(), window)
            self._smoothed[key].clear()
            self._smoothed[key].extend(values)
            if len(values):
                tail = np.exp(-(steps[-1] - steps) / window) if window else (steps == steps[-1]).astype(float)
                self._ema[key] = (float(values[-1]), float(tail.sum()))
            else:
                self._ema[key] = (0.0, 0.0)
        self._dirty = True
        self.redraw()

    def history(self) -> dict[str, np.ndarray]:
        """Copies of the curves: step, total, rec, kl (+ _ema, the smoothed lines) and test_step, test_neg_elbo."""
        out = {k: s.values().copy() for k, s in self.series.items()}
        out.update({k + "_ema": self.smoothed(k).copy() for k in KEYS})
        out["test_step"] = self.test_series["step"].values().copy()
        out["test_neg_elbo"] = self.test_series["neg_elbo"].values().copy()
        return out

    def set_history(self, history: dict | None) -> None:
        """Show the curves stored in a model file (``downsample``'s keys), replacing what is shown."""
        self.clear()
        history = history if isinstance(history, dict) else {}
        try:
            steps = np.asarray(history.get("step", []), dtype=np.float64)
            columns = {k: np.asarray(history.get(k, []), dtype=np.float64) for k in KEYS}
            test = (np.asarray(history.get("test_step", []), dtype=np.float64),
                    np.asarray(history.get("test_neg_elbo", []), dtype=np.float64))
        except (TypeError, ValueError):
            return  # a malformed history shows nothing rather than failing the open
        if all(len(c) == len(steps) for c in columns.values()) and np.isfinite(steps).all():
            self.series["step"].extend(steps)
            for key in KEYS:
                self.series[key].extend(columns[key])
        if len(test[0]) == len(test[1]):
            self.test_series["step"].extend(test[0])
            self.test_series["neg_elbo"].extend(test[1])
        self.empty_note.setVisible(len(self.series["step"].values()) == 0)  # a file without its curves
        self._smoothing_changed()

    def clear(self) -> None:
        self.empty_note.setVisible(False)
        for s in (*self.series.values(), *self.test_series.values(), *self._smoothed.values()):
            s.clear()
        self._ema = {k: (0.0, 0.0) for k in KEYS}
        for line in self.divergence_lines:
            self.loss_plot.removeItem(line)
        self.divergence_lines = []
        for plot in (self.loss_plot, self.kl_plot):  # a zoom or pan of the old curves must not frame the new ones
            plot.getViewBox().enableAutoRange()
        self._dirty = True
        self.redraw()

    def mark_divergence(self, step: int) -> None:
        line = pg.InfiniteLine(pos=step, angle=90, movable=False,
                               pen=pg.mkPen("#c00", width=2, style=Qt.PenStyle.DashLine),
                               label="diverged", labelOpts={"position": 0.9, "color": "#c00"})
        self.loss_plot.addItem(line)
        self.divergence_lines.append(line)

    # ------------------------------------------------------------------ drawing
    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        steps = self.series["step"].values()
        for key in KEYS:
            self.curves[key].setData(steps, self.series[key].values())
            self.curves[key + "_ema"].setData(steps, self.smoothed(key))
        self.test_curve.setData(self.test_series["step"].values(), self.test_series["neg_elbo"].values())
        # Settle the auto-range and view transform now: left to the paint, they change the view during it,
        # and the curves' clip-to-view/downsampling then asks for a second full paint of each plot (measured:
        # two paints of 7–12 ms per plot per redraw, the UI stall's p99 34–47 ms; with this, one paint, 21 ms)
        for plot in (self.loss_plot, self.kl_plot):
            plot.getViewBox().prepareForPaint()


def _curve(plot: pg.PlotWidget, color: str, width: float, name: str | None = None, alpha: int = 255):
    c = pg.mkColor(color)
    c.setAlpha(alpha)
    # no antialiasing: with it, one redraw of 100 000 points takes seconds instead of ~0.1 s
    item = plot.plot(pen=pg.mkPen(c, width=width), name=name, antialias=False)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item
