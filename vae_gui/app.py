"""The VAE Explorer main window: menus, toolbar, status bar, one tab per panel.

``run_gui`` opens the window (``python main.py``); ``take_screenshots`` drives the real window
offscreen and writes one PNG per panel plus the whole window (``python main.py screenshots DIR``).
Every error reaches the user through ``MainWindow.show_error`` (one place, so tests can capture it).
Models and data are loaded in worker threads; settings live in QSettings ("VAE Explorer"), or in
the ini file named by $VAE_EXPLORER_SETTINGS (tests use that so they never touch the user's).
"""

from __future__ import annotations

import csv
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QByteArray, QSettings, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QTabWidget,
    QWidget,
)

from core.checkpoint import import_legacy, load_model, save_model
from core.data import PROJECT_ROOT, DataError, DownloadIntegrityError, ensure_data, find_data, load_frey
from core.models import Model, ModelConfig
from core.optim import optimizer_from_state
from vae_gui import workers
from vae_gui.state import AppState

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

ORG_NAME = APP_NAME = "VAE Explorer"
SETTINGS_ENV = "VAE_EXPLORER_SETTINGS"
MODEL_DIR = PROJECT_ROOT / "model"
# The Gaussian learned-variance VAE opens first: its samples are visibly different faces, while the
# Bernoulli VAE (model/vae.npz) decodes almost every z to one average face (docs/RESULTS.md).
DEFAULT_MODEL = MODEL_DIR / "vae_gauss.npz"
NO_DATA_HINT = "use File ▸ Load data… to point at frey_rawface.mat (or start with --data PATH / set VAE_DATA)"

# (tab title, module in vae_gui.panels, class, screenshot file stem)
PANELS = [
    ("Training", "training", "TrainingPanel", "training"),
    ("Reconstruction", "reconstruction", "ReconstructionPanel", "reconstruction"),
    ("Sampling", "sampling", "SamplingPanel", "sampling"),
    ("Latent grid", "latent_grid", "LatentGridPanel", "latent_grid"),
    ("Latent map", "latent_map", "LatentMapPanel", "latent_map"),
    ("Gradcheck", "gradcheck", "GradcheckPanel", "gradcheck"),
]


def make_settings(path: str | os.PathLike | None = None) -> QSettings:
    """The program's settings: an ini file at ``path`` or $VAE_EXPLORER_SETTINGS, else the user's."""
    path = path or os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORG_NAME, APP_NAME)


def shipped_models() -> list[Path]:
    """Every model file shipped in model/ (sorted by name)."""
    return sorted(MODEL_DIR.glob("*.npz")) if MODEL_DIR.is_dir() else []


def fresh_default_model() -> Model:
    """The fallback when no model file can be had: an untrained VAE 560-256-16."""
    return Model(ModelConfig(kind="vae", hidden=[256], latent=16), seed=0)


def _download_and_load(progress=None, cancelled=None, path=None) -> tuple[np.ndarray, Path]:
    """Find (or download, reporting bytes) and load the Frey faces; runs in a worker thread."""

    def on_bytes(done: int, total: int | None) -> None:
        if cancelled is not None and cancelled():
            raise DataError("download cancelled")
        if progress is not None:
            progress(done, total if total is not None else -1, "downloading the Frey faces")

    found = ensure_data(path, allow_download=True, progress=on_bytes)
    return load_frey(found), found


class MainWindow(QMainWindow):
    """Tabs over one shared AppState, with file handling in the menus."""

    def __init__(self, state: AppState | None = None, settings: QSettings | None = None):
        super().__init__()
        self.state = state or AppState()
        self.settings = settings if settings is not None else make_settings()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.panels: dict[str, QWidget] = {}
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        for title, module, cls, stem in PANELS:
            panel = getattr(importlib.import_module(f"vae_gui.panels.{module}"), cls)(self.state)
            self.panels[stem] = panel
            self.tabs.addTab(panel, title)
        self._jobs: list[workers.Job] = []
        self._progress_dialog: QProgressDialog | None = None
        self._build_actions()
        self._build_status_bar()
        self.state.error_raised.connect(self.show_error)
        self.state.model_changed.connect(lambda _m: self._update_status())
        self.state.data_changed.connect(lambda _x: self._update_status())
        self.state.busy_changed.connect(self._busy_changed)
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        self._update_status()

    # ------------------------------------------------------------------ building
    def _build_actions(self) -> None:
        def action(text, slot, shortcut=None, tip=""):
            a = QAction(text, self)
            a.triggered.connect(lambda _checked=False: slot())
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.setToolTip(tip or text)
            return a

        self.open_action = action("Open model…", self.open_model_dialog, "Ctrl+O", "Open a VAE Explorer model (.npz)")
        self.save_action = action("Save model as…", self.save_model_dialog, "Ctrl+S",
                                  "Save the current model (and its optimiser state) as .npz")
        self.import_action = action("Import legacy pickle…", self.import_legacy_dialog,
                                    tip="Convert an assignment weights pickle (AE or VAE layout); no code is run")
        self.data_action = action("Load data…", self.load_data_dialog, tip="Load frey_rawface.mat")
        self.export_png_action = action("Export view as PNG…", self.export_png_dialog, "Ctrl+E",
                                        "Save a picture of the current tab")
        self.export_csv_action = action("Export loss curves as CSV…", self.export_csv_dialog,
                                        tip="Save the training curves (per logged step) as CSV")
        self.quit_action = action("Quit", self.close, "Ctrl+Q")

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        self.shipped_menu = file_menu.addMenu("Shipped models")
        self.shipped_menu.aboutToShow.connect(self._fill_shipped_menu)
        self._fill_shipped_menu()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.import_action)
        file_menu.addSeparator()
        file_menu.addAction(self.data_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_png_action)
        file_menu.addAction(self.export_csv_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        for a in (self.open_action, self.save_action, self.data_action, self.export_png_action):
            toolbar.addAction(a)

    def _fill_shipped_menu(self) -> None:
        self.shipped_menu.clear()
        files = shipped_models()
        for path in files:
            a = self.shipped_menu.addAction(path.name)
            a.triggered.connect(lambda _checked=False, p=path: self.open_model_path(p))
        if not files:
            a = self.shipped_menu.addAction(f"(no .npz files in {MODEL_DIR})")
            a.setEnabled(False)

    def _build_status_bar(self) -> None:
        self.model_label = QLabel()
        self.data_label = QLabel()
        self.busy_label = QLabel()
        self.notice_label = QLabel()
        self.notice_label.setStyleSheet("color: #225;")
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_label.clear)
        bar = self.statusBar()
        bar.addWidget(self.model_label)
        bar.addWidget(self.notice_label, 1)
        bar.addPermanentWidget(self.busy_label)
        bar.addPermanentWidget(self.data_label)

    # ------------------------------------------------------------------ status
    def model_description(self) -> str:
        model = self.state.model
        if model is None:
            return "No model"
        where = self.state.model_path.name if self.state.model_path else "not saved"
        return f"{model.config.describe()} · {model.step:,} steps trained · {where}"

    def _update_status(self) -> None:
        self.model_label.setText(self.model_description())
        if self.state.X is None:
            self.data_label.setText(f"No data ({self.state.data_message}): {NO_DATA_HINT}")
        else:
            self.data_label.setText(f"Data: {self.state.data_message}")

    def _busy_changed(self, busy: bool) -> None:
        self.busy_label.setText("training…" if busy else "")
        for a in (self.open_action, self.import_action, self.data_action):
            a.setEnabled(not busy)
        self.shipped_menu.setEnabled(not busy)

    def notify(self, text: str, seconds: float = 8.0) -> None:
        """A passing message in the status bar (next to the model description, never over it)."""
        self.notice_label.setText(f" — {text}")
        self._notice_timer.start(int(seconds * 1000))

    def show_error(self, title: str, text: str) -> None:
        """Every error dialog goes through here (tests monkeypatch it or QMessageBox.critical)."""
        QMessageBox.critical(self, title, text)

    # ------------------------------------------------------------------ background jobs
    def _run(self, fn, *args, on_result=None, error_title="Error", **kwargs) -> workers.Job:
        def on_error(message, _exc):
            self.show_error(error_title, message)

        job = workers.run_in_thread(fn, *args, on_result=on_result, on_error=on_error,
                                    on_ended=lambda: self._jobs.remove(job) if job in self._jobs else None, **kwargs)
        self._jobs.append(job)
        return job

    def busy_jobs(self) -> int:
        """Loading jobs still running (for tests and screenshots)."""
        return len(self._jobs)

    def _refuse_while_training(self, what: str) -> bool:
        if self.state.training:
            self.show_error(what, "A training run is going: stop it first (its result would replace this).")
            return True
        return False

    # ------------------------------------------------------------------ models
    def open_model_dialog(self) -> None:
        start = str(self.settings.value("last_model", str(MODEL_DIR)) or MODEL_DIR)
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start, "VAE Explorer models (*.npz);;All files (*)")
        if path:
            self.open_model_path(path)

    def open_model_path(self, path: str | os.PathLike) -> workers.Job | None:
        """Load a model file in a worker; on success it becomes the current model, on failure
        nothing changes and a dialog says why."""
        if self._refuse_while_training("Open model"):
            return None
        path = Path(path)

        def done(loaded) -> None:
            self.state.set_model(loaded.model, path, loaded.optimizer_state)
            self.settings.setValue("last_model", str(path))
            self.notify(f"Opened {path}")

        return self._run(load_model, path, on_result=done, error_title="Could not open the model")

    def save_model_dialog(self) -> None:
        if self.state.model is None:
            self.show_error("Save model", "There is no model to save.")
            return
        start = str(self.state.model_path or MODEL_DIR / "my_model.npz")
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", start, "VAE Explorer models (*.npz)")
        if path:
            self.save_model_path(path)

    def save_model_path(self, path: str | os.PathLike) -> bool:
        """Write the current model (with its optimiser state when known); True on success."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        model = self.state.model
        if model is None:
            self.show_error("Save model", "There is no model to save.")
            return False
        try:
            optimizer = optimizer_from_state(model, self.state.optimizer_state) if self.state.optimizer_state else None
            save_model(path, model, optimizer)
        except Exception as exc:  # noqa: BLE001 - disk full, permissions, non-finite weights…
            self.show_error("Could not save the model", workers.error_text(exc))
            return False
        self.state.model_path = path
        self.settings.setValue("last_model", str(path))
        self._update_status()
        self.notify(f"Saved {path}")
        return True

    def import_legacy_dialog(self) -> None:
        if self._refuse_while_training("Import legacy pickle"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import legacy pickle", str(PROJECT_ROOT),
                                              "Pickles (*.pkl *.pickle);;All files (*)")
        if not path:
            return
        kind, ok = QInputDialog.getItem(self, "Import legacy pickle", "The pickle holds the weights of an:",
                                        ["AE (Wi, Wm, Wd, Wo, Bi, Bm, Bd, Bo)",
                                         "VAE (Wi, Wm, Wv, Wd, Wo, Bi, Bm, Bv, Bd, Bo)"], 0, False)
        if ok:
            self.import_legacy_path(path, "vae" if kind.startswith("VAE") else "ae")

    def import_legacy_path(self, path: str | os.PathLike, kind: str = "ae") -> workers.Job | None:
        """Convert an assignment pickle in a worker (restricted unpickler: nothing is run)."""
        if self._refuse_while_training("Import legacy pickle"):
            return None

        def done(model) -> None:
            self.state.set_model(model, None, None)
            self.notify(f"Imported {path} as {model.config.describe()} (save it as .npz to keep it)")

        return self._run(import_legacy, Path(path), kind, on_result=done, error_title="Could not import the pickle")

    # ------------------------------------------------------------------ data
    def load_data_dialog(self) -> None:
        start = str(self.settings.value("data_path", str(find_data(None))) or "")
        path, _ = QFileDialog.getOpenFileName(self, "Load the Frey faces", start, "MATLAB files (*.mat);;All files (*)")
        if path:
            self.load_data_path(path)

    def load_data_path(self, path: str | os.PathLike) -> workers.Job | None:
        if self._refuse_while_training("Load data"):
            return None
        path = Path(path)

        def done(X) -> None:
            self.state.set_data(X, path)
            self.settings.setValue("data_path", str(path))

        return self._run(load_frey, path, on_result=done, error_title="Could not load the data")

    def load_initial_data(self, path: str | os.PathLike | None = None, allow_download: bool = True) -> None:
        """At start-up: the given path, else the remembered one, else data/ (downloaded with a
        progress dialog if missing). Without data the program still runs and says how to get it."""
        if path:
            self.load_data_path(path)
            return
        remembered = self.settings.value("data_path")
        if remembered and Path(str(remembered)).is_file():
            self.load_data_path(str(remembered))
            return
        target = find_data(None)
        if target.exists() or not allow_download or os.environ.get("VAE_DATA"):
            if target.exists():
                self.load_data_path(target)
            else:
                self.state.set_data(None, message=f"{target} not found")
            return
        dialog = QProgressDialog("Downloading the Frey faces (1 MB)…", "Cancel", 0, 0, self)
        dialog.setWindowTitle("Frey faces")
        dialog.setMinimumDuration(300)
        self._progress_dialog = dialog

        def on_progress(done: int, total: int, _text: str) -> None:
            if total > 0:
                dialog.setMaximum(total)
                dialog.setValue(done)

        def done(result) -> None:
            X, found = result
            self.state.set_data(X, found)
            dialog.close()

        def failed(message, exc) -> None:
            dialog.close()
            self.state.set_data(None, message=f"could not get the data: {message}")
            self.notify(f"No data: {message}", 15)
            # Being offline is said in the status bar and the panels; a download that arrived
            # damaged or with the wrong checksum (and was deleted) deserves a dialog.
            if isinstance(exc, DownloadIntegrityError):
                self.show_error("Could not get the Frey faces",
                                f"{message}\n\nThe program runs on without data: sampling and the latent grid work "
                                f"from the model alone. To use the data, {NO_DATA_HINT}.")

        job = workers.run_in_thread(_download_and_load, on_result=done, on_error=failed, on_progress=on_progress,
                                    with_progress=True)
        dialog.canceled.connect(job.cancel)
        self._jobs.append(job)
        job._on_ended = lambda: self._jobs.remove(job) if job in self._jobs else None

    def load_initial_model(self, weights: str | os.PathLike | None = None, remembered: bool = True) -> None:
        """At start-up: the given file, else the last model opened, else model/vae_gauss.npz, else a
        fresh VAE 256/16 (the status bar says which). A bad file shows a dialog and falls back."""
        candidates: list[Path] = []
        if weights:
            candidates.append(Path(weights))
        last = self.settings.value("last_model") if remembered else None
        if last and Path(str(last)).is_file():
            candidates.append(Path(str(last)))
        if DEFAULT_MODEL.is_file():
            candidates.append(DEFAULT_MODEL)
        for path in candidates:
            try:
                loaded = load_model(path)
            except Exception as exc:  # noqa: BLE001 - the window must open anyway
                QTimer.singleShot(0, lambda e=exc: self.show_error("Could not open the model", workers.error_text(e)))
                continue
            self.state.set_model(loaded.model, path, loaded.optimizer_state)
            return
        self.state.set_model(fresh_default_model())
        self.notify(f"No shipped model at {DEFAULT_MODEL}: using a freshly initialised, "
                                     "untrained VAE 256/16", 20)

    # ------------------------------------------------------------------ exports
    def export_png_dialog(self) -> None:
        stem = PANELS[self.tabs.currentIndex()][3]
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", str(Path.home() / f"{stem}.png"),
                                              "PNG images (*.png)")
        if path:
            self.export_png_path(path)

    def export_png_path(self, path: str | os.PathLike) -> bool:
        """Save a picture of the current tab."""
        widget = self.tabs.currentWidget()
        if widget is None or not widget.grab().save(str(path), "PNG"):
            self.show_error("Export view", f"Could not write {path}.")
            return False
        self.notify(f"Saved {path}")
        return True

    def export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export loss curves", str(Path.home() / "loss_curves.csv"),
                                              "CSV files (*.csv)")
        if path:
            self.export_csv_path(path)

    def export_csv_path(self, path: str | os.PathLike) -> int:
        """Write the training curves as CSV (one row per logged step, the test −ELBO where it was
        computed); returns the number of data rows (0 and a dialog when there is nothing)."""
        history = self.panels["training"].loss_history()
        if len(history["step"]) == 0 and len(history["test_step"]) == 0:
            self.show_error("Export loss curves", "There are no loss curves yet: train a model first.")
            return 0
        columns = ["total", "rec", "kl", "total_ema", "rec_ema", "kl_ema"]
        rows: dict[int, dict] = {}
        for i, step in enumerate(history["step"]):
            rows[int(step)] = {c: history[c][i] for c in columns}
        for step, value in zip(history["test_step"], history["test_neg_elbo"], strict=True):
            rows.setdefault(int(step), {})["test_neg_elbo"] = value
        try:
            with open(path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["step", "neg_elbo", "rec", "kl", "neg_elbo_smoothed", "rec_smoothed",
                                 "kl_smoothed", "test_neg_elbo"])
                for step in sorted(rows):
                    r = rows[step]
                    writer.writerow([step, *(_fmt(r.get(c)) for c in columns), _fmt(r.get("test_neg_elbo"))])
        except OSError as exc:
            self.show_error("Export loss curves", f"Could not write {path}: {exc}")
            return 0
        self.notify(f"Saved {len(rows)} rows to {path}")
        return len(rows)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event) -> None:
        if self._dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = self._dropped_path(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if path.suffix.lower() == ".mat":
            self.load_data_path(path)
        elif path.suffix.lower() in (".pkl", ".pickle"):
            kind, ok = QInputDialog.getItem(self, "Import legacy pickle", "The pickle holds the weights of an:",
                                            ["AE", "VAE"], 0, False)
            if ok:
                self.import_legacy_path(path, kind.lower())
        else:
            self.open_model_path(path)

    @staticmethod
    def _dropped_path(mime) -> Path | None:
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                return Path(url.toLocalFile())
        return None

    # ------------------------------------------------------------------ closing
    def shutdown_workers(self) -> None:
        """Stop training and checks and wait for every worker thread (no thread outlives the window)."""
        for panel in self.panels.values():
            shutdown = getattr(panel, "shutdown", None)
            if callable(shutdown):
                shutdown()
        workers.wait_for_all_jobs()

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        self.shutdown_workers()
        event.accept()


def _fmt(value) -> str:
    return "" if value is None else f"{float(value):.6g}"


# ---------------------------------------------------------------------------- entry points
def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName(ORG_NAME)
        app.setApplicationName(APP_NAME)
    return app


def run_gui(data: str | None = None, weights: str | None = None) -> int:
    """Open the main window and run the event loop; the exit code."""
    app = _application()
    window = MainWindow(AppState())
    window.load_initial_model(weights)
    window.show()
    window.load_initial_data(data)
    return app.exec()


def wait_until(condition, timeout_s: float, app: QApplication | None = None) -> bool:
    """Process events until condition() is true (or the timeout); True when it became true."""
    app = app or QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def _settle(app: QApplication, window: MainWindow, seconds: float = 0.4, timeout_s: float = 120.0) -> None:
    """Let queued signals, timers and background jobs (e.g. encoding the data set) finish."""
    wait_until(lambda: not workers._ACTIVE_JOBS and window.busy_jobs() == 0, timeout_s, app)
    wait_until(lambda: False, seconds, app)


def take_screenshots(directory: str | os.PathLike, data: str | None = None, steps: int = 300,
                     log=print) -> int:
    """Open the real window offscreen, bring every panel into a representative state and write
    ``<panel>.png`` for each tab plus ``window.png``. Returns 0 on success, 1 otherwise.

    The state: a ``steps``-step training run of a new model in the Training tab, the shipped
    model back as the current one for the other tabs, a test face selected, the latent grid
    built, a gradient check of a small net done.
    """
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    app = _application()
    with tempfile.TemporaryDirectory(prefix="vae-explorer-shots-") as tmp:
        window = MainWindow(AppState(), settings=make_settings(Path(tmp) / "settings.ini"))
        try:
            return _shoot(app, window, out, data, steps, log)
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()


def _shoot(app: QApplication, window: MainWindow, out: Path, data: str | None, steps: int, log) -> int:
    state = window.state
    window.resize(1500, 950)
    window.load_initial_model(None, remembered=False)
    try:
        path = ensure_data(data, allow_download=True)
        state.set_data(load_frey(path), path)
    except DataError as exc:
        log(f"screenshots: no data ({exc}); the data panels show how to load it")
        state.set_data(None, message=str(exc))
    window.show()
    _settle(app, window)

    training = window.panels["training"]
    early_shots: dict = {}
    if state.X is not None:
        window.tabs.setCurrentWidget(training)
        # A new model's run shows a real learning curve; continuing a shipped model (saved without
        # optimiser state) would show a fresh Adam's first-step jolt instead.
        training.new_radio.setChecked(True)
        training.steps_spin.setValue(int(steps))
        training.eval_spin.setValue(max(10, (int(steps) // 6) // 10 * 10))
        if not training.start_training():
            log("screenshots: training could not start")
            return 1
        if not wait_until(lambda: not training.is_running(), 3600, app):
            training.shutdown()
        _settle(app, window, seconds=0.5)
        # grab the run now: loading the shipped model back starts the Training tab's plots afresh
        early_shots["training"] = training.grab()
        early_shots["window"] = window.grab()
        window.load_initial_model(None, remembered=False)  # the other panels show the shipped model
        _settle(app, window)
        state.select(int(state.test_ids[3]))
    grid = window.panels["latent_grid"]
    if hasattr(grid, "rebuild_grid"):
        grid.rebuild_grid()
    gradcheck = window.panels["gradcheck"]
    gradcheck.run_check()
    wait_until(lambda: not gradcheck.is_running(), 600, app)
    _settle(app, window)

    written = []
    for index, (_title, _module, _cls, stem) in enumerate(PANELS):
        window.tabs.setCurrentIndex(index)
        _settle(app, window, seconds=0.5)
        target = out / f"{stem}.png"
        if early_shots.get(stem, window.tabs.currentWidget().grab()).save(str(target), "PNG"):
            written.append(target)
    window.tabs.setCurrentIndex(0)
    _settle(app, window, seconds=0.3)
    target = out / "window.png"
    if early_shots.get("window", window.grab()).save(str(target), "PNG"):
        written.append(target)
    for path in written:
        log(f"wrote {path}")
    return 0 if len(written) == len(PANELS) + 1 else 1
