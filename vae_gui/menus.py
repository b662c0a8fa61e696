"""The main window's menus and toolbar. Every action has its shortcut shown in its menu; the
Help menu lists them all.

``build_menus(window)`` returns {name: QAction}; it needs ``window.files``, ``window.exports``,
``window.image_import``, ``window.session``, ``window.tabs``, ``window.panel(stem)`` and ``window.close``.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QMessageBox

from vae_gui import closing
from vae_gui.models_menu import add_models_menu


def _action(window, text: str, slot, shortcut: str | None = None, tip: str = "") -> QAction:
    a = QAction(text, window)
    a.triggered.connect(lambda _checked=False: slot())
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    a.setStatusTip(tip)
    a.setToolTip(f"{tip or text} ({shortcut})" if shortcut else (tip or text))
    return a


def build_menus(window) -> dict[str, QAction]:
    files, exports = window.files, window.exports
    a = {
        "open": _action(window, "Open model…", files.open_model_dialog, "Ctrl+O", "Open a VAE Explorer model (.npz)"),
        "save": _action(window, "Save model as…", files.save_model_dialog, "Ctrl+S",
                        "Save the current model with its optimiser state, training settings and loss curves"),
        "import": _action(window, "Import legacy pickle…", files.import_legacy_dialog, "Ctrl+I",
                          "Convert an assignment weights pickle (AE or VAE layout); no code is run"),
        "data": _action(window, "Open data set…", files.open_dataset_dialog, "Ctrl+L",
                        "Any data set, previewed: Frey's .mat, .npy/.npz/.mat arrays, MNIST IDX files or a folder of "
                        "PNG/JPEG (a model that cannot read the images is replaced only if you say so)"),
        "frey": _action(window, "Frey faces (default)", files.open_frey, "Ctrl+Shift+L",
                        "The Frey faces (1965 images of 28×20) from data/ or $VAE_DATA, downloaded if missing"),
        "encode_image": window.image_import.action,
        "export_png": _action(window, "Export view as PNG…", exports.png_dialog, "Ctrl+E",
                              "Save a picture of the current tab"),
        "export_csv": _action(window, "Export loss curves as CSV…", exports.csv_dialog, "Ctrl+Shift+E",
                              "Save the training curves (per logged step) as CSV"),
        "quit": _action(window, "Quit", lambda: closing.request_close(window), "Ctrl+Q"),
        "train": _action(window, "Start / pause / resume training", lambda: window.panel("training").toggle(),
                         "Space", "Start a run with the Training tab's settings, or pause / resume it"),
        "stop": _action(window, "Stop training", lambda: window.panel("training").stop_training(), "Ctrl+.",
                        "End the run after the current step; the weights trained so far are kept"),
        "previous": _action(window, "Previous image", lambda: _step_image(window, -1), "Left",
                            "Select the previous image of the data set"),
        "next": _action(window, "Next image", lambda: _step_image(window, +1), "Right",
                        "Select the next image of the data set"),
        "shortcuts": _action(window, "Keyboard shortcuts", lambda: _show_shortcuts(window), "F1"),
    }
    # arrows belong to sliders and spin boxes when they have the focus: the image steps only when the
    # focus is in the Reconstruction tab (the actions are added to it) or the menu is used
    for name in ("previous", "next"):
        a[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.panel("reconstruction").addAction(a[name])
    _file_menu(window, a)
    bar = window.menuBar()
    training = bar.addMenu("&Training")
    training.addAction(a["train"])
    training.addAction(a["stop"])
    view = bar.addMenu("&View")
    for i in range(window.tabs.count()):
        keys = f"Ctrl+{(i + 1) % 10}" if i < 10 else None  # Ctrl+1 … Ctrl+9, then Ctrl+0 for the tenth tab
        tab = _action(window, window.tabs.tabText(i), lambda i=i: window.tabs.setCurrentIndex(i), keys)
        view.addAction(tab)
        a[f"tab{i + 1}"] = tab
    view.addSeparator()
    view.addAction(a["previous"])
    view.addAction(a["next"])
    add_models_menu(window)  # the shipped model files, a line each (vae_gui/models_menu.py)
    bar.addMenu("&Help").addAction(a["shortcuts"])
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.setMovable(False)
    for name in ("open", "save", "data", "export_png"):
        toolbar.addAction(a[name])
    return a


def _file_menu(window, a: dict[str, QAction]) -> None:
    menu = window.menuBar().addMenu("&File")
    menu.addAction(a["open"])  # the shipped files are in the Models menu (vae_gui/models_menu.py)
    for name in ("save", "import", None, "data", "frey", "encode_image", None, "export_png", "export_csv",
                 None, "quit"):
        menu.addSeparator() if name is None else menu.addAction(a[name])


def _step_image(window, delta: int) -> None:
    session = window.session
    if session.n_images:
        session.select((session.selected + delta) % session.n_images)


def shortcut_lines(window) -> list[str]:
    """'Ctrl+O  Open model…' for every action with a shortcut, in menu order."""
    lines = []
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            if not action.shortcut().isEmpty():
                text = action.text().replace("&", "")
                lines.append(f"{action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)}\t{text}")
    return lines


def _show_shortcuts(window) -> None:
    """A two-column table (a tab in a message box's plain text shows as nothing: "Ctrl+Shift+DOpen…")."""
    rows = "".join(f"<tr><td style='padding-right:16px'><b>{keys}</b></td><td>{text}</td></tr>"
                   for keys, text in (line.split("\t", 1) for line in shortcut_lines(window)))
    box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>",
                      QMessageBox.StandardButton.Ok, window)
    box.setTextFormat(Qt.TextFormat.RichText)
    window.shortcuts_box = box  # for tests
    box.exec()
