"""Your own data set in the GUI (issue 15): File ▸ Open data set… previews a file or a folder, and every
tab then shows images of the new, non-square shape, upright."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from PIL import Image
from PyQt6.QtCore import Qt
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.checkpoint import save_model
from core.config import TrainConfig
from core.run import TrainingRun
from vae_gui.app import MainWindow, make_settings
from vae_gui.state import Session

WAIT_MS = 60_000
H, W = 12, 9  # non-square: a transposed image would be 9 tall and 12 wide


def striped_images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, h, w): black in the left third, a top-to-bottom dark-to-bright ramp elsewhere (plus noise),
    so that 'upright' and 'not mirrored' can be read off a picture."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(20, 255, h)[:, None] * np.ones((1, w))
    images = np.clip(ramp[None] + rng.normal(0, 25, (n, h, w)), 0, 255).astype(np.uint8)
    images[:, :, : w // 3] = 0
    return images




@pytest.fixture
def window(qtbot, tmp_path, dialogs):
    session = Session()
    session.set_data(np.random.default_rng(1).random((60, 560)).astype(np.float32), "frey_like.mat")
    session.set_model(small_model(hidden=(16,), latent=4, dtype="float32"))
    w = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(w)
    w.resize(1024, 700)
    w.show()
    return w


def preview_through_the_dialog(qtbot, window, spec: str, shape_text: str = ""):
    """Open the dialog from the File menu's action and type/click as a user would."""
    window.actions_["data"].trigger()
    dialog = window.files.data_dialog
    assert dialog.isVisible()
    qtbot.keyClicks(dialog.path_edit, spec)
    if shape_text:
        qtbot.keyClicks(dialog.shape_edit, shape_text)
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.dataset is not None or "Could not" in dialog.error_label.text(), timeout=WAIT_MS)
    return dialog


def face_box(widget) -> tuple[int, int]:
    """(height, width) in screen pixels of what a face widget draws: the box of pixels that differ from
    the widget's background (its corner)."""
    image = widget.grab().toImage()
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    rgba = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width(), :3]
    differs = np.abs(rgba.astype(int) - rgba[0, 0].astype(int)).sum(axis=2) > 12
    rows, cols = np.nonzero(differs.any(axis=1))[0], np.nonzero(differs.any(axis=0))[0]
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def show_tab(qtbot, window, stem: str):
    panel = window.panel(stem)
    window.tabs.setCurrentIndex(_tab_index(window, panel))
    qtbot.wait(50)
    return panel


def _tab_index(window, panel) -> int:
    for i in range(window.tabs.count()):
        if window.tabs.widget(i).widget() is panel:
            return i
    raise AssertionError("panel not in a tab")


def test_npz_data_set_is_previewed_then_every_tab_shows_upright_12x9_faces(qtbot, window, tmp_path, dialogs):
    images = striped_images(200, H, W)
    path = tmp_path / "digits.npz"
    np.savez(path, images=images)
    session = window.session
    dialog = preview_through_the_dialog(qtbot, window, str(path))
    assert dialog.error_label.text() == ""
    assert dialog.labels["count"].text().startswith("200")
    assert "12×9" in dialog.labels["shape"].text()
    assert "uint8 0…255 scaled by 1/255" in dialog.labels["values"].text()
    assert "180 train, 20 test" in dialog.labels["split"].text()
    assert "560 pixels" in dialog.labels["model"].text()  # says the current model will be replaced
    assert dialog.grid.current_image().shape == (4 * H + 5, 8 * W + 9)  # the first 32 as 4 rows of 8
    np.testing.assert_allclose(dialog.grid.face_at(0, 0), images[0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(dialog.grid.face_at(3, 7), images[31] / 255.0, atol=1e-6)
    assert session.dataset.dim == 560  # nothing changes before the user accepts
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert session.dataset.image_shape == (H, W) and session.dataset.n == 200
    assert session.model.config.input_dim == H * W  # the 560-pixel model could not read them: replaced
    assert "digits" in window.status.data_label.text() and "12×9" in window.status.data_label.text()
    assert dialogs == []

    run = TrainingRun(TrainConfig(kind="vae", hidden=[32], latent=4, steps=200, batch_size=32, centre_inputs=True),
                      session.dataset)
    run.finish(run.run())
    session.set_model(run.model, meta=run.meta("test"))
    X = session.X

    training = show_tab(qtbot, window, "training")
    live = training.live_faces
    ids = session.test_ids[:8]
    assert live.test_strip.faces().shape == (8, H, W)
    np.testing.assert_allclose(live.test_strip.faces()[0], X[ids[0]].reshape(H, W))
    assert live.recon_strip.faces().shape == (8, H, W) and live.sample_strip.faces().shape == (8, H, W)

    rec = show_tab(qtbot, window, "reconstruction")
    np.testing.assert_allclose(rec.original.current_image(), X[rec.index].reshape(H, W))
    assert rec.reconstruction.current_image().shape == (H, W) and rec.difference.current_image().shape == (H, W)
    height, width = face_box(rec.original._glw)
    assert abs(height / width - H / W) < 0.1, (height, width)  # upright: 12 tall, 9 wide on screen
    assert height >= 2 * H  # drawn at an integer zoom, not a postage stamp

    sampling = show_tab(qtbot, window, "sampling")
    assert sampling.face.current_image().shape == (H, W)
    sampling.new_samples()
    assert sampling.samples_box.samples.faces().shape == (8, H, W)

    grid_panel = show_tab(qtbot, window, "latent_grid")
    n = grid_panel.grid.grid_shape()[0]
    assert grid_panel.grid.current_image().shape == (n * H + n + 1, n * W + n + 1)
    assert grid_panel.grid.zoom >= 2  # the small mosaic is enlarged to fit its area
    assert grid_panel.lerp_strip.faces().shape[1:] == (H, W)
    np.testing.assert_allclose(grid_panel.original_a.current_image(), X[grid_panel.a_spin.value()].reshape(H, W))

    latent_map = show_tab(qtbot, window, "latent_map")
    qtbot.waitUntil(latent_map.is_ready, timeout=WAIT_MS)
    latent_map.atlas.faces_check.setChecked(True)
    assert latent_map.atlas.plot.thumbnails._shape == (H, W)
    latent_map.atlas.open_face(3)
    assert latent_map.atlas.hover_face.image.shape == (H, W)

    inspector = show_tab(qtbot, window, "inspector")
    inspector.inspect_now()
    qtbot.waitUntil(lambda: "as a 12×9 face" in inspector.layer_view.weight_caption.text(), timeout=WAIT_MS)

    gradcheck = show_tab(qtbot, window, "gradcheck")
    assert "images of the data set" in gradcheck.data_label.text()
    assert gradcheck.run_check()
    qtbot.waitUntil(lambda: gradcheck.report is not None, timeout=WAIT_MS)
    assert gradcheck.report.passed
    assert dialogs == []
    for stem in ("training", "reconstruction", "sampling", "latent_grid", "latent_map", "inspector"):
        show_tab(qtbot, window, stem)
        assert window.grab().save(str(tmp_path / f"{stem}.png"))


def test_png_folder_skips_odd_and_unreadable_images_with_a_warning_in_the_preview(qtbot, window, tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    for i, image in enumerate(striped_images(20, 10, 8)):
        Image.fromarray(image).save(folder / f"img{i:02d}.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(folder / "odd.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    dialog = preview_through_the_dialog(qtbot, window, str(folder))
    assert dialog.labels["count"].text().startswith("20")
    assert "10×8" in dialog.labels["shape"].text()
    warning = dialog.labels["warnings"].text()
    assert "skipped 2 of 22" in warning and "odd.png" in warning and "broken.png" in warning
    dialog.ok_button.click()
    assert window.session.dataset.image_shape == (10, 8)
    rec = show_tab(qtbot, window, "reconstruction")
    assert rec.original.current_image().shape == (10, 8)


def test_resized_folder_and_flat_arrays_take_the_typed_image_size(qtbot, window, tmp_path):
    flat = striped_images(30, H, W).reshape(30, H * W)
    np.save(tmp_path / "flat.npy", flat)
    dialog = preview_through_the_dialog(qtbot, window, str(tmp_path / "flat.npy"))
    assert "give --image-shape" in dialog.error_label.text() and not dialog.ok_button.isEnabled()
    qtbot.keyClicks(dialog.shape_edit, "12x9")
    qtbot.mouseClick(dialog.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.dataset is not None, timeout=WAIT_MS)
    np.testing.assert_allclose(dialog.grid.face_at(0, 1), flat[1].reshape(H, W) / 255.0, atol=1e-6)


@pytest.mark.parametrize("content", ["garbage", "floats"])
def test_a_malformed_file_is_said_in_the_dialog_and_the_current_data_stays(qtbot, window, tmp_path, content):
    path = tmp_path / ("bad.npz" if content == "garbage" else "bad.npy")
    if content == "garbage":
        path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    else:
        np.save(path, np.full((10, 4, 4), 3.5))  # floats outside [0, 1]
    before = window.session.dataset
    dialog = preview_through_the_dialog(qtbot, window, str(path))
    assert dialog.error_label.text().startswith("Could not read this data set:")
    assert ("[0, 1]" in dialog.error_label.text()) if content == "floats" else str(path) in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled() and dialog.dataset is None
    dialog.ok_button.click()  # disabled: nothing happens
    dialog.reject()
    assert window.session.dataset is before and "frey_like" in window.status.data_label.text()


def test_a_model_of_another_image_size_is_refused_and_the_current_model_kept(qtbot, window, tmp_path, dialogs):
    np.save(tmp_path / "digits.npy", striped_images(50, H, W))
    dialog = preview_through_the_dialog(qtbot, window, str(tmp_path / "digits.npy"))
    dialog.ok_button.click()
    current = window.session.model
    assert current.config.input_dim == H * W
    frey_model = tmp_path / "frey_model.npz"
    save_model(frey_model, small_model(hidden=(8,), latent=2, dtype="float32"))
    window.files.open_model_path(frey_model)
    qtbot.waitUntil(lambda: bool(dialogs), timeout=WAIT_MS)
    assert dialogs[0][0] == "Could not open the model" and "560" in dialogs[0][1]
    assert window.session.model is current
    assert "digits" in window.status.data_label.text()


def test_gradcheck_cli_checks_real_batches_of_another_image_size(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = tmp_path / "digits.npz"
    np.savez(data, images=striped_images(40, H, W))
    ok = subprocess.run([sys.executable, "main.py", "gradcheck", "--data", str(data), "--hidden", "8", "--latent", "3",
                         "--batch-size", "4", "--quiet"], cwd=root, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "VAE 108-8-3" in ok.stdout and "4 12×9 images of digits" in ok.stdout and "PASSED" in ok.stdout
    frey_model = tmp_path / "frey_model.npz"
    save_model(frey_model, small_model(hidden=(8,), latent=2, dtype="float32"))
    refused = subprocess.run([sys.executable, "main.py", "gradcheck", "--data", str(data), "--weights",
                              str(frey_model), "--quiet"], cwd=root, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "560 pixels" in refused.stderr and "108" in refused.stderr


# ----------------------------------------------------------------------------- one way in for data
@pytest.fixture
def small_image_window(qtbot, tmp_path, dialogs, monkeypatch):
    """A window whose model reads 20×20 images (400 pixels) and no data yet; the replace-the-model question
    is answered by ``monkeypatch``-ed ``answers`` (recorded in ``window.asked``)."""
    from core.models import Model, ModelConfig
    from vae_gui import data_dialog

    session = Session()
    session.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4, input_dim=400), seed=0),
                      meta={"data": {"image_shape": [20, 20], "name": "squares", "n": 100}})
    w = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(w)
    w.asked, w.answer = [], False
    monkeypatch.setattr(data_dialog, "ask_replace_model",
                        lambda _win, conflict, dataset: w.asked.append(conflict) or w.answer)
    w.show()
    return w


def test_frey_faces_under_a_model_of_another_size_ask_first_and_never_pair_them(qtbot, small_image_window,
                                                                              frey_path, dialogs, capfd):
    window, session = small_image_window, small_image_window.session
    model = session.model
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    texts = [a.text() for a in file_menu.actions()]
    assert "Frey faces (default)" in texts and "Load data…" not in texts  # one click, one way in

    window.answer = False  # Cancel: nothing changes
    window.files.load_data_path(frey_path)
    qtbot.waitUntil(lambda: bool(window.asked) and not window.busy_jobs(), timeout=WAIT_MS)
    assert "400 pixels" in window.asked[0] and session.model is model and session.X is None

    window.answer = True  # Yes: an untrained model of the same architecture for 28×20 images, with the data
    window.actions_["frey"].trigger()
    qtbot.waitUntil(lambda: session.X is not None, timeout=WAIT_MS)
    assert session.model is not model and session.model.config.input_dim == 560 == session.X.shape[1]
    assert session.model.config.hidden == [16] and session.model.config.latent == 4
    for panel in window.panels.values():  # every tab works with the pair: no error dialog, no traceback
        window.tabs.setCurrentWidget(panel)
        qtbot.wait(20)
        qtbot.waitUntil(lambda p=panel: not p.job_running(), timeout=WAIT_MS)
    assert dialogs == []
    assert "Traceback" not in capfd.readouterr().err
