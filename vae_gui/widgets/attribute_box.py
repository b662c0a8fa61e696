"""Attribute vectors on the Latent map: two lassoed groups of faces (say neutral, then smiling) make a named
direction (mean code of the second minus that of the first, ``core.attributes``); a slider moves a face (the
selected data face, your encoded image, or z = 0) along it; the map can be redrawn with the direction as its x
axis; directions are stored in the model file."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
)

from core import atlas, attributes
from vae_gui.widgets.atlas import ImageBox
from vae_gui.workers import start_job

SLIDER_RANGE = 200  # the slider's integer steps each side of 0: t = value / 100, so −2 … +2 times the direction
SOURCES = (("selected face", "selected"), ("your image", "own"), ("z = 0", "zero"))


class AttributeBox(QGroupBox):
    """Make, apply, project and store attribute directions; ``explorer`` is the map's AtlasExplorer (its codes,
    its selection, your image)."""

    def __init__(self, explorer, parent=None):
        super().__init__("attribute vector", parent)
        self.explorer = explorer
        self.session = explorer.session
        self.attributes: dict[str, attributes.Attribute] = {}
        self.groups: dict[str, np.ndarray] = {}
        self._build()
        self.forget()
        self.session.selection_changed.connect(lambda _i: self.refresh_face())
        # after the explorer has taken the image (its slot runs after this box's was connected)
        self.session.own_image.connect(lambda _enc: QTimer.singleShot(0, self.refresh_face))

    def _build(self) -> None:
        self.from_button = QPushButton("selection: without")
        self.to_button = QPushButton("selection: with")
        self.from_button.setToolTip("the lassoed faces WITHOUT the attribute (e.g. neutral)")
        self.to_button.setToolTip("the lassoed faces WITH the attribute (e.g. smiling)")
        self.from_button.clicked.connect(lambda: self.take_selection("from"))
        self.to_button.clicked.connect(lambda: self.take_selection("to"))
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name: smile")
        self.make_button = QPushButton("make")
        self.make_button.setToolTip("the direction from the 'without' faces' mean code to the 'with' faces' one")
        self.make_button.clicked.connect(self.make_direction)
        self.direction_combo = QComboBox()
        self.direction_combo.currentIndexChanged.connect(lambda _i: self.refresh_face())
        self.source_combo = QComboBox()
        for text, key in SOURCES:
            self.source_combo.addItem(text, key)
        self.source_combo.currentIndexChanged.connect(lambda _i: self.refresh_face())
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-SLIDER_RANGE, SLIDER_RANGE)
        self.slider.setToolTip("move the face along the direction: t = −2 … +2 times the groups' difference")
        self.slider.valueChanged.connect(lambda _v: self.refresh_face())
        self.face = ImageBox("", min_height=70, max_height=120)
        self.project_button = QPushButton("map along it")
        self.project_button.setToolTip("redraw the map with this direction as its x axis (every face projected on "
                                       "it); pick a projection above to go back")
        self.project_button.clicked.connect(self.project_map)
        self.store_button = QPushButton("store in file")
        self.store_button.setToolTip("write the directions into the model file they were made for")
        self.store_button.clicked.connect(self.store)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        grid = QGridLayout(self)
        grid.addWidget(self.from_button, 0, 0)
        grid.addWidget(self.to_button, 0, 1)
        grid.addWidget(self.name_edit, 1, 0)
        grid.addWidget(self.make_button, 1, 1)
        grid.addWidget(self.direction_combo, 2, 0)
        grid.addWidget(self.source_combo, 2, 1)
        grid.addWidget(self.slider, 3, 0, 1, 2)
        grid.addWidget(self.face, 4, 0, 1, 2)
        grid.addWidget(self.project_button, 5, 0)
        grid.addWidget(self.store_button, 5, 1)
        grid.addWidget(self.message, 6, 0, 1, 2)

    # ------------------------------------------------------------------ state
    def forget(self) -> None:
        """A new model or data set: the groups go; the directions are those stored in the model file."""
        self.groups = {}
        record = self.session.record
        self.attributes = attributes.from_meta(record.other, record.model.config.latent) if record is not None else {}
        self._fill_combo()
        self.message.setText("lasso faces without the attribute ('selection: without'), then faces with it")

    def _fill_combo(self, current: str | None = None) -> None:
        self.direction_combo.blockSignals(True)
        self.direction_combo.clear()
        self.direction_combo.addItems(list(self.attributes))
        if current is not None:
            self.direction_combo.setCurrentText(current)
        self.direction_combo.blockSignals(False)
        for w in (self.slider, self.project_button, self.store_button, self.source_combo):
            w.setEnabled(bool(self.attributes))
        self.refresh_face()

    def current(self) -> attributes.Attribute | None:
        return self.attributes.get(self.direction_combo.currentText())

    # ------------------------------------------------------------------ actions
    def take_selection(self, which: str) -> None:
        """Keep the map's current selection as the 'from' (without) or 'to' (with) group."""
        summary = self.explorer.selection
        if summary is None or len(summary.ids) == 0:
            self.message.setText("select faces on the map first (drag: lasso)")
            return
        self.groups[which] = np.asarray(summary.ids).copy()
        counts = {k: len(v) for k, v in self.groups.items()}
        self.message.setText(f"without: {counts.get('from', 0)} faces, with: {counts.get('to', 0)} faces")

    def make_direction(self) -> attributes.Attribute | None:
        """The direction from the two groups, named by the name field; it becomes the current one."""
        means = self.explorer.means
        if means is None:
            self.message.setText("the map has no encoding yet")
            return None
        try:
            attr = attributes.make_attribute(self.name_edit.text() or "attribute", means,
                                             self.groups.get("from", []), self.groups.get("to", []))
        except ValueError as exc:
            self.message.setText(str(exc))
            return None
        self.attributes[attr.name] = attr
        if self.session.record is not None:  # part of the current model: File ▸ Save model as… writes it too
            self.session.record.other[attributes.META_KEY] = attributes.to_meta(self.attributes)
        self._fill_combo(attr.name)
        self.message.setText(f"'{attr.name}': {len(attr.from_ids)} → {len(attr.to_ids)} faces, length "
                             f"{np.linalg.norm(attr.direction):.2f}; move the slider")
        return attr

    def source_latent(self) -> tuple[np.ndarray, str] | None:
        """(z, words) of the face to move: the session's selected face, your encoded image, or z = 0."""
        means, key = self.explorer.means, self.source_combo.currentData()
        if key == "own" and self.explorer.own is not None and means is not None \
                and len(self.explorer.own.mean) == means.shape[1]:
            return self.explorer.own.mean, "your image"
        if key == "selected" and means is not None and 0 <= self.session.selected < len(means):
            return means[self.session.selected], f"face #{self.session.selected}"
        if means is None:
            return None
        return np.zeros(means.shape[1]), "z = 0"

    def amount(self) -> float:
        return self.slider.value() / 100.0

    def moved_latent(self) -> np.ndarray | None:
        attr, source = self.current(), self.source_latent()
        if attr is None or source is None:
            return None
        return attributes.move_along(source[0], attr, [self.amount()])[0]

    def refresh_face(self) -> None:
        """Decode the chosen face moved t times the direction (one decoder call: instant)."""
        z = self.moved_latent()
        if z is None or self.session.model is None:
            self.face.clear()
            self.face.set_title("")
            return
        face = atlas.decode_latents(self.session.model, z[None, :])[0]
        self.face.set_image(face, self.explorer.image_shape)
        self.face.set_title(f"{self.source_latent()[1]} {self.amount():+.2f} × '{self.current().name}'")

    def project_map(self) -> None:
        attr, ex = self.current(), self.explorer
        if attr is None or ex.means is None:
            return
        ex.set_view(ex.means, ex.logvars, attributes.attribute_projection(ex.means, attr), self.session.train_ids,
                    self.session.test_ids)

    def store(self) -> None:
        """Write the directions into the model file (in a worker; the UI stays live)."""
        path = self.session.model_path
        if path is None or self.session.unsaved or self.session.training:
            self.message.setText("save the model to a file first (File ▸ Save model as…), then store the directions")
            return
        chosen = dict(self.attributes)
        self.message.setText(f"storing {len(chosen)} direction(s) in {path.name}…")
        start_job(attributes.store, path, chosen, owner=self,
                  on_result=lambda _r: self.message.setText(f"stored {', '.join(chosen)} in {path.name}"),
                  on_error=lambda message, _e: self.session.report_error("Could not store the directions", message))
