"""The data set in latent space: every face's posterior mean (2 dims or PCA) on the latent atlas
(``vae_gui.widgets.atlas_explorer``: faces on the map, decode anywhere, the posterior's ellipses, colour by
σ or loss, paths, selections, your own image); click a face to open it in Reconstruction. Below: KL per
latent dimension and the posterior-mean variance that decides active units.

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

from core import atlas, losses
from core.backend import to_numpy
from core.evaluate import ACTIVE_UNIT_THRESHOLD
from vae_gui.panels.base import Panel
from vae_gui.state import NO_DATA_HTML, NO_MODEL_TEXT, Encoding, Session
from vae_gui.style import COLOURS
from vae_gui.widgets.atlas_explorer import AtlasExplorer

ACTIVE_COLOUR, INACTIVE_COLOUR = COLOURS["active"], COLOURS["inactive"]
UNITS_MIN_HEIGHT = 190  # px: the KL and variance charts stay readable (title, ticks, bars)
PCA = "PCA (2 main directions)"
DIMS = "two latent dimensions"
ACTIVE_TIP = (f"A latent unit is active when its posterior mean varies over the data (variance > "
              f"{ACTIVE_UNIT_THRESHOLD}): the encoder uses it to tell faces apart. Inactive units copy the prior "
              "and carry no information; a healthy 16-dim VAE on Frey faces uses several of them, not all.")
KL_TIP = ("Mean KL(q(z_d|x) ‖ p(z_d)) over the data set for each latent dimension d, in nats: how much "
          "information each unit carries. Near 0 = an inactive (collapsed) unit.")



class LatentMapPanel(Panel):
    """The latent atlas of the data set's posterior means in a chosen 2-D view, plus KL per unit."""

    title, stem = "Latent map", "latent_map"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.means: np.ndarray | None = None
        self.logvars: np.ndarray | None = None
        self.coords: np.ndarray | None = None
        self.kl_per_dim: np.ndarray | None = None  # mean KL of each latent dim over the data (L,)
        self.active_count: int | None = None
        self._dirty = True
        self._build()
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

        self.atlas = AtlasExplorer(self.state)
        self.atlas.view_changed.connect(self._on_view_changed)
        self.plot = self.atlas.plot
        top = self.atlas
        units_box = self._build_units_box()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(units_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])
        # neither half is squeezed below its minimum (a drawn path's strip used to flatten the charts to a few
        # pixels at 1024×600): the tab scrolls instead
        splitter.setChildrenCollapsible(False)
        units_box.setMinimumHeight(UNITS_MIN_HEIGHT)
        self.no_data_label = QLabel("")
        self.no_data_label.setWordWrap(True)
        self.no_data_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        self.stack.addWidget(self.no_data_label)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.stack, 1)

    def _build_units_box(self) -> QGroupBox:
        """KL per unit and the posterior-mean variance with the active-unit threshold."""
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
        return units_box

    # ------------------------------------------------------------------ recomputation
    def reset(self) -> None:
        """A new model's units mean something else: its dims start again at its two most active; what the map
        showed (hover, path, selection, kept ends, your image) goes."""
        for combo in (self.x_combo, self.y_combo):
            combo.blockSignals(True)
            combo.clear()
            combo.blockSignals(False)
        self.atlas.forget()
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
        if self.mode_combo.currentIndex() >= 2:  # a view of the previous encoding: back to PCA
            self.mode_combo.blockSignals(True)
            self.mode_combo.setCurrentIndex(0)
            self.mode_combo.blockSignals(False)
        self._drop_extra_views()
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
        self.atlas.clear()
        self.kl_bars.setOpts(x=[], height=[], brushes=None)
        self.var_bars.setOpts(x=[], y0=[], height=[], brushes=None)  # y0 too: it was one value per unit
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
        projection = (atlas.pca_projection(self.means) if mode == PCA else
                      atlas.dims_projection(self.means.shape[1], self.x_combo.currentIndex(),
                                            self.y_combo.currentIndex()) if mode == DIMS else
                      self.mode_combo.currentData())  # a view set from the map itself ("map along it")
        self.atlas.set_view(self.means, self.logvars, projection, self.state.train_ids, self.state.test_ids)

    def _on_view_changed(self, projection: atlas.Projection) -> None:
        """The map shows ``projection``, maybe asked for by the map's own controls (an attribute's "map along
        it"): the projection combo names it, as a third entry that stays until the model or data change."""
        self.coords = self.atlas.coords
        if projection.kind not in ("pca", "dims"):
            self._drop_extra_views()
            self.mode_combo.blockSignals(True)
            self.mode_combo.addItem(projection.x_name, projection)
            self.mode_combo.setCurrentIndex(self.mode_combo.count() - 1)
            self.mode_combo.blockSignals(False)
            for combo in (self.x_combo, self.y_combo):
                combo.setEnabled(False)
        self._show_selection(self.state.selected)

    def _drop_extra_views(self) -> None:
        self.mode_combo.blockSignals(True)
        while self.mode_combo.count() > 2:
            self.mode_combo.removeItem(2)
        self.mode_combo.blockSignals(False)

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

    # ------------------------------------------------------------------ selection
    def _show_selection(self, index: int) -> None:
        """Ring the selected face's point."""
        self.plot.set_selected(index if self.coords is not None else None)

    def point_scene_pos(self, index: int):
        """Scene position of data point #index (for tests and tooltips)."""
        vb = self.plot.getViewBox()
        return vb.mapViewToScene(pg.Point(*self.coords[index]))
