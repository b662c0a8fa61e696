"""GUI-2 panels driven through their real widgets: sampling, reconstruction, latent grid, latent map."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication
from threadpoolctl import threadpool_limits

from core.atlas import encode_pixels
from core.evaluate import posterior_means
from core.explore import quantile_axis
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer
from vae_gui.panels.latent_grid import LatentGridPanel
from vae_gui.panels.latent_map import LatentMapPanel
from vae_gui.panels.reconstruction import ReconstructionPanel
from vae_gui.panels.sampling import SamplingPanel, slider_to_z, z_to_slider
from vae_gui.state import Session, decoder_sensitivity


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small products with several OpenBLAS threads crawl on a busy 2-core machine (numpy is already
    imported, so the OPENBLAS_NUM_THREADS variable no longer applies in this process)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def trained_vae(frey, one_blas_thread) -> Model:
    """A small VAE (64 hidden, 8 latent) trained 300 steps on the Frey faces: its faces vary with z."""
    model = Model(ModelConfig(kind="vae", hidden=[64], latent=8, dtype="float64"), seed=0)
    trainer = Trainer(model, make_optimizer("adam", model, lr=3e-3), frey, batch_size=100, seed=0, log_every=100,
                      eval_every=0)
    trainer.run(300)
    return model


@pytest.fixture
def state(trained_vae, frey) -> Session:
    s = Session()
    s.set_model(trained_vae)
    s.set_data(frey, "frey_rawface.mat")
    return s


# pytest-qt keeps only weak references: a shown top-level panel whose last references are Python
# cycles (signal lambdas) can be garbage-collected in the middle of its own paint event, which
# crashes Qt ("Cannot destroy paint device that is being painted"). Keep every panel alive.
_ALIVE: list = []


def _show(qtbot, widget, size=(1200, 800)):
    _ALIVE.append(widget)
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _mouse(widget, kind: QEvent.Type, pos: QPointF, button=Qt.MouseButton.LeftButton, buttons=None):
    """Send one mouse event to a view's viewport (pyqtgraph reads buttons() during drags)."""
    if buttons is None:
        buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    ev = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


# --------------------------------------------------------------------------- sampling
def test_slider_mapping_round_trips():
    assert slider_to_z(0) == -3.0 and slider_to_z(600) == 3.0 and slider_to_z(300) == 0.0
    for z in (-2.5, -0.01, 0.0, 1.23, 3.0):
        assert abs(slider_to_z(z_to_slider(z)) - z) <= 0.005
    assert z_to_slider(10.0) == 600


def test_sampling_slider_changes_face(qtbot, state):
    panel = _show(qtbot, SamplingPanel(state))
    assert len(panel.sliders.sliders) == state.model.config.latent
    before = panel.face.current_image()
    panel.sliders.sliders[2].setValue(z_to_slider(2.5))
    assert panel.z[2] == pytest.approx(2.5, abs=0.01)
    assert panel.sliders.value_labels[2].text() == "+2.50"
    after = panel.face.current_image()
    assert np.abs(after - before).max() > 1e-3
    expected = state.model.decode(panel.z[None])[0].reshape(28, 20)
    np.testing.assert_allclose(after, expected, atol=1e-6)
    # keyboard: PageUp moves the focused slider one page step (0.5 in z) and redraws
    slider = panel.sliders.sliders[0]
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert panel.z[0] == pytest.approx(0.5, abs=0.01)
    assert np.abs(panel.face.current_image() - after).max() > 1e-4


def test_sampling_pad_drag_changes_face_and_sliders(qtbot, state, frey):
    panel = _show(qtbot, SamplingPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)  # the activity scan runs in a worker thread
    qtbot.wait(50)
    dx, dy = panel.pad_dims()
    variance = posterior_means(state.model, frey)[0].var(axis=0)
    assert [dx, dy] == list(np.argsort(-variance)[:2])  # the two most active units
    assert panel.pad_plot.getPlotItem().getAxis("bottom").labelText == f"z{dx}"
    greyed = [d for d, name in enumerate(panel.sliders.name_labels) if "grey" in name.styleSheet()]
    assert greyed == [d for d in range(8) if variance[d] <= 0.01]
    before = panel.face.current_image()
    view = panel.pad_plot
    vb = view.getPlotItem().getViewBox()
    start = view.mapFromScene(vb.mapViewToScene(panel.pad_target.pos()))
    end = view.mapFromScene(vb.mapViewToScene(QPointF(1.5, -1.0)))
    vp = view.viewport()
    _mouse(vp, QEvent.Type.MouseButtonPress, QPointF(start))
    for t in np.linspace(0.1, 1.0, 8):
        p = QPointF(start.x() + t * (end.x() - start.x()), start.y() + t * (end.y() - start.y()))
        _mouse(vp, QEvent.Type.MouseMove, p, button=Qt.MouseButton.NoButton)
    _mouse(vp, QEvent.Type.MouseButtonRelease, QPointF(end))
    assert panel.z[dx] == pytest.approx(1.5, abs=0.1)
    assert panel.z[dy] == pytest.approx(-1.0, abs=0.1)
    assert slider_to_z(panel.sliders.sliders[dx].value()) == pytest.approx(panel.z[dx], abs=0.01)
    assert np.abs(panel.face.current_image() - before).max() > 1e-3
    # moving a slider of a pad dim moves the pad's target, and only it (re-ranging the pad repainted both its
    # axes: ~15 ms of a move, the slider's p95 in benchmarks/gui.py)
    ranges = []
    vb.sigRangeChanged.connect(lambda *_: ranges.append(1))
    panel.sliders.sliders[dy].setValue(z_to_slider(2.0))
    assert panel.pad_target.pos().y() == pytest.approx(2.0, abs=0.01)
    assert ranges == []
    # choosing other pad dims: a pad move now writes those dims
    other = next(d for d in range(8) if d not in (dx, dy))
    panel.pad_x_combo.setCurrentIndex(other)
    panel.pad_target.setPos(-2.0, 0.5)
    assert panel.z[other] == pytest.approx(-2.0) and panel.z[dy] == pytest.approx(0.5)


def test_sampling_random_reset_and_start_from_image(qtbot, state, frey):
    panel = _show(qtbot, SamplingPanel(state))
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)
    assert np.abs(panel.z).max() > 0.05
    random_face = panel.face.current_image()
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert np.all(panel.z == 0) and all(s.value() == 300 for s in panel.sliders.sliders)
    np.testing.assert_allclose(panel.face.current_image(), state.model.decode(np.zeros((1, 8)))[0].reshape(28, 20))
    assert np.abs(panel.face.current_image() - random_face).max() > 1e-3
    panel.image_spin.setValue(123)
    qtbot.mouseClick(panel.from_image_button, Qt.MouseButton.LeftButton)
    mean, _ = posterior_means(state.model, frey[123:124])
    np.testing.assert_allclose(panel.z, mean[0])
    shown = panel.sliders.values()
    np.testing.assert_allclose(shown, np.clip(mean[0], -3, 3), atol=0.006)


def test_sampling_strip_new_samples_and_no_data(qtbot, trained_vae):
    s = Session()
    s.set_model(trained_vae)
    panel = _show(qtbot, SamplingPanel(s))
    assert panel.samples_box.samples.count() == 8
    first = panel.samples_box.samples.faces()
    qtbot.mouseClick(panel.samples_box.new_samples_button, Qt.MouseButton.LeftButton)
    assert np.abs(panel.samples_box.samples.faces() - first).max() > 1e-3
    assert not panel.from_image_button.isEnabled()  # no data
    assert list(panel.pad_dims()) == list(np.argsort(-decoder_sensitivity(trained_vae))[:2])
    # a model with another latent size rebuilds the sliders
    s.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=3), seed=1))
    assert len(panel.sliders.sliders) == 3 and panel.pad_x_combo.count() == 3


# --------------------------------------------------------------------------- reconstruction
def test_reconstruction_index_split_and_losses(qtbot, state, frey):
    panel = _show(qtbot, ReconstructionPanel(state))
    test_id = int(state.test_ids[3])
    panel.spin.setValue(test_id)
    assert panel.slider.value() == test_id
    assert state.selected == test_id
    assert "test" in panel.split_label.text()
    np.testing.assert_allclose(panel.original.current_image(), frey[test_id].reshape(28, 20))
    enc = encode_pixels(state.model, frey[test_id], (28, 20))  # the one −ELBO of an image
    assert panel.rec_nats == pytest.approx(enc.rec, rel=1e-9)
    assert f"{enc.rec:.2f}" in panel.rec_label.text()
    assert f"{enc.kl:.2f}" in panel.kl_label.text()
    assert panel.rec_label.toolTip() and panel.kl_label.toolTip()
    recon = state.model.reconstruct(frey[test_id : test_id + 1])[0].reshape(28, 20)
    np.testing.assert_allclose(panel.reconstruction.current_image(), recon, atol=1e-6)
    np.testing.assert_allclose(panel.difference.current_image(), np.abs(frey[test_id].reshape(28, 20) - recon),
                               atol=1e-6)
    train_id = int(state.train_ids[0])
    panel.slider.setValue(train_id)
    assert panel.spin.value() == train_id and "train" in panel.split_label.text()


def test_reconstruction_draw_z_follows_selection_and_random(qtbot, state):
    panel = _show(qtbot, ReconstructionPanel(state))
    mean_recon = panel.reconstruction.current_image()
    panel.draw_z.setChecked(True)
    assert np.abs(panel.reconstruction.current_image() - mean_recon).max() > 1e-4
    state.select(77)  # e.g. a click in the latent map
    assert panel.spin.value() == 77 and panel.slider.value() == 77
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)
    assert panel.spin.value() == panel.index == state.selected


def test_reconstruction_no_data_message(qtbot, trained_vae):
    s = Session()
    s.set_model(trained_vae)
    panel = _show(qtbot, ReconstructionPanel(s))
    assert panel.showing_no_data_message()
    text = panel.no_data_label.text()
    assert "Open data set" in text and "--data" in text and "VAE_DATA" in text


# --------------------------------------------------------------------------- latent grid
def test_latent_grid_sizes_and_dims(qtbot, state, frey):
    panel = _show(qtbot, LatentGridPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)  # the data set is encoded in a worker thread
    means, _ = posterior_means(state.model, frey)
    top2 = list(np.argsort(-means.var(axis=0))[:2])
    assert list(panel.dims()) == top2
    assert panel.axes_kind() == "pca" and not panel.row_combo.isEnabled()  # > 2 units: principal directions
    panel.axes_combo.setCurrentIndex(panel.axes_combo.findData("dims"))
    assert panel.row_combo.isEnabled()
    panel.n_spin.setValue(7)
    assert panel.grid.grid_shape() == (7, 7)
    assert panel.grid.current_image().shape == (7 * 28 + 8, 7 * 20 + 8)
    row_dim, col_dim = panel.dims()
    z = np.zeros(8)
    z[row_dim], z[col_dim] = quantile_axis(7)[2], quantile_axis(7)[5]
    np.testing.assert_allclose(panel.grid.face_at(2, 5), state.model.decode(z[None])[0].reshape(28, 20), atol=1e-6)
    assert f"z{row_dim}" in panel.grid._plot.getAxis("left").labelText
    panel.n_spin.setValue(25)
    assert panel.grid.grid_shape() == (25, 25)
    assert panel.grid.current_image().shape == (25 * 29 + 1, 25 * 21 + 1)
    # base from an image: the other dims come from its posterior mean
    panel.n_spin.setValue(5)
    panel.base_spin.setValue(42)
    panel.base_image.setChecked(True)
    base = means[42].copy()
    base[row_dim], base[col_dim] = quantile_axis(5)[0], quantile_axis(5)[0]
    np.testing.assert_allclose(panel.grid.face_at(0, 0), state.model.decode(base[None])[0].reshape(28, 20),
                               atol=1e-6)


def test_latent_grid_principal_axes_hover_and_click_to_sampling(qtbot, state, frey):
    """The default grid of a model with > 2 units lies on the posterior means' principal directions; hovering a
    face shows its z and a click sends that z to Sampling."""
    from core.explore import mahalanobis, pca_axes

    panel = _show(qtbot, LatentGridPanel(state), size=(1016, 500))  # its room in a 1024×600 window
    qtbot.waitUntil(panel.is_ready, timeout=10000)
    means, logvars = posterior_means(state.model, frey)
    want = pca_axes(means, logvars, 15)
    np.testing.assert_allclose(panel.axes.points(), want.points(), atol=1e-4)
    assert mahalanobis(panel.axes.points(), means).max() <= 3 + 1e-6
    np.testing.assert_allclose(panel.grid.face_at(3, 11), state.model.decode(want.points()[3 * 15 + 11][None])[0]
                               .reshape(28, 20), atol=1e-5)
    assert "PC1" in panel.grid._plot.getAxis("left").labelText and "vary most" in panel.grid_info.text()
    qtbot.waitUntil(lambda: panel.grid.zoom >= 1, timeout=3000)  # once the layout has settled
    assert panel.grid.zoom == int(panel.grid.zoom)  # crisp: a whole zoom
    assert panel.grid.width() >= panel.grid.width_for_height(panel.grid.height()) - 4  # the faces fill its height
    panel.grid.hovered.emit(3, 11)
    assert "row 3, column 11" in panel.hover_label.text() and f"{panel.z_at(3, 11)[0]:.2f}" in panel.hover_label.text()
    chosen, shown = [], []
    state.latent_chosen.connect(chosen.append)
    state.show_panel.connect(shown.append)
    panel.grid.clicked.emit(3, 11)
    np.testing.assert_allclose(chosen[0], panel.z_at(3, 11))
    assert shown == [SamplingPanel]


def test_latent_grid_computes_its_principal_axes_once_per_encoding_and_size(qtbot, state, monkeypatch):
    """A rebuild with the same encoding and size reuses the axes (their bisection took ~30 of a 36 ms rebuild:
    grid15_ms in benchmarks/gui.py); another size or another model's encoding computes them again."""
    import vae_gui.panels.latent_grid as latent_grid

    calls = []
    original = latent_grid.pca_axes
    monkeypatch.setattr(latent_grid, "pca_axes", lambda *a, **k: (calls.append(a[2]), original(*a, **k))[1])
    panel = _show(qtbot, LatentGridPanel(state))
    qtbot.waitUntil(lambda: panel.is_ready() and panel.axes is not None and panel.axes.kind == "pca", timeout=10000)
    first = len(calls)
    panel.rebuild_grid()
    panel.rebuild_grid()
    assert len(calls) == first
    panel.n_spin.setValue(panel.n_spin.value() + 2)
    assert calls[-1] == panel.n_spin.value() and panel.axes.row_values.size == panel.n_spin.value()
    state.set_model(Model(ModelConfig(kind="vae", latent=5), seed=1))
    qtbot.waitUntil(lambda: panel.axes is not None and panel.axes.kind == "pca" and panel.axes.centre.size == 5,
                    timeout=10000)  # once the new model's encoding is in
    assert len(calls) == first + 2


def test_traversal_sheet_rows_by_kl_around_a_face_with_png_and_gif(qtbot, state, frey, tmp_path):
    from PIL import Image

    from core.explore import unit_kl
    from core.images import read_png_gray

    panel = _show(qtbot, LatentGridPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)
    state.select(33)
    dialog = panel.open_traversal()
    qtbot.addWidget(dialog)
    assert dialog.sheet.grid_shape() == (8, 9)  # all 8 units of the model, 9 columns
    means, logvars = posterior_means(state.model, frey)
    kl = unit_kl(means, logvars)
    assert dialog.rows.names == [f"z{d}" for d in np.argsort(-kl, kind="stable")]
    middle = state.model.decode(means[33][None])[0].reshape(28, 20)  # column 4 of 9: the face itself
    np.testing.assert_allclose(dialog.sheet.face_at(0, 4), middle, atol=1e-5)
    top_unit = int(dialog.rows.names[0][1:])
    z = means[33].copy()
    z[top_unit] += 3 * means[:, top_unit].std()
    np.testing.assert_allclose(dialog.sheet.face_at(0, 8), state.model.decode(z[None])[0].reshape(28, 20), atol=1e-4)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("pca"))
    dialog.rows_spin.setValue(3)
    assert dialog.sheet.grid_shape() == (3, 9) and dialog.rows.names == ["PC1", "PC2", "PC3"]
    dialog.save(str(tmp_path / "sheet.png"), "PNG")
    qtbot.waitUntil(lambda: "sheet.png" in dialog.info.text(), timeout=10000)
    assert read_png_gray(tmp_path / "sheet.png").shape == (2 * (3 * 28 + 4), 2 * (9 * 20 + 10))
    dialog.frames_spin.setValue(12)
    dialog.save(str(tmp_path / "walk.gif"), "GIF")
    qtbot.waitUntil(lambda: "walk.gif" in dialog.info.text(), timeout=10000)
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 12 and gif.info["duration"] == 80


def test_latent_grid_gifs_of_the_grid_sweep_and_a_to_b(qtbot, state, tmp_path):
    from PIL import Image

    panel = _show(qtbot, LatentGridPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)
    panel.n_spin.setValue(5)
    row = panel.gif_row
    row.frames_spin.setValue(9)
    row.ms_spin.setValue(60)
    row.save("grid, 3rd axis swept…", str(tmp_path / "grid.gif"))
    qtbot.waitUntil(lambda: "grid.gif" in row.status.text(), timeout=10000)
    with Image.open(tmp_path / "grid.gif") as gif:
        assert gif.n_frames == 9 and gif.info["duration"] == 60
        assert gif.size == (3 * (5 * 20 + 6), 3 * (5 * 28 + 6 + 2))
    row.save("A→B…", str(tmp_path / "path.gif"))
    qtbot.waitUntil(lambda: "path.gif" in row.status.text(), timeout=10000)
    with Image.open(tmp_path / "path.gif") as gif:
        assert gif.n_frames == 9 and gif.size == (3 * (20 + 2), 3 * (28 + 2 + 2))


def test_latent_grid_interpolation(qtbot, state, frey):
    panel = _show(qtbot, LatentGridPanel(state))
    panel.a_spin.setValue(10)
    panel.b_spin.setValue(1500)
    panel.k_spin.setValue(6)
    assert panel.lerp_strip.count() == 6 and panel.slerp_strip.count() == 6
    means, _ = posterior_means(state.model, frey[[10, 1500]])
    lerp_faces = panel.lerp_strip.faces()
    np.testing.assert_allclose(lerp_faces[0], state.model.decode(means[:1])[0].reshape(28, 20), atol=1e-6)
    np.testing.assert_allclose(lerp_faces[-1], state.model.decode(means[1:])[0].reshape(28, 20), atol=1e-6)
    slerp_faces = panel.slerp_strip.faces()
    np.testing.assert_allclose(slerp_faces[0], lerp_faces[0], atol=1e-6)
    np.testing.assert_allclose(slerp_faces[-1], lerp_faces[-1], atol=1e-6)
    assert np.abs(slerp_faces[2] - lerp_faces[2]).max() > 1e-5  # the paths differ in between
    np.testing.assert_allclose(panel.original_a.current_image(), frey[10].reshape(28, 20))
    np.testing.assert_allclose(panel.original_b.current_image(), frey[1500].reshape(28, 20))
    np.testing.assert_allclose(panel.slerp_a.current_image(), frey[10].reshape(28, 20))
    np.testing.assert_allclose(panel.slerp_b.current_image(), frey[1500].reshape(28, 20))


def test_latent_grid_without_data(qtbot, trained_vae):
    s = Session()
    s.set_model(trained_vae)
    panel = _show(qtbot, LatentGridPanel(s))
    sensitivity = decoder_sensitivity(trained_vae)  # no data: the dims the decoder reacts to most
    assert list(panel.dims()) == list(np.argsort(-sensitivity)[:2])
    assert panel.grid.grid_shape() == (15, 15)
    assert not panel.base_image.isEnabled()
    assert "needs data" in panel.interp_message.text() and not panel.interp_rows.isVisible()


# --------------------------------------------------------------------------- latent map
def test_latent_map_points_hover_click_and_units(qtbot, state, frey):
    panel = _show(qtbot, LatentMapPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)  # the data set is encoded in a worker thread
    qtbot.wait(50)
    brushes = panel.plot.points.data["brush"]
    assert len(brushes) == 1965
    test_colour = brushes[int(state.test_ids[0])].color()
    assert sum(b.color() == test_colour for b in brushes) == len(state.test_ids)
    # hover: move the mouse onto a test point → its face and reconstruction appear
    index = int(state.test_ids[5])
    panel.plot.getViewBox().setRange(xRange=(panel.coords[index, 0] - 1e-3, panel.coords[index, 0] + 1e-3),
                                     yRange=(panel.coords[index, 1] - 1e-3, panel.coords[index, 1] + 1e-3),
                                     padding=0)  # zoom in so only this point is under the cursor
    qtbot.wait(20)
    view_pos = panel.plot.mapFromScene(panel.point_scene_pos(index))
    vp = panel.plot.viewport()
    _mouse(vp, QEvent.Type.MouseMove, QPointF(view_pos), button=Qt.MouseButton.NoButton,
           buttons=Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: panel.plot.hovered == index, timeout=2000)
    np.testing.assert_allclose(panel.atlas.hover_face.image, frey[index].reshape(28, 20), rtol=1e-6)
    recon = state.model.reconstruct(frey[index : index + 1])[0].reshape(28, 20)
    np.testing.assert_allclose(panel.atlas.hover_recon.image, recon, atol=1e-6)
    assert "test" in panel.atlas.hover_face.title()
    # click selects it for the other panels
    with qtbot.waitSignal(state.selection_changed) as blocker:
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=QPoint(view_pos.x(), view_pos.y()))
    assert blocker.args == [index] and state.selected == index
    # KL bars: one per latent dim, heights = mean analytic KL
    assert len(panel.kl_bars.opts["height"]) == state.model.config.latent
    means, logvars = posterior_means(state.model, frey)
    kl = (0.5 * (means**2 + np.exp(logvars) - 1 - logvars)).mean(axis=0)
    np.testing.assert_allclose(panel.kl_bars.opts["height"], kl, rtol=1e-9)
    active = int((means.var(axis=0) > 0.01).sum())
    assert f"active units: {active} of 8" in panel.active_label.text()
    assert panel.active_label.toolTip()


def test_latent_map_projection_modes_and_hover_handler(qtbot, state, frey):
    panel = _show(qtbot, LatentMapPanel(state))
    qtbot.waitUntil(panel.is_ready, timeout=10000)
    means, _ = posterior_means(state.model, frey)
    panel.mode_combo.setCurrentIndex(1)  # two latent dims
    panel.x_combo.setCurrentIndex(4)
    panel.y_combo.setCurrentIndex(6)
    np.testing.assert_allclose(panel.coords, means[:, [4, 6]])
    assert panel.plot.getPlotItem().getAxis("bottom").labelText == "z4"
    panel.mode_combo.setCurrentIndex(0)  # PCA: centred, first axis has the largest spread
    assert abs(panel.coords.mean(axis=0)).max() < 1e-9
    assert panel.coords[:, 0].var() >= panel.coords[:, 1].var()
    panel.plot.hover_at(*panel.coords[0])
    np.testing.assert_allclose(panel.atlas.hover_face.image, frey[0].reshape(28, 20), rtol=1e-6)


def test_decoder_sensitivity_finds_the_dims_the_decoder_uses(trained_vae, frey):
    sensitivity = decoder_sensitivity(trained_vae)
    assert sensitivity.shape == (8,) and np.all(sensitivity >= 0)
    variance = posterior_means(trained_vae, frey)[0].var(axis=0)
    assert np.argmax(sensitivity) in np.argsort(-variance)[:3]  # agrees with the data-based activity


def test_latent_map_without_data_says_how_to_load_it(qtbot, trained_vae):
    s = Session()
    s.set_model(trained_vae)
    panel = _show(qtbot, LatentMapPanel(s))
    assert panel.stack.currentWidget() is panel.no_data_label
    assert "Open data set" in panel.no_data_label.text() and "VAE_DATA" in panel.no_data_label.text()


def test_latent_map_refreshes_when_shown_after_a_change(qtbot, state, trained_vae):
    panel = LatentMapPanel(state)
    _ALIVE.append(panel)
    qtbot.addWidget(panel)
    state.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=3), seed=2))
    assert panel._dirty  # hidden: no encoding yet
    _show(qtbot, panel)
    qtbot.waitUntil(panel.is_ready, timeout=10000)
    assert len(panel.kl_bars.opts["height"]) == 3


# --------------------------------------------------------------------------- an auto-encoder
def test_panels_work_with_an_auto_encoder(qtbot, frey):
    s = Session()
    ae = Model(ModelConfig(kind="ae", hidden=[32], latent=4, dtype="float64"), seed=3)
    s.set_model(ae)
    s.set_data(frey, "frey_rawface.mat")
    recon = _show(qtbot, ReconstructionPanel(s))
    assert "auto-encoder" in recon.kl_label.text() and not recon.draw_z.isEnabled()
    assert recon.rec_nats == pytest.approx(encode_pixels(ae, frey[0], (28, 20)).rec)
    sampling = _show(qtbot, SamplingPanel(s))
    assert len(sampling.sliders.sliders) == 4 and "Auto-encoder" in sampling.message.text()
    grid = _show(qtbot, LatentGridPanel(s))
    qtbot.waitUntil(grid.is_ready, timeout=10000)
    assert grid.grid.grid_shape() == (15, 15)
    latent_map = _show(qtbot, LatentMapPanel(s))
    qtbot.waitUntil(latent_map.is_ready, timeout=10000)
    assert np.all(latent_map.kl_bars.opts["height"] == 0)
    assert "auto-encoder" in latent_map.kl_plot.plotItem.titleLabel.text
