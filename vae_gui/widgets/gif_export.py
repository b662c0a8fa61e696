"""A row of controls that writes an animation as a GIF: frame count and frame time, and one button per
animation a panel offers. Each animation is a function called on the UI thread that captures what is shown
and returns frames(n) -> (n, H, W) uint8, which runs in a worker together with the writing."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from core.animation import MAX_FRAMES, write_gif
from vae_gui.workers import start_job

GIF_SCALE = 3  # each face pixel becomes 3×3 GIF pixels


class GifExportRow(QWidget):
    """``animations``: {button text: prepare() -> frames(n)}; ``report(title, message)`` shows errors; what was
    saved is told in ``status`` (a QLabel)."""

    def __init__(self, animations: dict[str, Callable], report: Callable[[str, str], None], parent=None):
        super().__init__(parent)
        self.animations, self.report = animations, report
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, MAX_FRAMES)
        self.frames_spin.setValue(40)
        self.frames_spin.setSuffix(" frames")
        self.ms_spin = QSpinBox()
        self.ms_spin.setRange(10, 2000)
        self.ms_spin.setValue(80)
        self.ms_spin.setSuffix(" ms")
        self.ms_spin.setToolTip("how long each frame shows")
        self.status = QLabel("")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("GIF:"))
        row.addWidget(self.frames_spin)
        row.addWidget(self.ms_spin)
        for text in animations:
            button = QPushButton(text)
            button.clicked.connect(lambda _c, t=text: self._ask(t))
            row.addWidget(button)
            self.buttons[text] = button
        row.addWidget(self.status, 1)
        self.job = None

    def _ask(self, text: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Save {text} as GIF", "animation.gif", "GIF (*.gif)")
        if path:
            self.save(text, path)

    def save(self, text: str, path: str) -> None:
        """Compute and write the animation ``text`` to ``path`` in a worker (the UI stays live)."""
        try:
            frames_of = self.animations[text]()
        except ValueError as exc:  # nothing to animate (no grid, no third axis)
            self.report("Could not save the GIF", str(exc))
            return
        n, frame_ms = self.frames_spin.value(), self.ms_spin.value()
        self.status.setText("writing…")
        self.job = start_job(lambda: write_gif(path, frames_of(n), frame_ms=frame_ms, scale=GIF_SCALE),
                             owner=self, on_result=lambda p: self.status.setText(f"saved {p}"),
                             on_error=lambda message, _e: (self.status.setText(""),
                                                           self.report("Could not save the GIF", message)))
