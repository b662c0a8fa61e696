"""Driving the real main window in GUI tests."""

from __future__ import annotations


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
