"""The main window's status bar: the current model, a passing notice, training state and the data set."""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt, QTimer
from PyQt6.QtGui import QPainter
from PyQt6.QtWidgets import QLabel, QStatusBar

from vae_gui.state import NO_DATA_HELP, Session


class ElidedLabel(QLabel):
    """One line that ends in '…' where the window is too narrow for it (the whole text in its tooltip),
    instead of being cut at the window's edge or pushing its neighbours out."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(min(super().minimumSizeHint().width(), 80), super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """What fits: the text, or its start and '…'."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         self.shown_text())


class StatusBar(QStatusBar):
    """Labels that follow the session: model (left), notice, training state and data (right)."""

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.model_label, self.data_label = ElidedLabel(), ElidedLabel()
        self.busy_label, self.notice_label = QLabel(), ElidedLabel()
        self.notice_label.setStyleSheet("color: #225;")
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_label.clear)
        self.addWidget(self.model_label)
        self.addWidget(self.notice_label, 1)  # the room left over; every label ends in '…' only when short of it
        self.addPermanentWidget(self.busy_label)
        self.addPermanentWidget(self.data_label)
        session.model_changed.connect(lambda _m: self._switched())
        session.data_changed.connect(lambda _x: self._switched())
        session.busy_changed.connect(lambda _b: self.update_texts())
        session.model_saved.connect(lambda _p: self.update_texts())
        self.update_texts()

    def model_description(self) -> str:
        model = self.session.model
        if model is None:
            return "No model"
        where = self.session.model_path.name if self.session.model_path else "not saved"
        text = f"{model.config.describe()} · {model.step:,} steps trained · {where}"
        # a run trains its own model (Training tab): this one stays current until the run ends
        return f"Training a run (Training tab); current until it ends: {text}" if self.session.training else text

    def update_texts(self) -> None:
        s = self.session
        self.model_label.setText(self.model_description())
        self.data_label.setText(f"Data: {s.data_message}" if s.X is not None
                                else f"No data ({s.data_message}): {NO_DATA_HELP}")
        self.busy_label.setText("training paused" if s.training_paused else "training…" if s.training else "")

    def _switched(self) -> None:
        """A notice was about the previous model or data set: it goes."""
        self.notice_label.clear()
        self.update_texts()

    def notify(self, text: str, seconds: float = 8.0) -> None:
        """A passing message (next to the model description, never over it)."""
        self.notice_label.setText(f" — {text}")
        self._notice_timer.start(int(seconds * 1000))
