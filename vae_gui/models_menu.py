"""The "Models" menu: every model file shipped in model/, one line each (its architecture and what it is for);
choosing one opens it (asking first when the current model has unsaved training)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QKeySequence

from vae_gui.files import MODEL_DIR, shipped_models

# what each shipped file is for (model/README.md has the recipes and numbers)
PURPOSE = {
    "vae_2d.npz": "2 latent dims: the Frey-face manifold (Kingma & Welling 2013, Fig. 4a) in the Latent grid",
    "vae_gauss.npz": "the default: Gaussian decoder, best test ELBO",
    "vae.npz": "Bernoulli decoder (the assignment's VAE)",
    "ae.npz": "plain auto-encoder (the assignment's layout)",
}
_described: dict[tuple[Path, float], str] = {}  # (file, mtime) -> its line: the menu refills on every opening


def describe(path: Path) -> str:
    """'vae_2d.npz — VAE 560-400-200-2, gaussian-learned, …: <purpose>' from the file's config (read by
    core.checkpoint.load_model, which checks the file; one that cannot be read says so)."""
    from core.checkpoint import load_model

    key = (path, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _described:
        try:
            arch = load_model(path).model.config.describe()
        except (OSError, ValueError) as exc:
            arch = f"cannot be read ({exc})"
        purpose = PURPOSE.get(path.name)
        _described[key] = f"{path.name} — {arch}" + (f": {purpose}" if purpose else "")
    return _described[key]


def add_models_menu(window) -> None:
    """A "&Models" menu in ``window``'s menu bar, refilled each time it opens."""
    menu = window.menuBar().addMenu("&Models")
    window.models_menu = menu
    menu.aboutToShow.connect(lambda: fill_models_menu(window))
    fill_models_menu(window)


def fill_models_menu(window) -> None:
    menu = window.models_menu
    menu.clear()
    for number, path in enumerate(shipped_models(), start=1):
        action = menu.addAction(describe(path))
        action.setStatusTip(f"open {path}")
        if number <= 9:  # every menu action shows a shortcut (the Help menu lists them)
            action.setShortcut(QKeySequence(f"Ctrl+Shift+{number}"))
        action.triggered.connect(lambda _checked=False, p=path: window.files.open_model_path(p, ask=True))
    if not menu.actions():
        menu.addAction(f"(no .npz files in {MODEL_DIR})").setEnabled(False)
