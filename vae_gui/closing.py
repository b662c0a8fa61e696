"""Closing the main window: ask about unsaved work, remember the geometry, end every background job.

No thread outlives the window: running jobs are cancelled and a local event loop runs until they
have ended (the window keeps painting meanwhile; a training run stops after its current step and its
weights reach the session first).
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QMessageBox

from vae_gui import workers

SHUTDOWN_MS = 60_000  # a stop takes effect after the current step; a huge net's step may take seconds
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def unsaved_work(session) -> str | None:
    """Why closing or replacing the current model would lose work (None: it would not)."""
    if session.training:
        return "A training run is going; its weights have not been saved."
    if session.unsaved and session.model is not None:
        return "The current model has trained weights that were never saved."
    return None


def ask_unsaved(window, title: str, text: str) -> str:
    """Save / Discard / Cancel (Save is the default): SAVE, DISCARD or CANCEL."""
    buttons = QMessageBox.StandardButton
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, buttons.Save | buttons.Discard | buttons.Cancel, window)
    box.setDefaultButton(buttons.Save)
    answer = box.exec()
    return {buttons.Save.value: SAVE, buttons.Discard.value: DISCARD}.get(answer, CANCEL)


def ask_save_path(window) -> str:
    """The file to save the current model to ('' when the user cancels)."""
    session = window.session
    name = session.model_path.name if session.model_path else "my_model.npz"
    start = Path(window.files.folder("model", Path.home())) / name
    path, _ = QFileDialog.getSaveFileName(window, "Save model as", str(start), "VAE Explorer models (*.npz)")
    return path


def save_current(window) -> bool:
    """Ask for a file and save the current model there; False when cancelled or the save failed (a dialog says why)."""
    path = ask_save_path(window)
    return bool(path) and window.files.save_model_path(path)


def confirm_replace(window, what: str) -> bool:
    """Before the current model is replaced (open, import, drop): True to go on. Unsaved trained weights
    are asked about first (Save / Discard / Cancel); Save that does not complete keeps them."""
    reason = unsaved_work(window.session)
    if reason is None or window.session.training:  # a running training refuses the replacement itself
        return True
    answer = ask_unsaved(window, what, f"{reason}\n\nSave them before they are replaced?")
    return answer == DISCARD or (answer == SAVE and save_current(window))


def request_close(window) -> None:
    """File ▸ Quit: a close the user asked for, so unsaved work is asked about (see close_window)."""
    window.user_close_requested = True
    try:
        window.close()
    finally:
        window.user_close_requested = False


def confirm_close(window, event) -> str:
    """SAVE, DISCARD or CANCEL for a close. The user's closes (the window's close button or the
    window system: spontaneous events; File ▸ Quit) ask about unsaved work; a program's own
    ``window.close()`` (tests, the screenshot harness) never blocks on a question."""
    reason = unsaved_work(window.session)
    if reason is None or not (event.spontaneous() or getattr(window, "user_close_requested", False)):
        return DISCARD
    return ask_unsaved(window, "Quit VAE Explorer", f"{reason}\n\nSave the model before quitting?"
                       + ("\n(Save stops the run after its current step.)" if window.session.training else ""))


def close_window(window, event) -> None:
    """The window's closeEvent."""
    decision = confirm_close(window, event)
    if decision == CANCEL:
        event.ignore()
        return
    window.settings.setValue("geometry", window.saveGeometry())
    window.settings.sync()
    for panel in window.panels.values():  # each panel stops its job (vae_gui.panels.base: it never waits)
        panel.shutdown()
    workers.drain(SHUTDOWN_MS, detach=False)  # a training run's weights reach the session here
    if decision == SAVE and not save_current(window):
        event.ignore()  # the weights stay in the open window (the run has stopped)
        return
    event.accept()
