"""The GUI and unsaved or refused work: unsaved trained weights are asked about (Save / Discard / Cancel)
before the window closes or the model is replaced; bombs, devices and wrong-sized models end in a dialog with the
current model kept; exports only replace files of their own kind. Driven through the real MainWindow
(pytest-qt, offscreen). See docs/RELIABILITY.md."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers.gui import frey_window, tiny_run_form
from helpers.reliability import npz_arrays, save_small_model, write_npz
from PyQt6.QtCore import Qt
from qt_cleanup import delete_widgets_after_test  # noqa: F401 - autouse fixture

from core.checkpoint import load_model, save_model
from core.models import Model, ModelConfig
from vae_gui import closing, workers
from vae_gui.app import MainWindow

WAIT_MS = 60_000




@pytest.fixture
def asked(monkeypatch):
    """The Save / Discard / Cancel question, answered by the test: set ``asked.answer`` (and
    ``asked.path`` for the Save dialog); ``asked.calls`` records (title, text)."""

    class Asked:
        answer, path, calls = closing.CANCEL, "", []

    state = Asked()
    state.calls = []

    def ask(_window, title, text):
        state.calls.append((title, text))
        return state.answer

    monkeypatch.setattr(closing, "ask_unsaved", ask)
    monkeypatch.setattr(closing, "ask_save_path", lambda _window: state.path)
    return state


@pytest.fixture
def window(qtbot, tmp_path, frey, dialogs) -> MainWindow:
    return frey_window(qtbot, tmp_path, frey)


def _trained(window, qtbot, steps: int = 30) -> None:
    """A short run through the Training tab: its weights become the current model, unsaved."""
    assert tiny_run_form(window, steps).start_training()
    qtbot.waitUntil(lambda: not window.session.training and window.session.model.step == steps, timeout=WAIT_MS)
    assert window.session.unsaved


def _quit(window) -> None:
    window.actions_["quit"].trigger()


# ----------------------------------------------------------------------------- closing
def test_quit_with_unsaved_weights_cancel_keeps_the_window(window, qtbot, asked):
    _trained(window, qtbot)
    asked.answer = closing.CANCEL
    _quit(window)
    assert window.isVisible() and len(asked.calls) == 1
    assert "never saved" in asked.calls[0][1]


def test_quit_with_unsaved_weights_save_writes_them_then_closes(window, qtbot, asked, tmp_path):
    _trained(window, qtbot)
    asked.answer, asked.path = closing.SAVE, str(tmp_path / "kept.npz")
    _quit(window)
    assert not window.isVisible()
    assert load_model(tmp_path / "kept.npz").model.step == 30


def test_a_cancelled_save_dialog_keeps_the_window_open(window, qtbot, asked):
    _trained(window, qtbot)
    asked.answer, asked.path = closing.SAVE, ""
    _quit(window)
    assert window.isVisible() and window.session.unsaved


def test_quit_discard_closes_without_writing(window, qtbot, asked, tmp_path):
    _trained(window, qtbot)
    asked.answer = closing.DISCARD
    _quit(window)
    assert not window.isVisible()
    assert not list(tmp_path.glob("*.npz"))


def test_nothing_unsaved_means_no_question(window, asked):
    _quit(window)
    assert not window.isVisible() and asked.calls == []


def test_quit_while_training_save_stops_the_run_and_saves_its_weights(window, qtbot, asked, tmp_path):
    panel = tiny_run_form(window, 10_000_000)
    assert panel.start_training()
    qtbot.waitUntil(lambda: panel.plots.series["step"].n >= 3, timeout=WAIT_MS)
    asked.answer, asked.path = closing.SAVE, str(tmp_path / "running.npz")
    _quit(window)
    assert "training run is going" in asked.calls[0][1]
    assert not window.isVisible() and not workers.active_jobs()
    saved = load_model(tmp_path / "running.npz")
    assert saved.model.step >= 30 and np.all(np.isfinite(saved.model.flat))


def test_the_window_systems_close_asks_too(window, qtbot, asked):
    """A spontaneous close event (the window's close button) asks like File ▸ Quit; a program's own
    window.close() (tests, the screenshot harness) does not block on a question."""
    _trained(window, qtbot)

    class Spontaneous:
        accepted = None

        def spontaneous(self):
            return True

        def ignore(self):
            self.accepted = False

        def accept(self):
            self.accepted = True

    event = Spontaneous()
    asked.answer = closing.CANCEL
    closing.close_window(window, event)
    assert event.accepted is False and len(asked.calls) == 1


# ----------------------------------------------------------------------------- replacing the model
def test_opening_a_model_over_unsaved_weights_asks_first(window, qtbot, asked, tmp_path):
    """The user's opens (File ▸ Open, the model menu, a drop: ask=True) ask; a program's own call does not."""
    _trained(window, qtbot)
    trained = window.session.model
    other = save_small_model(tmp_path / "other.npz")
    asked.answer = closing.CANCEL
    assert window.files.open_model_path(other, ask=True) is None
    window.files.open_dropped(other)
    assert window.session.model is trained and len(asked.calls) == 2
    asked.answer = closing.DISCARD
    window.files.open_model_path(other, ask=True)
    qtbot.waitUntil(lambda: window.session.model is not trained, timeout=WAIT_MS)
    assert window.session.model.config.hidden == [8] and not window.session.unsaved


def test_a_model_for_another_image_size_keeps_the_current_model(window, qtbot, dialogs, tmp_path):
    before = window.session.model
    path = save_model(tmp_path / "small.npz", Model(ModelConfig(hidden=[8], latent=2, input_dim=100)))
    window.files.open_model_path(path)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert "100 pixels" in dialogs[0][1] and "560 pixels" in dialogs[0][1]
    assert window.session.model is before


@pytest.mark.parametrize("case", ["fifo", "/dev/zero", "over the parameter limit"])
def test_hostile_model_paths_end_in_a_dialog(case, window, qtbot, dialogs, tmp_path):
    if case == "fifo":
        path = tmp_path / "pipe.npz"
        os.mkfifo(path)
    elif case == "over the parameter limit":
        arrays, meta = npz_arrays(save_small_model(tmp_path / "valid.npz"))
        meta["config"]["hidden"] = [100_000]
        path = write_npz(tmp_path / "big.npz", arrays, meta)
    else:
        path = "/dev/zero"
    before = window.session.model
    window.files.open_model_path(path)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert window.session.model is before
    words = {"fifo": "FIFO", "/dev/zero": "character device", "over the parameter limit": "limit of 50,000,000"}
    assert words[case] in dialogs[0][1], dialogs


# ----------------------------------------------------------------------------- exports
def test_exports_replace_only_files_of_their_own_kind(window, qtbot, dialogs, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    assert window.exports.png_path(text) is False
    assert text.read_text() == "not a picture" and "not a PNG image" in dialogs[-1][1]
    png = tmp_path / "view.png"
    assert window.exports.png_path(png) is True and window.exports.png_path(png) is True
    assert png.read_bytes().startswith(b"\x89PNG")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert window.exports.png_path(fifo) is False and "FIFO" in dialogs[-1][1]


def test_a_new_run_over_unsaved_weights_asks_first(window, qtbot, asked):
    """Start (New model) would replace unsaved trained weights when it ends: Cancel keeps them and
    starts nothing; Discard starts the run; Continue training the current model never asks."""
    _trained(window, qtbot)
    trained, panel = window.session.model, window.panels["training"]
    asked.answer = closing.CANCEL
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not window.session.training and window.session.model is trained
    assert len(asked.calls) == 1 and "never saved" in asked.calls[0][1]
    panel.form.continue_radio.setChecked(True)
    assert panel.start_training() and len(asked.calls) == 1  # continuing keeps the weights: no question
    qtbot.waitUntil(lambda: not window.session.training, timeout=WAIT_MS)
    panel.form.new_radio.setChecked(True)
    asked.answer = closing.DISCARD
    assert panel.start_training() and len(asked.calls) == 2
    qtbot.waitUntil(lambda: not window.session.training, timeout=WAIT_MS)
    assert window.session.model is not trained
