"""The main window as a whole: the mouse wheel over forms, the window's size on small screens, paths."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QApplication
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.models import Model, ModelConfig
from vae_gui.app import MainWindow, make_settings
from vae_gui.state import Session


@pytest.fixture
def window(qtbot, tmp_path):
    session = Session()
    session.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4), seed=0))
    win = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    return win


def wheel(widget, notches: int = -1) -> None:
    """One wheel turn over the middle of ``widget`` (down for negative notches), as the window system sends it."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_field_of_the_training_form_changes_nothing(qtbot, window):
    window.resize(1024, 600)
    window.show()
    qtbot.waitExposed(window)
    form = window.panel("training").form
    steps, optimizer = form.steps_spin, form.optimizer_combo
    window.panel("training").start_button.setFocus()
    before = (steps.value(), optimizer.currentIndex())
    for field in (steps, optimizer):
        assert field.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel does not give it the focus
        wheel(field, -3)
    assert (steps.value(), optimizer.currentIndex()) == before
    steps.setFocus()  # clicked or tabbed into: now the wheel is the user's way to change it
    qtbot.waitUntil(steps.hasFocus)
    wheel(steps, -1)
    assert steps.value() < before[0]
