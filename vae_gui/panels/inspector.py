"""Inspector: every layer's activations, gradients and updates, live while training and on demand.

Data arrives as plain arrays: while the Training tab trains, each log step's stats carry a
``core.inspection`` snapshot (``session.training_logged``); for a loaded model the panel runs
``core.inspection.inspect_model`` over the data set in a background job. The panel shows the per-layer
table, the chosen layer's histograms and weight image, the update/weight ratio and the latent units
over time, and the diagnoses in words. Redraws are coalesced to a few per second.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.inspection import SnapshotHistory, inspect_model, layer_histograms, weight_image
from vae_gui.panels.base import Panel
from vae_gui.state import NO_MODEL_TEXT, Session
from vae_gui.style import style_plot
from vae_gui.workers import Job

REDRAW_MS = 250  # at most 4 redraws a second while training (log steps come every few ms)
GUIDE_RATIO = 1e-3  # cs231n's rule of thumb for the update/weight ratio
LAYER_PENS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf"]
DEAD_WARN_SHARE = 0.1  # a dead count above 10 % of the units is shown in red
COLUMNS = [("layer", "name", "{}"), ("kind", "kind", "{}"), ("units", "units", "{}"), ("dead", "dead", "{}"),
           ("rare", "rare", "{}"), ("never on", "never_on", "{}"), ("active", "active_share", "{:.0%}"),
           ("act mean", "act_mean", "{:.3g}"), ("act std", "act_std", "{:.3g}"), ("‖W‖", "weight_norm", "{:.3g}"),
           ("‖∇W‖", "grad_norm", "{:.3g}"), ("‖ΔW‖/‖W‖", "update_ratio", "{:.1e}"),
           ("saturated", "saturated", "{:.0%}")]
COLUMN_TIPS = {
    "dead": "units whose activation passes no gradient for any image seen (ReLU: input ≤ 0 for every image): "
            "they learn nothing",
    "rare": "units that pass gradient for fewer than 1 % of the images seen",
    "never on": "units whose input is ≤ 0 for every image seen (for ReLU the same as dead; an elu unit there "
                "still learns)",
    "active": "share of (image, unit) pairs where the unit passes gradient",
    "‖ΔW‖/‖W‖": "size of the last update relative to the weights; about 1e-3 is healthy (cs231n)",
    "saturated": "decoder outputs below 0.01 or above 0.99: the sigmoid's gradient vanishes there",
}


class LayerTable(QTableWidget):
    """One row per layer; clicking a row chooses that layer (``layer_chosen``)."""

    layer_chosen = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        for col, (head, _, _) in enumerate(COLUMNS):
            if head in COLUMN_TIPS:
                self.horizontalHeaderItem(col).setToolTip(COLUMN_TIPS[head])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.itemSelectionChanged.connect(self._selection_changed)
        self._names: list[str] = []

    def set_rows(self, rows: list[dict], chosen: str) -> None:
        """Show one row per layer. The cells are made once and their text updated: a new item per cell with
        the header sizing itself to every change cost ~10 ms a redraw (measured); one resize at the end."""
        self.blockSignals(True)
        self.setUpdatesEnabled(False)
        if self.rowCount() != len(rows):
            self.setRowCount(len(rows))
            for r in range(len(rows)):
                for c in range(len(COLUMNS)):
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    self.setItem(r, c, item)
        self._names = [row["name"] for row in rows]
        for r, row in enumerate(rows):
            for c, (_, key, fmt) in enumerate(COLUMNS):
                value = row.get(key)
                item = self.item(r, c)
                item.setText("—" if value is None else fmt.format(value))
                if key == "name":  # the table is the legend of the update/weight plot
                    item.setForeground(QColor(LAYER_PENS[r % len(LAYER_PENS)]))
                elif key == "dead":
                    warn = bool(value) and value > DEAD_WARN_SHARE * row["units"]
                    item.setForeground(QColor("#c00000" if warn else "#000000"))
        if chosen in self._names:
            self.selectRow(self._names.index(chosen))
        self.resizeColumnsToContents()
        self.setUpdatesEnabled(True)
        self.blockSignals(False)
        # every layer in view without scrolling: the table is short and the rest of the panel can give way
        self.setFixedHeight(self.horizontalHeader().height() + sum(self.rowHeight(r) for r in range(len(rows))) + 4)

    def cell_text(self, layer: str, head: str) -> str:
        """What the table shows for ``layer`` in the column titled ``head``."""
        col = [c[0] for c in COLUMNS].index(head)
        return self.item(self._names.index(layer), col).text()

    def choose(self, layer: str) -> None:
        """Click the row of ``layer``."""
        self.selectRow(self._names.index(layer))

    def _selection_changed(self) -> None:
        rows = self.selectionModel().selectedRows()
        if rows:
            self.layer_chosen.emit(self._names[rows[0].row()])


class LayerView(QWidget):
    """The chosen layer: histograms of its activation's input and output, and its weights as an image."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pre_plot, self.post_plot = pg.PlotWidget(), pg.PlotWidget()
        style_plot(self.pre_plot, "input", "count")
        style_plot(self.post_plot, "output", "count")
        self.pre_plot.setToolTip("histogram of the chosen layer's activation input (pre-activation)")
        self.post_plot.setToolTip("histogram of the chosen layer's activation output")
        self.pre_curve = self.pre_plot.plot(stepMode="center", fillLevel=0, brush=(31, 119, 180, 120), pen="#1f77b4")
        self.post_curve = self.post_plot.plot(stepMode="center", fillLevel=0, brush=(255, 127, 14, 120),
                                              pen="#ff7f0e")
        self.weights = pg.GraphicsLayoutWidget()
        self.weight_box = self.weights.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.weight_item = pg.ImageItem(axisOrder="row-major")
        self.weight_item.setLevels((0.0, 1.0))
        self.weight_box.addItem(self.weight_item)
        self.weight_caption = QLabel("")
        self.weight_caption.setWordWrap(True)
        plots = QHBoxLayout()
        plots.addWidget(self.pre_plot)
        plots.addWidget(self.post_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots, 2)
        layout.addWidget(self.weights, 3)
        layout.addWidget(self.weight_caption)

    def clear(self) -> None:
        for curve, plot in ((self.pre_curve, self.pre_plot), (self.post_curve, self.post_plot)):
            curve.setData([], [])
            plot.setTitle("")
        self.weight_item.clear()
        self.weight_caption.setText("")

    def show_layer(self, row: dict, weights: np.ndarray | None, image_shape: tuple[int, int]) -> None:
        pre_hist, post_hist = layer_histograms(row)  # binned here, on demand: the training thread only samples
        for curve, plot, hist, what in ((self.pre_curve, self.pre_plot, pre_hist, "input"),
                                        (self.post_curve, self.post_plot, post_hist, "output")):
            if hist is None:
                curve.setData([], [])
                plot.setTitle(f"{row['name']} {what}: none")
            else:
                curve.setData(np.asarray(hist[1], dtype=float), np.asarray(hist[0], dtype=float))
                plot.setTitle(f"{row['name']} {what}")
        if weights is None:
            self.weight_item.clear()
            self.weight_caption.setText("")
            return
        order, active = None, row.get("unit_active")
        if active is not None and weights.shape[0] == image_shape[0] * image_shape[1]:
            order = np.argsort(-np.asarray(active), kind="stable")  # the units' own faces: busiest first
        image, caption = weight_image(weights, row["name"], image_shape, order)
        if order is not None:
            caption += (f"; sorted by how often each unit fires, so the last {row['dead']} are the dead units"
                        if row.get("dead") else "; sorted by how often each unit fires")
        self.weight_item.setImage(image, autoLevels=False)
        self.weight_box.autoRange(padding=0.0)
        self.weight_caption.setText(caption)


class TimePlots(QWidget):
    """Over training steps (``over_time``): the update/weight ratio per layer (log axis, 1e-3 guide), the KL
    per latent unit as a heat map (units × steps) and the active-unit count; per unit now (``per_unit``):
    KL and posterior σ. The two rows are separate widgets, so the panel can place them apart."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.over_time, self.per_unit = QWidget(), QWidget()
        self.ratio_plot, self.kl_plot, self.active_plot = pg.PlotWidget(), pg.PlotWidget(), pg.PlotWidget()
        self.unit_kl_plot, self.sigma_plot = pg.PlotWidget(), pg.PlotWidget()
        style_plot(self.ratio_plot, "‖ΔW‖ / ‖W‖", "ratio", "step")
        style_plot(self.kl_plot, "KL per unit", "unit", "step")
        style_plot(self.active_plot, "active units", "units", "step")
        style_plot(self.unit_kl_plot, "KL now", "nats", "unit")
        style_plot(self.sigma_plot, "posterior σ", "σ", "unit")
        self.ratio_plot.setLogMode(x=False, y=True)
        self.ratio_plot.setToolTip("update/weight ratio ‖ΔW‖/‖W‖ of each layer at each log step (about 1e-3 is "
                                   "healthy); one curve per layer, coloured as the layer's name in the table")
        self.kl_plot.setToolTip("KL divergence of each latent unit (nats) over the training steps: a heat map")
        self.active_plot.setToolTip("latent units whose posterior mean varies over the batch (variance > 0.01)")
        self.unit_kl_plot.setToolTip("KL divergence of each latent unit (nats) at the last log step")
        self.sigma_plot.setToolTip("mean posterior standard deviation σ of each latent unit")
        # in log mode the view's y is log10(ratio): the guide sits at −3
        dashed = pg.mkPen("#888", style=Qt.PenStyle.DashLine)
        self.guide = pg.InfiniteLine(pos=np.log10(GUIDE_RATIO), angle=0, pen=dashed, label="1e-3",
                                     labelOpts={"position": 0.92, "color": "#555"})
        self.ratio_plot.addItem(self.guide)
        self.ratio_curves: dict[str, pg.PlotDataItem] = {}
        self.kl_image = pg.ImageItem(axisOrder="row-major")
        self.kl_image.setColorMap(pg.colormap.get("viridis"))
        self.kl_plot.addItem(self.kl_image)
        self.active_curve = self.active_plot.plot(pen=pg.mkPen("#2ca02c", width=2))
        self.unit_kl_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#2ca02c")
        self.sigma_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#9467bd")
        self.unit_kl_plot.addItem(self.unit_kl_bars)
        self.sigma_plot.addItem(self.sigma_bars)
        for row, plots in ((self.over_time, (self.ratio_plot, self.kl_plot, self.active_plot)),
                           (self.per_unit, (self.unit_kl_plot, self.sigma_plot))):
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            for plot in plots:
                plot.setMinimumSize(120, 150)
                box.addWidget(plot)

    def show_history(self, history: SnapshotHistory) -> None:
        steps = history.steps
        if len(steps) == 0:  # decades 1e-5…1e-1 around the guide, not an empty log axis's crowded ticks
            self.ratio_plot.setYRange(-5, -1, padding=0)
        else:
            self.ratio_plot.enableAutoRange(axis="y")
        for i, layer in enumerate(history.layers):
            if layer not in self.ratio_curves:
                pen = pg.mkPen(LAYER_PENS[i % len(LAYER_PENS)], width=1.5)
                self.ratio_curves[layer] = self.ratio_plot.plot(pen=pen, name=layer)
            ratios = history.ratios(layer)
            keep = np.isfinite(ratios) & (ratios > 0)  # log axis: no zeros
            self.ratio_curves[layer].setData(steps[keep], ratios[keep])
        kl = history.kl
        if kl is None or len(steps) == 0:
            self.kl_image.clear()
            self.active_curve.setData([], [])
            return
        self.kl_image.setImage(kl.T, autoLevels=True)  # rows = units, columns = logged steps
        x0, x1 = float(steps[0]), float(steps[-1]) if len(steps) > 1 else float(steps[0]) + 1.0
        self.kl_image.setRect(x0, 0.0, max(x1 - x0, 1.0), float(kl.shape[1]))
        self.active_curve.setData(steps, history.active)

    def clear_history(self) -> None:
        """No steps: the layers' curves go (another model has other layers) and the axes start afresh."""
        for curve in self.ratio_curves.values():
            self.ratio_plot.removeItem(curve)
        self.ratio_curves = {}
        self.kl_image.clear()
        self.active_curve.setData([], [])
        self.ratio_plot.setYRange(-5, -1, padding=0)
        for plot in (self.kl_plot, self.active_plot, self.unit_kl_plot, self.sigma_plot):
            plot.getViewBox().enableAutoRange()
        self.show_units({})

    def show_units(self, snap: dict) -> None:
        kl, sigma = snap.get("kl_per_unit"), snap.get("sigma_per_unit")
        units = np.arange(len(kl)) if kl is not None else np.zeros(0)
        self.unit_kl_bars.setOpts(x=units, height=np.zeros(0) if kl is None else np.asarray(kl), width=0.8)
        self.sigma_bars.setOpts(x=units, height=np.zeros(0) if sigma is None else np.asarray(sigma), width=0.8)


class InspectorPanel(Panel):
    """The Inspector tab: the latest snapshot (training log step or data-set pass) and the run's history."""

    title, stem = "Inspector", "inspector"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.snapshot: dict | None = None
        self.history = SnapshotHistory()
        self.layer = "enc0"
        self._stale = True  # the shown numbers are not of the current model and data set
        self._dirty = False  # a snapshot came in that is not drawn yet
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.redraw)
        state.training_logged.connect(self._on_training_log)
        state.busy_changed.connect(lambda _busy: self._update_controls())
        self._update_controls()

    def reset(self) -> None:
        """A new model or data set. The model a run ends with is the one its live numbers describe: they
        stay; any other switch clears the table, the plots over steps and the texts, and inspects afresh."""
        if not self.state.training:
            self.snapshot = None
            self.history = SnapshotHistory()
            self._timer.stop()
            self._dirty = False
            self.table.set_rows([], self.layer)
            self.layer_view.clear()
            self.time_plots.clear_history()
            self.diagnoses.setText("")
            self.source_label.setText("")
        self._model_or_data_changed()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.source_label = QLabel(NO_MODEL_TEXT)
        self.source_label.setWordWrap(True)
        self.inspect_button = QPushButton("Inspect the model over the data set")
        self.inspect_button.setToolTip("one pass over every image (in the background): dead and rarely active "
                                       "units, activations, KL per unit; gradient norms on a batch of 128")
        self.inspect_button.clicked.connect(self.inspect_now)
        self.table = LayerTable()
        self.table.layer_chosen.connect(self.choose_layer)
        self.layer_view = LayerView()
        self.time_plots = TimePlots()
        self.diagnoses = QLabel("")
        self.diagnoses.setWordWrap(True)
        self.diagnoses.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.diagnoses.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.source_label, 1)
        top.addWidget(self.inspect_button)
        left = QVBoxLayout()
        left.addWidget(self.table)
        left.addWidget(QLabel("<b>Diagnoses</b>"))
        left.addWidget(self.diagnoses, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.time_plots.over_time, 3)
        bottom.addWidget(self.time_plots.per_unit, 2)
        grid = QGridLayout()
        grid.addLayout(left, 0, 0)
        grid.addWidget(self.layer_view, 0, 1)
        grid.addLayout(bottom, 1, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 1)

    # ------------------------------------------------------------------ data in
    def _on_training_log(self, stats: dict) -> None:
        snap = stats.get("inspect")
        if snap is not None:
            self.show_snapshot(snap)

    def show_snapshot(self, snap: dict) -> None:
        """Take a snapshot (from training or a data-set pass); the drawing follows within REDRAW_MS."""
        self.snapshot = snap
        if snap["source"] == "training":
            self.history.add(snap)
        self._stale = snap["source"] == "training"  # after training, a data-set pass describes the result
        self._dirty = True
        if self.isVisible() and not self._timer.isActive():
            self._timer.start(REDRAW_MS)

    def inspect_now(self) -> Job | None:
        """Inspect the current model over the whole data set in a background job."""
        model, X = self.state.model, self.state.X
        if model is None or X is None or (self.job is not None and self.job.is_running()):
            return None
        self.source_label.setText(f"Inspecting {model.config.describe()} over {len(X)} images…")
        self.run_job(inspect_model, model, X, keep_weights=True, on_result=self._inspected,
                     on_error=self._inspect_failed, on_finished=self._update_controls)
        self._update_controls()
        return self.job

    def _inspected(self, snap: dict) -> None:
        if self.state.training:  # a run started meanwhile: its live numbers win
            return
        self.show_snapshot(snap)
        self._stale = False
        if not self.isVisible():
            return
        self._timer.stop()
        self.redraw()

    def _inspect_failed(self, message: str, _exc) -> None:
        self.source_label.setText("The inspection failed.")
        self.state.report_error("Inspection failed", message)

    def _model_or_data_changed(self) -> None:
        self._stale = True
        if self.isVisible() and not self.state.training:
            self.inspect_now()
        self._update_controls()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._stale and not self.state.training and (self.snapshot is None or self.snapshot["source"] != "training"):
            self.inspect_now()
        if self._dirty:
            self.redraw()

    # ------------------------------------------------------------------ drawing
    def choose_layer(self, layer: str) -> None:
        self.layer = layer
        if self.snapshot is not None:
            self._draw_layer()

    def redraw(self) -> None:
        snap = self.snapshot
        self._dirty = False
        if snap is None:
            return
        names = [row["name"] for row in snap["layers"]]
        if self.layer not in names:
            self.layer = names[0]
        self.table.set_rows(snap["layers"], self.layer)
        self._draw_layer()
        self.time_plots.show_units(snap)
        self.time_plots.show_history(self.history)
        self.diagnoses.setText("\n".join(f"• {line}" for line in snap["diagnoses"]) or "Nothing stands out.")
        self.source_label.setText(self._source_text(snap))

    def _draw_layer(self) -> None:
        snap = self.snapshot
        row = next(r for r in snap["layers"] if r["name"] == self.layer)
        weights = (snap.get("weights") or {}).get(self.layer)
        self.layer_view.show_layer(row, weights, self.state.image_shape)

    def _source_text(self, snap: dict) -> str:
        if snap["source"] == "training":
            return (f"Live from training, step {snap['step']}: the numbers of this log step's batch; dead/rare "
                    f"units over the last {snap['images']} training images.")
        model = self.state.model
        what = model.config.describe() if model is not None else "the model"
        return (f"{what}, step {snap['step']}, over all {snap['images']} images of the data set (z = posterior "
                f"mean); gradient norms on a batch of 128. The plots over steps fill while the Training tab trains.")

    def _update_controls(self) -> None:
        running = self.job is not None and self.job.is_running()
        ready = self.state.model is not None and self.state.X is not None
        self.inspect_button.setEnabled(ready and not running and not self.state.training)
        if self.snapshot is None and not running:
            model = self.state.model
            self.source_label.setText(
                NO_MODEL_TEXT if model is None else
                "Open a data set to inspect the model (File ▸ Open data set…), or train it." if self.state.X is None
                else f"{model.config.describe()}: not inspected yet (Inspect, or train it to see it live).")
