"""Model and data files for the main window: open, save, import, load data (with the start-up
download), each in a background job; on failure nothing changes and a dialog says why.

``FileActions(window)`` needs from the window only ``session``, ``settings``, ``show_error`` and
``notify``. Folders of the last file dialogs are remembered in the settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QProgressDialog

from core.checkpoint import import_legacy, load_model, save_record
from core.data import PROJECT_ROOT, DataError, DownloadIntegrityError, ensure_data, find_data
from core.dataset import Dataset, frey_dataset
from core.dataset_io import open_dataset, split_spec
from core.models import Model, ModelConfig
from vae_gui import closing
from vae_gui.data_dialog import DataSetDialog, apply_dataset
from vae_gui.state import NO_DATA_HELP
from vae_gui.workers import Job, error_text, start_job

MODEL_DIR = PROJECT_ROOT / "model"
# The Gaussian learned-variance VAE opens first: its samples are visibly different faces, while the
# Bernoulli VAE (model/vae.npz) decodes almost every z to one average face (docs/RESULTS.md).
DEFAULT_MODEL = MODEL_DIR / "vae_gauss.npz"
LEGACY_KINDS = ["AE (Wi, Wm, Wd, Wo, Bi, Bm, Bd, Bo)", "VAE (Wi, Wm, Wv, Wd, Wo, Bi, Bm, Bv, Bd, Bo)"]


def shipped_models() -> list[Path]:
    """Every model file shipped in model/ (sorted by name)."""
    return sorted(MODEL_DIR.glob("*.npz")) if MODEL_DIR.is_dir() else []


def fresh_default_model() -> Model:
    """The fallback when no model file can be had: an untrained VAE 560-256-16."""
    return Model(ModelConfig(kind="vae", hidden=[256], latent=16), seed=0)


def download_and_load(progress=None, cancelled=None, path=None) -> tuple[Dataset, Path]:
    """Find (or download, reporting bytes) and load the Frey faces; runs in a job."""

    def on_bytes(done: int, total: int | None) -> None:
        if cancelled is not None and cancelled():
            raise DataError("download cancelled")
        if progress is not None:
            progress(done, total if total is not None else -1, "downloading the Frey faces")

    found = ensure_data(path, allow_download=True, progress=on_bytes)
    return frey_dataset(found), found


class FileActions(QObject):
    """Open/save/import models and load data for one window."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session, self.settings = window.session, window.settings
        self.jobs: list[Job] = []
        self.progress_dialog: QProgressDialog | None = None

    # ------------------------------------------------------------------ helpers
    def _run(self, fn, *args, on_result=None, error_title="Error", **kwargs) -> Job:
        job = start_job(fn, *args, on_result=on_result,
                        on_error=lambda message, _exc: self.window.show_error(error_title, message),
                        on_finished=lambda: self.jobs.remove(job) if job in self.jobs else None, **kwargs)
        self.jobs.append(job)
        return job

    def _refuse_while_training(self, what: str) -> bool:
        if self.session.training:
            self.window.show_error(what, "A training run is going: stop it first (its result would replace this).")
            return True
        return False

    def folder(self, key: str, fallback: Path) -> str:
        """The folder of the last file chosen for ``key`` (or ``fallback``)."""
        last = self.settings.value(f"last_dir/{key}")
        return str(last) if last and Path(str(last)).is_dir() else str(fallback)

    def remember(self, key: str, path: str | os.PathLike) -> None:
        self.settings.setValue(f"last_dir/{key}", str(Path(path).expanduser().parent))

    # ------------------------------------------------------------------ models
    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", self.folder("model", MODEL_DIR),
                                              "VAE Explorer models (*.npz);;All files (*)")
        if path:
            self.open_model_path(path, ask=True)

    def open_model_path(self, path: str | os.PathLike, ask: bool = False) -> Job | None:
        """Load a model file in a job; on success it becomes the current model. ``ask`` (the user's own
        opens: dialog, menu, drop) asks about unsaved trained weights first (closing.confirm_replace)."""
        if self._refuse_while_training("Open model") or (ask and not closing.confirm_replace(self.window,
                                                                                             "Open model")):
            return None
        path = Path(path).expanduser().absolute()  # the notice names the file where it is

        def done(loaded) -> None:
            dataset, warnings = self.session.dataset, []
            if dataset is not None:
                try:  # another pixel count, or the same in another H×W: refused (core's one rule)
                    warnings = loaded.check_data(dataset)
                except DataError as exc:  # the current model and data stay
                    self.window.show_error("Could not open the model", f"{path}: {exc}. Open a data set it can "
                                           "read first (File ▸ Open data set…).")
                    return
            self.session.set_record(loaded, path)
            self.settings.setValue("last_model", str(path))
            self.remember("model", path)
            self.window.notify("; ".join([f"Opened {path}"] + [f"warning: {line}" for line in warnings]),
                               20 if warnings else 8)

        return self._run(load_model, path, on_result=done, error_title="Could not open the model")

    def save_model_dialog(self) -> None:
        if self.session.model is None:
            self.window.show_error("Save model", "There is no model to save.")
            return
        name = self.session.model_path.name if self.session.model_path else "my_model.npz"
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model as",
                                              str(Path(self.folder("model", MODEL_DIR)) / name),
                                              "VAE Explorer models (*.npz)")
        if path:
            self.save_model_path(path)

    def save_model_path(self, path: str | os.PathLike) -> bool:
        """Write the current model (optimiser state, training settings, loss history); True on success."""
        path = Path(path).expanduser().absolute()  # the notice names the file where it is
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        session = self.session
        if session.model is None:
            self.window.show_error("Save model", "There is no model to save.")
            return False
        try:
            save_record(path, session.record)
        except Exception as exc:  # noqa: BLE001 - disk full, permissions, non-finite weights…
            self.window.show_error("Could not save the model", error_text(exc))
            return False
        session.saved(path)
        self.settings.setValue("last_model", str(path))
        self.remember("model", path)
        self.window.notify(f"Saved {path}")
        return True

    def import_legacy_dialog(self) -> None:
        if self._refuse_while_training("Import legacy pickle"):
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import legacy pickle",
                                              self.folder("legacy", PROJECT_ROOT),
                                              "Pickles (*.pkl *.pickle);;All files (*)")
        if path:
            self.import_legacy_asking_kind(path)

    def import_legacy_asking_kind(self, path: str | os.PathLike) -> None:
        kind, ok = QInputDialog.getItem(self.window, "Import legacy pickle", "The pickle holds the weights of an:",
                                        LEGACY_KINDS, 0, False)
        if ok:
            self.import_legacy_path(path, "vae" if kind.startswith("VAE") else "ae", ask=True)

    def import_legacy_path(self, path: str | os.PathLike, kind: str = "ae", ask: bool = False) -> Job | None:
        """Convert an assignment pickle in a job (restricted unpickler: nothing is run)."""
        if self._refuse_while_training("Import legacy pickle") or (ask and not closing.confirm_replace(
                self.window, "Import legacy pickle")):
            return None
        self.remember("legacy", path)

        def done(model) -> None:
            self.session.set_model(model, None, None)
            self.window.notify(f"Imported {path} as {model.config.describe()} (save it as .npz to keep it)")

        return self._run(import_legacy, Path(path).expanduser(), kind, on_result=done,
                         error_title="Could not import the pickle")

    # ------------------------------------------------------------------ data
    def open_frey(self) -> Job | None:
        """File ▸ Frey faces (default): the Frey faces from data/ (or $VAE_DATA), downloaded if missing."""
        target = find_data(None)
        if target.exists():
            return self.load_data_path(target)
        if self._refuse_while_training("Load data"):
            return None
        return self._download()

    def open_dataset_dialog(self, spec: str | os.PathLike | None = None, image_shape: str = "") -> DataSetDialog | None:
        """File ▸ Open data set…: the preview dialog (vae_gui/data_dialog.py), window-modal but not blocking;
        with ``spec`` it previews that at once. Accepting makes the previewed data set the current one."""
        if self._refuse_while_training("Open data set"):
            return None
        dialog = DataSetDialog(self.session, self.folder("data", PROJECT_ROOT), self.window)
        self.data_dialog = dialog
        dialog.accepted.connect(lambda: self._use_dataset(dialog))
        dialog.finished.connect(lambda _result: dialog.deleteLater())
        dialog.open()
        if spec:
            dialog.set_source(spec, image_shape)
        return dialog

    def _use_dataset(self, dialog: DataSetDialog) -> None:
        if dialog.dataset is not None:
            self.use_dataset(dialog.dataset, dialog.source(), ask=False)  # the preview has said what happens

    def use_dataset(self, dataset: Dataset, source: str, ask: bool = True) -> bool:
        """Every data set that is read ends here (vae_gui.data_dialog.apply_dataset: it offers to replace a
        model that cannot read it); True when it became the current one."""
        if not apply_dataset(self.window, dataset, source, ask=ask):
            return False
        self.settings.setValue("data_path", source)
        self.remember("data", split_spec(source)[0])
        return True

    def load_data_path(self, path: str | os.PathLike) -> Job | None:
        """Read a data set (any spec core.dataset_io.open_dataset takes; a .mat is Frey's file) in a job, then
        use it (``use_dataset``)."""
        if self._refuse_while_training("Load data"):
            return None
        spec = str(Path(path).expanduser())
        return self._run(open_dataset, spec, None, allow_download=False,
                         on_result=lambda dataset: self.use_dataset(dataset, spec),
                         error_title="Could not load the data")

    def load_initial_data(self, path: str | os.PathLike | None = None, allow_download: bool = True) -> None:
        """At start-up: the given path, else the remembered one, else data/ (downloaded with a
        progress dialog if missing). Without data the program still runs and says how to get it."""
        if path:
            self.load_data_path(path)
            return
        remembered = self.settings.value("data_path")
        if remembered and split_spec(str(remembered))[0].exists():
            self.load_data_path(str(remembered))
            return
        target = find_data(None)
        if target.exists():
            self.load_data_path(target)
        elif not allow_download or os.environ.get("VAE_DATA"):
            self.session.set_data(None, message=f"{target} not found")
        else:
            self._download()

    def _download(self) -> Job:
        dialog = QProgressDialog("Downloading the Frey faces (1 MB)…", "Cancel", 0, 0, self.window)
        dialog.setWindowTitle("Frey faces")
        dialog.setMinimumDuration(300)
        self.progress_dialog = dialog

        def on_progress(report) -> None:
            done, total, _text = report
            if total > 0:
                dialog.setMaximum(total)
                dialog.setValue(done)

        def done(result) -> None:
            dialog.close()
            dataset, path = result
            self.use_dataset(dataset, str(path))

        job = self._run(_download_job, on_result=done, with_control=True, on_yield=on_progress)
        job.errored.disconnect()
        job.errored.connect(lambda message, exc: self._download_failed(dialog, message, exc))
        dialog.canceled.connect(job.cancel)
        return job

    def _download_failed(self, dialog: QProgressDialog, message: str, exc) -> None:
        dialog.close()
        self.session.set_data(None, message=f"could not get the data: {message}")
        self.window.notify(f"No data: {message}", 15)
        # Being offline is said in the status bar and the panels; a download that arrived
        # damaged or with the wrong checksum (and was deleted) deserves a dialog.
        if isinstance(exc, DownloadIntegrityError):
            self.window.show_error("Could not get the Frey faces",
                                   f"{message}\n\nThe program runs on without data: sampling and the latent grid "
                                   f"work from the model alone. To use the data, {NO_DATA_HELP}.")

    def load_initial_model(self, weights: str | os.PathLike | None = None, remembered: bool = True) -> None:
        """At start-up: the given file, else the last model opened, else model/vae_gauss.npz, else a
        fresh VAE 256/16 (the status bar says which). A bad file shows a dialog and falls back."""
        last = self.settings.value("last_model") if remembered else None
        candidates = [Path(p) for p in (weights, str(last) if last else None, DEFAULT_MODEL) if p]
        for path in candidates:
            if path != Path(weights or "") and not path.is_file():
                continue
            try:
                loaded = load_model(path)
            except Exception as exc:  # noqa: BLE001 - the window must open anyway
                QTimer.singleShot(0, lambda e=exc: self.window.show_error("Could not open the model", error_text(e)))
                continue
            self.session.set_record(loaded, path)
            return
        self.session.set_model(fresh_default_model())
        self.window.notify(f"No shipped model at {DEFAULT_MODEL}: using a freshly initialised, untrained VAE "
                           "256/16", 20)

    # ------------------------------------------------------------------ drag and drop
    def open_dropped(self, path: Path) -> None:
        """A file dropped on the window: data, a legacy pickle or a model file."""
        if path.suffix.lower() == ".mat":
            self.load_data_path(path)
        elif path.suffix.lower() in (".pkl", ".pickle"):
            self.import_legacy_asking_kind(path)
        else:
            self.open_model_path(path, ask=True)


def _download_job(*, control) -> tuple[Dataset, Path]:
    return download_and_load(progress=lambda d, t, text: control.report((d, t, text)),
                             cancelled=control.stop_requested)

