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


def test_a_long_status_notice_ends_in_an_ellipsis_and_keeps_the_data_in_view(qtbot, window):
    window.resize(1024, 600)
    window.show()
    qtbot.waitExposed(window)
    long_notice = "The model was replaced by an untrained VAE 108-256-16 for 12×9 images " * 3
    window.notify(long_notice)
    qtbot.wait(50)
    label, data = window.status.notice_label, window.status.data_label
    assert label.shown_text().endswith("…") and label.toolTip().endswith(long_notice)
    right_edge = data.mapTo(window, data.rect().topRight()).x()
    assert data.isVisible() and right_edge <= window.width()  # the data set's label is not pushed off


def test_f1_lists_each_shortcut_apart_from_its_action(qtbot, window, monkeypatch):
    from PyQt6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "exec", lambda _box: 0)
    window.actions_["shortcuts"].trigger()
    text = window.shortcuts_box.text()
    assert "<td style='padding-right:16px'><b>Ctrl+L</b></td><td>Open data set…</td>" in text
    assert "Ctrl+LOpen" not in text.replace("<b>", "").replace("</b>", "")


def test_export_loss_curves_says_there_are_none_before_asking_for_a_file(qtbot, window, dialogs, monkeypatch):
    from PyQt6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or ("", ""))
    window.exports.csv_dialog()
    assert asked == [] and dialogs and "no loss curves" in dialogs[0][1]


def test_a_model_without_curves_says_why_its_plots_are_empty(qtbot, window):
    window.show()
    plots = window.panel("training").plots
    model = window.session.model
    model.step = 70_000
    window.session.set_model(model, meta={})  # a file with weights only, as the shipped models are
    assert plots.empty_note.isVisible() and "saved with its weights only" in plots.empty_note.text()
    plots.append(1, {"total": 1.0, "rec": 1.0, "kl": 0.0})
    assert not plots.empty_note.isVisible()


def test_the_latent_maps_colour_bar_has_room_for_its_ticks_and_its_title(qtbot, window):
    plot = window.panel("latent_map").atlas.plot
    tick, line = plot.fontMetrics().horizontalAdvance("-1800"), plot.fontMetrics().height()
    assert plot.colour_bar.axis.fixedWidth >= tick + line  # the default 45 px put the title over the ticks


def test_the_training_progress_bar_is_where_its_text_says(window):
    panel = window.panel("training")
    panel._on_log({"step": 1237, "done": 1237, "of": 10_000, "total": 120.0, "rec": 100.0, "kl": 20.0,
                   "steps_per_s": 500.0, "eta_s": 17.5, "threads": 1})
    bar = panel.progress_bar
    assert bar.format() == "1237 / 10000 steps"
    assert bar.value() / bar.maximum() == 1237 / 10_000  # not 1230 (per mille): it lagged its text by ≤ 9 steps


def test_every_tab_has_its_own_ctrl_digit(window):
    keys = [window.actions_[f"tab{i + 1}"].shortcut().toString() for i in range(window.tabs.count())]
    assert keys[:10] == [f"Ctrl+{(i + 1) % 10}" for i in range(min(10, len(keys)))]
    given = [k for k in keys if k]
    assert len(set(given)) == len(given)  # the tenth tab had none ("Ctrl+10" is not a key)


@pytest.mark.parametrize("size,zoom", [((1920, 1080), 2), ((1024, 600), 1)])
def test_the_latent_grid_shows_its_faces_at_the_largest_whole_zoom_that_fits(qtbot, window, size, zoom):
    """15×15 faces: 2× at 1920×1080 (its view came out 0.6 px narrower than the mosaic at 2× and the grid fell
    back to 1×, with its axis running on far below the faces), 1× at 1024×600."""
    window.resize(*size)
    window.show()
    panel = window.panel("latent_grid")
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.grid.grid_shape() == (15, 15) and panel.grid.zoom == zoom, timeout=5000)
    h, w = panel.grid.current_image().shape
    view = panel.grid._plot.getViewBox()
    assert view.width() >= zoom * w and view.height() >= zoom * h
