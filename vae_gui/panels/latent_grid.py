"""The latent manifold: an N×N grid of decoded faces over two latent dims, and A→B interpolation.

The grid follows Kingma & Welling (2013, Fig. 4): grid points sit at Gaussian quantiles
(norm.ppf of evenly spaced probabilities), so each cell covers the same prior mass. The whole
grid is one ImageItem showing a mosaic, so even 25×25 faces redraw in a few milliseconds.
Axes: for more than two latent units the default is the two principal directions of the posterior means,
other directions at the data's mean code, each spanning the aggregate posterior's quantiles 5 %…95 %
(core.explore.pca_axes); "latent units" puts two raw units at the prior's quantiles instead (the two most
active by default). Both need the session's shared encoding of the data set; until it is in (or without
data) the grid shows the decoder's two most sensitive units. Hovering a face shows its z; a click sends
it to the Sampling tab. The faces are drawn at a whole zoom and the grid takes the panel's full height.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractScrollArea,
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.animation import decode_frames, face_frames, grid_sweep_frames, interpolation_path
from core.backend import to_numpy
from core.evaluate import posterior_means
from core.explore import GridAxes, decode_grid, dims_axes, lerp, pca_axes, slerp, third_axis
from vae_gui.panels.base import Panel
from vae_gui.panels.sampling import SamplingPanel
from vae_gui.state import NO_DATA_HELP, Encoding, Session
from vae_gui.traversal_dialog import TraversalDialog
from vae_gui.widgets.faces import FaceGrid, FaceStrip, FaceView
from vae_gui.widgets.gif_export import GifExportRow

GRID_MIN, GRID_MAX, GRID_DEFAULT = 5, 25, 15
STEPS_MIN, STEPS_MAX, STEPS_DEFAULT = 3, 16, 8
AXES_CHOICES = (("principal directions", "pca"), ("latent units", "dims"))


class LatentGridPanel(Panel):
    """An N×N grid of faces over two chosen latent dims, plus lerp/slerp between two encoded images."""

    title, stem = "Latent grid", "latent_grid"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.encoding: Encoding | None = None  # the session's encoding of the data set, once it is in
        self._building = False
        self.chosen_ends: tuple[np.ndarray, np.ndarray] | None = None  # z_A, z_B sent from the Latent map
        self._data = None  # the data set the A / B / base spin boxes index
        self.axes: GridAxes | None = None  # where the grid shown lies in latent space
        self._axes_chosen = "pca"  # the axes the user picked: "pca" (the default) or "dims"
        self._build()
        self.own_mean: np.ndarray | None = None  # your encoded image's posterior mean (traversals start there)
        self.traversal: TraversalDialog | None = None
        state.own_image.connect(lambda enc: setattr(self, "own_mean", np.asarray(enc.mean)))
        state.encoding_ready.connect(self._on_encoded)
        state.grid_ends_chosen.connect(self.use_ends)
        self.reset()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self._build_grid_controls()
        self.grid = FaceGrid(min_height=200, max_waste=1.0)  # always a whole zoom: crisp faces
        self.grid.setToolTip("each face is decoded from the z on its row's and column's axis values; hover a face "
                             "to read its z, click it to open that z in the Sampling tab")
        self.grid.hovered.connect(self._on_hover)
        self.grid.clicked.connect(self._on_grid_click)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self._build_grid_box())
        side_layout.addWidget(self._build_interp_box())
        side_layout.addStretch(1)
        scroll = QScrollArea()  # at 1024×600 the side column may be taller than the panel
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustIgnored)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.grid)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)  # every pixel of height to the faces: 15×15 fits 1× at 1024×600
        layout.addWidget(self.splitter)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_grid_width()

    def _fit_grid_width(self) -> None:
        """The grid gets the panel's full height and the width its faces need at that height; the side
        column takes the rest (the faces, not empty margins, fill the panel)."""
        total = self.splitter.width()
        want = self.grid.width_for_height(self.splitter.height())
        side_min = self.splitter.widget(1).minimumSizeHint().width()
        grid_w = max(200, min(want, total - max(side_min, 300) - self.splitter.handleWidth()))
        self.splitter.setSizes([grid_w, max(1, total - grid_w)])

    def _build_grid_controls(self) -> None:
        self.axes_combo = QComboBox()
        for label, kind in AXES_CHOICES:
            self.axes_combo.addItem(label, kind)
        self.axes_combo.setToolTip("principal directions: the two directions in which the data's codes vary most, "
                                   "other directions at the mean code, each over the codes' own 5 %…95 % range; "
                                   "latent units: two units at the prior's quantiles, the others fixed")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(GRID_MIN, GRID_MAX)
        self.n_spin.setValue(GRID_DEFAULT)
        self.n_spin.setPrefix("N = ")
        self.n_spin.setToolTip("faces per row and column of the grid")
        self.row_combo, self.col_combo = QComboBox(), QComboBox()
        for combo in (self.row_combo, self.col_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(12)  # "z14 (var 0.87)" stays readable after refills
        self.row_combo.setToolTip("latent dimension that changes from row to row (top → bottom)")
        self.col_combo.setToolTip("latent dimension that changes from column to column (left → right)")
        self.base_zero = QRadioButton("at 0")
        self.base_zero.setToolTip("all other latent dimensions at the prior mean, 0")
        self.base_image = QRadioButton("from image")
        self.base_image.setToolTip("all other latent dimensions at the posterior mean of a data face")
        self.base_zero.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.base_zero)
        group.addButton(self.base_image)
        self.base_spin = QSpinBox()
        self.base_spin.setRange(0, 0)  # the data set's size once it is loaded
        self.base_spin.setPrefix("#")
        self.base_spin.setToolTip("the data face whose posterior mean holds the other dimensions")
        self.axes_combo.currentIndexChanged.connect(lambda *_: self._on_axes_kind_changed())
        for signal in (self.n_spin.valueChanged, self.row_combo.currentIndexChanged,
                       self.col_combo.currentIndexChanged, self.base_zero.toggled, self.base_spin.valueChanged):
            signal.connect(lambda *_: self.rebuild_grid())

    def _build_grid_box(self) -> QGroupBox:
        axes_row = QHBoxLayout()
        axes_row.addWidget(QLabel("axes:"))
        axes_row.addWidget(self.axes_combo)
        axes_row.addWidget(self.n_spin)
        axes_row.addStretch(1)
        self.traverse_button = QPushButton("Traversal sheet…")
        self.traverse_button.setToolTip("rows: latent units sorted by KL (or principal directions); columns: a face "
                                        "moved −3σ … +3σ along each; PNG and GIF export")
        self.traverse_button.clicked.connect(self.open_traversal)
        axes_row.addWidget(self.traverse_button)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("rows:"))
        controls.addWidget(self.row_combo)
        controls.addWidget(QLabel("columns:"))
        controls.addWidget(self.col_combo)
        controls.addStretch(1)
        base_row = QHBoxLayout()
        base_row.addWidget(QLabel("other dims:"))
        base_row.addWidget(self.base_zero)
        base_row.addWidget(self.base_image)
        base_row.addWidget(self.base_spin)
        base_row.addStretch(1)
        self.grid_info = QLabel("")
        self.grid_info.setWordWrap(True)
        self.hover_label = QLabel("hover a face to read its z; click it to open it in Sampling")
        self.hover_label.setWordWrap(True)
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid_box = QGroupBox("latent grid (like Kingma && Welling 2013, Fig. 4a: the Frey-face manifold)")
        grid_layout = QVBoxLayout(grid_box)
        for row in (axes_row, controls, base_row):
            grid_layout.addLayout(row)
        grid_layout.addWidget(self.grid_info)
        grid_layout.addWidget(self.hover_label)
        self.gif_row = GifExportRow({"grid, 3rd axis swept…": self.prepare_grid_sweep,
                                     "A→B…": self.prepare_interpolation}, self.state.report_error)
        self.gif_row.setToolTip("animated GIFs: the grid while a third axis (PC3 or the next most active unit) "
                                "sweeps its range and back, or the straight path from A to B")
        grid_layout.addWidget(self.gif_row)
        return grid_box

    def _build_interp_box(self) -> QGroupBox:
        interp_box = QGroupBox("interpolation between two images' posterior means")
        self.a_spin, self.b_spin = QSpinBox(), QSpinBox()
        for spin, name in ((self.a_spin, "A"), (self.b_spin, "B")):
            spin.setRange(0, 0)  # the data set's size once it is loaded
            spin.setPrefix(f"{name} = #")
            spin.setToolTip(f"data face {name}: its posterior mean is one end of the path")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(STEPS_MIN, STEPS_MAX)
        self.k_spin.setValue(STEPS_DEFAULT)
        self.k_spin.setPrefix("K = ")
        self.k_spin.setToolTip("decoded faces along each path, both ends included")
        for spin in (self.a_spin, self.b_spin):  # picking an image drops chosen ends (connected before the rebuild)
            spin.valueChanged.connect(lambda *_: setattr(self, "chosen_ends", None))
        for spin in (self.a_spin, self.b_spin, self.k_spin):
            spin.valueChanged.connect(lambda *_: self.rebuild_interpolation())
        interp_controls = QHBoxLayout()
        for w in (self.a_spin, self.b_spin, self.k_spin):
            interp_controls.addWidget(w)
        interp_controls.addStretch(1)
        self.interp_message = QLabel("")
        self.interp_message.setWordWrap(True)

        # each path row: original A | K decoded faces | original B
        self.original_a, self.original_b = FaceView("A", min_height=42), FaceView("B", min_height=42)
        self.slerp_a, self.slerp_b = FaceView("A", min_height=42), FaceView("B", min_height=42)
        self.end_views = (self.original_a, self.original_b, self.slerp_a, self.slerp_b)
        for view in self.end_views:
            view.setToolTip("the data face itself (not decoded): compare it with the path's end")
        self.lerp_strip = FaceStrip(ncols=8, face_height=42, max_face_height=168)
        self.slerp_strip = FaceStrip(ncols=8, face_height=42, max_face_height=168)
        self.lerp_strip.face_height_changed.connect(self._size_end_views)
        self._size_end_views(42)
        lerp_label = QLabel("<b>lerp</b>: straight line (1 − t)·μA + t·μB")
        lerp_label.setToolTip("linear interpolation between the two posterior means")
        slerp_label = QLabel("<b>slerp</b>: great-circle arc from μA to μB")
        slerp_label.setToolTip("spherical interpolation: along the great circle between μA and μB with the norm "
                               "changing linearly; stays in the prior's high-density shell")
        rows = QGridLayout()
        rows.setHorizontalSpacing(6)
        rows.addWidget(lerp_label, 0, 0, 1, 3)
        rows.addWidget(self.original_a, 1, 0, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(self.lerp_strip, 1, 1, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(self.original_b, 1, 2, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(slerp_label, 2, 0, 1, 3)
        rows.addWidget(self.slerp_a, 3, 0, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(self.slerp_strip, 3, 1, Qt.AlignmentFlag.AlignTop)
        rows.addWidget(self.slerp_b, 3, 2, Qt.AlignmentFlag.AlignTop)
        rows.setColumnStretch(1, 1)
        self.interp_rows = QWidget()
        self.interp_rows.setLayout(rows)
        interp_layout = QVBoxLayout(interp_box)
        interp_layout.addLayout(interp_controls)
        interp_layout.addWidget(self.interp_message)
        interp_layout.addWidget(self.interp_rows)
        interp_layout.addStretch(1)
        self.interp_box = interp_box
        return interp_box

    def _size_end_views(self, height: int) -> None:
        """The original faces at each path's ends as large as the path's faces, at the images' aspect, and
        wide enough for their titles ("B #1500")."""
        rows, cols = self.state.image_shape
        title_width = self.original_b.fontMetrics().horizontalAdvance("B #00000") + 8
        for view in self.end_views:
            view.fix_height(height)
            view.setFixedWidth(max(int(height * cols / rows) + 4, title_width))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """New model or data: ends chosen on the Latent map (the old model's z) go; a new data set starts A at
        its first image and B half-way through (two different people); redraw now, and again with the most
        active dims once the session's encoding is in."""
        model, X = self.state.model, self.state.X
        self.encoding = None
        self._pca_axes = None  # (encoding, n, GridAxes): the principal-direction axes last computed
        self.chosen_ends = None
        self.own_mean = None  # encoded by the previous model
        if self.traversal is not None:  # a sheet of the previous model or data set
            self.traversal.close()
            self.traversal = None
        self.axes = None
        self._axes_chosen = "pca"  # a new model or data set starts from the default axes
        has_data = model is not None and X is not None
        for w in (self.base_image, self.base_spin, self.a_spin, self.b_spin, self.k_spin):
            w.setEnabled(has_data)
        if not has_data:
            self.base_zero.setChecked(True)
        if X is not None and self.state.dataset is not self._data:
            for spin, value in ((self.base_spin, 0), (self.a_spin, 0), (self.b_spin, len(X) // 2)):
                spin.blockSignals(True)
                spin.setMaximum(len(X) - 1)
                spin.setValue(value)
                spin.blockSignals(False)
        self._data = self.state.dataset
        self._size_end_views(self.lerp_strip._shown_height)  # the new images' aspect
        self._fill_dim_combos()
        self.rebuild_grid()
        self.rebuild_interpolation()
        if has_data:
            encoding = self.state.encoding()  # None until the session's job is done: encoding_ready follows
            if encoding is not None:
                self._on_encoded(encoding)

    def _on_encoded(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self._fill_dim_combos()
        self.rebuild_grid()

    def _on_axes_kind_changed(self) -> None:
        if not self._building:
            self._axes_chosen = self.axes_kind()  # the user's choice outlives an encoding refresh
        self.rebuild_grid()

    def axes_kind(self) -> str:
        """"pca" (principal directions) or "dims" (latent units)."""
        return self.axes_combo.currentData() or "dims"

    def is_ready(self) -> bool:
        """True once the data set's encoding (for the default dims) is in, or when there is no data."""
        return self.encoding is not None or self.state.X is None or self.state.model is None

    def encode_images(self, ids: list[int]) -> np.ndarray:
        """Posterior means (AE: codes) of a few data faces: (len(ids), L); from the shared encoding when it
        is in, else encoded here (a few faces: fast enough for the UI thread)."""
        if self.encoding is not None:
            return self.encoding.means[list(ids)]
        means, _ = posterior_means(self.state.model, self.state.X[ids])
        return means

    def _fill_dim_combos(self) -> None:
        """The axes choice (principal directions once the encoding is in and there are > 2 units, unless the
        user picked units) and the two unit combos (the most active units first)."""
        model = self.state.model
        latent = model.config.latent if model is not None else 0
        pca_ok = self.encoding is not None and latent > 2
        self.axes_combo.model().item(0).setEnabled(pca_ok)
        kind = "pca" if pca_ok and self._axes_chosen == "pca" else "dims"
        if latent >= 2:
            first, second = self.state.most_active_dims(2)
            variances = self.encoding.variance if self.encoding is not None else None
        else:
            first, second, variances = 0, 0, None
        self._building = True
        try:
            for combo, default in ((self.row_combo, first), (self.col_combo, second)):
                combo.clear()
                for d in range(latent):
                    label = f"z{d}" if variances is None else f"z{d}  (var {variances[d]:.2f})"
                    combo.addItem(label, d)
                if latent:
                    combo.setCurrentIndex(default)
            self.axes_combo.setCurrentIndex(self.axes_combo.findData(kind))
        finally:
            self._building = False
        self._enable_unit_controls()

    def prepare_grid_sweep(self):
        """frames(n) of the grid shown with a third axis swept (ValueError: no grid, or only two latent dims)."""
        axes, model, shape, enc = self.axes, self.state.model, self.state.image_shape, self.encoding
        if axes is None or model is None:
            raise ValueError("there is no grid to animate")
        direction, lo, hi, _ = third_axis(axes, None if enc is None else enc.means, None if enc is None else
                                          enc.logvars)
        return lambda n: grid_sweep_frames(model, axes, direction, lo, hi, n, shape)

    def prepare_interpolation(self):
        """frames(n) of the straight path from A's code to B's (or the ends chosen on the Latent map)."""
        model, shape = self.state.model, self.state.image_shape
        if model is None or self.state.X is None:
            raise ValueError("interpolation needs a model and data")
        chosen = self.chosen_ends if self.chosen_ends and len(self.chosen_ends[0]) == model.config.latent else None
        z_a, z_b = chosen if chosen else self.encode_images([self.a_spin.value(), self.b_spin.value()])
        return lambda n: face_frames(decode_frames(model, interpolation_path(z_a, z_b, n)), shape, 1)

    def open_traversal(self) -> TraversalDialog | None:
        """The traversal sheet of the current model around the selected face (needs the encoding)."""
        if self.encoding is None or self.state.model is None:
            return None
        own = self.own_mean if self.own_mean is not None and len(self.own_mean) == self.state.model.config.latent \
            else None
        self.traversal = TraversalDialog(self.state, self.encoding, own, self)
        self.traversal.show()
        return self.traversal

    def _enable_unit_controls(self) -> None:
        self.traverse_button.setEnabled(self.encoding is not None)
        units = self.axes_kind() == "dims"
        has_data = self.state.model is not None and self.state.X is not None
        for w in (self.row_combo, self.col_combo, self.base_zero):
            w.setEnabled(units)
        for w in (self.base_image, self.base_spin):
            w.setEnabled(units and has_data)

    def dims(self) -> tuple[int, int]:
        return self.row_combo.currentIndex(), self.col_combo.currentIndex()

    def base_vector(self) -> np.ndarray | None:
        """z for the dims not on the grid: zeros, or the chosen image's posterior mean."""
        if self.base_image.isChecked() and self.state.X is not None and self.state.model is not None:
            return self.encode_images([self.base_spin.value()])[0]
        return None

    # ------------------------------------------------------------------ drawing
    def current_axes(self, n: int) -> GridAxes:
        """The grid's axes from the controls: principal directions (needs the encoding) or two units."""
        if self.axes_kind() == "pca" and self.encoding is not None:
            # the axes depend only on the encoding and n, and take ~30 ms (a bisection per axis): computed once
            cached = self._pca_axes
            if cached is None or cached[0] is not self.encoding or cached[1] != n:
                self._pca_axes = (self.encoding, n, pca_axes(self.encoding.means, self.encoding.logvars, n))
            return self._pca_axes[2]
        row_dim, col_dim = self.dims()
        return dims_axes(self.state.model.config.latent, row_dim, col_dim, n, self.base_vector())

    def rebuild_grid(self) -> None:
        """Decode the N×N grid and show it as one mosaic (15×15: a few ms)."""
        model = self.state.model
        if self._building:
            return
        self._enable_unit_controls()
        if model is None or model.config.latent < 2:
            self.axes = None
            self.grid.clear()
            self.grid_info.setText("No model loaded: open or train one to see its latent grid." if model is None
                                   else "The latent grid needs at least two latent dimensions.")
            return
        n = self.n_spin.value()
        try:
            axes = self.current_axes(n)
            faces = to_numpy(decode_grid(model, axes))
        except Exception as exc:
            self.state.report_error("Latent grid failed", f"Could not decode the grid: {exc}")
            return
        self.axes = axes
        self.grid.set_grid(faces, self.state.image_shape)
        self.grid.set_axes(f"{axes.names[0]} (rows)", axes.row_values, f"{axes.names[1]} (columns)",
                           axes.col_values, decimals=1)
        self.grid_info.setText(self._describe(axes, model.is_vae))
        self._fit_grid_width()

    def _describe(self, axes: GridAxes, is_vae: bool) -> str:
        n = axes.n
        if axes.kind == "pca":
            shrunk = (f" (shrunk to {axes.shrink:.2f} of that range to stay within 3 SD of the codes)"
                      if axes.shrink < 1 else "")
            return (f"{n}×{n} faces along the two directions in which the posterior means vary most (PC1 down the "
                    f"rows, PC2 across the columns), other directions at the data's mean code; each axis spans the "
                    f"codes' own 5 %…95 % quantiles{shrunk}.")
        row_dim, col_dim = axes.dims
        base = (f"the posterior mean of image #{self.base_spin.value()}" if self.base_image.isChecked()
                and self.state.X is not None else "0")
        same = "  Rows and columns use the same dimension: pick two different ones." if row_dim == col_dim else ""
        kind = "" if is_vae else "  (auto-encoder: codes are not N(0, I), so the grid may leave the faces)"
        return (f"{n}×{n} faces: z{row_dim} down the rows, z{col_dim} across the columns, at Gaussian quantiles "
                f"5 %…95 % ({axes.row_values[0]:.2f} … {axes.row_values[-1]:.2f}); other dims at {base}.{same}{kind}")

    def z_at(self, row: int, col: int) -> np.ndarray:
        """The latent vector (L,) of the face at (row, col) of the grid shown."""
        return self.axes.points()[row * self.axes.n + col]

    def _on_hover(self, row: int, col: int) -> None:
        if row < 0 or self.axes is None or row >= self.axes.n or col >= self.axes.n:
            self.hover_label.setText("hover a face to read its z; click it to open it in Sampling")
            return
        z = self.z_at(row, col)
        shown = ", ".join(f"{v:.2f}" for v in z[:8]) + (", …" if len(z) > 8 else "")
        names = self.axes.names
        self.hover_label.setText(f"row {row}, column {col}: {names[0]} = {self.axes.row_values[row]:.2f}, "
                                 f"{names[1]} = {self.axes.col_values[col]:.2f}\nz = ({shown})")

    def _on_grid_click(self, row: int, col: int) -> None:
        """Send the clicked face's z to the Sampling tab (its sliders) and bring that tab forward."""
        if self.axes is None:
            return
        self.state.choose_latent(self.z_at(row, col))
        self.state.show_panel.emit(SamplingPanel)

    def use_ends(self, z_a: np.ndarray, z_b: np.ndarray) -> None:
        """Interpolate between two latents chosen elsewhere (e.g. two selections' mean z on the Latent map)."""
        self.chosen_ends = (np.asarray(z_a, dtype=np.float64), np.asarray(z_b, dtype=np.float64))
        self.rebuild_interpolation()

    def rebuild_interpolation(self) -> None:
        """Decode K faces along lerp and slerp paths between the means of images A and B."""
        model, X = self.state.model, self.state.X
        self.interp_rows.setVisible(model is not None and X is not None)
        if model is None or X is None:
            self.interp_message.setText(f"Interpolation needs data: {NO_DATA_HELP}."
                                        if model is not None else "No model loaded.")
            for strip in (self.lerp_strip, self.slerp_strip):
                strip.set_faces(np.zeros((0, X.shape[1] if X is not None else 1)))
            return
        a, b, k = self.a_spin.value(), self.b_spin.value(), self.k_spin.value()
        chosen = self.chosen_ends if self.chosen_ends and len(self.chosen_ends[0]) == model.config.latent else None
        try:
            mean_a, mean_b = chosen if chosen else self.encode_images([a, b])
            lerp_faces = to_numpy(model.decode(lerp(mean_a, mean_b, k)))
            slerp_faces = to_numpy(model.decode(slerp(mean_a, mean_b, k)))
        except Exception as exc:
            self.state.report_error("Interpolation failed", f"Could not decode the path: {exc}")
            return
        labels = [f"t={t:.2f}" for t in np.linspace(0, 1, k)]
        for strip in (self.lerp_strip, self.slerp_strip):
            strip.set_ncols(k if k <= 8 else -(-k // 2))  # one row up to 8 faces, else two even rows
        self.lerp_strip.set_faces(lerp_faces, labels, self.state.image_shape)
        self.slerp_strip.set_faces(slerp_faces, labels, self.state.image_shape)
        ends = to_numpy(model.decode(np.stack([mean_a, mean_b]))) if chosen else X[[a, b]]
        for views, face, title in (((self.original_a, self.slerp_a), ends[0], "A (chosen z)" if chosen else f"A #{a}"),
                                   ((self.original_b, self.slerp_b), ends[1], "B (chosen z)" if chosen else f"B #{b}")):
            for view in views:
                view.set_face(face, self.state.image_shape)
                view.set_title(title)
        self.interp_message.setText(f"|μA| = {np.linalg.norm(mean_a):.2f}, |μB| = {np.linalg.norm(mean_b):.2f}, "
                                    f"distance {np.linalg.norm(mean_a - mean_b):.2f}")
