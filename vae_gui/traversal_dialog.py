"""The traversal sheet, opened from the Latent grid: rows are latent units sorted by KL (or the principal
directions of the posterior means), columns move a chosen face −3σ … +3σ along each (σ: the codes' standard
deviation along that row's direction). The face: any data face, your encoded image, or z = 0. PNG and animated
GIF export (``core.animation``), like ``main.py traverse``."""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from core.animation import decode_frames, face_frames, traversal_path, write_gif
from core.backend import to_numpy
from core.explore import TraversalRows, traversal_rows, traversal_sheet
from core.images import mosaic, write_png
from vae_gui.state import Encoding, Session
from vae_gui.widgets.faces import FaceGrid
from vae_gui.workers import start_job

ROW_KINDS = (("latent units by KL", "units"), ("principal directions", "pca"))
STARTS = (("data face", "face"), ("your image", "own"), ("z = 0", "zero"))


class TraversalDialog(QDialog):
    """A traversal sheet of the session's model around one face; ``own`` is your encoded image's mean (L,)
    when there is one."""

    def __init__(self, session: Session, encoding: Encoding, own: np.ndarray | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Traversal sheet")
        self.session, self.encoding, self.own = session, encoding, own
        self.rows: TraversalRows | None = None
        self.z0 = np.zeros(session.model.config.latent)
        self._build()
        self.rebuild()

    def _build(self) -> None:
        latent = self.session.model.config.latent
        self.kind_combo, self.start_combo = QComboBox(), QComboBox()
        for text, key in ROW_KINDS:
            self.kind_combo.addItem(text, key)
        for text, key in STARTS:
            self.start_combo.addItem(text, key)
        self.start_combo.model().item(1).setEnabled(self.own is not None)
        self.face_spin = QSpinBox()
        self.face_spin.setRange(0, len(self.encoding.means) - 1)
        self.face_spin.setValue(max(0, min(self.session.selected, len(self.encoding.means) - 1)))
        self.face_spin.setPrefix("#")
        self.rows_spin = QSpinBox()
        self.rows_spin.setRange(1, latent)
        self.rows_spin.setValue(min(latent, 10))
        self.rows_spin.setPrefix("rows ")
        self.cols_spin = QSpinBox()
        self.cols_spin.setRange(3, 21)
        self.cols_spin.setSingleStep(2)
        self.cols_spin.setValue(9)
        self.cols_spin.setPrefix("columns ")
        self.span_spin = QDoubleSpinBox()
        self.span_spin.setRange(0.5, 6.0)
        self.span_spin.setSingleStep(0.5)
        self.span_spin.setValue(3.0)
        self.span_spin.setPrefix("±")
        self.span_spin.setSuffix(" σ")
        for signal in (self.kind_combo.currentIndexChanged, self.start_combo.currentIndexChanged,
                       self.face_spin.valueChanged, self.rows_spin.valueChanged, self.cols_spin.valueChanged,
                       self.span_spin.valueChanged):
            signal.connect(lambda *_: self.rebuild())
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, 1000)
        self.frames_spin.setValue(40)
        self.frames_spin.setPrefix("GIF frames ")
        self.ms_spin = QSpinBox()
        self.ms_spin.setRange(10, 2000)
        self.ms_spin.setValue(80)
        self.ms_spin.setSuffix(" ms")
        self.png_button, self.gif_button = QPushButton("Save PNG…"), QPushButton("Save GIF…")
        self.png_button.clicked.connect(lambda: self._ask_and_save("PNG"))
        self.gif_button.clicked.connect(lambda: self._ask_and_save("GIF"))
        self.sheet = FaceGrid(min_height=300)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        top, bottom = QHBoxLayout(), QHBoxLayout()
        for w in (self.kind_combo, self.rows_spin, self.cols_spin, self.span_spin, QLabel("around:"),
                  self.start_combo, self.face_spin):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.png_button, self.frames_spin, self.ms_spin, self.gif_button):
            bottom.addWidget(w)
        bottom.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.sheet, 1)
        layout.addWidget(self.info)
        layout.addLayout(bottom)
        self.resize(760, 620)

    def start(self) -> tuple[np.ndarray, str]:
        """(z0 (L,), words) of the chosen face."""
        key = self.start_combo.currentData()
        self.face_spin.setEnabled(key == "face")
        if key == "face":
            index = self.face_spin.value()
            return self.encoding.means[index], f"face #{index}"
        if key == "own" and self.own is not None:
            return np.asarray(self.own, dtype=np.float64), "your image"
        return np.zeros(self.session.model.config.latent), "z = 0"

    def rebuild(self) -> None:
        """Decode the sheet (rows × columns faces: one decoder call)."""
        model = self.session.model
        self.rows = traversal_rows(self.encoding.means, self.encoding.logvars, self.kind_combo.currentData(),
                                   self.rows_spin.value())
        self.z0, where = self.start()
        cols, span = self.cols_spin.value(), self.span_spin.value()
        z = traversal_sheet(self.z0, self.rows, cols, span)
        faces = to_numpy(model.decode(z.reshape(-1, z.shape[-1]))).reshape(len(self.rows.names), cols, -1)
        self.sheet.set_grid(faces, self.session.image_shape)
        labels = [f"{name} ({self.rows.score_name} {score:.2g})" for name, score in
                  zip(self.rows.names, self.rows.scores, strict=True)]
        offsets = [f"{v:+.1f}σ" for v in np.linspace(-span, span, cols)]
        self.sheet.set_axes("", labels, f"around {where}", offsets, max_ticks=21)
        what = "latent unit" if self.kind_combo.currentData() == "units" else "principal direction"
        self.info.setText(f"{len(labels)} rows × {cols}: each row moves {where} along one {what}, −{span:g}σ … "
                          f"+{span:g}σ of the codes' spread along it (rows sorted by {self.rows.score_name}).")

    def _ask_and_save(self, kind: str) -> None:
        suffix = kind.lower()
        path, _ = QFileDialog.getSaveFileName(self, f"Save the traversal as {kind}", f"traversal.{suffix}",
                                              f"{kind} (*.{suffix})")
        if path:
            self.save(path, kind)

    def save(self, path: str, kind: str) -> None:
        """Write the sheet (PNG, 2× pixels) or its animation (GIF: every row's face sweeping −span … +span and
        back) in a worker; errors come as a dialog."""
        model, shape, rows = self.session.model, self.session.image_shape, self.rows
        cols, span, z0 = self.cols_spin.value(), self.span_spin.value(), self.z0.copy()
        frames, frame_ms = self.frames_spin.value(), self.ms_spin.value()

        def write() -> str:
            if kind == "PNG":
                z = traversal_sheet(z0, rows, cols, span)
                faces = to_numpy(model.decode(z.reshape(-1, z.shape[-1])))
                write_png(path, mosaic(faces, ncols=cols, image_shape=shape), scale=2)
            else:
                ncols = int(np.ceil(np.sqrt(len(rows.names))))
                clip = face_frames(decode_frames(model, traversal_path(z0, rows.directions, rows.sds, frames, span)),
                                   shape, ncols)
                write_gif(path, clip, frame_ms=frame_ms, scale=3)
            return path

        self.job = start_job(write, owner=self, on_result=lambda p: self.info.setText(f"saved {p}"),
                             on_error=lambda message, _e: self.session.report_error("Could not save the traversal",
                                                                                    message))
