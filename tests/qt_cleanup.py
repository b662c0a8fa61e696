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
    for widget in QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()
