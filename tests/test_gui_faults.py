"""Reliability of the GUI: bad files and settings show a dialog and keep the current state;
training can be stopped, paused, refused a second time, diverge, or be cut off by closing the
window without a crash, a hang or a stray thread; the loss plot copes with 100 000 points.
Driven through the real MainWindow (pytest-qt, offscreen). See docs/RELIABILITY.md."""

from __future__ import annotations

import http.server
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
from helpers.gui import frey_window, tiny_run_form
from helpers.reliability import ROOT, save_small_model
from test_data_refusals import BAD_DATA
from test_model_file_refusals import BAD_MODELS, BAD_PICKLES, _hostile_payloads

from core.checkpoint import load_model
from vae_gui.app import MainWindow, make_settings
from vae_gui.state import Session

WAIT_MS = 60_000  # generous: the machine is shared; nothing here asserts a duration
CHILD_ENV_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}




@pytest.fixture
def window(qtbot, tmp_path, frey, dialogs) -> MainWindow:
    """The real main window with the Frey data and a small VAE as the current model."""
    win = frey_window(qtbot, tmp_path, frey)
    yield win
    win.close()


def _wait_jobs(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: win.busy_jobs() == 0, timeout=WAIT_MS)
    qtbot.wait(20)  # let the queued result/error callbacks run




# ----------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("case", ["missing file", "empty file", "a pickle", "truncated to half", "corrupted middle",
                                  "missing array", "shape contradicts config", "config claims 10^9 hidden units",
                                  "NaN parameter", "newer format version", "text file", "a single .npy"])
def test_bad_model_file_shows_a_dialog_and_keeps_the_current_model(case, window, dialogs, qtbot, tmp_path):
    make, words = BAD_MODELS[case]
    path = make(tmp_path)
    before_model, before_path = window.state.model, window.state.model_path
    window.files.open_model_path(path)
    _wait_jobs(qtbot, window)
    assert len(dialogs) == 1, dialogs
    title, text = dialogs[0]
    assert title == "Could not open the model"
    for word in words:
        assert word in text, f"{case}: {word!r} not in {text!r}"
    assert window.state.model is before_model and window.state.model_path == before_path


def test_the_data_file_opened_as_a_model(window, dialogs, qtbot, frey_path):
    before = window.state.model
    window.files.open_model_path(frey_path)
    _wait_jobs(qtbot, window)
    assert dialogs and "not a VAE Explorer model file" in dialogs[0][1]
    assert window.state.model is before


@pytest.mark.parametrize("case", ["missing file", "text file", "no ff variable", "wrong shape", "complex dtype",
                                  "values above 255", "scaled to [0, 1]", "truncated 50%"])
def test_bad_data_file_shows_a_dialog_and_keeps_the_current_data(case, window, dialogs, qtbot, tmp_path, frey_path):
    make, words = BAD_DATA[case]
    path = make(tmp_path, frey_path)
    before_X, before_path = window.state.X, window.state.data_path
    window.files.load_data_path(path)
    _wait_jobs(qtbot, window)
    assert len(dialogs) == 1, dialogs
    assert dialogs[0][0] == "Could not load the data"
    for word in words:
        assert word in dialogs[0][1], f"{case}: {word!r} not in {dialogs[0][1]!r}"
    assert window.state.X is before_X and window.state.data_path == before_path


def test_startup_download_with_a_wrong_checksum_shows_a_dialog(qtbot, tmp_path, dialogs, monkeypatch):
    """No data file at start-up: the window downloads it. A wrong checksum must be said in a
    dialog (not only in the status bar), the bad file deleted, and the program runs on without data."""
    import urllib.request

    from test_data_refusals import _BadMirror

    import core.data as data

    target = tmp_path / "data" / "frey_rawface.mat"
    monkeypatch.setattr(data, "DEFAULT_PATH", target)
    monkeypatch.delenv("VAE_DATA", raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadMirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/frey_rawface.mat"
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout=30: real_urlopen(mirror, timeout=5))
    win = MainWindow(Session(), settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    try:
        win.files.load_initial_data(None, allow_download=True)
        _wait_jobs(qtbot, win)
        assert win.state.X is None and not target.exists()
        assert "SHA-256" in win.state.data_message  # the status bar says it
        assert len(dialogs) == 1 and "SHA-256" in dialogs[0][1], dialogs  # and so does a dialog
    finally:
        win.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("payload", ["os.system", "builtins.exec", "os.system inside a weight tuple"])
def test_hostile_pickle_in_the_gui_runs_nothing(payload, window, dialogs, qtbot, tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(_hostile_payloads(sentinel)[payload]))
    before = window.state.model
    window.files.import_legacy_path(path, "ae")
    _wait_jobs(qtbot, window)
    assert len(dialogs) == 1 and dialogs[0][0] == "Could not import the pickle"
    assert "refused" in dialogs[0][1] and "nothing was run" in dialogs[0][1]
    assert not sentinel.exists()
    assert window.state.model is before


@pytest.mark.parametrize("case", ["7 arrays for an AE", "Wm contradicts Wi", "text weights"])
def test_malformed_pickle_in_the_gui(case, window, dialogs, qtbot, tmp_path):
    make, kind, words = BAD_PICKLES[case]
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(make()))
    before = window.state.model
    window.files.import_legacy_path(path, kind)
    _wait_jobs(qtbot, window)
    assert len(dialogs) == 1
    for word in words:
        assert word in dialogs[0][1]
    assert window.state.model is before


def test_saving_non_finite_weights_is_refused_and_the_old_file_kept(window, dialogs, tmp_path):
    path = save_small_model(tmp_path / "kept.npz")
    before = path.read_bytes()
    window.state.model.params["out.b"][0] = np.nan
    assert window.files.save_model_path(path) is False
    assert dialogs and dialogs[0][0] == "Could not save the model" and "non-finite" in dialogs[0][1]
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize("field, text, word", [
    ("lr_edit", "0", "learning rate"), ("lr_edit", "-0.1", "learning rate"), ("lr_edit", "fast", "learning rate"),
    ("lr_edit", "", "learning rate"), ("lr_edit", "nan", "learning rate"),
    ("beta_edit", "-1", "β"), ("beta_edit", "lots", "β"),
    ("hidden_edit", "0", "hidden"), ("hidden_edit", "256,abc", "hidden"), ("hidden_edit", "", "hidden"),
])
def test_bad_training_settings_show_a_dialog_and_start_nothing(field, text, word, window, dialogs):
    """Text that got past the validators (pasted, set programmatically) is still refused at Start."""
    panel = tiny_run_form(window, steps=100)
    getattr(panel.form.model_form if hasattr(panel.form.model_form, field) else panel.form, field).setText(text)
    before = window.state.model
    assert panel.start_training() is False
    assert len(dialogs) == 1 and dialogs[0][0] == "Invalid training settings"
    assert word in dialogs[0][1].lower() or word in dialogs[0][1], dialogs[0][1]
    assert not panel.is_running() and window.state.model is before


@pytest.mark.parametrize("field, typed, kept", [
    ("lr_edit", "abc", ""), ("lr_edit", "-1", "1"), ("beta_edit", "x-2", "2"),
    ("hidden_edit", "12a,b4", "12,4"),
])
def test_validators_drop_non_numeric_typing(field, typed, kept, window, qtbot):
    form = window.panels["training"].form
    edit = getattr(form.model_form if hasattr(form.model_form, field) else form, field)
    edit.clear()
    qtbot.keyClicks(edit, typed)
    assert edit.text() == kept


def test_spin_boxes_cannot_hold_zero_or_negative_sizes(window):
    panel = window.panels["training"]
    for spin in (panel.form.model_form.latent_spin, panel.form.batch_spin, panel.form.steps_spin):
        spin.setValue(0)
        assert spin.value() >= 1
        spin.setValue(-5)
        assert spin.value() >= 1


def test_batch_larger_than_the_data_set_is_refused(window, dialogs, frey):
    window.state.set_data(frey[:100], "first 100 faces")  # 90 training faces
    panel = tiny_run_form(window, steps=10)
    panel.form.batch_spin.setValue(100)
    assert panel.start_training() is False
    assert dialogs and "larger than the training split" in dialogs[0][1]
    assert not panel.is_running()


# ----------------------------------------------------------------------------- runs
def test_divergence_dialog_plot_mark_and_finite_weights(window, dialogs, qtbot, tmp_path):
    panel = tiny_run_form(window, steps=500, optimizer="sgd", lr="10")
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    outcome = panel.last_result
    assert outcome.status == "diverged"
    assert dialogs and dialogs[0][0] == "Training diverged"
    assert "non-finite" in dialogs[0][1] and "kept the weights of step" in dialogs[0][1]
    lines = panel.plots.divergence_lines
    assert len(lines) == 1 and lines[0] in panel.plots.loss_plot.getPlotItem().items
    kept = int(dialogs[0][1].split("kept the weights of step ")[1].split()[0].rstrip(".;"))
    assert window.state.model.step == kept
    assert np.isfinite(window.state.model.flat).all()
    assert window.files.save_model_path(tmp_path / "after.npz")  # the kept weights save and load
    assert np.isfinite(load_model(tmp_path / "after.npz").model.flat).all()


def test_stop_keeps_consistent_weights(window, dialogs, qtbot, tmp_path):
    panel = tiny_run_form(window, steps=10_000_000)
    assert panel.start_training()
    qtbot.waitUntil(lambda: panel.plots.series["step"].n >= 3, timeout=WAIT_MS)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    outcome = panel.last_result
    assert outcome.status == "stopped" and not dialogs
    model = window.state.model
    assert model is panel.last_record.model and model.step == outcome.steps_done > 0
    assert np.isfinite(model.flat).all()
    assert window.files.save_model_path(tmp_path / "stopped.npz")
    reloaded = load_model(tmp_path / "stopped.npz")
    np.testing.assert_array_equal(reloaded.model.flat, model.flat)
    assert reloaded.optimizer().t == model.step  # optimiser state saved with the same step count


def test_pause_freezes_the_run_and_resume_continues_it(window, dialogs, qtbot):
    panel = tiny_run_form(window, steps=10_000_000)
    assert panel.start_training()
    qtbot.waitUntil(lambda: panel.plots.series["step"].n >= 2, timeout=WAIT_MS)
    job = panel.job
    pauses: list[bool] = []
    job.paused_changed.connect(pauses.append)
    panel.pause_button.click()
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    # the job says it is paused after its last progress report, so the curves are final now
    qtbot.waitUntil(lambda: pauses == [True], timeout=WAIT_MS)
    paused_points = panel.plots.series["step"].n
    qtbot.wait(300)
    assert panel.plots.series["step"].n == paused_points  # nothing logged (so no step taken) while paused
    panel.resume_button.click()
    qtbot.waitUntil(lambda: panel.plots.series["step"].n > paused_points, timeout=WAIT_MS)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert panel.last_result.status == "stopped" and not dialogs
    assert np.isfinite(window.state.model.flat).all()


def test_a_second_run_is_refused_and_loading_waits(window, dialogs, qtbot, tmp_path, frey_path):
    """While a run goes: Start is disabled and refused, and opening a model or data is refused,
    so two workers never train one model and nothing is swapped under a running worker."""
    panel = tiny_run_form(window, steps=10_000_000)
    assert panel.start_training()
    job = panel.job
    assert not panel.start_button.isEnabled()
    assert panel.start_training() is False
    assert panel.job is job and job.is_running()
    before_model, before_X = window.state.model, window.state.X
    assert window.files.open_model_path(save_small_model(tmp_path / "other.npz")) is None
    assert window.files.load_data_path(frey_path) is None
    assert window.files.import_legacy_path(tmp_path / "whatever.pkl") is None
    assert [t for t, _ in dialogs] == ["Training", "Open model", "Load data", "Import legacy pickle"]
    assert window.state.X is before_X and window.state.model is before_model
    panel.stop_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)


# ----------------------------------------------------------------------------- closing the window
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["train", "paused", "gradcheck", "load"])
def test_closing_the_window_mid_work_ends_cleanly(mode, tmp_path, frey_path):
    """A real process: close the window during training (running or paused), a gradient check
    or a model load. It must print 'closed', leave no thread running, keep finite weights and
    exit 0 without Qt's "QThread: Destroyed while thread is still running" abort."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "gui_close_during_work.py"), mode,
                           str(frey_path), str(tmp_path / "settings.ini")],
                          capture_output=True, text=True, timeout=240, env={**os.environ, **CHILD_ENV_THREADS})
    assert "QThread: Destroyed" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    assert "closed" in lines and "threads-running 0" in lines, proc.stdout
    assert any(line.startswith("model-finite True") for line in lines), proc.stdout
    assert not any(line.startswith("dialog") for line in lines), proc.stdout


# ----------------------------------------------------------------------------- load
def test_loss_curves_downsample_and_clip_to_view(window, qtbot):
    panel = window.panels["training"]
    assert panel.plots.curves
    for name, curve in panel.plots.curves.items():
        assert curve.opts["autoDownsample"], name
        assert curve.opts["clipToView"], name


def test_loss_curves_are_drawn_without_antialiasing(window):
    """Antialiased thick/translucent lines make QPainter.drawPath the bottleneck: measured on this
    machine, one redraw of the loss plot with 100 000 logged points took 2.3–2.9 s with
    antialiasing and 0.08–0.12 s without (0.85 s already at 3 000 points), and the panel redraws
    every 100 ms while training, so the window would stop reacting during a long run. The loss
    curves must therefore opt out of the global antialias=True (docs/RELIABILITY.md)."""
    panel = window.panels["training"]
    for name, curve in panel.plots.curves.items():
        assert curve.opts["antialias"] is False, f"loss curve {name!r} is antialiased"


def test_a_100000_point_loss_plot(window, qtbot):
    """setData with 100 000 points works, the plot spans all of them, and what is drawn is a
    downsampled subset (so redraws stay cheap however long the run)."""
    panel = window.panels["training"]
    window.tabs.setCurrentWidget(panel)
    n = 100_000
    steps = np.arange(1, n + 1) * 10.0
    values = 300 + 50 * np.exp(-steps / 1e5) + np.random.default_rng(0).normal(0, 2, n)
    for curve in panel.plots.curves.values():
        curve.setData(steps, values)
    qtbot.wait(50)
    curve = panel.plots.curves["total"]
    x_all, _ = curve.getOriginalDataset()
    assert len(x_all) == n
    x_drawn, y_drawn = curve.getData()
    assert 0 < len(x_drawn) < n // 10, len(x_drawn)
    assert np.isfinite(y_drawn).all()
    x_range = panel.plots.loss_plot.getPlotItem().vb.viewRange()[0]
    assert x_range[0] <= steps[0] + 1e3 and x_range[1] >= steps[-1] - 1e3
    assert panel.plots.loss_plot.isVisible()
    panel.plots.loss_plot.grab()  # paints without error

