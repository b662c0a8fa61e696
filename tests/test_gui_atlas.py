"""The latent atlas on real widgets (pytest-qt, offscreen): thumbnails, hover over a face and over empty space,
a dragged path, lasso and rectangle selections, colour by σ / loss, and an image file dropped on a window."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PyQt6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QMouseEvent
from PyQt6.QtWidgets import QApplication, QMainWindow

from core import atlas
from core.checkpoint import load_model
from core.dataset import frey_dataset
from core.evaluate import posterior_means
from vae_gui.image_import import ImageImporter, read_image
from vae_gui.state import Session
from vae_gui.widgets.atlas_explorer import COLOUR_LOSS, COLOUR_SIGMA, PATH_FACES, AtlasExplorer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vae():
    return load_model(ROOT / "model" / "vae.npz").model


@pytest.fixture(scope="module")
def encoded(vae, frey_path):
    dataset = frey_dataset(frey_path)
    means, logvars = posterior_means(vae, dataset.images)
    return dataset, means, logvars


@pytest.fixture
def explorer(qtbot, vae, encoded):
    dataset, means, logvars = encoded
    session = Session()
    session.set_model(vae)
    session.set_data(dataset)
    widget = AtlasExplorer(session)
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_view(means, logvars, atlas.pca_projection(means), session.train_ids, session.test_ids)
    QApplication.processEvents()
    return widget


def _mouse(widget, kind, pos: QPointF, button=Qt.MouseButton.NoButton, buttons=Qt.MouseButton.NoButton):
    """Send a real mouse event to the plot's viewport (pyqtgraph reads moves with buttons held as drags).
    Moves are spaced like a real mouse's: pyqtgraph drops moves closer than 1/mouseRateLimit (10 ms)."""
    if kind == QEvent.Type.MouseMove:
        time.sleep(0.012)
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _drag(plot, view_points):
    """Press at the first view point, move through the others with the left button held, release at the last."""
    vp = plot.viewport()
    pts = [plot.view_to_widget(x, y) for x, y in view_points]
    left = Qt.MouseButton.LeftButton
    _mouse(vp, QEvent.Type.MouseMove, pts[0])
    _mouse(vp, QEvent.Type.MouseButtonPress, pts[0], left, left)
    for p in pts[1:]:
        _mouse(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left)
        QApplication.processEvents()
    _mouse(vp, QEvent.Type.MouseButtonRelease, pts[-1], left, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def _empty_spot(widget) -> tuple[float, float]:
    """A view point inside the plot, far from every face (so hovering it decodes)."""
    lo, hi = widget.coords.min(axis=0), widget.coords.max(axis=0)
    xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], 40), np.linspace(lo[1], hi[1], 40))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    d = np.min(((grid[:, None, :] - widget.coords[None]) ** 2).sum(-1), axis=1)
    return tuple(grid[np.argmax(d)])


def test_thumbnails_all_faces_from_one_atlas_faded_where_crowded(explorer):
    thumbs = explorer.plot.thumbnails
    explorer.faces_check.setChecked(True)
    explorer.plot.viewport().repaint()
    assert thumbs.isVisible() and thumbs.last_drawn == 1965
    assert thumbs._pixmap.width() * thumbs._pixmap.height() >= 1965 * 28 * 20  # one pixmap holds them all
    assert thumbs.last_opacity.min() < 0.5 and thumbs.last_opacity.max() == 1.0  # the crowded centre fades
    vb = explorer.plot.tool_box
    (x0, x1), (y0, y1) = vb.viewRange()
    vb.setRange(xRange=(x0 + 0.4 * (x1 - x0), x0 + 0.6 * (x1 - x0)),
                yRange=(y0 + 0.4 * (y1 - y0), y0 + 0.6 * (y1 - y0)), padding=0)
    explorer.plot.viewport().repaint()
    assert thumbs.last_drawn < 1965  # zoomed in: only the visible ones are drawn…
    zoomed_mean_opacity = thumbs.last_opacity.mean()
    vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
    explorer.plot.viewport().repaint()
    assert zoomed_mean_opacity > thumbs.last_opacity.mean()  # …spread apart, so fewer fade
    explorer.faces_check.setChecked(False)
    assert not thumbs.isVisible()


def test_hover_a_face_shows_it_its_reconstruction_and_its_ellipses(explorer, encoded):
    dataset, means, logvars = encoded
    index = 123
    _mouse(explorer.plot.viewport(), QEvent.Type.MouseMove, explorer.plot.view_to_widget(*explorer.coords[index]))
    assert explorer.plot.hovered == index
    np.testing.assert_allclose(explorer.hover_face.image, dataset.images[index].reshape(28, 20), rtol=1e-6)
    assert explorer.hover_face.title().startswith(f"#{index}")
    one_sigma_x, _ = explorer.plot.ellipses[1].getData()
    two_sigma_x, _ = explorer.plot.ellipses[2].getData()
    assert len(one_sigma_x) > 10
    assert np.ptp(two_sigma_x) == pytest.approx(2 * np.ptp(one_sigma_x), rel=1e-6)
    # the thumbnail of the hovered face comes to the front
    explorer.faces_check.setChecked(True)
    _mouse(explorer.plot.viewport(), QEvent.Type.MouseMove, explorer.plot.view_to_widget(*explorer.coords[index]))
    assert explorer.plot.thumbnails.hovered == explorer.plot.hovered


def test_hover_empty_space_decodes_that_point_with_the_chosen_other_dims(explorer, vae):
    x, y = _empty_spot(explorer)
    _mouse(explorer.plot.viewport(), QEvent.Type.MouseMove, explorer.plot.view_to_widget(x, y))
    assert explorer.plot.hovered is None
    mouse = explorer.plot.tool_box.mapSceneToView(explorer.plot.mapToScene(explorer.plot.view_to_widget(x, y)
                                                                            .toPoint()))
    z = explorer.latent_at(mouse.x(), mouse.y())
    np.testing.assert_allclose(explorer.projection.project(z[None])[0], [mouse.x(), mouse.y()], atol=1e-9)
    np.testing.assert_allclose(explorer.hover_face.image.ravel(), atlas.decode_latents(vae, z[None])[0], rtol=1e-5)
    zero_face = explorer.hover_face.image.copy()
    explorer.other_combo.setCurrentIndex(explorer.other_combo.findData(atlas.OTHER_NEAREST))
    _mouse(explorer.plot.viewport(), QEvent.Type.MouseMove, explorer.plot.view_to_widget(x, y))
    assert not np.allclose(zero_face, explorer.hover_face.image)  # other dims from the nearest faces now
    assert explorer.hover_ms and explorer.hover_ms[-1] < 1000
    assert not explorer.hover_recon._glw.isVisible()  # no data face there: no blank box beside the decoded one


def test_hover_works_in_a_two_dims_view_too(explorer, encoded):
    _, means, logvars = encoded
    explorer.set_view(means, logvars, atlas.dims_projection(means.shape[1], 3, 5), explorer.session.train_ids,
                      explorer.session.test_ids)
    x, y = _empty_spot(explorer)
    _mouse(explorer.plot.viewport(), QEvent.Type.MouseMove, explorer.plot.view_to_widget(x, y))
    assert explorer.hover_face.title().startswith("decoded at")
    assert explorer.plot.getPlotItem().getAxis("bottom").labelText == "z3"


def test_drag_a_path_decodes_a_strip_of_faces_along_it(explorer, vae):
    explorer.tool_combo.setCurrentIndex(explorer.tool_combo.findData("path"))
    lo, hi = explorer.coords.min(axis=0), explorer.coords.max(axis=0)
    ends = [lo + 0.2 * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.8 * (hi - lo)]
    _drag(explorer.plot, ends)
    assert explorer.path_z is not None and explorer.path_z.shape == (PATH_FACES, vae.config.latent)
    along = explorer.projection.project(explorer.path_z)
    np.testing.assert_allclose(along[0], ends[0], atol=0.05 * np.ptp(explorer.coords))
    np.testing.assert_allclose(along[-1], ends[-1], atol=0.05 * np.ptp(explorer.coords))
    strip = explorer.path_strip.image
    assert strip.shape == (28 + 2, PATH_FACES * 21 + 1)
    np.testing.assert_allclose(strip[1:29, 1:21], atlas.decode_latents(vae, explorer.path_z[:1])[0].reshape(28, 20),
                               rtol=1e-5)
    assert len(explorer.plot.path.getData()[0]) == PATH_FACES


def test_lasso_selects_the_faces_inside_and_shows_mean_and_decoded_mean(explorer, encoded, vae):
    dataset, means, _ = encoded
    explorer.tool_combo.setCurrentIndex(explorer.tool_combo.findData("lasso"))
    c = np.median(explorer.coords, axis=0)
    r = 0.15 * np.ptp(explorer.coords, axis=0)
    loop = [c + r * np.array([np.cos(t), np.sin(t)]) for t in np.linspace(0, 2 * np.pi, 24)]
    _drag(explorer.plot, loop)
    sel = explorer.selection
    assert sel is not None and 5 < len(sel.ids) < 1965
    inside = np.hypot(*((explorer.coords[sel.ids] - c) / r).T)
    assert inside.max() < 1.1  # only faces inside the drawn loop
    box = explorer.selection_box
    np.testing.assert_allclose(box.mean_face.image.ravel(), dataset.images[sel.ids].mean(axis=0), rtol=1e-5)
    decoded = atlas.decode_latents(vae, means[sel.ids].mean(axis=0)[None])[0]
    np.testing.assert_allclose(explorer.selection_box.decoded.image.ravel(), decoded, rtol=1e-5)
    # sent to the Latent grid as A, then another rectangle as B
    got = []
    explorer.session.grid_ends_chosen.connect(lambda a, b: got.append((a, b)))
    explorer.selection_box.send_a_button.click()
    a_ids = sel.ids
    explorer.tool_combo.setCurrentIndex(explorer.tool_combo.findData("rect"))
    lo, hi = explorer.coords.min(axis=0), explorer.coords.max(axis=0)
    _drag(explorer.plot, [lo + 0.02 * (hi - lo), lo + 0.3 * (hi - lo)])
    b_ids = explorer.selection.ids
    assert len(b_ids) and np.all(explorer.coords[b_ids] <= lo + 0.31 * (hi - lo))  # ± a mouse pixel
    explorer.selection_box.send_b_button.click()
    assert len(got) == 1
    np.testing.assert_allclose(got[0][0], means[a_ids].mean(axis=0))
    np.testing.assert_allclose(got[0][1], means[b_ids].mean(axis=0))


def test_colour_by_sigma_and_by_loss_with_a_colour_bar(qtbot, explorer, encoded):
    _, _, logvars = encoded
    explorer.colour_combo.setCurrentText(COLOUR_SIGMA)
    assert explorer.plot.colour_bar.isVisible()
    sigma = atlas.mean_posterior_sigma(logvars)
    lo, hi = explorer.plot.colour_bar.levels()
    assert lo == pytest.approx(np.percentile(sigma, 1)) and hi == pytest.approx(np.percentile(sigma, 99))
    brushes = explorer.plot.points.data["brush"]
    least, most = int(np.argmin(sigma)), int(np.argmax(sigma))
    assert brushes[least].color() != brushes[most].color()
    explorer.colour_combo.setCurrentText(COLOUR_LOSS)
    qtbot.waitUntil(explorer.colour_ready, timeout=20000)
    assert explorer.plot.colour_bar.axis.labelText.startswith("reconstruction loss")
    explorer.colour_combo.setCurrentIndex(0)
    assert not explorer.plot.colour_bar.isVisible()


def _write_photo(path: Path) -> np.ndarray:
    """A 60×90 colour PNG: a bright disc on a dark background, off-centre, so the crop matters."""
    yy, xx = np.mgrid[0:60, 0:90]
    grey = np.where((yy - 30) ** 2 + (xx - 30) ** 2 < 20**2, 220, 40).astype(np.uint8)
    image = QImage(90, 60, QImage.Format.Format_RGB888)
    for y in range(60):
        for x in range(90):
            image.setPixelColor(x, y, QColor(int(grey[y, x]), int(grey[y, x]), int(grey[y, x])))
    assert image.save(str(path))
    return grey


def test_drop_an_image_file_encodes_marks_and_shows_it(qtbot, tmp_path, explorer, vae):
    path = tmp_path / "me.png"
    grey = _write_photo(path)
    np.testing.assert_array_equal(read_image(path)[:, :, 0], grey)
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setAcceptDrops(True)
    importer = ImageImporter(explorer.session, window)
    window.installEventFilter(importer)
    window.show()
    received = []
    explorer.session.own_image.connect(received.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()  # the window takes PNG drops
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    # Qt delivers a Drop only inside a real drag-and-drop session, so hand it to the window's filter as Qt would
    assert importer.eventFilter(window, drop) is True
    assert drop.isAccepted() and len(received) == 1
    enc = received[0]
    crop = atlas.default_crop((60, 90), (28, 20))
    np.testing.assert_allclose(enc.pixels, atlas.crop_resize(grey / 255.0, crop, (28, 20)).ravel(), atol=1e-6)
    np.testing.assert_allclose(enc.mean, atlas.encode_pixels(vae, enc.pixels, (28, 20)).mean, rtol=1e-6)
    marker = explorer.plot.own_marker.data
    np.testing.assert_allclose([marker["x"][0], marker["y"][0]], explorer.projection.project(enc.mean[None])[0])
    assert len(explorer.plot.own_ellipses[1].getData()[0]) > 10
    # the crop window shows the crop; moving it re-encodes another part of the picture
    dialog = importer.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.roi.pos().x() == pytest.approx(crop.left)
    dialog.roi.setPos(QPointF(0, 0))  # finish=True: the same signal a mouse release sends
    assert len(received) == 2
    moved = atlas.crop_resize(grey / 255.0, atlas.Crop(0, 0, crop.width, crop.height), (28, 20))
    np.testing.assert_allclose(received[1].pixels, moved.ravel(), atol=1e-6)
    assert "−ELBO" in dialog.label.text()
    dialog.close()


def test_unreadable_image_gives_an_error_dialog_not_a_crash(qtbot, tmp_path, explorer):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    errors = []
    explorer.session.error_raised.connect(lambda title, text: errors.append(text))
    window = QMainWindow()
    qtbot.addWidget(window)
    importer = ImageImporter(explorer.session, window)
    assert importer.encode_file(bad) is None
    assert errors and "broken.png" in errors[0]
    assert importer.encode_file(tmp_path / "missing.jpg") is None and "not found" in errors[1]


def test_click_selects_the_face_for_the_other_panels(explorer):
    index = 77
    pos = explorer.plot.view_to_widget(*explorer.coords[index])
    vp = explorer.plot.viewport()
    _mouse(vp, QEvent.Type.MouseMove, pos)
    left = Qt.MouseButton.LeftButton
    _mouse(vp, QEvent.Type.MouseButtonPress, pos, left, left)
    _mouse(vp, QEvent.Type.MouseButtonRelease, pos, left, Qt.MouseButton.NoButton)
    QApplication.processEvents()
    assert explorer.session.selected == explorer.plot.point_under(*explorer.coords[index])


def test_atlas_benchmark_measures_every_key(qapp):
    from benchmarks import atlas as bench

    results = bench.run_all(quick=True)
    assert "atlas_errors" not in results, results.get("atlas_errors")
    assert all(results[key] is not None and results[key] > 0 for key in bench.KEYS)


def test_main_window_has_encode_an_image_and_takes_png_drops(qtbot, tmp_path, vae, encoded):
    from vae_gui.app import MainWindow, make_settings

    dataset, _, _ = encoded
    session = Session()
    session.set_data(dataset)
    session.set_model(vae)
    window = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(window)
    window.show()
    file_menu = window.menuBar().actions()[0].menu()
    assert window.image_import.action in file_menu.actions()
    assert window.image_import.action.text().replace("&", "").startswith("Encode an image")
    latent_map = window.panel("latent_map")
    window.tabs.setCurrentWidget(latent_map)
    qtbot.waitUntil(latent_map.is_ready, timeout=20000)
    path = tmp_path / "face.png"
    _write_photo(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    assert window.image_import.eventFilter(window, drop)
    enc = window.image_import.last
    assert enc is not None and len(latent_map.atlas.plot.own_marker.data) == 1
    marker = latent_map.atlas.plot.own_marker.data
    np.testing.assert_allclose(latent_map.atlas.projection.project(enc.mean[None])[0], [marker["x"][0], marker["y"][0]])
    window.image_import.dialog.close()


def test_your_image_reaches_reconstruction_and_sampling_and_selections_reach_the_grid(qtbot, tmp_path, vae,
                                                                                        encoded):
    from vae_gui.panels.latent_grid import LatentGridPanel
    from vae_gui.panels.reconstruction import ReconstructionPanel
    from vae_gui.panels.sampling import SamplingPanel

    dataset, means, _ = encoded
    session = Session()
    session.set_model(vae)
    session.set_data(dataset)
    recon, sampling, grid = ReconstructionPanel(session), SamplingPanel(session), LatentGridPanel(session)
    for panel in (recon, sampling, grid):
        qtbot.addWidget(panel)
        panel.show()
    qtbot.waitUntil(grid.is_ready, timeout=20000)
    window = QMainWindow()
    qtbot.addWidget(window)
    path = tmp_path / "me.png"
    _write_photo(path)
    enc = ImageImporter(session, window).encode_file(path, show_crop=False)
    # Reconstruction: your image and the decoder's image of its posterior mean
    np.testing.assert_allclose(recon.original.current_image().ravel(), enc.pixels, atol=1e-6)
    np.testing.assert_allclose(recon.reconstruction.current_image().ravel(),
                               atlas.decode_latents(vae, enc.mean[None])[0], atol=1e-5)
    assert "your image" in recon.original.title()
    session.select(3)  # picking a data face returns to the data
    np.testing.assert_allclose(recon.original.current_image().ravel(), dataset.images[3], atol=1e-6)
    # Sampling: its z on the sliders (0.01 per slider step)
    np.testing.assert_allclose(sampling.z, enc.mean)
    np.testing.assert_allclose(sampling.sliders.values(), enc.mean, atol=0.006)  # the sliders widen
    # Latent grid: chosen A→B ends (two selections' mean z) instead of two data faces
    z_a, z_b = means[:50].mean(axis=0), means[-50:].mean(axis=0)
    session.choose_grid_ends(z_a, z_b)
    lerp_faces = grid.lerp_strip.faces()
    np.testing.assert_allclose(lerp_faces[0].ravel(), atlas.decode_latents(vae, z_a[None])[0], atol=1e-5)
    np.testing.assert_allclose(lerp_faces[-1].ravel(), atlas.decode_latents(vae, z_b[None])[0], atol=1e-5)
    assert "chosen" in grid.original_a.title()
    grid.a_spin.setValue(grid.a_spin.value() + 1)  # picking an image again drops the chosen ends
    assert grid.chosen_ends is None and "chosen" not in grid.original_a.title()


def test_any_image_shape_thumbnails_hover_path_and_own_image(qtbot, tmp_path):
    """Non-square 12×9 images (issue 15's data sets): thumbnails, decoding and your image use the data's shape."""
    from core.dataset import Dataset
    from core.models import Model, ModelConfig

    rng = np.random.default_rng(11)
    dataset = Dataset(rng.random((60, 12 * 9)).astype(np.float32), (12, 9), "tiny")
    model = Model(ModelConfig(hidden=[16], latent=3, input_dim=108), seed=1)
    session = Session()
    session.set_model(model, meta={"data": dataset.to_meta()})
    session.set_data(dataset)
    explorer = AtlasExplorer(session)
    qtbot.addWidget(explorer)
    explorer.resize(900, 600)
    explorer.show()
    qtbot.waitExposed(explorer)
    means, logvars = posterior_means(model, dataset.images)
    explorer.set_view(means, logvars, atlas.dims_projection(3, 0, 2), dataset.train_ids, dataset.test_ids)
    explorer.set_thumbnails(True)
    QApplication.processEvents()  # the map's repaint
    assert explorer.plot.thumbnails.last_drawn == 60 and explorer.plot.thumbnails.box() == (9 * 1.5, 12 * 1.5)
    explorer.plot.hover_at(*explorer.coords[7])
    assert explorer.hover_face.image.shape == (12, 9)
    np.testing.assert_allclose(explorer.hover_face.image.ravel(), dataset.images[7], rtol=1e-6)
    explorer.show_path(np.array([[-1.0, -1.0], [1.0, 1.0]]))
    assert explorer.path_strip.image.shape == (12 + 2, PATH_FACES * 10 + 1)
    path = tmp_path / "wide.png"
    _write_photo(path)
    enc = ImageImporter(session, explorer).encode_file(path, show_crop=False)
    assert enc.image_shape == (12, 9) and enc.pixels.shape == (108,)


def test_a_new_model_clears_the_stale_map(qtbot, vae, encoded):
    from core.models import Model, ModelConfig
    from vae_gui.panels.latent_map import LatentMapPanel

    session = Session()
    session.set_model(vae)
    session.set_data(encoded[0])
    panel = LatentMapPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(panel.is_ready, timeout=60_000)
    explorer = panel.atlas
    explorer.colour_combo.setCurrentText(COLOUR_LOSS)  # a loss job for the old model starts…
    explorer.session.set_model(Model(ModelConfig(hidden=[8], latent=2), seed=0))  # …and is outrun by a new model
    assert explorer.means is None and len(explorer.plot.points.data) == 0
    explorer.session.select(5)  # the old encoding (16 dims) must not reach the new 2-dim decoder (the new
    assert explorer.hover_face.title() != "#5 (train)"  # encoding comes through the event loop, not yet run)


def test_thumbnails_of_a_big_set_draw_only_the_clearest(qtbot):
    """20 000 faces zoomed out: at most max_drawn thumbnails per paint, the least crowded ones."""
    from vae_gui.widgets.atlas import AtlasPlot

    plot = AtlasPlot()
    qtbot.addWidget(plot)
    plot.resize(800, 600)
    plot.show()
    qtbot.waitExposed(plot)
    rng = np.random.default_rng(12)
    coords = np.vstack([rng.standard_normal((19_000, 2)) * 0.3, rng.uniform(-4, 4, (1000, 2))])
    plot.set_points(coords, np.arange(20_000), np.zeros(0, dtype=int))
    plot.thumbnails.max_drawn = 3000
    plot.thumbnails.set_faces(rng.random((20_000, 12)).astype(np.float32), (4, 3))
    plot.show_thumbnails(True)
    QApplication.processEvents()
    thumbs = plot.thumbnails
    assert thumbs.last_drawn == 3000
    everyone = atlas.overlap_opacity(_screen_xy(plot, coords), thumbs.box())
    assert everyone.min() < 0.5  # the crowded middle fades…
    # …and it is what is left out (± a rounded pixel in the crowd counts)
    assert thumbs.last_opacity.min() >= np.percentile(everyone, 100 * (1 - 3000 / 20_000)) - 0.05


def _screen_xy(plot, coords):
    """Screen (viewport) positions of view points, as the thumbnails' paint computes them."""
    return np.array([[p.x(), p.y()] for p in (plot.view_to_widget(x, y) for x, y in coords)])


def test_the_latent_map_at_1024x600_keeps_the_selection_faces_whole_and_the_charts_readable(qtbot, tmp_path, vae,
                                                                                             encoded):
    from vae_gui.app import MainWindow, make_settings
    from vae_gui.panels.latent_map import UNITS_MIN_HEIGHT

    session = Session()
    session.set_data(encoded[0])
    session.set_model(vae)
    window = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(window)
    window.resize(1024, 600)
    window.show()
    latent_map = window.panel("latent_map")
    window.tabs.setCurrentWidget(latent_map)
    qtbot.waitUntil(latent_map.is_ready, timeout=60_000)
    explorer = latent_map.atlas
    explorer.select_ids(np.arange(300))
    explorer.show_path(explorer.coords[[0, 10, 30]])
    qtbot.wait(100)
    box = explorer.selection_box
    for face in (box.mean_face, box.decoded):
        assert face._glw.height() >= 60  # not the 18-px strip
    box_bottom = box.mapTo(explorer, box.rect().bottomLeft()).y()
    assert box_bottom <= explorer.path_strip.geometry().top()  # nothing drawn over the path
    units = latent_map.kl_plot.parentWidget()
    assert units.height() >= UNITS_MIN_HEIGHT and latent_map.kl_plot.height() >= 100
