"""Driving the real main window in GUI tests."""

from __future__ import annotations

from core.models import Model, ModelConfig
from vae_gui.app import MainWindow, make_settings
from vae_gui.state import Session


def tiny_run_form(window, steps: int, optimizer: str = "adam", lr: str = "0.001"):
    """Fill the Training tab's form for a short new run (a 16/4 VAE, batch 32, no held-out
    evaluations) and return the panel; the caller starts it."""
    panel = window.panels["training"]
    panel.form.new_radio.setChecked(True)
    panel.form.model_form.hidden_edit.setText("16")
    panel.form.model_form.latent_spin.setValue(4)
    panel.form.batch_spin.setValue(32)
    panel.form.steps_spin.setValue(steps)
    panel.form.eval_spin.setValue(0)
    panel.form.optimizer_combo.setCurrentText(optimizer)
    panel.form.lr_edit.setText(lr)
    return panel


def frey_window(qtbot, tmp_path, frey) -> MainWindow:
    """The real main window, shown, with the Frey faces and a small 16/4 VAE as the current model
    (settings in a file of the test's own)."""
    win = MainWindow(Session(), settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.state.set_data(frey, "frey")
    win.state.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4), seed=0))
    win.show()
    return win
