"""The VAE Explorer main window: it only assembles — one tab per panel over one shared Session,
the menus (vae_gui/menus.py), file handling (files.py), exports (export.py), the status bar
(status.py) and closing (closing.py). ``run_gui`` opens it (``python main.py``); the screenshot
harness is vae_gui/screenshots.py.

Every error reaches the user through ``MainWindow.show_error`` (one place, so tests can capture it).
Settings live in QSettings ("VAE Explorer"), or in the ini file named by $VAE_EXPLORER_SETTINGS.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PyQt6.QtCore import QByteArray, QEvent, QSettings, QTimer
from PyQt6.QtWidgets import QApplication, QMainWindow, QMessageBox, QScrollArea, QTabWidget, QWidget

from vae_gui import closing
from vae_gui.export import Exports
from vae_gui.files import FileActions
from vae_gui.image_import import ImageImporter
from vae_gui.menus import build_menus
from vae_gui.panels.base import Panel
from vae_gui.panels.gradcheck import GradcheckPanel
from vae_gui.panels.inspector import InspectorPanel
from vae_gui.panels.latent_grid import LatentGridPanel
from vae_gui.panels.latent_map import LatentMapPanel
from vae_gui.panels.reconstruction import ReconstructionPanel
from vae_gui.panels.runs import RunsPanel
from vae_gui.panels.sampling import SamplingPanel
from vae_gui.panels.step import StepPanel
from vae_gui.panels.sweeps import SweepsPanel
from vae_gui.panels.training import TrainingPanel
from vae_gui.state import Session
from vae_gui.status import StatusBar
from vae_gui.widgets import wheel

ORG_NAME = APP_NAME = "VAE Explorer"
SETTINGS_ENV = "VAE_EXPLORER_SETTINGS"
DEFAULT_SIZE = (1280, 760)  # fits a 1366×768 screen; every tab also works at 1024×600
MINIMUM_SIZE = (800, 500)
TITLE_BAR = 32  # px of the window manager's frame above the window, kept free of the screen's height

# The tabs, in order: each class names its tab (``title``) and file stem (``stem``); adding a tab is one line.
PANELS: list[type[Panel]] = [
    TrainingPanel,
    ReconstructionPanel,
    SamplingPanel,
    LatentGridPanel,
    LatentMapPanel,
    GradcheckPanel,
    InspectorPanel,
    StepPanel,
    RunsPanel,
    SweepsPanel,
]


class PanelPage(QScrollArea):
    """A tab page: the panel fills the page, and scrolls when the page is smaller than the panel's
    minimum size (QScrollArea's own resizing would use a word-wrapped layout's *preferred* height)."""

    def __init__(self, panel: QWidget):
        super().__init__()
        self.setWidget(panel)
        self.setWidgetResizable(False)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        panel.installEventFilter(self)

    def _fit(self) -> None:
        panel, viewport = self.widget(), self.viewport().size()
        need = panel.minimumSizeHint().expandedTo(panel.minimumSize())
        size = (max(viewport.width(), need.width()), max(viewport.height(), need.height()))
        if (panel.width(), panel.height()) != size:
            panel.resize(*size)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.LayoutRequest:  # the panel's minimum may have changed
            QTimer.singleShot(0, self._fit)
        return False


class PanelTabs(QTabWidget):
    """Tabs whose pages scroll their panels (PanelPage): a panel that needs more room than the window
    has scrolls inside its tab; the window is never resized by a tab. ``setCurrentWidget`` takes the
    panel or its page."""

    def add_panel(self, panel: QWidget, title: str) -> None:
        self.addTab(PanelPage(panel), title)

    def setCurrentWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt name
        page = widget if self.indexOf(widget) >= 0 else widget.parentWidget().parentWidget()
        super().setCurrentWidget(page)

    def current_panel(self) -> QWidget:
        return self.currentWidget().widget()


def make_settings(path: str | os.PathLike | None = None) -> QSettings:
    """The program's settings: an ini file at ``path`` or $VAE_EXPLORER_SETTINGS, else the user's."""
    path = path or os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORG_NAME, APP_NAME)


class MainWindow(QMainWindow):
    """Tabs over one shared Session, with file handling in the menus."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None):
        super().__init__()
        wheel.install()  # spin and combo boxes take the wheel only when focused
        self.session = self.state = session or Session()  # panels call it 'state'
        self.settings = settings if settings is not None else make_settings()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setMinimumSize(*MINIMUM_SIZE)
        self.panels: dict[str, Panel] = {}  # by stem, in tab order
        self.tabs = PanelTabs()
        self.tabs.setUsesScrollButtons(True)
        self.setCentralWidget(self.tabs)
        for cls in PANELS:
            panel = cls(self.session)
            self.panels[cls.stem] = panel
            self.tabs.add_panel(panel, cls.title)
        self.files = FileActions(self)
        self.session.confirm_replace = lambda what: closing.confirm_replace(self, what)
        self.exports = Exports(self)
        self.image_import = ImageImporter(self.session, self)  # File ▸ Encode an image…; PNG/JPEG drops
        self.installEventFilter(self.image_import)
        self.actions_ = build_menus(self)
        self.status = StatusBar(self.session, self)
        self.setStatusBar(self.status)
        self.session.error_raised.connect(self.show_error)
        self.session.busy_changed.connect(self._busy_changed)
        self.session.show_panel.connect(lambda cls: self.tabs.setCurrentWidget(self.panel(cls)))
        geometry = self.settings.value("geometry")  # the user's own size, saved when the window closed
        if not (isinstance(geometry, QByteArray) and not geometry.isEmpty() and self.restoreGeometry(geometry)):
            self.resize(*DEFAULT_SIZE)
        self.fit_to_screen()

    def fit_to_screen(self) -> None:
        """Shrink (and move) the window into its screen's available area (without the task bar), leaving room
        for the window manager's title bar: a 1024×600 screen shows all of it."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        width = max(min(self.width(), area.width()), self.minimumWidth())
        height = max(min(self.height(), area.height() - TITLE_BAR), self.minimumHeight())
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        if not area.contains(self.geometry()):
            self.move(area.left() + max(0, (area.width() - width) // 2), area.top())

    def panel(self, which: type[Panel] | str) -> Panel:
        """The window's panel of class ``which`` (or with that stem)."""
        return self.panels[which if isinstance(which, str) else which.stem]

    def current_stem(self) -> str:
        return self.tabs.current_panel().stem

    def loss_history(self) -> dict:
        return self.panels["training"].loss_history()

    def _busy_changed(self, busy: bool) -> None:
        for name in ("open", "import", "data", "frey"):
            self.actions_[name].setEnabled(not busy)
        self.models_menu.setEnabled(not busy)  # no other model opens while a run trains

    def notify(self, text: str, seconds: float = 8.0) -> None:
        self.status.notify(text, seconds)

    def show_error(self, title: str, text: str) -> None:
        """Every error dialog goes through here (tests monkeypatch it or QMessageBox.critical)."""
        QMessageBox.critical(self, title, text)

    def busy_jobs(self) -> int:
        """File jobs (loading, downloading) still running (for tests and screenshots)."""
        return len(self.files.jobs)

    # ------------------------------------------------------------------ drag and drop, closing
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        path = dropped_path(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.files.open_dropped(path)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        closing.close_window(self, event)


def dropped_path(mime) -> Path | None:
    """The first local file of a drag, or None."""
    if mime is None or not mime.hasUrls():
        return None
    return next((Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()), None)


# ---------------------------------------------------------------------------- entry points
def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName(ORG_NAME)
        app.setApplicationName(APP_NAME)
    return app


def run_gui(data: str | None = None, weights: str | None = None) -> int:
    """Open the main window and run the event loop; the exit code."""
    app = application()
    window = MainWindow(Session())
    window.files.load_initial_model(weights)
    window.show()
    window.files.load_initial_data(data)
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
