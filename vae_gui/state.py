"""The state every panel shares: the current model, the data set and the selected image.

Panels never hold their own copy of the model; they listen to ``model_changed`` and read
``state.model``. Only the UI thread changes the state; workers send results back by signals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from core.data import split_indices
from core.models import Model


class AppState(QObject):
    model_changed = pyqtSignal(object)  # the new core.models.Model
    data_changed = pyqtSignal(object)  # np.ndarray (1965, 560) float32, or None when there is no data
    selection_changed = pyqtSignal(int)  # image id 0…1964 chosen in some panel
    busy_changed = pyqtSignal(bool)  # True while a worker trains the current model
    error_raised = pyqtSignal(str, str)  # (title, message): the main window shows it in a dialog

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.model: Model | None = None
        self.model_path: Path | None = None
        self.optimizer_state: dict | None = None  # saved optimiser state of the current model, if any
        self.X: np.ndarray | None = None
        self.data_path: Path | None = None
        self.data_message = "no data loaded"
        self.selected = 0
        self.training = False
        self.train_ids, self.test_ids = split_indices()
        self._test_set = set(self.test_ids.tolist())

    def set_model(self, model: Model, path: Path | None = None, optimizer_state: dict | None = None) -> None:
        self.model = model
        self.model_path = Path(path) if path else None
        self.optimizer_state = optimizer_state
        self.model_changed.emit(model)

    def set_data(self, X: np.ndarray | None, path: Path | None = None, message: str = "") -> None:
        self.X = X
        self.data_path = Path(path) if path else None
        self.data_message = message or (f"{len(X)} faces from {path}" if X is not None else "no data loaded")
        self.data_changed.emit(X)

    def select(self, index: int) -> None:
        self.selected = int(index)
        self.selection_changed.emit(int(index))

    def set_training(self, busy: bool) -> None:
        self.training = busy
        self.busy_changed.emit(busy)

    def report_error(self, title: str, message: str) -> None:
        """Ask the main window to show an error dialog (panels need no window of their own)."""
        self.error_raised.emit(str(title), str(message))

    def split_name(self, index: int) -> str:
        return "test" if int(index) in self._test_set else "train"
