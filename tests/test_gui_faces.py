"""Face widgets: what they show, upright orientation on screen, clicks."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QPoint, Qt

from core.images import mosaic
from vae_gui.widgets.faces import FaceGrid, FaceStrip, FaceView, tile_faces


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 560))


def _brightness_rows(widget) -> np.ndarray:
    """Mean grey value of each row of the widget's rendered picture (0…255)."""
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_Grayscale8)
    w, h = img.width(), img.height()
    bits = img.constBits()
    bits.setsize(img.bytesPerLine() * h)
    arr = np.frombuffer(bits, np.uint8).reshape(h, img.bytesPerLine())[:, :w]
    return arr.mean(axis=1)


def test_face_view_shows_the_face(qtbot):
    view = FaceView("title")
    qtbot.addWidget(view)
    face = _faces(1)[0]
    view.set_face(face)
    np.testing.assert_allclose(view.current_image(), face.reshape(28, 20))
    view.set_face(face.reshape(28, 20) * 0.5)
    np.testing.assert_allclose(view.current_image(), face.reshape(28, 20) * 0.5)
    view.set_title("hello")
    assert view.title() == "hello"
    with pytest.raises(ValueError):
        view.set_face(np.zeros(100))


def test_face_view_is_upright_on_screen(qtbot):
    """Row 0 of the face must be drawn at the top: a face white on top, black below renders so."""
    view = FaceView("", min_height=168)
    qtbot.addWidget(view)
    view.resize(140, 200)
    view.show()
    qtbot.waitExposed(view)
    face = np.zeros((28, 20))
    face[:14] = 1.0
    view.set_face(face)
    qtbot.wait(20)
    rows = _brightness_rows(view._glw)
    h = len(rows)
    top, bottom = rows[int(0.2 * h) : int(0.35 * h)].mean(), rows[int(0.65 * h) : int(0.8 * h)].mean()
    assert top > bottom + 100, (top, bottom)


def test_face_view_size_and_aspect(qtbot):
    view = FaceView("x")
    qtbot.addWidget(view)
    assert view._glw.minimumHeight() >= 168 and view._glw.minimumWidth() >= 120
    assert view._view.yInverted()


@pytest.mark.parametrize("size", [(200, 300), (333, 500), (700, 900)])
def test_faces_grow_with_their_widget_at_integer_zoom(qtbot, size):
    """Every image pixel becomes zoom×zoom screen pixels (no blur, aspect kept), zoom as large as fits."""
    from vae_gui.widgets.faces import MAX_ZOOM

    view = FaceView("x")
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    vb = view._view
    qtbot.waitUntil(lambda: vb.width() > 0)
    one_x = vb.mapViewToScene(pg.Point(1, 0)) - vb.mapViewToScene(pg.Point(0, 0))
    one_y = vb.mapViewToScene(pg.Point(0, 1)) - vb.mapViewToScene(pg.Point(0, 0))
    expected = min(MAX_ZOOM, int(min(vb.width() / 20, vb.height() / 28)))
    assert view.zoom == expected >= 1
    assert abs(one_x.x() - expected) < 1e-6 and abs(one_y.y() - expected) < 1e-6  # square pixels, whole zoom
    top_left = vb.mapViewToScene(pg.Point(0, 0))
    assert abs(top_left.y() - vb.mapToScene(vb.rect().topLeft()).y()) < 1e-6  # right under its title


def test_face_strip_faces_labels_and_click(qtbot):
    strip = FaceStrip(face_height=60)
    qtbot.addWidget(strip)
    faces = _faces(5)
    strip.set_faces(faces, [f"#{i}" for i in range(5)])
    assert strip.count() == 5
    np.testing.assert_allclose(strip.faces(), faces.reshape(5, 28, 20))
    assert strip.labels() == ["#0", "#1", "#2", "#3", "#4"]
    strip.show()
    qtbot.waitExposed(strip)
    target = strip.views()[3]._glw.viewport()
    with qtbot.waitSignal(strip.clicked) as blocker:
        qtbot.mouseClick(target, Qt.MouseButton.LeftButton, pos=target.rect().center())
    assert blocker.args == [3]
    strip.set_faces(faces[:2])
    assert strip.count() == 2 and strip.labels() == ["", ""]
    with pytest.raises(ValueError):
        strip.set_faces(faces, ["only one"])


def test_tile_faces_matches_core_mosaic():
    faces = _faces(12)
    tiled = tile_faces(faces.reshape(3, 4, 560), pad=1, background=1.0)
    reference = mosaic(faces, ncols=4, pad=1, background=255).astype(float) / 255
    assert tiled.shape == reference.shape == (3 * 28 + 4, 4 * 20 + 5)
    np.testing.assert_allclose(tiled, reference, atol=0.5 / 255 + 1e-9)


def test_face_grid_shape_faces_and_click(qtbot):
    grid = FaceGrid(pad=1)
    qtbot.addWidget(grid)
    faces = _faces(12).reshape(3, 4, 560)
    grid.set_grid(faces)
    assert grid.grid_shape() == (3, 4)
    assert grid.current_image().shape == (3 * 28 + 4, 4 * 20 + 5)
    np.testing.assert_allclose(grid.face_at(1, 2), faces[1, 2].reshape(28, 20))
    assert grid.cell_at(0.5, 0.5) is None  # the padding
    assert grid.cell_at(1 + 2 * 21 + 5, 1 + 28 + 1 + 3) == (1, 2)
    grid.set_axes("z0 (rows)", np.array([-1.0, 0.0, 1.0]), "z1", np.linspace(-1, 1, 4))
    assert grid._plot.getAxis("left").labelText == "z0 (rows)"
    grid.resize(400, 400)
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.wait(20)
    # click the centre of face (2, 3): image coords → scene → view widget
    x, y = 1 + 3 * 21 + 10, 1 + 2 * 29 + 14
    scene_pos = grid._item.mapToScene(x, y)
    view_pos = grid._glw.mapFromScene(scene_pos)
    with qtbot.waitSignal(grid.clicked) as blocker:
        qtbot.mouseClick(grid._glw.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view_pos.x(), view_pos.y()))
    assert blocker.args == [2, 3]
