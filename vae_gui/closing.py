"""Closing the main window: ask about unsaved work, remember the geometry, end every background job.

No thread outlives the window: running jobs are cancelled and a local event loop runs until they
have ended (the window keeps painting meanwhile; a training run stops after its current step and its
weights reach the session first).
"""

from __future__ import annotations

from vae_gui import workers

SHUTDOWN_MS = 60_000  # a stop takes effect after the current step; a huge net's step may take seconds


def confirm_close(window) -> bool:
    """True when the window may close (issue 10's Save / Discard / Cancel prompt goes here)."""
    return True


def close_window(window, event) -> None:
    """The window's closeEvent."""
    if not confirm_close(window):
        event.ignore()
        return
    window.settings.setValue("geometry", window.saveGeometry())
    window.settings.sync()
    for panel in window.panels.values():  # a panel that runs its own thread (Gradcheck, until it uses jobs)
        shutdown = getattr(panel, "shutdown", None)
        if callable(shutdown):
            shutdown()
    workers.drain(SHUTDOWN_MS, detach=False)
    event.accept()
