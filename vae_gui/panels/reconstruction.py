"""Reconstruction of one data face: original, reconstruction, |difference|, and its losses in nats."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.atlas import EncodedImage, encode_pixels
from core.backend import to_numpy
from vae_gui.panels.base import Panel
from vae_gui.state import NO_DATA_HTML, Session
from vae_gui.widgets.faces import FaceView

DIFF_COLORMAP = "inferno"
REC_TIP = ("Reconstruction loss: −log p(x|z) in nats for this image, summed over all its pixels (for a VAE the "
           "mean over 32 seeded draws z ~ q(z|x): the same number as File ▸ Encode an image… and `main.py encode`). "
           "Lower is better; a Bernoulli decoder cannot go below the "
           "image's own pixel entropy (the BCE floor).")
KL_TIP = ("KL(q(z|x) ‖ p(z)) in nats: how many nats the code spends to describe this image. Typical values are "
          "10–40 nats; 0 means the posterior equals the prior and the code carries no information.")
ELBO_TIP = ("ELBO = −(reconstruction + KL), in nats: a lower bound on log p(x), how probable the model finds this "
            "image. Higher is better; compare models by it (the Training tab plots −ELBO, where lower is better).")
SIGN_NOTE = {
    "gaussian": ("Gaussian decoder: a density on pixel values in [0, 1] can exceed 1, so −log p(x|z) can be "
                 "negative and the ELBO positive. That is not an error; the numbers still compare models: higher "
                 "ELBO is better."),
    "bernoulli": ("Bernoulli decoder: p(x|z) ≤ 1, so −log p(x|z) ≥ 0 and the ELBO is negative; the closer to 0, the "
                  "better."),
}
DIFF_TIP = ("|original − reconstruction| per pixel, coloured black (0) → yellow (the largest difference in this "
            "image, read it on the colour bar): bright areas are what the model fails to reproduce.")


class ReconstructionPanel(Panel):
    """Pick an image (spin box, slider, Random); see it, its reconstruction, the difference and the losses."""

    title, stem = "Reconstruction", "reconstruction"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.index = 0
        self.rec_nats: float | None = None
        self.kl_nats: float | None = None
        self.own: EncodedImage | None = None  # your encoded image, shown instead of data until one is picked
        self._rng = np.random.default_rng()
        self._build()
        state.selection_changed.connect(self._on_selection_changed)
        state.own_image.connect(self.show_own_image)
        self.reset()

    @property
    def own_x(self) -> np.ndarray | None:
        """Your encoded image's pixels (D,), or None."""
        return None if self.own is None else np.asarray(self.own.pixels, dtype=np.float32)

    def reset(self) -> None:
        """Your image was encoded by the previous model: it goes; the data set's ranges are the new one's."""
        self.own = None
        self._on_data_changed(self.state.X)
        self.refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        pick, losses = self._build_picker(), self._build_losses()
        self.original = FaceView("original", min_height=280)
        self.reconstruction = FaceView("reconstruction", min_height=280)
        self.difference = FaceView("|original − reconstruction|", min_height=280, colorbar=DIFF_COLORMAP)
        self.difference.setToolTip(DIFF_TIP)
        faces = QGridLayout()
        faces.addWidget(self.original, 0, 0)
        faces.addWidget(self.reconstruction, 0, 1)
        faces.addWidget(self.difference, 0, 2)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.addLayout(pick)
        content_layout.addLayout(losses)
        content_layout.addWidget(self.sign_note)
        content_layout.addLayout(faces, 1)
        self.no_data_label = QLabel(NO_DATA_HTML)
        self.no_data_label.setWordWrap(True)
        self.no_data_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stack = QStackedWidget()
        self.stack.addWidget(content)
        self.stack.addWidget(self.no_data_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)

    def _build_picker(self) -> QHBoxLayout:
        self.spin = QSpinBox()
        self.spin.setRange(0, 0)  # the data set's size once it is loaded
        self.spin.setPrefix("image #")
        self.spin.setToolTip("index of the face in the data set (← and → step through it)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("scroll through the data set")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("pick a random face")
        self.split_label = QLabel("")
        self.split_label.setToolTip("train: the model was trained on this face; test: held out, never seen in "
                                    "training (a fair check of generalisation)")
        self.split_label.setMinimumWidth(70)
        self.draw_z = QCheckBox("draw z")
        self.draw_z.setToolTip("VAE: decode a sample z ~ q(z|x) instead of the posterior mean (each refresh draws "
                               "a new one)")
        self.spin.valueChanged.connect(self.set_index)
        self.slider.valueChanged.connect(self.set_index)
        self.random_button.clicked.connect(self.pick_random)
        self.draw_z.toggled.connect(lambda _on: self.refresh())

        pick = QHBoxLayout()
        pick.addWidget(self.spin)
        pick.addWidget(self.slider, 1)
        pick.addWidget(self.random_button)
        pick.addWidget(self.split_label)
        pick.addWidget(self.draw_z)
        return pick

    def _build_losses(self) -> QHBoxLayout:
        self.rec_label, self.kl_label, self.elbo_label = QLabel(), QLabel(), QLabel()
        for label, tip in ((self.rec_label, REC_TIP), (self.kl_label, KL_TIP), (self.elbo_label, ELBO_TIP)):
            label.setToolTip(tip)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            font = label.font()
            font.setPointSizeF(font.pointSizeF() * 1.15)
            label.setFont(font)
        losses = QHBoxLayout()
        losses.addWidget(self.rec_label)
        losses.addSpacing(24)
        losses.addWidget(self.kl_label)
        losses.addSpacing(24)
        losses.addWidget(self.elbo_label)
        losses.addStretch(1)
        self.sign_note = QLabel("")
        self.sign_note.setWordWrap(True)
        self.sign_note.setStyleSheet("color: #555;")
        return losses

    # ------------------------------------------------------------------ state
    def has_data(self) -> bool:
        return self.state.X is not None

    def showing_no_data_message(self) -> bool:
        return self.stack.currentWidget() is self.no_data_label

    def _on_data_changed(self, X) -> None:
        self.stack.setCurrentIndex(0 if X is not None else 1)
        if X is not None:
            top = len(X) - 1
            for w in (self.spin, self.slider):
                w.blockSignals(True)
                w.setMaximum(top)
                w.blockSignals(False)
            self.set_index(min(self.index, top), force=True)

    def _on_selection_changed(self, index: int) -> None:
        if index != self.index or self.own is not None:
            self.own = None
            self.set_index(index, force=True)

    def show_own_image(self, encoded) -> None:
        """Your image (core.atlas.EncodedImage, already grey and at the model's size) and its reconstruction."""
        model = self.state.model
        if model is None or encoded.pixels.size != model.config.input_dim:
            return
        self.own = encoded
        self.stack.setCurrentIndex(0)
        self.refresh()

    def pick_random(self) -> None:
        if self.has_data():
            self.set_index(int(self._rng.integers(len(self.state.X))))

    def set_index(self, index: int, force: bool = False) -> None:
        """Show image #index; keeps spin box and slider in step and tells the other panels."""
        index = int(index)
        if index == self.index and not force:
            return
        self.index = index
        self.own = None
        for w in (self.spin, self.slider):
            if w.value() != index:
                w.blockSignals(True)
                w.setValue(index)
                w.blockSignals(False)
        self.refresh()
        if self.state.selected != index:
            self.state.select(index)

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """Recompute the reconstruction and the losses of the current image (one image: well under 1 ms)."""
        model, X = self.state.model, self.state.X
        if X is None and self.own_x is None:
            return
        if self.own_x is not None:
            x, what = self.own_x[None, :], "your image"
            self.split_label.setText("<b>your image</b>")
            self.split_label.setStyleSheet("color: #8e44ad")
            self.original.set_face(x[0], self.state.image_shape)
            self.original.set_title("your image (grey, cropped, resized)")
        else:
            i = min(self.index, len(X) - 1)
            split, what = self.state.split_name(i), f"image #{i}"
            self.split_label.setText(f"<b>{split}</b>")
            self.split_label.setStyleSheet("color: #1f77b4" if split == "train" else "color: #d62728")
            x = X[i : i + 1]
            self.original.set_face(x[0], self.state.image_shape)
            self.original.set_title(f"original #{i} ({split})")
        self.draw_z.setEnabled(model is not None and model.is_vae)
        if model is None:
            self.reconstruction.clear()
            self.difference.clear()
            self.rec_nats = self.kl_nats = None
            self.rec_label.setText("no model loaded")
            self.kl_label.setText("")
            self.elbo_label.setText("")
            return
        try:
            sample = self.draw_z.isChecked() and model.is_vae
            recon = to_numpy(model.reconstruct(x, sample=sample, rng=self._rng))[0].astype(np.float64)
            # the one −ELBO of an image (core.atlas.encode_pixels): your own image's comes with it
            numbers = self.own if self.own is not None else encode_pixels(model, x[0], self.state.image_shape)
        except Exception as exc:  # an engine error must reach the user, not kill the panel
            self.state.report_error("Reconstruction failed", f"Could not reconstruct {what}: {exc}")
            return
        self.reconstruction.set_face(recon, self.state.image_shape)
        if sample:  # a well-trained encoder is sure of itself: say how far a draw can move from the mean
            sigma = float(np.mean(numbers.sigma)) if numbers.sigma is not None else 0.0
            title = f"reconstruction (one z drawn from q(z|x), mean σ {sigma:.2g})"
        else:
            title = "reconstruction (posterior mean)" if model.is_vae else "reconstruction"
        self.reconstruction.set_title(title)
        diff = np.abs(x[0].astype(np.float64) - recon)
        self.difference.set_levels((0.0, max(float(diff.max()), 1e-3)))  # auto-scaled: the bar says how far
        self.difference.set_face(diff, self.state.image_shape)
        self.difference.set_title(f"|original − reconstruction|  (max {diff.max():.2f})")
        self.rec_nats, self.kl_nats = float(numbers.rec), float(numbers.kl)
        self.rec_label.setText(f"reconstruction −log p(x|z): <b>{self.rec_nats:.2f}</b> nats")
        self.sign_note.setText(SIGN_NOTE["bernoulli" if model.config.likelihood == "bernoulli" else "gaussian"])
        if model.is_vae:
            self.kl_label.setText(f"KL: <b>{self.kl_nats:.2f}</b> nats")
            self.elbo_label.setText(f"ELBO: <b>{-(self.rec_nats + self.kl_nats):+.2f}</b> nats (higher is better)")
        else:
            self.kl_label.setText("KL: – (auto-encoder)")
            self.elbo_label.setText("")
