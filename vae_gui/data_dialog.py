"""File ▸ Open data set…: choose a data file or folder, preview it, and make it the session's data set.

The file is read in a background job (core.dataset_io.open_dataset: .npy, .npz[:NAME], .mat[:VAR], IDX
files, folders of PNG/JPEG). The preview shows the count, the image size, how the values and the layout
were read, the train/test split, warnings (e.g. folder images that were skipped) and the first 32 images
at their own shape. Nothing changes until the user accepts; a file that cannot be read leaves the
current data set as it was and says why in the dialog.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.dataset import Dataset
from core.dataset_io import open_dataset, parse_image_shape, split_spec
from core.errors import DataError
from core.models import Model
from core.record import ModelRecord
from vae_gui import closing
from vae_gui.widgets.faces import FaceGrid
from vae_gui.workers import Job, start_job

N_PREVIEW, PREVIEW_COLS = 32, 8
FORMATS = ("Data sets (*.npy *.npz *.mat *-ubyte *-ubyte.gz *.gz);;All files (*)")
SPEC_TIP = ("A .npy/.npz file ((N, H, W) arrays, or (N, D) with an image size), PATH.npz:NAME to pick an array, "
            "PATH.mat:VAR, an MNIST-style IDX file (*-idx3-ubyte, also .gz) or a folder of PNG/JPEG images.")


def read_with_warnings(spec: str, image_shape: tuple[int, int] | None) -> tuple[Dataset, list[str]]:
    """open_dataset in a job: the data set and the warnings it raised (skipped folder images…)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = open_dataset(spec, image_shape, allow_download=False)
    return dataset, [str(w.message) for w in caught]


def model_conflict(record: ModelRecord | None, dataset: Dataset) -> str:
    """Why the current model cannot read ``dataset`` ('' when it can): core.dataset.check_compatible's rule."""
    if record is None:
        return ""
    try:
        record.check_data(dataset)
    except DataError as exc:
        return str(exc)
    return ""


def ask_replace_model(window, conflict: str, dataset: Dataset) -> bool:
    """The model cannot read the new images: True when the user takes an untrained model for them."""
    h, w = dataset.image_shape
    answer = QMessageBox.question(
        window, "The model does not fit these images",
        f"{conflict[:1].upper()}{conflict[1:]}.\n\nUse {dataset.describe()} with a new, untrained model of the "
        f"same architecture for {h}×{w} images (train it in the Training tab)? Cancel keeps the current model "
        "and data.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


class DataSetDialog(QDialog):
    """Pick a data set, see a preview, accept it. ``dataset`` / ``warnings`` hold what was read;
    ``loaded(dataset)`` is emitted when a preview is ready."""

    loaded = pyqtSignal(object)

    def __init__(self, session, folder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open data set")
        self.session = session
        self.folder = folder
        self.dataset: Dataset | None = None
        self.warnings: list[str] = []
        self.job: Job | None = None
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("file, file.npz:NAME, file.mat:VAR or folder")
        self.path_edit.setToolTip(SPEC_TIP)
        self.file_button, self.folder_button = QPushButton("File…"), QPushButton("Folder…")
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button.clicked.connect(self.choose_folder)
        self.shape_edit = QLineEdit()
        self.shape_edit.setPlaceholderText("HxW (needed for flat (N, D) arrays; resizes folder images)")
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.path_edit.returnPressed.connect(self.preview)
        self.shape_edit.returnPressed.connect(self.preview)
        self.labels = {key: QLabel("") for key in ("count", "shape", "values", "split", "warnings", "model")}
        self.labels["warnings"].setStyleSheet("color: #a05a00")
        self.labels["model"].setStyleSheet("color: #a05a00")
        for label in self.labels.values():
            label.setWordWrap(True)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #c0392b")
        self.error_label.setWordWrap(True)
        self.grid = FaceGrid(pad=1, min_height=160)
        self.grid.show_axes(False)
        self.grid.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Use this data set")
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout()

    def _layout(self) -> None:
        source = QHBoxLayout()
        source.addWidget(self.path_edit, 1)
        source.addWidget(self.file_button)
        source.addWidget(self.folder_button)
        shape = QHBoxLayout()
        shape.addWidget(self.shape_edit, 1)
        shape.addWidget(self.preview_button)
        form = QFormLayout()
        form.addRow("Data", source)
        form.addRow("Image size", shape)
        for key, title in (("count", "Images"), ("shape", "Each image"), ("values", "Read as"), ("split", "Split"),
                           ("warnings", "Warnings")):
            form.addRow(title, self.labels[key])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.labels["model"])  # full width: a wrapped label in a form row gets clipped
        layout.addWidget(self.error_label)
        layout.addWidget(QLabel(f"The first {N_PREVIEW} images:"))
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.buttons)
        self.resize(620, 560)

    # ------------------------------------------------------------------ choosing
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open data set", self.folder, FORMATS)
        if path:
            self.set_source(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of PNG/JPEG images", self.folder)
        if path:
            self.set_source(path)

    def set_source(self, spec: str | os.PathLike, image_shape: str = "") -> Job | None:
        """Put ``spec`` (and optionally an 'HxW') in the fields and preview it."""
        self.path_edit.setText(str(spec))
        if image_shape:
            self.shape_edit.setText(image_shape)
        return self.preview()

    # ------------------------------------------------------------------ reading and preview
    def preview(self) -> Job | None:
        """Read the data set in a background job; the preview fills in when it is read."""
        spec = self.path_edit.text().strip()
        self._clear()
        if not spec:
            self.error_label.setText("Choose a file or a folder first.")
            return None
        try:
            shape = parse_image_shape(self.shape_edit.text()) if self.shape_edit.text().strip() else None
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return None
        if self.job is not None and self.job.is_running():
            self.job.cancel()
        self.error_label.setText(f"Reading {spec}…")
        self.preview_button.setEnabled(False)
        self.job = start_job(read_with_warnings, spec, shape, owner=self, on_result=self._show,
                             on_error=lambda message, _exc: self._failed(message),
                             on_finished=lambda: self.preview_button.setEnabled(True))
        return self.job

    def _clear(self) -> None:
        self.dataset, self.warnings = None, []
        self.ok_button.setEnabled(False)
        for label in self.labels.values():
            label.setText("")
        self.error_label.setText("")
        self.grid.setVisible(False)

    def _failed(self, message: str) -> None:
        self.error_label.setText(f"Could not read this data set: {message}")

    def _show(self, result: tuple[Dataset, list[str]]) -> None:
        dataset, found_warnings = result
        self.dataset, self.warnings = dataset, found_warnings
        h, w = dataset.image_shape
        values = dataset.images[: min(dataset.n, 4096)]
        self.labels["count"].setText(f"{dataset.n:,}  ({dataset.name})")
        self.labels["shape"].setText(f"{h}×{w} pixels (height × width), {dataset.dim} values")
        self.labels["values"].setText(f"{dataset.note}; values now {float(values.min()):.3g}…{float(values.max()):.3g}")
        self.labels["split"].setText(f"{len(dataset.train_ids):,} train, {len(dataset.test_ids):,} test "
                                     "(seeded, 10 % test: the same rule for every data set)")
        self.labels["warnings"].setText("\n".join(found_warnings) or "none")
        conflict = model_conflict(self.session.record, dataset)
        self.labels["model"].setText(
            f"Current model: {conflict}: using this data set replaces it with an untrained model of the same "
            "architecture for these images (train it in the Training tab)." if conflict
            else "The current model can read these images.")
        self.error_label.setText("")
        first = dataset.images[:N_PREVIEW]
        rows = -(-len(first) // PREVIEW_COLS)
        cells = np.ones((rows * PREVIEW_COLS, dataset.dim), dtype=np.float32)  # blank (white) cells after the last
        cells[: len(first)] = first
        self.grid.setVisible(True)
        self.grid.set_grid(cells.reshape(rows, PREVIEW_COLS, dataset.dim), dataset.image_shape)
        self.ok_button.setEnabled(True)
        self.loaded.emit(dataset)

    def source(self) -> str:
        return self.path_edit.text().strip()


def apply_dataset(window, dataset: Dataset, source: str, ask: bool = False) -> bool:
    """Make ``dataset`` the session's data set: the one way data enters the window (Open data set…, Frey
    faces, drops, --data, start-up). A current model that cannot read its images is replaced by an untrained
    model of the same architecture for them — with ``ask``, only when the user says so (the preview dialog
    has said it already) — after asking about unsaved weights: never a model and data that do not fit.
    Returns False (nothing changed) when the user cancels or training is going."""
    session = window.session
    if session.training:
        window.show_error("Open data set", "A training run is going: stop it first (it trains on the current data).")
        return False
    conflict = model_conflict(session.record, dataset)
    if conflict and ask and not ask_replace_model(window, conflict, dataset):
        return False
    if conflict and not closing.confirm_replace(window, "Open data set"):
        return False
    message = f"{dataset.describe()} — {_short(source)}"
    data_path = split_spec(source)[0] if source else None
    if conflict:
        fresh = Model(dataclasses.replace(session.model.config, input_dim=dataset.dim, input_centre=None), seed=0)
        # both in place before either signal: no moment where panels see a model and data of different sizes
        session.replace_model_and_data(ModelRecord(fresh, data=dataset.to_meta()), dataset, data_path, message)
        notice = (f"The model was replaced by an untrained {fresh.config.describe()} for "
                  f"{dataset.image_shape[0]}×{dataset.image_shape[1]} images ({conflict})")
    else:
        warnings = session.record.check_data(dataset) if session.record is not None else []
        notice = "; ".join(f"warning: {line}" for line in warnings)
        session.set_data(dataset, data_path, message=message)
    if notice:  # after the switch, which clears the notices about the previous pair
        window.notify(notice, 20)
    return True


def _short(source: str) -> str:
    path = Path(source)
    return path.name or source
