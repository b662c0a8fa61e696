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


@pytest.fixture
def small_screen(monkeypatch):
    """Every screen reports a 1024×600 area (a netbook's; offscreen screens are larger)."""
    from PyQt6.QtCore import QRect
    from PyQt6.QtGui import QScreen

    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(0, 0, 1024, 600))


def test_the_window_fits_a_small_screen_and_keeps_the_users_size(qtbot, tmp_path, small_screen):
    settings = tmp_path / "settings.ini"
    first = MainWindow(Session(), settings=make_settings(settings))
    qtbot.addWidget(first)
    assert first.width() <= 1024 and first.height() <= 600 - 32  # the whole window, title bar included
    first.show()
    first.resize(800, 540)  # the user's own size…
    first.close()
    second = MainWindow(Session(), settings=make_settings(settings))  # …is the next window's
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (800, 540)


def test_the_training_form_is_never_wider_than_its_area(qtbot, window):
    window.resize(1024, 600)
    window.show()
    qtbot.waitExposed(window)
    form = window.panel("training").form
    area = form.parentWidget()  # the scroll area's viewport
    qtbot.wait(50)
    assert form.width() <= area.width()
    form.steps_spin.setFocus()  # focus must not slide the form sideways ("odel", "3 (KL weight)")
    qtbot.wait(50)
    assert form.x() == 0
