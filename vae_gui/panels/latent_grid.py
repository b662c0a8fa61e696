"""The latent manifold: an N×N grid of decoded faces over two latent dims, and A→B interpolation.

The grid follows Kingma & Welling (2013, Fig. 4): grid points sit at Gaussian quantiles
(norm.ppf of evenly spaced probabilities), so each cell covers the same prior mass. The whole
grid is one ImageItem showing a mosaic, so even 25×25 faces redraw in a few milliseconds.
The default dims (the two most active) come from the session's shared encoding of the data set; the
grid is drawn at once with the decoder's two most sensitive dims and redrawn when the encoding is in.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.backend import to_numpy
from core.evaluate import posterior_means
from core.explore import latent_grid, lerp, quantile_axis, slerp
from vae_gui.panels.base import Panel
from vae_gui.state import NO_DATA_HELP, Encoding, Session
from vae_gui.widgets.faces import FaceGrid, FaceStrip, FaceView

GRID_MIN, GRID_MAX, GRID_DEFAULT = 5, 25, 15
STEPS_MIN, STEPS_MAX, STEPS_DEFAULT = 3, 16, 8


class LatentGridPanel(Panel):
    """An N×N grid of faces over two chosen latent dims, plus lerp/slerp between two encoded images."""

    title, stem = "Latent grid", "latent_grid"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.encoding: Encoding | None = None  # the session's encoding of the data set, once it is in
        self._building = False
        self.chosen_ends: tuple[np.ndarray, np.ndarray] | None = None  # z_A, z_B sent from the Latent map
        self._data = None  # the data set the A / B / base spin boxes index
        self._build()
        state.encoding_ready.connect(self._on_encoded)
        state.grid_ends_chosen.connect(self.use_ends)
        self.reset()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_grid_box())
        splitter.addWidget(self._build_interp_box())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([720, 560])  # the grid is height-limited: give it the width its height can use
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_grid_controls(self) -> None:
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
        for signal in (self.n_spin.valueChanged, self.row_combo.currentIndexChanged,
                       self.col_combo.currentIndexChanged, self.base_zero.toggled, self.base_spin.valueChanged):
            signal.connect(lambda *_: self.rebuild_grid())

    def _build_grid_box(self) -> QGroupBox:
        self._build_grid_controls()
        controls = QHBoxLayout()
        controls.addWidget(QLabel("rows:"))
        controls.addWidget(self.row_combo)
        controls.addWidget(QLabel("columns:"))
        controls.addWidget(self.col_combo)
        controls.addStretch(1)
        base_row = QHBoxLayout()
        base_row.addWidget(self.n_spin)
        base_row.addSpacing(12)
        base_row.addWidget(QLabel("other dims:"))
        base_row.addWidget(self.base_zero)
        base_row.addWidget(self.base_image)
        base_row.addWidget(self.base_spin)
        base_row.addStretch(1)
        self.grid_info = QLabel("")
        self.grid_info.setWordWrap(True)

        self.grid = FaceGrid(min_height=240)
        self.grid.setToolTip("each face is decoded from z with the row dimension set to the value on the left "
                             "axis and the column dimension to the value on the top axis (Gaussian quantiles "
                             "5 % … 95 %)")
        grid_box = QGroupBox("latent grid (like Kingma && Welling 2013, Frey-face manifold)")
        grid_layout = QVBoxLayout(grid_box)
        grid_layout.addLayout(controls)
        grid_layout.addLayout(base_row)
        grid_layout.addWidget(self.grid, 1)
        grid_layout.addWidget(self.grid_info)
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
        self.chosen_ends = None
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
        model = self.state.model
        latent = model.config.latent if model is not None else 0
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
        finally:
            self._building = False

    def dims(self) -> tuple[int, int]:
        return self.row_combo.currentIndex(), self.col_combo.currentIndex()

    def base_vector(self) -> np.ndarray | None:
        """z for the dims not on the grid: zeros, or the chosen image's posterior mean."""
        if self.base_image.isChecked() and self.state.X is not None and self.state.model is not None:
            return self.encode_images([self.base_spin.value()])[0]
        return None

    # ------------------------------------------------------------------ drawing
    def rebuild_grid(self) -> None:
        """Decode the N×N grid and show it as one mosaic (15×15: a few ms)."""
        model = self.state.model
        if self._building:
            return
        if model is None or model.config.latent < 2:
            self.grid.clear()
            self.grid_info.setText("No model loaded: open or train one to see its latent grid." if model is None
                                   else "The latent grid needs at least two latent dimensions.")
            return
        n = self.n_spin.value()
        row_dim, col_dim = self.dims()
        try:
            base_z = self.base_vector()
            faces = to_numpy(latent_grid(model, row_dim, col_dim, n, base=base_z))
        except Exception as exc:
            self.state.report_error("Latent grid failed", f"Could not decode the grid: {exc}")
            return
        self.grid.set_grid(faces, self.state.image_shape)
        axis = quantile_axis(n)
        self.grid.set_axes(f"z{row_dim} (rows)", axis, f"z{col_dim} (columns)", axis, decimals=1)
        base = f"the posterior mean of image #{self.base_spin.value()}" if base_z is not None else "0"
        same = "  Rows and columns use the same dimension: pick two different ones." if row_dim == col_dim else ""
        kind = "" if model.is_vae else "  (auto-encoder: codes are not N(0, I), so the grid may leave the faces)"
        self.grid_info.setText(f"{n}×{n} faces: z{row_dim} down the rows, z{col_dim} across the columns, at "
                               f"Gaussian quantiles 5 %…95 % ({axis[0]:.2f} … {axis[-1]:.2f}); other dims at "
                               f"{base}.{same}{kind}")

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
