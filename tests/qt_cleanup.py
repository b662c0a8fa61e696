"""A fixture shared by the GUI test modules (import it into a module to make it autouse there)."""

from __future__ import annotations

import gc

import pytest
from PyQt6.QtCore import QCoreApplication, QEvent
from PyQt6.QtWidgets import QApplication


@pytest.fixture(autouse=True)
def delete_widgets_after_test():
    """Delete every widget the test made, now and in one go: left to Python's garbage collector,
    pyqtgraph items can be freed in the middle of a later test's paint event (a crash)."""
    yield
    delete_all_widgets()


def delete_all_widgets() -> None:
    """End every background job (as closing the window does), then close and delete every top-level widget at
    once and collect what Python still holds of them: a job's thread outliving its panel crashed the suite."""
    from vae_gui.workers import drain

    drain(10_000)
    for widget in QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()
