"""The data set in latent space: a scatter of every face's posterior mean (2 dims or PCA), train and
test in two colours; hover shows the face and its reconstruction, click selects it for the other
panels. Below: KL per latent dimension and the posterior-mean variance that decides active units.

The data set's encoding comes from the session (encoded once per model in a background job and
shared with Sampling and Latent grid); this panel only projects and draws it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core import losses
from core.backend import to_numpy
from core.evaluate import ACTIVE_UNIT_THRESHOLD
from vae_gui.state import NO_DATA_HTML, NO_MODEL_TEXT, Encoding, Session
from vae_gui.style import COLOURS
from vae_gui.widgets.faces import FaceView

TRAIN_COLOUR, TEST_COLOUR = COLOURS["train_points"], COLOURS["test_points"]
ACTIVE_COLOUR, INACTIVE_COLOUR = COLOURS["active"], COLOURS["inactive"]
PCA = "PCA (2 main directions)"
DIMS = "two latent dimensions"
ACTIVE_TIP = (f"A latent unit is active when its posterior mean varies over the data (variance > "
              f"{ACTIVE_UNIT_THRESHOLD}): the encoder uses it to tell faces apart. Inactive units copy the prior "
              "and carry no information; a healthy 16-dim VAE on Frey faces uses several of them, not all.")
KL_TIP = ("Mean KL(q(z_d|x) ‖ p(z_d)) over the data set for each latent dimension d, in nats: how much "
          "information each unit carries. Near 0 = an inactive (collapsed) unit.")



def project(means: np.ndarray, mode: str, dim_x: int = 0, dim_y: int = 1) -> tuple[np.ndarray, str, str]:
    """2-D coordinates (N, 2) of posterior means (N, L) and the two axis names.

    PCA: the centred means on the two leading eigenvectors of their L×L covariance (an eigh of a
    16×16 matrix, far cheaper than an SVD of the N×L data)."""
    if mode == PCA:
        centred = means - means.mean(axis=0)
        if means.shape[1] < 2:
            return np.column_stack([centred[:, 0], np.zeros(len(means))]), "PC 1", "—"
        eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / len(centred))
        order = np.argsort(eigvals)[::-1][:2]
        share = eigvals[order] / max(eigvals.sum(), 1e-300)
        coords = centred @ eigvecs[:, order]
        return coords, f"PC 1 ({100 * share[0]:.0f} % of variance)", f"PC 2 ({100 * share[1]:.0f} % of variance)"
    return means[:, [dim_x, dim_y]], f"z{dim_x}", f"z{dim_y}"


class LatentMapPanel(QWidget):
    """Scatter of the data set's posterior means with hover preview and click-to-select, plus KL per unit."""

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.means: np.ndarray | None = None
        self.logvars: np.ndarray | None = None
        self.coords: np.ndarray | None = None
        self.hovered: int | None = None
        self.kl_per_dim: np.ndarray | None = None  # mean KL of each latent dim over the data (L,)
        self.active_count: int | None = None
        self._dirty = True
        self._build()
        state.model_changed.connect(self._on_model_changed)
        state.data_changed.connect(lambda _x: self._mark_dirty())
        state.encoding_ready.connect(lambda _enc: self._mark_dirty())
        state.selection_changed.connect(self._show_selection)
        self._mark_dirty()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([PCA, DIMS])
        self.mode_combo.setToolTip("PCA: the plane in which the posterior means spread most; or two chosen "
                                   "latent dimensions as they are")
        self.x_combo, self.y_combo = QComboBox(), QComboBox()
        self.x_combo.setToolTip("latent dimension on the horizontal axis")
        self.y_combo.setToolTip("latent dimension on the vertical axis")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.update_scatter())
        self.x_combo.currentIndexChanged.connect(lambda _i: self.update_scatter())
        self.y_combo.currentIndexChanged.connect(lambda _i: self.update_scatter())
        controls = QHBoxLayout()
        controls.addWidget(QLabel("projection:"))
        controls.addWidget(self.mode_combo)
        controls.addWidget(QLabel("x:"))
        controls.addWidget(self.x_combo)
        controls.addWidget(QLabel("y:"))
        controls.addWidget(self.y_combo)
        controls.addStretch(1)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        controls.addWidget(self.message, 2)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(360, 300)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setToolTip("")
        self.legend = self.plot.addLegend(offset=(10, 10))
        common = dict(size=6, pen=None, hoverable=True, hoverSize=11, hoverPen=pg.mkPen("k", width=1.5), tip=None)
        self.train_scatter = pg.ScatterPlotItem(brush=pg.mkBrush(*TRAIN_COLOUR), name="train", **common)
        self.test_scatter = pg.ScatterPlotItem(brush=pg.mkBrush(*TEST_COLOUR), name="test", **common)
        self.selected_marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen("r", width=2.5), brush=None, symbol="o")
        for item in (self.train_scatter, self.test_scatter):
            self.plot.addItem(item)
            item.sigHovered.connect(self._on_hover)
            item.sigClicked.connect(self._on_click)
        self.plot.addItem(self.selected_marker)

        self.hover_original = FaceView("hover a point", min_height=200)
        self.hover_recon = FaceView("reconstruction", min_height=200)
        self.hover_label = QLabel("Hover a point to see its face; click it to open it in Reconstruction.")
        self.hover_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.hover_original)
        side.addWidget(self.hover_recon)
        side.addWidget(self.hover_label)
        side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(190)

        top = QWidget()
        top_layout = QHBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.plot, 1)
        top_layout.addWidget(side_widget)

        self.kl_plot = pg.PlotWidget()
        self.kl_plot.setLabel("left", "KL (nats)")
        self.kl_plot.setLabel("bottom", "latent dimension")
        self.kl_plot.setToolTip(KL_TIP)
        self.kl_plot.setMouseEnabled(False, False)
        self.kl_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.kl_plot.addItem(self.kl_bars)
        self.var_plot = pg.PlotWidget()
        self.var_plot.setLabel("left", "variance")
        self.var_plot.setLabel("bottom", "latent dimension")
        self.var_plot.setLogMode(x=False, y=True)
        self.var_plot.setToolTip(ACTIVE_TIP)
        self.var_plot.setMouseEnabled(False, False)
        self.var_bars = pg.BarGraphItem(x=[], height=[], width=0.7)  # heights are log10 values (log axis)
        self.var_plot.addItem(self.var_bars)
        self.threshold_line = pg.InfiniteLine(pos=np.log10(ACTIVE_UNIT_THRESHOLD), angle=0, movable=False,
                                              pen=pg.mkPen("r", width=1.5, style=Qt.PenStyle.DashLine),
                                              label=f"active > {ACTIVE_UNIT_THRESHOLD}",
                                              labelOpts={"position": 0.9, "color": "r"})
        self.var_plot.addItem(self.threshold_line)
        self.active_label = QLabel("active units: –")
        self.active_label.setToolTip(ACTIVE_TIP)
        font = self.active_label.font()
        font.setBold(True)
        self.active_label.setFont(font)
        units_box = QGroupBox("latent units over the whole data set")
        units_layout = QVBoxLayout(units_box)
        units_layout.addWidget(self.active_label)
        plots = QHBoxLayout()
        plots.addWidget(self.kl_plot)
        plots.addWidget(self.var_plot)
        units_layout.addLayout(plots)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(units_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])
        self.no_data_label = QLabel("")
        self.no_data_label.setWordWrap(True)
        self.no_data_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        self.stack.addWidget(self.no_data_label)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.stack, 1)

    # ------------------------------------------------------------------ recomputation
    def _on_model_changed(self, _model) -> None:
        """A new model's units mean something else: its dims start again at its two most active."""
        for combo in (self.x_combo, self.y_combo):
            combo.blockSignals(True)
            combo.clear()
            combo.blockSignals(False)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        """Model, data or encoding changed: redraw now if visible, else when the panel is next shown."""
        self._dirty = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Draw the session's encoding of the data set (asking for it when it is not there yet)."""
        self._dirty = False
        model, X = self.state.model, self.state.X
        self.means = self.logvars = self.coords = None
        self.stack.setCurrentIndex(0 if model is not None and X is not None else 1)
        if model is None or X is None:
            self.message.setText("No model loaded." if model is None else "No face data loaded.")
            self.no_data_label.setText(f"<h3>{NO_MODEL_TEXT}</h3>" if model is None else NO_DATA_HTML)
            self._clear_plots()
            return
        encoding = self.state.encoding()
        if encoding is None:
            self.message.setText(f"encoding {len(X)} faces…")
            self._clear_plots()
            return
        self._show_encoding(encoding)

    def _clear_plots(self) -> None:
        for item in (self.train_scatter, self.test_scatter, self.selected_marker):
            item.setData([], [])
        self.kl_bars.setOpts(x=[], height=[])
        self.var_bars.setOpts(x=[], height=[])
        self.active_label.setText("active units: –")

    def is_ready(self) -> bool:
        """True once the current model's encoding is shown (for tests and screenshots)."""
        return self.coords is not None and not self._dirty

    def _show_encoding(self, encoding: Encoding) -> None:
        model, X = self.state.model, self.state.X
        self.means, self.logvars = encoding.means, encoding.logvars
        self.message.setText(f"{len(X)} faces encoded ({'posterior means' if model.is_vae else 'AE codes'})")
        self._fill_dim_combos(model.config.latent)
        self.update_scatter()
        self.update_units()
        self._show_selection(self.state.selected)
        if self.hovered is None or self.hovered >= len(X):
            self.show_point(min(self.state.selected, len(X) - 1))
        else:
            self.show_point(self.hovered)

    def _fill_dim_combos(self, latent: int) -> None:
        if self.x_combo.count() == latent:
            return
        order = np.argsort(-self.means.var(axis=0), kind="stable")  # default: the two most active dims
        for combo, default in ((self.x_combo, int(order[0])), (self.y_combo, int(order[min(1, latent - 1)]))):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([f"z{d}" for d in range(latent)])
            combo.setCurrentIndex(default)
            combo.blockSignals(False)

    def update_scatter(self) -> None:
        if self.means is None:
            return
        mode = self.mode_combo.currentText()
        for combo in (self.x_combo, self.y_combo):
            combo.setEnabled(mode == DIMS)
        self.coords, x_name, y_name = project(self.means, mode, self.x_combo.currentIndex(),
                                              self.y_combo.currentIndex())
        train, test = self.state.train_ids, self.state.test_ids
        n = len(self.means)
        train, test = train[train < n], test[test < n]
        self.train_scatter.setData(pos=self.coords[train], data=train)
        self.test_scatter.setData(pos=self.coords[test], data=test)
        self.plot.setLabel("bottom", x_name)
        self.plot.setLabel("left", y_name)
        self.plot.autoRange()
        self._show_selection(self.state.selected)
        if self.hovered is not None and self.hovered < len(self.coords):
            self.show_point(self.hovered)  # its coordinates are those of the new projection

    def update_units(self) -> None:
        """KL per dim (VAE) and the posterior-mean variance with the active-unit threshold."""
        latent = self.means.shape[1]
        dims = np.arange(latent)
        variance = self.means.var(axis=0)
        active = variance > ACTIVE_UNIT_THRESHOLD
        brushes = [pg.mkBrush(*(ACTIVE_COLOUR if a else INACTIVE_COLOUR)) for a in active]
        if self.logvars is not None:
            kl = to_numpy(losses.kl_per_dim(self.means, self.logvars)).mean(axis=0)
            self.kl_plot.setTitle("mean KL per latent dimension")
        else:
            kl = np.zeros(latent)
            self.kl_plot.setTitle("KL per dimension (VAE only; this is an auto-encoder)")
        self.kl_per_dim = kl
        self.kl_bars.setOpts(x=dims, height=kl, width=0.7, brushes=brushes)
        # the var plot has a log y axis: bars go from a floor of 1e-6 up to log10(variance)
        floor = -6.0
        log_var = np.log10(np.maximum(variance, 10**floor))
        self.var_bars.setOpts(x=dims, y0=np.full(latent, floor), height=log_var - floor, width=0.7, brushes=brushes)
        self.var_plot.setYRange(floor, max(1.0, float(log_var.max()) + 0.3), padding=0)
        self.var_plot.setTitle("posterior-mean variance (log scale)")
        for plot in (self.kl_plot, self.var_plot):
            plot.setXRange(-0.6, latent - 0.4, padding=0)
            plot.getAxis("bottom").setTicks([[(d, str(d)) for d in dims]])
        self.active_count = int(active.sum())
        self.active_label.setText(f"active units: {self.active_count} of {latent}  (green bars; variance of the "
                                  f"posterior mean > {ACTIVE_UNIT_THRESHOLD})")

    # ------------------------------------------------------------------ hover and click
    def _on_hover(self, _item, points, _ev) -> None:
        if len(points):
            self.show_point(int(points[0].data()))

    def _on_click(self, _item, points, _ev) -> None:
        if len(points):
            self.state.select(int(points[0].data()))
            self.state.show_panel.emit("reconstruction")

    def show_point(self, index: int) -> None:
        """Show data face #index and its reconstruction beside the plot."""
        model, X = self.state.model, self.state.X
        if model is None or X is None:
            return
        self.hovered = int(index)
        try:
            recon = to_numpy(model.reconstruct(X[index : index + 1]))[0]
        except Exception as exc:
            self.state.report_error("Reconstruction failed", f"Could not reconstruct image #{index}: {exc}")
            return
        split = self.state.split_name(index)
        self.hover_original.set_face(X[index])
        self.hover_original.set_title(f"#{index} ({split})")
        self.hover_recon.set_face(recon)
        self.hover_recon.set_title("reconstruction")
        where = "" if self.coords is None else f"\nat ({self.coords[index, 0]:.2f}, {self.coords[index, 1]:.2f})"
        self.hover_label.setText(f"image #{index}, {split} set{where}\nclick to open it in Reconstruction")

    def _show_selection(self, index: int) -> None:
        """Ring the selected face's point."""
        if self.coords is None or not 0 <= index < len(self.coords):
            self.selected_marker.setData([], [])
            return
        self.selected_marker.setData(pos=self.coords[index : index + 1])

    def point_scene_pos(self, index: int):
        """Scene position of data point #index (for tests and tooltips)."""
        vb = self.plot.getViewBox()
        return vb.mapViewToScene(pg.Point(*self.coords[index]))
