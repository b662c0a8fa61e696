"""Changing the model or the data set under every panel: nothing of the old pair stays on screen.

The real main window on small synthetic data sets: every panel is given state of its own first (an
inspection and a short training run's history, a lasso selection with both grid ends sent, your own
image, a gradient check, a zoomed loss plot), then the data set is switched to one of another image size
(the model is replaced, as File ▸ Open data set… does) and the model once more; after each switch every
tab is shown and no text, plot or selection may still describe the old model or data set.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.gui import tiny_run_form
from PyQt6.QtWidgets import QGroupBox, QLabel
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.atlas import encode_pixels
from core.dataset import Dataset
from core.models import Model, ModelConfig
from vae_gui.app import PANELS, MainWindow, make_settings
from vae_gui.data_dialog import apply_dataset
from vae_gui.state import Session

WAIT_MS = 60_000


def faces(n: int, shape: tuple[int, int], seed: int) -> np.ndarray:
    """n smooth blobs (n, H·W) in [0, 1]: something a tiny VAE can learn in a few steps."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    centres = rng.uniform(0.3, 0.7, (n, 2)) * (h, w)
    images = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / (0.1 * h * w))
    return images.reshape(n, -1).astype(np.float32)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, dialogs):
    from vae_gui import closing

    monkeypatch.setattr(closing, "ask_unsaved", lambda *_a: closing.DISCARD)  # the trained weights may go
    session = Session()
    session.set_data(Dataset(faces(80, (28, 20), 0), (28, 20), "old-faces"), tmp_path / "old.npy")
    session.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4), seed=0))
    win = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win


def visible_texts(window) -> list[str]:
    """Every text the user can read now: labels, group titles, plot titles and axis labels, the status bar."""
    texts = [w.text() for w in window.findChildren(QLabel) if w.isVisible()]
    texts += [w.title() for w in window.findChildren(QGroupBox) if w.isVisible()]
    for panel in window.panels.values():
        for plot in _plots(panel):
            if plot.isVisible():
                item = plot.getPlotItem()
                texts.append(item.titleLabel.text)
                texts += [item.getAxis(side).labelText for side in ("left", "bottom")]
    return texts


def _plots(panel):
    import pyqtgraph as pg

    return panel.findChildren(pg.PlotWidget)


def every_tab_shows(qtbot, window, *stale: str) -> None:
    """Show each tab in turn (panels redraw when shown) and check that no visible text holds a stale string."""
    for cls in PANELS:
        window.tabs.setCurrentWidget(window.panel(cls))
        qtbot.wait(30)
        panel = window.panel(cls)
        qtbot.waitUntil(lambda p=panel: not p.job_running(), timeout=WAIT_MS)
        for text in visible_texts(window):
            for old in stale:
                assert old not in text, f"{cls.title}: {text!r} still shows {old!r}"


def give_every_panel_state(qtbot, window) -> None:
    session = window.session
    training = tiny_run_form(window, steps=60)
    window.tabs.setCurrentWidget(window.panel("inspector"))
    assert training.start_training()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=WAIT_MS)
    inspector = window.panel("inspector")
    assert len(inspector.history) > 0  # the run's snapshots over steps
    training.plots.loss_plot.setXRange(0, 5)  # the user zooms in: the view no longer follows the data
    # the Latent map: a selection kept as both ends of the grid's A→B path
    latent_map = window.panel("latent_map")
    window.tabs.setCurrentWidget(latent_map)
    qtbot.waitUntil(latent_map.is_ready, timeout=WAIT_MS)
    latent_map.atlas.select_ids(np.arange(10))
    latent_map.atlas.selection_box.send("a")
    latent_map.atlas.select_ids(np.arange(40, 50))
    latent_map.atlas.selection_box.send("b")
    assert window.panel("latent_grid").chosen_ends is not None
    # your own image, in Reconstruction
    session.show_own_image(encode_pixels(session.model, session.X[0], (28, 20)))
    assert window.panel("reconstruction").own is not None
    # a gradient check of the current model on the data set's images
    gradcheck = window.panel("gradcheck")
    gradcheck.current_check.setChecked(True)
    gradcheck.mode_combo.setCurrentText("sample")
    gradcheck.k_spin.setValue(3)
    assert gradcheck.run_check()
    qtbot.waitUntil(lambda: gradcheck.report is not None, timeout=WAIT_MS)
    assert "images of the data set" in gradcheck.data_label.text()


def test_a_data_set_of_another_size_then_another_model_leave_nothing_stale(qtbot, window, dialogs):
    session = window.session
    give_every_panel_state(qtbot, window)
    old_model = session.model.config.describe()  # "VAE 560-16-4, …"
    assert old_model.startswith("VAE 560-16-4")

    # 1. another data set, of another image size: the model is replaced by one that reads it
    new_data = Dataset(faces(50, (12, 9), 1), (12, 9), "new-faces")
    assert apply_dataset(window, new_data, "new.npy")
    assert session.model.config.input_dim == 108 and session.dataset is new_data
    every_tab_shows(qtbot, window, "560-16-4", "old-faces", "80 images", "80 faces")
    inspector, grid, explorer = window.panel("inspector"), window.panel("latent_grid"), window.panel("latent_map").atlas
    assert len(inspector.history) == 0 and inspector.time_plots.ratio_curves == {}
    assert "108-16-4" in inspector.source_label.text()  # the header names the model it inspected
    assert explorer.selection is None and explorer.selection_box.grid_ends == {}
    assert not explorer.selection_box.isVisible() and explorer.own is None
    assert grid.chosen_ends is None
    assert (grid.a_spin.maximum(), grid.a_spin.value(), grid.b_spin.value()) == (49, 0, 25)
    assert grid.original_b._title.text() == "B #25"
    grid.k_spin.setValue(4)  # the fewest faces, the smallest ends: a four-digit title still fits
    assert grid.original_b.width() >= grid.original_b.fontMetrics().horizontalAdvance("B #1500")
    assert window.panel("reconstruction").own is None
    gradcheck = window.panel("gradcheck")
    assert gradcheck.report is None and gradcheck.summary_label.text() == "No check run yet."
    assert gradcheck.histogram_data()[1].sum() == 0
    loss_view = window.panel("training").plots.loss_plot.getViewBox()
    assert all(loss_view.state["autoRange"])  # the old zoom no longer frames the curves
    assert "108-16-4" in window.status.model_label.text()

    # 2. another model on the same data: its own latent size everywhere
    session.set_model(Model(ModelConfig(kind="vae", hidden=[12], latent=3, input_dim=108), seed=1))
    every_tab_shows(qtbot, window, "560-16-4", "108-16-4", "old-faces")
    assert dialogs == []
    sampling = window.panel("sampling")
    assert len(sampling.sliders.sliders) == 3 and np.all(sampling.z == 0)
    assert window.panel("latent_map").x_combo.count() == 3
    assert "108-12-3" in inspector.source_label.text()


def test_the_status_bar_says_a_run_trains_its_own_model(qtbot, window):
    training = tiny_run_form(window, steps=100_000)
    assert training.start_training()
    qtbot.waitUntil(lambda: window.session.training, timeout=WAIT_MS)
    assert window.status.model_label.text().startswith("Training a run (Training tab); current until it ends:")
    training.stop_training()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=WAIT_MS)
    assert not window.status.model_label.text().startswith("Training")
