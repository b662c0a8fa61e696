"""The mouse wheel changes a spin box or a combo box only when that field has the keyboard focus.

Scrolling a long form (the Training tab's) passes the pointer over many fields; Qt's default lets each of
them take the wheel (and the focus) on the way, so values change unnoticed (Steps went from 10 000 to 1).
One event filter on the application applies the rule to every spin box and combo box of the program,
present and future: they get ``Qt.StrongFocus`` (a wheel no longer gives them the focus) and a wheel over
one without focus scrolls the nearest scroll area instead.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)


class WheelGuard(QObject):
    """Application event filter; ``install()`` puts one on the running QApplication (once)."""

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, GUARDED):
            obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # click or Tab gives the focus; the wheel does not
        elif kind == QEvent.Type.Wheel and isinstance(obj, GUARDED) and not obj.hasFocus():
            scroll = _scroll_area_of(obj)
            if scroll is not None:
                QApplication.sendEvent(scroll.viewport(), event)
            return True
        return False


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


_GUARD: WheelGuard | None = None


def install() -> WheelGuard:
    """Install the guard on the QApplication (idempotent)."""
    global _GUARD
    if _GUARD is None:
        _GUARD = WheelGuard(QApplication.instance())
        QApplication.instance().installEventFilter(_GUARD)
    return _GUARD
