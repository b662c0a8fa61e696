"""The Training tab's live faces: a few fixed test images, their reconstructions and decodings of fixed
z, from the weights being trained (or from the current model when no run goes)."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QFormLayout, QGroupBox, QLabel, QSizePolicy, QWidget

from core.backend import to_numpy
from core.models import Model
from vae_gui.widgets.faces import FaceStrip


class LiveFaces(QGroupBox):
    """Three strips: test images, reconstructions, samples (fixed z)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Live faces", parent)
        self.test_strip, self.recon_strip, self.sample_strip = (
            FaceStrip(face_height=42, max_face_height=112) for _ in range(3))
        self.test_strip.setToolTip("The first 8 faces of the fixed test split (never trained on).")
        self.recon_strip.setToolTip("Their reconstructions by the model being trained: decoder mean at the "
                                    "posterior mean (AE: at the code).")
        self.sample_strip.setToolTip("Decoder means of 8 fixed draws z ~ N(0, I): they change only because the "
                                     "weights change.")
        self.step_label = QLabel("")
        self.image_shape: tuple[int, int] | None = None  # (H, W) of the images (None: Frey's 28×20)
        layout = QFormLayout(self)
        layout.addRow("Test images", self.test_strip)
        layout.addRow("Reconstructions", self.recon_strip)
        layout.addRow("Samples (fixed z)", self.sample_strip)
        layout.addRow(self.step_label)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def show_test_images(self, images: np.ndarray, ids: np.ndarray) -> None:
        self.test_strip.set_faces(images, labels=[f"#{i}" for i in ids], image_shape=self.image_shape)

    def show_model(self, model: Model, images: np.ndarray | None, z: np.ndarray | None) -> None:
        """Reconstructions of ``images`` and decodings of ``z`` by a model that is not training."""
        if images is not None and images.shape[1] == model.config.input_dim:
            self.recon_strip.set_faces(to_numpy(model.reconstruct(images)), image_shape=self.image_shape)
        if z is not None and z.shape[1] == model.config.latent:
            self.sample_strip.set_faces(to_numpy(model.decode(z)), image_shape=self.image_shape)
        self.step_label.setText(f"weights after {model.step} steps")

    def show_report(self, faces: dict) -> None:
        """A training job's {'step', 'recons', 'samples'} report."""
        if faces.get("recons") is not None:
            self.recon_strip.set_faces(faces["recons"], image_shape=self.image_shape)
        if faces.get("samples") is not None:
            self.sample_strip.set_faces(faces["samples"], image_shape=self.image_shape)
        self.step_label.setText(f"weights after {faces['step']} steps (live)")
