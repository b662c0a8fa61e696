"""The screenshot harness: ``python main.py screenshots DIR [--size WxH]`` drives the real window and
writes ``<panel>.png`` for each tab plus ``window.png``, printing each file's pixel size.

The state shown: a short training run of a new model in the Training tab, the shipped model back as
the current one for the other tabs, a test face selected, the latent grid built, a gradient check of
a small net done. The window keeps exactly the requested size through every tab (checked).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QBuffer, QIODevice
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import QApplication

from core.data import DataError, ensure_data
from core.dataset import FREY_IMAGE_SHAPE, frey_dataset
from core.dataset_io import open_dataset
from core.safe_io import PNG, atomic_write
from vae_gui import workers
from vae_gui.app import PANELS, MainWindow, application, make_settings, wait_until
from vae_gui.data_dialog import apply_dataset
from vae_gui.state import Session

DEFAULT_SHOT_SIZE = (1366, 768)


def settle(app: QApplication, window: MainWindow, seconds: float = 0.4, timeout_s: float = 120.0) -> None:
    """Let queued signals, timers and background jobs (e.g. encoding the data set) finish."""
    wait_until(lambda: not workers.active_jobs() and window.busy_jobs() == 0, timeout_s, app)
    wait_until(lambda: False, seconds, app)


def take_screenshots(directory: str | os.PathLike, data: str | None = None, steps: int = 300,
                     size: tuple[int, int] = DEFAULT_SHOT_SIZE, log=print,
                     image_shape: tuple[int, int] | None = None, force: bool = False) -> int:
    """Write one PNG per tab and ``window.png`` at window size ``size``; 0 on success, 1 otherwise.
    ``data``/``image_shape``: any data set core.dataset_io.open_dataset reads (default: the Frey faces).
    ``force``: replace regular files that are not PNGs too (see core.safe_io.check_output)."""
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    out = Path(directory).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    app = application()
    with tempfile.TemporaryDirectory(prefix="vae-explorer-shots-") as tmp:
        window = MainWindow(Session(), settings=make_settings(Path(tmp) / "settings.ini"))
        # errors (e.g. a run that diverges on the data given) are logged: a modal box would block the run
        window.session.error_raised.disconnect(window.show_error)
        window.show_error = lambda title, text: log(f"screenshots: {title}: {text}")
        window.session.error_raised.connect(window.show_error)
        try:
            return _shoot(app, window, out, (data, image_shape), steps, tuple(size), log, force)
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()


def _prepare(app: QApplication, window: MainWindow, data: tuple[str | None, tuple[int, int] | None], log) -> None:
    window.files.load_initial_model(None, remembered=False)
    spec, image_shape = data
    try:
        if image_shape is None and (spec is None or Path(spec).suffix.lower() == ".mat"):
            path = ensure_data(spec, allow_download=True)
            window.session.set_data(frey_dataset(path), path)
        else:  # another data set: a shipped model that cannot read it gives way to an untrained one
            apply_dataset(window, open_dataset(spec, image_shape, allow_download=False), str(spec))
    except DataError as exc:
        log(f"screenshots: no data ({exc}); the data panels show how to load it")
        window.session.set_data(None, message=str(exc))
    window.show()
    settle(app, window)


def _train_briefly(app: QApplication, window: MainWindow, steps: int) -> bool:
    """A new model's run (a real learning curve; continuing a shipped model saved without optimiser
    state would show a fresh Adam's first-step jolt instead)."""
    training = window.panel("training")
    window.tabs.setCurrentWidget(training)
    training.form.new_radio.setChecked(True)
    training.form.steps_spin.setValue(int(steps))
    training.form.eval_spin.setValue(max(10, (int(steps) // 6) // 10 * 10))
    if not training.start_training():
        return False
    if not wait_until(lambda: not training.is_running(), 3600, app):
        training.stop_training()
    settle(app, window, seconds=0.5)
    return True


def _shoot(app: QApplication, window: MainWindow, out: Path, data: tuple, steps: int,
           size: tuple[int, int], log, force: bool = False) -> int:
    window.resize(*size)
    _prepare(app, window, data, log)
    session = window.session
    early: dict = {}
    if session.X is not None:
        if not _train_briefly(app, window, steps):
            log("screenshots: training could not start")
            return 1
        early["training"], early["window"] = window.panel("training").grab(), window.grab()
        if session.dataset.image_shape == FREY_IMAGE_SHAPE:  # the other tabs show the shipped model
            window.files.load_initial_model(None, remembered=False)
        settle(app, window)
        session.select(int(session.test_ids[3]))
    gradcheck = window.panel("gradcheck")
    gradcheck.run_check()
    wait_until(lambda: not gradcheck.is_running(), 600, app)
    settle(app, window)
    written, resized = [], []
    for index, cls in enumerate(PANELS):
        stem = cls.stem
        window.tabs.setCurrentIndex(index)
        settle(app, window, seconds=0.5)
        built = getattr(window.tabs.current_panel(), "is_built", None)  # a panel that lays itself out in steps
        if built is not None:
            wait_until(built, 60, app)
            settle(app, window, seconds=0.2)
        if (window.width(), window.height()) != size:
            resized.append(f"{stem}: {window.width()}×{window.height()}")
        written += _save(early.get(stem) or window.tabs.currentWidget().grab(), out / f"{stem}.png", force)
    window.tabs.setCurrentIndex(0)
    settle(app, window, seconds=0.3)
    written += _save(early.get("window") or window.grab(), out / "window.png", force)
    for path in written:
        image = QImage(str(path))
        log(f"wrote {path} ({image.width()}×{image.height()})")
    if resized:
        log(f"screenshots: the window did not keep {size[0]}×{size[1]}: {', '.join(resized)}")
    return 0 if len(written) == len(PANELS) + 1 and not resized else 1


def shot_paths(directory: str | os.PathLike) -> list[Path]:
    """Every file ``take_screenshots`` writes in ``directory``: one PNG per tab, then window.png."""
    out = Path(directory).expanduser()
    return [out / f"{cls.stem}.png" for cls in PANELS] + [out / "window.png"]


def _save(pixmap, target: Path, force: bool = False) -> list[Path]:
    """Write a PNG atomically, only over a PNG (core.safe_io); [] when it cannot be written."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, "PNG"):
        return []
    try:
        atomic_write(target, PNG, lambda f: f.write(bytes(buffer.data())), force=force)
    except (OSError, ValueError) as exc:
        print(f"screenshots: {exc}", file=sys.stderr, flush=True)
        return []
    return [target]
