"""The Models menu of the real main window (pytest-qt, offscreen): every shipped model file with a line
describing it, and choosing one opens it."""

from __future__ import annotations

from helpers.gui import frey_window

from vae_gui.files import shipped_models


def test_models_menu_lists_every_shipped_file_and_opens_one(qtbot, tmp_path, frey):
    window = frey_window(qtbot, tmp_path, frey)
    menu = window.models_menu
    menu.aboutToShow.emit()
    lines = [action.text() for action in menu.actions()]
    shipped = shipped_models()
    assert len(lines) == len(shipped) >= 3
    for path, line in zip(shipped, lines, strict=True):
        assert line.startswith(f"{path.name} — ") and ("VAE 560-" in line or "AE 560-" in line)
    gauss = next(a for a in menu.actions() if a.text().startswith("vae_gauss.npz"))
    assert "Gaussian" in gauss.text() and "560-200-20" in gauss.text()
    gauss.trigger()
    qtbot.waitUntil(lambda: window.session.model_path is not None and window.session.model_path.name
                    == "vae_gauss.npz", timeout=10000)
    assert window.session.model.config.latent == 20
