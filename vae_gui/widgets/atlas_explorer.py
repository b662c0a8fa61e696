"""The interactive half of the Latent map (issue 14): faces on the map, decode anywhere, the posterior's
spread, paths, selections and your own image, on one ``AtlasPlot``.

It is given the data set's encoding and the current 2-D view (``set_view``) by its panel and talks to the
rest of the program only through the session: the model and images it reads, ``select`` (a clicked face
opens in Reconstruction), ``choose_grid_ends`` (a selection's mean z as the Latent grid's A or B end), and
``own_image`` (an encoded image of yours, marked here with its ellipses).
"""

from __future__ import annotations

import time

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core import atlas
from vae_gui.panels.latent_grid import LatentGridPanel
from vae_gui.panels.reconstruction import ReconstructionPanel
from vae_gui.widgets.atlas import TOOL_NAMES, TOOLS, AtlasPlot, ImageBox, TwoLineLabel
from vae_gui.widgets.attribute_box import AttributeBox
from vae_gui.workers import start_job

COLOUR_SPLIT, COLOUR_SIGMA, COLOUR_LOSS = "train / test", "posterior σ (mean over dims)", "reconstruction loss"
OTHER_TEXT = {atlas.OTHER_ZERO: "zero (the view's origin)", atlas.OTHER_NEAREST: "mean of the k nearest faces"}
PATH_FACES = 10
SIDE_WIDTH = 260  # px of the column beside the map (hovered faces, selection)
HOVER_HELP = "Hover a face (its 1σ/2σ ellipse shows) or empty space (decoded there); click a face to open it."


class AtlasExplorer(QWidget):
    """Map + options + the faces it shows. ``set_view`` gives it means (N, L), logvars (N, L) or None and a
    ``core.atlas.Projection``; everything else follows from mouse actions. ``view_changed(projection)`` after
    every ``set_view``, whoever asked for it (the owner's projection controls follow it)."""

    view_changed = pyqtSignal(object)

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.means: np.ndarray | None = None
        self.logvars: np.ndarray | None = None
        self.projection: atlas.Projection | None = None
        self.coords = np.zeros((0, 2))
        self.hover_ms: list[float] = []  # empty-space hover → decoded face set, the last 200
        self.path_z: np.ndarray | None = None  # (PATH_FACES, L) of the last drawn path
        self.own: atlas.EncodedImage | None = None
        self._last_empty: tuple[float, float] | None = None  # the empty spot decoded last (redone on option changes)
        self._colour_cache: dict[str, np.ndarray] = {}
        self._colour_job = None
        self._build()
        session.own_image.connect(self.show_own_image)
        session.selection_changed.connect(self._on_selected)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.plot = AtlasPlot()
        self.plot.point_hovered.connect(self._on_point_hovered)
        self.plot.empty_hovered.connect(self._on_empty_hovered)
        self.plot.point_clicked.connect(self.open_face)
        self.plot.tool_box.stroke_finished.connect(self._on_stroke)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_options())
        middle = QHBoxLayout()
        middle.addWidget(self.plot, 1)
        middle.addWidget(self._build_side())
        layout.addLayout(middle, 1)
        self.path_strip = ImageBox("drag with 'draw a path' to decode the faces along it", min_height=44,
                                   max_height=110)
        self.path_strip.setVisible(False)  # shown once a path is drawn: the map keeps the room until then
        layout.addWidget(self.path_strip)

    def _build_options(self) -> QHBoxLayout:
        self.faces_check = QCheckBox("faces on the map")
        self.faces_check.setToolTip("draw every face as a thumbnail at its point (zoom in to spread them; crowded "
                                    "ones fade; the hovered one comes to the front, enlarged)")
        self.faces_check.toggled.connect(self.set_thumbnails)
        self.colour_combo = QComboBox()
        self.colour_combo.addItems([COLOUR_SPLIT, COLOUR_SIGMA, COLOUR_LOSS])
        self.colour_combo.setToolTip("colour every point by its split, by how unsure the encoder is (σ of q(z|x), "
                                     "mean over dims) or by its reconstruction loss (nats)")
        self.colour_combo.currentTextChanged.connect(lambda _t: self._apply_colour())
        self.other_combo = QComboBox()
        for key, text in OTHER_TEXT.items():
            self.other_combo.addItem(text, key)
        self.other_combo.setToolTip("decoding empty space sets the two shown coordinates; the other latent dims are "
                                    "held at zero or at the mean z of the k faces nearest to the mouse")
        self.other_combo.currentIndexChanged.connect(lambda _i: self._rehover())
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100)
        self.k_spin.setValue(8)
        self.k_spin.setPrefix("k = ")
        self.k_spin.valueChanged.connect(lambda _v: self._rehover())
        self.tool_combo = QComboBox()
        for tool in TOOLS:
            self.tool_combo.addItem(TOOL_NAMES[tool], tool)
        self.tool_combo.setToolTip("what a left-drag on the map does")
        self.tool_combo.currentIndexChanged.connect(
            lambda _i: self.plot.tool_box.set_tool(self.tool_combo.currentData()))
        row = QHBoxLayout()
        for widget in (self.faces_check, QLabel("colour:"), self.colour_combo, QLabel("other dims:"), self.other_combo,
                       self.k_spin, QLabel("drag:"), self.tool_combo):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _build_side(self) -> QWidget:
        self.hover_face = ImageBox("hover a point or empty space", min_height=90, max_height=190)
        self.hover_recon = ImageBox("", min_height=90, max_height=190)
        self.hover_recon.set_image_visible(False)  # until a data face is hovered
        self.hover_label = TwoLineLabel(HOVER_HELP)
        self.selection_box = SelectionBox(self.session)
        self.attribute_box = AttributeBox(self)
        faces = QHBoxLayout()
        faces.addWidget(self.hover_face, 1)  # equal halves, whether the reconstruction is shown or not
        faces.addWidget(self.hover_recon, 1)
        side = QVBoxLayout()
        side.addLayout(faces)
        side.addWidget(self.hover_label)
        side.addWidget(self.selection_box)
        side.addWidget(self.attribute_box)
        side.addStretch(1)
        widget = QWidget()
        widget.setLayout(side)
        widget.setFixedWidth(SIDE_WIDTH)
        return widget

    # ------------------------------------------------------------------ data
    @property
    def image_shape(self) -> tuple[int, int]:
        if self.session.dataset is not None:
            return self.session.dataset.image_shape
        return self.session.record.image_shape

    def forget(self) -> None:
        """A new model or data set: the encoding shown, the colours computed, the hovered faces, the path, the
        selection with its kept grid ends and your image (encoded by the old model) are stale (a running loss
        job's result is dropped when it comes), until the panel gives a new view."""
        self._colour_cache = {}
        self._colour_job = None
        self.own, self.path_z, self._last_empty = None, None, None
        for box in (self.hover_face, self.hover_recon):
            box.clear()
            box.set_title("")
        self.hover_recon.set_image_visible(False)
        self.hover_face.set_title("hover a point or empty space")
        self.hover_label.setText(HOVER_HELP)
        self.path_strip.setVisible(False)
        self.selection_box.forget()
        self.attribute_box.forget()
        self.clear()

    def set_view(self, means: np.ndarray, logvars: np.ndarray | None, projection: atlas.Projection,
                 train_ids: np.ndarray, test_ids: np.ndarray) -> None:
        """Show the encoding (means (N, L), logvars or None) in the given 2-D view."""
        self.means, self.logvars, self.projection = means, logvars, projection
        self.coords = projection.project(means)
        self.plot.set_points(self.coords, train_ids, test_ids, projection.x_name, projection.y_name)
        if self.session.X is not None and len(self.session.X) == len(means):
            self.plot.thumbnails.set_faces(self.session.X, self.image_shape)
        self.plot.set_ellipses(None)
        self.plot.set_path(None)
        self.plot.set_selection(np.zeros(0, dtype=int))
        self._apply_colour()
        self._mark_own()
        if 0 <= self.session.selected < len(means):  # the selected face and its ellipses until the mouse comes
            self._on_point_hovered(self.session.selected)
        self.view_changed.emit(projection)

    def clear(self) -> None:
        """No encoding to show (no model or data yet)."""
        self.means = self.logvars = self.projection = None
        self.coords = np.zeros((0, 2))
        self.plot.set_points(self.coords, np.zeros(0, dtype=int), np.zeros(0, dtype=int))
        for own in (False, True):
            self.plot.set_ellipses(None, own=own)
        self.plot.set_own_point(None)
        self.plot.set_path(None)
        self.plot.set_selection(np.zeros(0, dtype=int))

    def open_face(self, index: int) -> None:
        """A clicked face becomes the session's selection and Reconstruction comes forward."""
        self.session.select(index)
        self.session.show_panel.emit(ReconstructionPanel)

    def set_thumbnails(self, on: bool) -> None:
        if self.faces_check.isChecked() != bool(on):
            self.faces_check.setChecked(bool(on))  # comes back here through toggled
            return
        self.plot.show_thumbnails(on)

    def _apply_colour(self) -> None:
        mode = self.colour_combo.currentText()
        if self.means is None or mode == COLOUR_SPLIT:
            self.plot.set_colour_values(None) if self.means is not None else None
            return
        if mode == COLOUR_SIGMA:
            if self.logvars is None:
                self.hover_label.setText("an auto-encoder has no posterior σ: colouring by split")
                self.plot.set_colour_values(None)
                return
            self.plot.set_colour_values(atlas.mean_posterior_sigma(self.logvars), "posterior σ")
            return
        if COLOUR_LOSS in self._colour_cache:
            self.plot.set_colour_values(self._colour_cache[COLOUR_LOSS], "reconstruction loss (nats)")
        elif self._colour_job is None and self.session.model is not None and self.session.X is not None:
            self._colour_job = job = start_job(atlas.reconstruction_loss, self.session.model, self.session.X,
                                               owner=self, on_result=lambda losses: self._on_losses(job, losses))

    def _on_losses(self, job, losses: np.ndarray) -> None:
        if job is not self._colour_job:
            return  # started for a model or data set that has been replaced since
        self._colour_job = None
        if self.means is not None and len(losses) == len(self.means):
            self._colour_cache[COLOUR_LOSS] = losses
            self._apply_colour()

    def colour_ready(self) -> bool:
        """True when the chosen colouring is shown (for tests)."""
        return self.colour_combo.currentText() != COLOUR_LOSS or COLOUR_LOSS in self._colour_cache

    # ------------------------------------------------------------------ hover
    def _on_point_hovered(self, index: int) -> None:
        model, X = self.session.model, self.session.X
        if model is None or X is None or self.means is None:
            return
        self._last_empty = None
        shape = self.image_shape
        self.hover_face.set_image(X[index], shape)
        self.hover_face.set_title(f"#{index} ({self.session.split_name(index)})")
        self.hover_recon.set_image(atlas.decode_latents(model, self.means[index : index + 1])[0], shape)
        self.hover_recon.set_title("reconstruction")
        self.hover_recon.set_image_visible(True)
        if self.logvars is not None:
            self.plot.set_ellipses({k: atlas.posterior_ellipse(self.projection, self.means[index], self.logvars[index],
                                                               k) for k in (1, 2)})
        x, y = self.coords[index]
        self.hover_label.setText(f"image #{index} at ({x:.2f}, {y:.2f}); ellipses: its q(z|x) at 1σ and 2σ")

    def _on_selected(self, index: int) -> None:
        """A face selected anywhere is shown here with its ellipses (until the mouse hovers something else)."""
        if self.means is not None and 0 <= index < len(self.means):
            self._on_point_hovered(index)

    def latent_at(self, x: float, y: float) -> np.ndarray:
        """The full z decoded at view point (x, y) with the chosen rule for the other dims."""
        return atlas.latent_at(self.projection, (x, y), self.means, self.coords, self.other_combo.currentData(),
                               self.k_spin.value())

    def _on_empty_hovered(self, x: float, y: float) -> None:
        model = self.session.model
        if model is None or self.projection is None:
            return
        start = time.perf_counter()
        face = atlas.decode_latents(model, self.latent_at(x, y)[None, :])[0]
        self.hover_face.set_image(face, self.image_shape)
        self.hover_face.set_title(f"decoded at ({x:.2f}, {y:.2f})")
        if self._last_empty is None:  # coming from a face: clear what belonged to it (once, not on every move)
            self.hover_recon.set_image_visible(False)  # empty space has no data face to reconstruct
            self.hover_recon.set_title("")
            self.plot.set_ellipses(None)
            self.hover_label.setText(f"empty space decoded; other dims at {self.other_combo.currentText()}")
        self._last_empty = (x, y)
        self.hover_ms = (self.hover_ms + [1000 * (time.perf_counter() - start)])[-200:]

    def _rehover(self) -> None:
        """The other-dims rule changed: decode the last empty spot again with it."""
        if self._last_empty is not None and self.plot.hovered is None:
            spot, self._last_empty = self._last_empty, None
            self._on_empty_hovered(*spot)

    # ------------------------------------------------------------------ path and selection
    def _on_stroke(self, tool: str, points: np.ndarray) -> None:
        if self.means is None or self.session.model is None or len(points) < 2:
            self.plot.clear_stroke()
            return
        if tool == "path":
            self.show_path(points)
        else:
            inside = (atlas.points_in_rect(self.coords, points[0], points[2]) if tool == "rect"
                      else atlas.points_in_polygon(self.coords, points))
            self.select_ids(np.flatnonzero(inside))

    def show_path(self, points: np.ndarray) -> None:
        """Decode PATH_FACES points equally spaced along a view path (M, 2); show them as a strip."""
        self.path_z = atlas.path_latents(self.projection, points, PATH_FACES, self.means, self.coords,
                                         self.other_combo.currentData(), self.k_spin.value())
        faces = atlas.decode_latents(self.session.model, self.path_z)
        self.plot.set_path(self.projection.project(self.path_z))
        self.path_strip.set_strip(faces, self.image_shape)
        self.path_strip.setVisible(True)
        self.path_strip.set_title(f"{PATH_FACES} faces decoded along the path (other dims at "
                                  f"{self.other_combo.currentText()})")

    def select_ids(self, ids: np.ndarray) -> None:
        """Select faces by id: ringed on the map, their mean face and decoded mean z beside it."""
        self.plot.clear_stroke()
        self.plot.set_selection(ids)
        summary = None if len(ids) == 0 else atlas.selection_summary(self.session.model, self.session.X,
                                                                     self.means, ids)
        self.selection_box.show_summary(summary, self.image_shape)

    @property
    def selection(self) -> atlas.SelectionSummary | None:
        return self.selection_box.summary

    # ------------------------------------------------------------------ your own image
    def show_own_image(self, enc: atlas.EncodedImage) -> None:
        """Mark an encoded image of yours on the map with its 1σ/2σ ellipse."""
        self.own = enc
        self._mark_own()
        model = self.session.model
        if model is None or enc.pixels.size != model.config.input_dim:
            return
        self.hover_face.set_image(enc.pixels, enc.image_shape)
        self.hover_face.set_title("your image ★")
        self.hover_recon.set_image(atlas.decode_latents(model, enc.mean[None, :])[0], enc.image_shape)
        self.hover_recon.set_title("its reconstruction")
        self.hover_recon.set_image_visible(True)
        self.hover_label.setText(f"your image: −ELBO {enc.neg_elbo:.1f} nats; the purple star and ellipses are its "
                                 "q(z|x) at 1σ and 2σ")

    def _mark_own(self) -> None:
        own, proj = self.own, self.projection
        if own is None or proj is None or len(own.mean) != proj.basis.shape[0]:
            self.plot.set_own_point(None)
            self.plot.set_ellipses(None, own=True)
            return
        self.plot.set_own_point(proj.project(own.mean[None, :])[0])
        self.plot.set_ellipses(None if own.sigma is None else
                               {k: atlas.posterior_ellipse(proj, own.mean, 2 * np.log(own.sigma), k) for k in (1, 2)},
                               own=True)


class SelectionBox(QGroupBox):
    """A selection's mean face beside the face decoded from its mean z; that z can be kept as the Latent
    grid's A or B end (both kept: sent through the session, and the Latent grid comes forward)."""

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__("selection (lasso / rectangle)", parent)
        self.session = session
        self.summary: atlas.SelectionSummary | None = None
        self.grid_ends: dict[str, np.ndarray] = {}
        self.mean_face = ImageBox("mean face", min_height=60)
        self.decoded = ImageBox("decoded mean z", min_height=60)
        self.label = TwoLineLabel("nothing selected")
        self.send_a_button = QPushButton("→ Latent grid A")
        self.send_b_button = QPushButton("→ Latent grid B")
        grid = QGridLayout(self)
        for column, (button, end) in enumerate(((self.send_a_button, "a"), (self.send_b_button, "b"))):
            button.setEnabled(False)
            button.setToolTip(f"use the selection's mean z as the {end.upper()} end of the Latent grid's A→B path")
            button.clicked.connect(lambda _c, end=end: self.send(end))
            grid.addWidget(button, 2, column)
        grid.addWidget(self.mean_face, 0, 0)
        grid.addWidget(self.decoded, 0, 1)
        grid.addWidget(self.label, 1, 0, 1, 2)
        self.setVisible(False)  # shown once something is selected

    def forget(self) -> None:
        """No selection and no kept ends (a model or data switch)."""
        self.grid_ends = {}
        self.show_summary(None, (1, 1))

    def show_summary(self, summary: atlas.SelectionSummary | None, image_shape: tuple[int, int]) -> None:
        self.summary = summary
        for button in (self.send_a_button, self.send_b_button):
            button.setEnabled(summary is not None)
        if summary is None:
            self.label.setText("nothing selected")
            self.setVisible(bool(self.grid_ends))  # a kept A end stays in view
            return
        self.mean_face.set_image(summary.mean_face, image_shape)
        self.decoded.set_image(summary.decoded_mean_face, image_shape)
        self.label.setText(f"{len(summary.ids)} faces: their mean face | the face of their mean z")
        self.setVisible(True)

    def send(self, end: str) -> None:
        """Keep the selection's mean z as end 'a' or 'b'; once both are kept they go to the Latent grid."""
        if self.summary is None:
            return
        self.grid_ends[end] = self.summary.mean_z.copy()
        if "a" in self.grid_ends and "b" in self.grid_ends:
            self.session.choose_grid_ends(self.grid_ends["a"], self.grid_ends["b"])
            self.session.show_panel.emit(LatentGridPanel)
            self.label.setText("sent to the Latent grid as its A→B ends")
        else:
            self.label.setText(f"kept as {end.upper()}; select another group for {'B' if end == 'a' else 'A'}")
