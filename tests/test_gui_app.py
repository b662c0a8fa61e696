"""The main window: tabs, menus, status bar, model/data files, drag and drop, exports, screenshots."""

from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest
from helpers.factories import small_model
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent, QImage
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

import vae_gui.files as files_module
from core.optim import make_optimizer
from vae_gui.app import PANELS, MainWindow, make_settings
from vae_gui.models_menu import fill_models_menu
from vae_gui.screenshots import take_screenshots
from vae_gui.state import Session

WAIT_MS = 60_000







@pytest.fixture
def window(qtbot, tmp_path, frey, dialogs):
    state = Session()
    state.set_data(frey, "frey_rawface.mat")
    state.set_model(small_model(hidden=(16,), latent=4, dtype="float32"))
    w = MainWindow(state, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(w)
    w.show()
    return w


def test_window_opens_with_all_six_real_tabs(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:6] == ["Training", "Reconstruction", "Sampling", "Latent grid", "Latent map", "Gradcheck"]
    assert titles == [cls.title for cls in PANELS]
    for i, cls in enumerate(PANELS):
        panel = window.tabs.widget(i).widget()  # each tab page scrolls its panel
        assert type(panel) is cls and window.panel(cls) is panel and window.panels[cls.stem] is panel
    shortcuts = {window.actions_[n].text(): window.actions_[n].shortcut().toString()
                 for n in ("open", "save", "export_png", "quit")}
    assert shortcuts == {"Open model…": "Ctrl+O", "Save model as…": "Ctrl+S", "Export view as PNG…": "Ctrl+E",
                         "Quit": "Ctrl+Q"}


def test_status_bar_describes_the_model_and_the_data(window):
    model = window.state.model
    model.step = 1234
    window.state.set_model(model)
    text = window.status.model_label.text()
    assert model.config.describe() in text and "1,234 steps trained" in text
    assert "1965 faces" in window.status.data_label.text()
    window.state.set_data(None, message="no file")
    assert "Open data set" in window.status.data_label.text()


def test_a_corrupt_model_file_shows_a_dialog_and_changes_nothing(qtbot, window, dialogs, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip archive at all")
    before = window.state.model
    status_before = window.status.model_label.text()
    window.files.open_model_path(bad)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    title, text = dialogs[0]
    assert title == "Could not open the model"
    assert "broken.npz" in text and "not a VAE Explorer model file" in text
    assert window.state.model is before
    assert window.status.model_label.text() == status_before


def test_save_then_open_round_trips_weights_step_and_optimiser(qtbot, window, tmp_path, dialogs):
    model = window.state.model
    model.step = 77
    optimizer = make_optimizer("adam", model, lr=1e-3)
    optimizer.t = 77
    window.state.set_model(model, optimizer_state=optimizer.state_dict())
    path = tmp_path / "saved"
    assert window.files.save_model_path(path)
    saved = tmp_path / "saved.npz"
    assert saved.exists() and "saved.npz" in window.status.model_label.text()

    window.state.set_model(small_model(hidden=(8,), latent=2, dtype="float32"))
    window.files.open_model_path(saved)
    qtbot.waitUntil(lambda: window.state.model_path == saved, timeout=WAIT_MS)
    loaded = window.state.model
    np.testing.assert_array_equal(loaded.flat, model.flat)
    assert loaded.step == 77 and loaded.config.describe() == model.config.describe()
    assert window.state.optimizer_state["name"] == "adam" and window.state.optimizer_state["t"] == 77
    assert "77 steps trained" in window.status.model_label.text()
    assert window.settings.value("last_model") == str(saved)
    assert dialogs == []


def test_dropping_a_model_file_on_the_window_opens_it(qtbot, window, tmp_path):
    other = small_model(hidden=(12,), latent=3, dtype="float32", seed=5)
    from core.checkpoint import save_model

    path = save_model(tmp_path / "dropped.npz", other)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(window.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.state.model_path == path, timeout=WAIT_MS)
    np.testing.assert_array_equal(window.state.model.flat, other.flat)
    assert "560-12-3" in window.status.model_label.text()


def test_export_loss_curves_as_csv_after_a_short_run(qtbot, window, tmp_path, dialogs):
    assert window.exports.csv_path(tmp_path / "empty.csv") == 0
    assert dialogs and "no loss curves" in dialogs[-1][1]
    panel = window.panels["training"]
    panel.form.model_form.hidden_edit.setText("16")
    panel.form.model_form.latent_spin.setValue(4)
    panel.form.steps_spin.setValue(100)
    panel.form.eval_spin.setValue(50)
    assert panel.start_training()
    window.files.open_model_path(tmp_path / "whatever.npz")  # refused while training
    assert "training run is going" in dialogs[-1][1]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)

    out = tmp_path / "curves.csv"
    assert window.exports.csv_path(out) == 10
    rows = list(csv.DictReader(out.open()))
    assert [int(r["step"]) for r in rows] == list(range(10, 101, 10))
    assert all(float(r["neg_elbo"]) > 0 and float(r["kl"]) >= 0 for r in rows)
    tests = {int(r["step"]): r["test_neg_elbo"] for r in rows if r["test_neg_elbo"]}
    assert sorted(tests) == [50, 100] and all(float(v) > 0 for v in tests.values())
    history = panel.loss_history()
    np.testing.assert_allclose([float(r["rec"]) for r in rows], history["rec"], rtol=1e-5)


def test_export_view_as_png_grabs_the_current_tab(window, tmp_path):
    window.tabs.setCurrentIndex(5)
    out = tmp_path / "view.png"
    assert window.exports.png_path(out)
    image = QImage(str(out))
    assert not image.isNull()
    assert (image.width(), image.height()) == (window.tabs.currentWidget().width(),
                                               window.tabs.currentWidget().height())


def test_a_bad_data_file_shows_a_dialog_and_keeps_the_data(qtbot, window, tmp_path, dialogs):
    bad = tmp_path / "faces.mat"
    bad.write_bytes(b"\x00" * 100)
    X = window.state.X
    window.files.load_data_path(bad)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0][0] == "Could not load the data" and "faces.mat" in dialogs[0][1]
    assert window.state.X is X


def test_loading_data_in_the_background_updates_state_and_settings(qtbot, window, frey_path):
    window.state.set_data(None, message="none")
    window.files.load_data_path(frey_path)
    qtbot.waitUntil(lambda: window.state.X is not None, timeout=WAIT_MS)
    assert window.state.X.shape == (1965, 560)
    assert window.settings.value("data_path") == str(frey_path)


def test_legacy_pickles_import_and_malicious_ones_are_refused(qtbot, window, tmp_path, dialogs):
    rng = np.random.default_rng(0)
    h, l = 10, 3
    arrays = (rng.normal(size=(h, 560)), rng.normal(size=(l, h)), rng.normal(size=(h, l)), rng.normal(size=(560, h)),
              rng.normal(size=(h, 1)), rng.normal(size=(l, 1)), rng.normal(size=(h, 1)), rng.normal(size=(560, 1)))
    good = tmp_path / "ae.pkl"
    good.write_bytes(pickle.dumps(arrays))
    window.files.import_legacy_path(good, "ae")
    qtbot.waitUntil(lambda: window.state.model.config.kind == "ae", timeout=WAIT_MS)
    np.testing.assert_allclose(window.state.model.params["enc0.W"], arrays[0].T, rtol=1e-6)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(Evil()))
    before = window.state.model
    window.files.import_legacy_path(evil, "ae")
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert "refused" in dialogs[0][1]
    assert window.state.model is before


def test_start_up_falls_back_to_a_fresh_vae_and_reports_bad_weights(qtbot, window, tmp_path, monkeypatch, dialogs):
    monkeypatch.setattr(files_module, "DEFAULT_MODEL", tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    window.files.load_initial_model(bad, remembered=False)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert "bad.npz" in dialogs[0][1]
    assert window.state.model.config.describe().startswith("VAE 560-256-16")
    assert window.state.model.step == 0
    assert "untrained" in window.status.notice_label.text()


def test_shipped_models_menu_lists_model_files_and_opens_them(qtbot, window, tmp_path, monkeypatch):
    from core.checkpoint import save_model

    monkeypatch.setattr(files_module, "MODEL_DIR", tmp_path)
    save_model(tmp_path / "ae.npz", small_model(kind="ae", hidden=(8,), latent=2, dtype="float32"))
    save_model(tmp_path / "vae.npz", small_model(hidden=(8,), latent=2, dtype="float32"))
    fill_models_menu(window)
    actions = window.models_menu.actions()
    assert [a.text().split(" — ")[0] for a in actions] == ["ae.npz", "vae.npz"]
    actions[0].trigger()
    qtbot.waitUntil(lambda: window.state.model_path == tmp_path / "ae.npz", timeout=WAIT_MS)
    assert window.state.model.config.kind == "ae"



def test_no_model_or_data_opens_from_the_menus_while_a_run_trains(window):
    window.session.set_training(True)
    assert not window.models_menu.isEnabled()
    assert not any(window.actions_[name].isEnabled() for name in ("open", "import", "data", "frey"))
    window.session.set_training(False)
    assert window.models_menu.isEnabled() and window.actions_["open"].isEnabled()

def test_settings_are_written_to_the_given_ini_file(window, tmp_path):
    window.files.save_model_path(tmp_path / "m.npz")
    window.close()
    text = (tmp_path / "settings.ini").read_text()
    assert "geometry" in text and "m.npz" in text


def test_take_screenshots_writes_one_png_per_panel_and_the_window(tmp_path, frey_path):
    logged = []
    assert take_screenshots(tmp_path / "shots", data=str(frey_path), steps=20, size=(1024, 600),
                            log=logged.append) == 0  # 0 also says: the window kept 1024x600 on every tab
    expected = [cls.stem for cls in PANELS] + ["window"]
    assert sorted(p.stem for p in (tmp_path / "shots").glob("*.png")) == sorted(expected)
    for stem in expected:
        image = QImage(str(tmp_path / "shots" / f"{stem}.png"))
        assert image.width() > 400 and image.height() > 300
        grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
        pixels = np.frombuffer(grey.constBits().asstring(grey.sizeInBytes()), dtype=np.uint8)
        assert pixels.std() > 5  # a picture, not a blank grey square
    assert len(logged) == len(expected)
    window_png = QImage(str(tmp_path / "shots" / "window.png"))
    assert (window_png.width(), window_png.height()) == (1024, 600)
    assert any(line.endswith("window.png (1024×600)") for line in logged)  # each PNG's size is printed


def test_menu_open_goes_through_the_file_dialog(qtbot, window, tmp_path, monkeypatch, dialogs):
    from PyQt6.QtWidgets import QFileDialog

    bad = tmp_path / "truncated.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), "VAE Explorer models (*.npz)"))
    before = window.state.model
    window.actions_["open"].trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert "truncated.npz" in dialogs[0][1]
    assert window.state.model is before


def test_missing_data_is_downloaded_with_a_progress_dialog(qtbot, window, tmp_path, monkeypatch, frey_path):
    monkeypatch.delenv("VAE_DATA", raising=False)
    monkeypatch.setattr(files_module, "find_data", lambda path=None: tmp_path / "frey_rawface.mat")
    calls = []

    def fake_ensure_data(path=None, allow_download=True, progress=None, **kwargs):
        for done in (400_000, 800_000, 1_000_000):
            progress(done, 1_000_000)
            calls.append(done)
        return frey_path

    monkeypatch.setattr(files_module, "ensure_data", fake_ensure_data)
    window.state.set_data(None, message="none yet")
    window.files.load_initial_data(None)
    assert window.files.progress_dialog is not None
    qtbot.waitUntil(lambda: window.state.X is not None, timeout=WAIT_MS)
    assert calls == [400_000, 800_000, 1_000_000]
    assert window.files.progress_dialog.maximum() == 1_000_000
    assert window.state.X.shape == (1965, 560)


def test_no_data_at_all_still_opens_and_says_how_to_load_it(qtbot, window, tmp_path, monkeypatch, dialogs):
    from core.data import DataError

    monkeypatch.delenv("VAE_DATA", raising=False)
    monkeypatch.setattr(files_module, "find_data", lambda path=None: tmp_path / "frey_rawface.mat")

    def offline(*args, **kwargs):
        raise DataError("could not download https://example/frey_rawface.mat: network unreachable")

    monkeypatch.setattr(files_module, "ensure_data", offline)
    window.state.set_data(None, message="none yet")
    window.files.load_initial_data(None)
    qtbot.waitUntil(lambda: "network unreachable" in window.status.data_label.text(), timeout=WAIT_MS)
    assert window.state.X is None
    assert "Open data set" in window.status.data_label.text()
    assert dialogs == []  # no modal dialog at start-up: the status bar and the panels say it
    assert not window.panels["training"].start_button.isEnabled()
