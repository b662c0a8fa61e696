"""Drag the latent: one slider per latent dimension, a 2-D pad bound to two of them, a big face.

Every change decodes the one z on the UI thread (a 256/16 decoder takes ~0.1 ms), so the face
follows the slider while it moves. A strip of random samples z ~ N(0, I) sits below. With data
loaded, a worker encodes the data set once per model to grey out inactive units and to put the
two most active ones on the drag pad.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.backend import to_numpy
from core.evaluate import ACTIVE_UNIT_THRESHOLD, posterior_means
from vae_gui.panels.base import Panel
from vae_gui.state import NO_DATA_HELP, Encoding, Session
from vae_gui.widgets.faces import FaceStrip, FaceView

Z_LIMIT = 3.0  # sliders and the pad span ±3 prior standard deviations, wider when a z put there is larger
SLIDER_STEPS = 600  # int slider 0…600 ↔ z in [-3, 3], 0.01 per step (a wider slider goes below 0 and above 600)
N_SAMPLES = 8
NOISY_TIP = ("Off (default): each sample shows the decoder's mean E[x|z], the face the model means. On: one "
             "draw x ~ p(x|z) — a Gaussian decoder adds pixel noise (its learned or unit variance), a Bernoulli "
             "decoder turns every pixel black or white. The noise is part of the model's density, not of the face.")


def slider_to_z(value: int) -> float:
    return -Z_LIMIT + 2 * Z_LIMIT * value / SLIDER_STEPS


def z_to_slider(z: float, limit: float = Z_LIMIT) -> int:
    z = float(np.clip(z, -limit, limit))
    return int(round((z + Z_LIMIT) / (2 * Z_LIMIT) * SLIDER_STEPS))


def limit_for(z: float) -> float:
    """The range ±limit a slider needs to show z: ±3, or the next whole number above |z|."""
    return max(Z_LIMIT, float(np.ceil(abs(float(z)))))


class LatentSliders(QWidget):
    """A column of labelled sliders, one per latent dim; ``changed(dim, value)`` on user moves."""

    changed = pyqtSignal(int, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sliders: list[QSlider] = []
        self.value_labels: list[QLabel] = []
        self.name_labels: list[QLabel] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setVerticalSpacing(2)

    def rebuild(self, n_dims: int, active: np.ndarray | None = None) -> None:
        """Recreate ``n_dims`` sliders at z = 0 (``active``: bool per dim, inactive names greyed)."""
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:  # hidden now, so no frame shows old and new sliders together
                item.widget().hide()
                item.widget().setParent(None)
                item.widget().deleteLater()
        self.sliders, self.value_labels, self.name_labels = [], [], []
        for d in range(n_dims):
            name = QLabel(f"z{d}")
            self.name_labels.append(name)
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setSingleStep(5)
            slider.setPageStep(50)
            slider.setValue(z_to_slider(0.0))
            slider.setMinimumWidth(160)
            value = QLabel("+0.00")
            value.setMinimumWidth(44)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            slider.valueChanged.connect(lambda v, d=d: self._on_slider(d, v))
            self._grid.addWidget(name, d, 0)
            self._grid.addWidget(slider, d, 1)
            self._grid.addWidget(value, d, 2)
            self.sliders.append(slider)
            self.value_labels.append(value)
        self.set_active(active)

    def set_active(self, active: np.ndarray | None) -> None:
        """Grey the names of inactive units (``active``: bool per dim; None = unknown, all plain)."""
        for d, name in enumerate(self.name_labels):
            limit = self.limit(d)
            tip = (f"latent dimension {d}: the slider sets z[{d}] in units of the prior's standard deviation "
                   f"(−{limit:g} … +{limit:g})")
            if active is not None and not active[d]:
                name.setStyleSheet("color: grey")
                name.setToolTip(tip + f". Inactive unit (posterior-mean variance ≤ {ACTIVE_UNIT_THRESHOLD}): "
                                "the encoder ignores it, so the decoder barely reacts to it.")
            elif active is not None:
                name.setStyleSheet("font-weight: bold")
                name.setToolTip(tip + ". Active unit: the encoder uses it to tell faces apart.")
            else:
                name.setStyleSheet("")
                name.setToolTip(tip)

    def _on_slider(self, dim: int, value: int) -> None:
        z = slider_to_z(value)
        self.value_labels[dim].setText(f"{z:+.2f}")
        self.changed.emit(dim, z)

    def limit(self, dim: int) -> float:
        """z of the slider's right end (its range is ±limit)."""
        return slider_to_z(self.sliders[dim].maximum())

    def set_values(self, z: np.ndarray, dims: tuple[int, ...] | None = None) -> None:
        """Move the sliders (all, or only ``dims``) to z without emitting ``changed``; a slider whose range
        does not reach its value widens to the next whole number (an encoded z reaches 9)."""
        for d, slider in enumerate(self.sliders):
            if dims is not None and d not in dims:
                continue
            slider.blockSignals(True)
            if abs(float(z[d])) > self.limit(d):
                limit = limit_for(z[d])
                slider.setRange(z_to_slider(-limit, limit), z_to_slider(limit, limit))
            slider.setValue(z_to_slider(z[d], self.limit(d)))
            slider.blockSignals(False)
            self.value_labels[d].setText(f"{slider_to_z(slider.value()):+.2f}")

    def values(self) -> np.ndarray:
        return np.array([slider_to_z(s.value()) for s in self.sliders])


class PriorSamples(QGroupBox):
    """A strip of faces decoded from random z ~ N(0, I): decoder means, or with 'noisy' one draw
    x ~ p(x|z) each; ``chosen(z)`` when one is clicked."""

    chosen = pyqtSignal(object)  # z (L,)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("random samples from the prior: decoder means (click one to edit it)", parent)
        self.model = None
        self.image_shape: tuple[int, int] | None = None  # (H, W) of the model's images
        self.sample_z: np.ndarray | None = None  # (N_SAMPLES, L)
        self._rng, self._noise_rng = np.random.default_rng(), np.random.default_rng(0)
        self.samples = FaceStrip(face_height=56, max_face_height=140)
        self.samples.setToolTip("faces decoded from random z ~ N(0, I); click one to put its z on the sliders")
        self.samples.clicked.connect(lambda i: self.chosen.emit(self.sample_z[i]) if self.sample_z is not None
                                     and i < len(self.sample_z) else None)
        self.new_samples_button = QPushButton("New samples")
        self.new_samples_button.setToolTip(f"decode {N_SAMPLES} fresh random z ~ N(0, I)")
        self.new_samples_button.clicked.connect(lambda: self.new_samples(self.model))
        self.noisy_check = QCheckBox("noisy (x ~ p(x|z))")
        self.noisy_check.setToolTip(NOISY_TIP)
        self.noisy_check.toggled.connect(lambda _on: self.show_samples())
        layout = QHBoxLayout(self)
        layout.addWidget(self.samples, 1)
        side = QVBoxLayout()
        side.addWidget(self.new_samples_button)
        side.addWidget(self.noisy_check)
        side.addStretch(1)
        layout.addLayout(side)

    def new_samples(self, model) -> None:
        self.model = model
        if model is not None:
            self.sample_z = self._rng.standard_normal((N_SAMPLES, model.config.latent))
            self.show_samples()

    def show_samples(self) -> None:
        """The decoder's mean image for each z (what the model 'means'); with 'noisy' one draw x ~ p(x|z)
        each — a Gaussian decoder adds per-pixel noise, a Bernoulli one makes pixels black or white."""
        model, z = self.model, self.sample_z
        if model is None or z is None or z.shape[1] != model.config.latent:
            return
        if self.noisy_check.isChecked():
            logits, logvar = model.decoder_outputs(model.asarray(z))
            faces = np.clip(to_numpy(model.likelihood.sample(logits, logvar, self._noise_rng)), 0.0, 1.0)
        else:
            faces = to_numpy(model.decode(z))
        kind = "noisy draw" if self.noisy_check.isChecked() else "mean"
        self.samples.set_faces(faces, [f"{kind} {i + 1}" for i in range(N_SAMPLES)], self.image_shape)


class SamplingPanel(Panel):
    """Decode a latent vector you set by hand: sliders, a 2-D drag pad, random / reset / from an image."""

    title, stem = "Sampling", "sampling"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.z = np.zeros(0)
        self.decode_ms: list[float] = []  # slider/pad change → image set, the last 200 updates
        self._moving_pad = False
        self._rng = np.random.default_rng()
        self.active: np.ndarray | None = None  # bool per latent dim once the data set is encoded
        self._model = None  # the model the sliders were built for
        self._build()
        state.encoding_ready.connect(self._on_activity)
        state.latent_chosen.connect(self.set_z)  # a z chosen elsewhere: your image's (issue 14), the map's
        self.reset()

    def reset(self) -> None:
        """A new model starts at z = 0 on fresh ±3 sliders (its units mean something else); new data only
        changes the image picker and which units are active."""
        if self.state.model is not self._model:
            self._model = self.state.model
            self._on_model_changed(self.state.model)
        self._on_data_changed(self.state.X)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        buttons = self._build_buttons()
        sliders_box, pad_box, samples_box = self._build_sliders(), self._build_pad(), self._build_samples()
        face_column = QVBoxLayout()
        face_column.addWidget(self.face, 1)
        face_column.addWidget(self.message)
        top = QHBoxLayout()
        top.addLayout(face_column, 2)
        top.addWidget(sliders_box, 3)
        top.addWidget(pad_box, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(top, 1)
        layout.addWidget(samples_box)

    def _build_buttons(self) -> QHBoxLayout:
        self.face = FaceView("decoded face", min_height=168)
        self.face.setToolTip("the decoder's mean image for the latent vector z set by the sliders and the pad")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.random_button = QPushButton("Random z ~ N(0, I)")
        self.random_button.setToolTip("draw every latent dimension from the prior, a standard normal")
        self.reset_button = QPushButton("Reset to 0")
        self.reset_button.setToolTip("z = 0, the prior's mean: the decoder's 'average' face")
        self.image_spin = QSpinBox()
        self.image_spin.setRange(0, 0)  # the data set's size once it is loaded
        self.image_spin.setPrefix("#")
        self.from_image_button = QPushButton("Start from image")
        self.from_image_button.setToolTip("encode this data face and put its posterior mean on the sliders")
        self.random_button.clicked.connect(self.randomize)
        self.reset_button.clicked.connect(self.reset_z)
        self.from_image_button.clicked.connect(lambda: self.start_from_image(self.image_spin.value()))

        buttons = QHBoxLayout()
        buttons.addWidget(self.random_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.from_image_button)
        buttons.addWidget(self.image_spin)
        return buttons

    def _build_sliders(self) -> QGroupBox:
        self.sliders = LatentSliders()
        self.sliders.changed.connect(self._on_slider_changed)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.sliders)
        scroll.setMinimumWidth(240)
        sliders_box = QGroupBox("latent vector z (±3 σ; wider for a z beyond)")
        QVBoxLayout(sliders_box).addWidget(scroll)
        return sliders_box

    def _build_pad(self) -> QGroupBox:
        pad_box = QGroupBox("drag pad: two dimensions at once")
        self.pad_x_combo, self.pad_y_combo = QComboBox(), QComboBox()
        self.pad_x_combo.setToolTip("latent dimension moved by dragging left/right")
        self.pad_y_combo.setToolTip("latent dimension moved by dragging up/down")
        self.pad_x_combo.currentIndexChanged.connect(self._on_pad_dims_changed)
        self.pad_y_combo.currentIndexChanged.connect(self._on_pad_dims_changed)
        self.pad_plot = pg.PlotWidget()
        self.pad_plot.setMinimumSize(180, 180)
        self.pad_plot.setXRange(-Z_LIMIT, Z_LIMIT, padding=0.02)
        self.pad_plot.setYRange(-Z_LIMIT, Z_LIMIT, padding=0.02)
        self.pad_plot.setMouseEnabled(False, False)
        self.pad_plot.setMenuEnabled(False)
        self.pad_plot.hideButtons()
        self.pad_plot.showGrid(x=True, y=True, alpha=0.3)
        self.pad_plot.setAspectLocked(True)
        self.pad_target = pg.TargetItem(pos=(0, 0), size=16, movable=True, pen=pg.mkPen("r", width=2))
        self.pad_target.setToolTip("drag me: x and y set the two chosen latent dimensions")
        self.pad_target.sigPositionChanged.connect(self._on_pad_moved)
        self.pad_plot.addItem(self.pad_target)
        pad_dims = QHBoxLayout()
        pad_dims.addWidget(QLabel("x:"))
        pad_dims.addWidget(self.pad_x_combo)
        pad_dims.addWidget(QLabel("y:"))
        pad_dims.addWidget(self.pad_y_combo)
        pad_layout = QVBoxLayout(pad_box)
        pad_layout.addLayout(pad_dims)
        pad_layout.addWidget(self.pad_plot, 1)
        return pad_box

    def _build_samples(self) -> QGroupBox:
        self.samples_box = PriorSamples()
        self.samples_box.chosen.connect(self.set_z)
        return self.samples_box

    # ------------------------------------------------------------------ state changes
    def _on_model_changed(self, model) -> None:
        has_model = model is not None
        for w in (self.random_button, self.reset_button, self.samples_box, self.sliders, self.pad_plot):
            w.setEnabled(has_model)
        self._update_from_image_enabled()
        if not has_model:
            self.message.setText("No model loaded: open or train one to decode faces.")
            return
        latent = model.config.latent
        self.z = np.zeros(latent)
        self.sliders.rebuild(latent)
        self._fill_pad_combos(latent)
        self._start_activity_scan()
        note = ("" if model.is_vae else "Auto-encoder: its codes were never pulled towards N(0, I), so random "
                "or far-off z often decode to non-faces.")
        self.message.setText(note)
        self.refresh()
        self.new_samples()

    def _on_data_changed(self, X) -> None:
        self._update_from_image_enabled()
        self.image_spin.setMaximum(len(X) - 1 if X is not None else 0)
        self._start_activity_scan()

    def _start_activity_scan(self) -> None:
        """Grey inactive sliders and put the two most active dims on the pad: from the session's shared
        encoding when it is in (``encoding_ready`` brings it later), else from the decoder alone."""
        self.active = None
        self.sliders.set_active(None)
        model = self.state.model
        if model is None or model.config.latent != len(self.sliders.sliders):
            return
        if model.config.latent >= 2:
            self._set_pad_dims(*self.state.most_active_dims(2))
        encoding = self.state.encoding()
        if encoding is not None:
            self._on_activity(encoding)

    def _on_activity(self, encoding: Encoding) -> None:
        if encoding.means.shape[1] != len(self.sliders.sliders):
            return
        self.active = encoding.active
        self.sliders.set_active(self.active)
        if len(self.active) >= 2:
            self._set_pad_dims(*encoding.most_active(2))

    def _set_pad_dims(self, dim_x: int, dim_y: int) -> None:
        for combo, dim in ((self.pad_x_combo, dim_x), (self.pad_y_combo, dim_y)):
            combo.blockSignals(True)
            combo.setCurrentIndex(dim)
            combo.blockSignals(False)
        self._on_pad_dims_changed()

    def is_ready(self) -> bool:
        """True when the activity scan is done (or impossible: no model or no data)."""
        return self.active is not None or self.state.model is None or self.state.X is None

    def _update_from_image_enabled(self) -> None:
        ok = self.state.model is not None and self.state.X is not None
        self.from_image_button.setEnabled(ok)
        self.image_spin.setEnabled(ok)
        self.from_image_button.setToolTip("encode this data face and put its posterior mean on the sliders"
                                          if ok else f"needs data: {NO_DATA_HELP}")

    def _fill_pad_combos(self, latent: int) -> None:
        for combo, default in ((self.pad_x_combo, 0), (self.pad_y_combo, min(1, latent - 1))):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([f"z{d}" for d in range(latent)])
            combo.setCurrentIndex(default)
            combo.blockSignals(False)
        self._on_pad_dims_changed()

    # ------------------------------------------------------------------ decoding
    def refresh(self) -> None:
        """Decode the current z and show it (timed: the panel's latency budget is a few ms)."""
        model = self.state.model
        if model is None or len(self.z) != model.config.latent:
            return
        start = time.perf_counter()
        try:
            face = to_numpy(model.decode(self.z[None, :]))[0]
        except Exception as exc:  # an engine error must not kill the panel
            self.state.report_error("Decoding failed", f"Could not decode z: {exc}")
            return
        self.face.set_face(face, self.state.image_shape)
        self.decode_ms = (self.decode_ms + [1000 * (time.perf_counter() - start)])[-200:]
        self.face.set_title(f"decoded face  (|z| = {np.linalg.norm(self.z):.2f})")

    def set_z(self, z: np.ndarray) -> None:
        """Put z on the sliders and the pad, then decode (values beyond ±3 are kept in z but shown clipped)."""
        if self.state.model is None or len(z) != self.state.model.config.latent:
            return  # a z of another model (chosen elsewhere before a model change)
        self.z = np.asarray(z, dtype=np.float64).copy()
        self.sliders.set_values(self.z)
        self._sync_pad()
        self.refresh()

    def randomize(self) -> None:
        if self.state.model is not None:
            self.set_z(self._rng.standard_normal(self.state.model.config.latent))

    def reset_z(self) -> None:
        if self.state.model is not None:
            self.set_z(np.zeros(self.state.model.config.latent))

    def start_from_image(self, index: int) -> None:
        """Encode data face #index and put its posterior mean (AE: its code) on the sliders."""
        model, X = self.state.model, self.state.X
        if model is None or X is None:
            return
        try:
            mean, _ = posterior_means(model, X[index : index + 1])
        except Exception as exc:
            self.state.report_error("Encoding failed", f"Could not encode image #{index}: {exc}")
            return
        self.set_z(mean[0])

    def new_samples(self) -> None:
        self.samples_box.image_shape = self.state.image_shape
        self.samples_box.new_samples(self.state.model)

    # ------------------------------------------------------------------ sliders and pad
    def _on_slider_changed(self, dim: int, value: float) -> None:
        self.z[dim] = value
        dx, dy = self.pad_dims()
        if dim in (dx, dy) and max(dx, dy) < len(self.z):
            # only the target moves: re-setting the pad's unchanged ranges repainted both its axes (~15 ms a move)
            self._place_target(self.z[dx], self.z[dy])
        self.refresh()

    def _on_pad_dims_changed(self) -> None:
        self.pad_plot.setLabel("bottom", self.pad_x_combo.currentText())
        self.pad_plot.setLabel("left", self.pad_y_combo.currentText())
        self._sync_pad()

    def pad_dims(self) -> tuple[int, int]:
        return self.pad_x_combo.currentIndex(), self.pad_y_combo.currentIndex()

    def pad_limits(self) -> tuple[float, float]:
        """(x, y) half-widths of the pad: those of its two dims' sliders."""
        dx, dy = self.pad_dims()
        return self.sliders.limit(dx), self.sliders.limit(dy)

    def _sync_pad(self) -> None:
        """Move the pad's target to the z values of its two dims (without re-decoding); the pad spans the
        sliders' ranges."""
        dx, dy = self.pad_dims()
        if dx < 0 or dy < 0 or dx >= len(self.z) or dy >= len(self.z) or dx >= len(self.sliders.sliders):
            return
        lx, ly = self.pad_limits()
        self.pad_plot.setXRange(-lx, lx, padding=0.02)
        self.pad_plot.setYRange(-ly, ly, padding=0.02)
        self._place_target(self.z[dx], self.z[dy])

    def _place_target(self, x: float, y: float) -> None:
        self._moving_pad = True
        try:
            self.pad_target.setPos(float(x), float(y))
        finally:
            self._moving_pad = False

    def _on_pad_moved(self, *_args) -> None:
        if self._moving_pad or self.state.model is None:
            return
        pos = self.pad_target.pos()
        lx, ly = self.pad_limits()
        # the same numbers on the pad and on the sliders: the target stops at the sliders' ends
        x = round(float(np.clip(pos.x(), -lx, lx)), 2)
        y = round(float(np.clip(pos.y(), -ly, ly)), 2)
        if (x, y) != (pos.x(), pos.y()):
            self._place_target(x, y)
        dx, dy = self.pad_dims()
        self.z[dx], self.z[dy] = x, y
        self.sliders.set_values(self.z, dims=(dx, dy))
        self.refresh()
