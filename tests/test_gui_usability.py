"""The GUI in a real user's hands — small screens, no stale text, explained numbers, shortcuts.

Each test drives the real window or panel (pytest-qt, offscreen) and asserts on what it shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from helpers.gui import tiny_run_form
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication, QFileDialog, QSlider
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.checkpoint import load_model
from vae_gui.app import MINIMUM_SIZE, PANELS, MainWindow, make_settings
from vae_gui.menus import shortcut_lines
from vae_gui.panels.reconstruction import ReconstructionPanel
from vae_gui.panels.sampling import SamplingPanel
from vae_gui.state import Session
from vae_gui.widgets.loss_plots import LossPlots, smooth

WAIT_MS = 60_000




@pytest.fixture
def window(qtbot, tmp_path, frey, dialogs):
    session = Session()
    session.set_data(frey, tmp_path / "frey_rawface.mat")
    session.set_model(small_model(hidden=(16,), latent=4, dtype="float32"))
    w = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(w)
    return w




# ----------------------------------------------------------------------------- small screens
@pytest.mark.parametrize("size", [(1024, 600), (1366, 768)])
def test_every_tab_fits_the_screen_and_never_resizes_the_window(qtbot, window, size):
    assert MINIMUM_SIZE[0] <= 1024 and MINIMUM_SIZE[1] <= 600
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    for index in range(len(PANELS)):
        window.tabs.setCurrentIndex(index)
        qtbot.wait(50)
        assert (window.width(), window.height()) == size, PANELS[index].title
        page = window.tabs.currentWidget()
        assert not page.horizontalScrollBar().isVisible(), PANELS[index].title  # nothing cut off sideways
    training = window.panels["training"]
    window.tabs.setCurrentWidget(training)
    qtbot.wait(50)
    start = training.start_button
    top_left = start.mapTo(window, start.rect().topLeft())
    assert window.rect().contains(top_left) and start.isVisible()  # Start never scrolls out of view


def test_replaced_sliders_are_hidden_at_once(qtbot, frey):
    """A model with fewer latent dims: no frame (not even before the event loop runs) shows both sets."""
    session = Session()
    session.set_model(small_model(hidden=(16,), latent=6, dtype="float32"))
    panel = SamplingPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    old = panel.sliders.findChildren(QSlider)
    assert len(old) == 6 and all(s.isVisible() for s in old)
    session.set_model(small_model(hidden=(16,), latent=3, dtype="float32"))
    # checked before any event is processed (deleteLater has not run): the old 6 are hidden and detached
    assert all(s.isHidden() and s.parent() is None for s in old)
    assert len(panel.sliders.findChildren(QSlider)) == 3


def test_a_clicked_point_opens_reconstruction(qtbot, window):
    window.show()
    window.tabs.setCurrentWidget(window.panels["latent_map"])
    window.session.select(7)
    window.session.show_panel.emit(ReconstructionPanel)  # what a click on the latent map sends
    assert window.tabs.currentWidget().widget() is window.panels["reconstruction"]
    assert window.panels["reconstruction"].index == 7


def test_latent_map_dims_start_again_with_a_new_model(qtbot, window):
    panel = window.panels["latent_map"]
    window.show()
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(panel.is_ready, timeout=WAIT_MS)
    panel.mode_combo.setCurrentIndex(1)  # two latent dimensions
    panel.x_combo.setCurrentIndex(3)
    panel.y_combo.setCurrentIndex(2)
    other = small_model(hidden=(16,), latent=4, dtype="float32", seed=5)
    window.session.set_model(other)  # same latent size
    qtbot.waitUntil(panel.is_ready, timeout=WAIT_MS)
    expected = window.session.encoding().most_active(2)
    assert [panel.x_combo.currentIndex(), panel.y_combo.currentIndex()] == expected


# ----------------------------------------------------------------------------- stale texts
def test_status_bar_says_paused_and_a_loaded_model_clears_the_old_run(qtbot, window, tmp_path, dialogs):
    window.show()
    panel = tiny_run_form(window, steps=10_000_000)
    assert panel.start_training()
    qtbot.waitUntil(lambda: panel.plots.series["step"].n >= 2, timeout=WAIT_MS)
    assert window.status.busy_label.text() == "training…"
    panel.pause_button.click()
    qtbot.waitUntil(lambda: window.status.busy_label.text() == "training paused", timeout=WAIT_MS)
    assert "paused" in panel.rate_label.text()
    panel.resume_button.click()
    qtbot.waitUntil(lambda: window.status.busy_label.text() == "training…", timeout=WAIT_MS)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert window.status.busy_label.text() == ""
    assert "ETA" not in panel.rate_label.text() and "steps/s on average" in panel.rate_label.text()
    path = tmp_path / "other.npz"
    from core.checkpoint import save_model

    save_model(path, small_model(hidden=(8,), latent=2, dtype="float32"))
    window.files.open_model_path(path)
    qtbot.waitUntil(lambda: window.session.model_path == path, timeout=WAIT_MS)
    assert "Step" not in panel.rate_label.text() and panel.status_label.text() == ""
    assert "stopped" not in panel.rate_label.text()


def test_data_path_is_shown_relative_to_home(qtbot, frey, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    session = Session()
    session.set_data(frey, tmp_path / "data" / "frey_rawface.mat")
    assert session.data_message == "1965 faces from ~/data/frey_rawface.mat"


# ----------------------------------------------------------------------------- curves
def test_loss_history_is_saved_with_the_model_shown_on_open_and_continue_appends(qtbot, window, tmp_path, dialogs):
    window.show()
    panel = tiny_run_form(window, steps=200)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    trained = panel.loss_history()
    assert len(trained["step"]) == 20
    assert window.files.save_model_path(tmp_path / "run.npz")
    history = load_model(tmp_path / "run.npz").meta["history"]
    np.testing.assert_allclose(history["total"], trained["total"], rtol=1e-6)
    window.session.set_model(small_model(hidden=(8,), latent=2, dtype="float32"))
    assert panel.plots.series["step"].n == 0  # another model: its own (no) curves
    window.files.open_model_path(tmp_path / "run.npz")
    qtbot.waitUntil(lambda: panel.plots.series["step"].n == 20, timeout=WAIT_MS)  # shown again on open
    np.testing.assert_allclose(panel.plots.curves["total"].getOriginalDataset()[1], trained["total"], rtol=1e-6)
    panel.form.continue_radio.setChecked(True)
    panel.form.steps_spin.setValue(100)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    steps = panel.loss_history()["step"]
    assert len(steps) == 30 and steps[19] == 200 and steps[-1] == 300  # Continue appends


def test_smoothing_is_bias_corrected_and_follows_the_slider(qtbot):
    steps = np.arange(1, 301) * 10.0
    raw = 500 * np.exp(-steps / 800) + 100
    plots = LossPlots()
    qtbot.addWidget(plots)
    for s, v in zip(steps, raw, strict=True):
        plots.append(int(s), {"total": v, "rec": v, "kl": 1.0})
    smoothed = plots.smoothed("total")
    assert smoothed[0] == raw[0]  # starts on the raw curve, not at 0 or lagging
    assert np.all(plots.smoothed("kl") == 1.0)  # a constant stays exactly constant
    window = plots.window_steps
    w = np.exp(-(steps[-1] - steps) / window)
    assert smoothed[-1] == pytest.approx(float(w @ raw / w.sum()), rel=1e-9)  # the weighted mean it claims
    # a plain EMA of the same window, started at the first point, lags further behind early on
    alpha = 1 - np.exp(-10 / window)
    plain = [raw[0]]
    for v in raw[1:]:
        plain.append(plain[-1] + alpha * (v - plain[-1]))
    early = slice(0, max(3, window // 10))  # the first window of points: where an uncorrected EMA lags most
    assert np.max(np.abs(smoothed - raw)[early]) < 0.75 * np.max(np.abs(np.asarray(plain) - raw)[early])
    plots.smoothing_slider.setValue(0)
    np.testing.assert_allclose(plots.smoothed("total"), raw)  # off: the raw points
    plots.smoothing_slider.setValue(plots.smoothing_slider.maximum())
    np.testing.assert_allclose(plots.smoothed("total"), smooth(steps, raw, plots.window_steps))


# ----------------------------------------------------------------------------- dialogs and exports
def test_export_dialogs_remember_the_last_folder_and_expand_home(qtbot, window, tmp_path, monkeypatch, dialogs):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pictures").mkdir()
    asked = []

    def fake_save(parent, title, start, filter_):
        asked.append(start)
        return str(tmp_path / "pictures" / "view.png"), filter_

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_save)
    window.show()
    window.exports.png_dialog()
    window.exports.png_dialog()
    assert asked[0].startswith(str(tmp_path)) and asked[1].startswith(str(tmp_path / "pictures"))
    assert (tmp_path / "pictures" / "view.png").exists()
    assert window.exports.png_path("~/pictures/tilde.png") and (tmp_path / "pictures" / "tilde.png").exists()


def test_difference_map_is_auto_scaled_with_a_colour_bar(qtbot, window):
    panel = window.panels["reconstruction"]
    window.show()
    panel.set_index(5, force=True)
    diff = panel.difference.current_image()
    assert panel.difference._colorbar is not None
    assert panel.difference._levels == pytest.approx((0.0, float(diff.max())))
    assert diff.max() < 0.9  # would be near-black on a fixed 0–1 scale


def test_samples_are_decoder_means_unless_noisy_is_chosen(qtbot, window):
    panel = window.panels["sampling"]
    model = window.session.model
    means = model.decode(panel.samples_box.sample_z)
    np.testing.assert_allclose(panel.samples_box.samples.faces().reshape(len(means), -1), means, atol=1e-6)
    panel.samples_box.noisy_check.setChecked(True)
    noisy = panel.samples_box.samples.faces().reshape(len(means), -1)
    assert not np.allclose(noisy, means) and noisy.min() >= 0 and noisy.max() <= 1
    assert set(np.unique(noisy)) <= {0.0, 1.0}  # a Bernoulli decoder's draws are black or white pixels


def test_elbo_sign_is_explained(qtbot, window):
    panel = window.panels["reconstruction"]
    panel.set_index(3, force=True)
    assert "higher is better" in panel.elbo_label.text()
    assert "Bernoulli" in panel.sign_note.text()
    gaussian = small_model(hidden=(16,), latent=4, dtype="float32", likelihood="gaussian-learned")
    window.session.set_model(gaussian)
    assert "can exceed 1" in panel.sign_note.text()
    assert "lower bound on log p(x)" in panel.elbo_label.toolTip()


# ----------------------------------------------------------------------------- keyboard
def test_space_starts_and_pauses_training_and_arrows_step_the_image(qtbot, window, dialogs):
    window.show()
    qtbot.waitExposed(window)
    panel = tiny_run_form(window, steps=10_000_000)
    for _ in range(40):  # shortcuts need the active window (offscreen, activation can take a few events)
        window.activateWindow()
        qtbot.wait(25)
        if QApplication.activeWindow() is window:
            break
    window.tabs.setFocus()
    qtbot.keyClick(window.tabs, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: panel.is_running() or bool(dialogs), timeout=WAIT_MS)
    assert not dialogs, dialogs
    qtbot.waitUntil(lambda: panel.plots.series["step"].n >= 1, timeout=WAIT_MS)
    qtbot.keyClick(window.tabs, Qt.Key.Key_Space)
    qtbot.waitUntil(panel.resume_button.isEnabled, timeout=WAIT_MS)
    panel.stop_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    recon = window.panels["reconstruction"]
    window.tabs.setCurrentWidget(recon)
    recon.set_index(10, force=True)
    recon.random_button.setFocus()
    qtbot.keyClick(recon.random_button, Qt.Key.Key_Right)
    assert recon.index == 11 and window.session.selected == 11
    qtbot.keyClick(recon.random_button, Qt.Key.Key_Left)
    assert recon.index == 10


def test_every_menu_action_lists_its_shortcut(window):
    lines = shortcut_lines(window)
    texts = [line.split("\t")[1] for line in lines]
    for name in ("Open model…", "Save model as…", "Open data set…", "Frey faces (default)", "Export view as PNG…",
                 "Quit", "Start / pause / resume training", "Stop training", "Previous image", "Next image"):
        assert name in texts
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            if not action.isSeparator() and action.menu() is None and action.text():
                assert not action.shortcut().isEmpty(), action.text()


# ----------------------------------------------------------------------------- CLI <-> GUI
def test_a_run_continues_across_cli_and_gui_with_the_same_settings(qtbot, window, tmp_path, dialogs, frey_path):
    import subprocess
    import sys

    cli_file, gui_file, again = tmp_path / "cli.npz", tmp_path / "gui.npz", tmp_path / "gui.npz"
    args = ["train", "--hidden", "16", "--latent", "4", "--steps", "40", "--batch-size", "32", "--weight-decay",
            "1e-4", "--val-size", "100", "--eval-every", "20", "--seed", "3", "--quiet", "--data", str(frey_path)]
    done = subprocess.run([sys.executable, "main.py", *args, "--out", str(cli_file)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    window.show()
    window.files.open_model_path(cli_file)
    panel = window.panels["training"]
    qtbot.waitUntil(lambda: window.session.model_path == cli_file, timeout=WAIT_MS)
    form = panel.form
    assert (form.batch_spin.value(), form.weight_decay_edit.text(), form.val_spin.value(), form.seed_spin.value()) \
        == (32, "0.0001", 100, 3)  # the CLI's settings, shown
    form.continue_radio.setChecked(True)
    form.steps_spin.setValue(20)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    settings = panel.last_record.settings
    assert (settings.batch_size, settings.weight_decay, settings.val_size, settings.seed) \
        == (32, 1e-4, 100, 3) and window.session.model.step == 60
    assert window.files.save_model_path(gui_file)
    done = subprocess.run([sys.executable, "main.py", "train", "--resume", "--out", str(again), "--steps", "80",
                           "--quiet", "--data", str(frey_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed = load_model(again)
    assert resumed.model.step == 80 and resumed.meta["train"]["batch_size"] == 32
    assert resumed.meta["train"]["weight_decay"] == 1e-4 and resumed.meta["train"]["val_size"] == 100
