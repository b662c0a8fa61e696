"""Face widgets shared by every panel: one face, a strip of faces, and a mosaic grid.

Faces are H·W values in [0, 1] (or (H, W) arrays; flat ones reshaped to the ``image_shape`` given, by
default Frey's 28×20), shown upright (row 0 at the top), grey, pixel-crisp (no smoothing) and with a
locked W:H aspect ratio.

- ``FaceView``: one face in its own small pyqtgraph view, with an optional title and colormap.
- ``FaceStrip``: a row (or an ``ncols``-wrapped grid) of FaceViews with captions; ``clicked(int)``.
- ``FaceGrid``: rows × cols faces tiled into ONE ImageItem (fast for 25×25), optional axis
  ticks naming the latent values of each row/column; ``clicked(int, int)`` with (row, col).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.images import tile
from core.models import IMAGE_SHAPE
from vae_gui import style  # noqa: F401 - pyqtgraph's options, set once there

FACE_H, FACE_W = IMAGE_SHAPE  # the default image shape (Frey: 28 rows × 20 columns)


def as_image(face: np.ndarray, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A face as a float (H, W) array; accepts (H·W,), (1, H·W) or (H, W). Flat faces take
    ``image_shape`` (default 28×20); a 2-D (H, W) array keeps its own shape when none is given."""
    arr = np.asarray(face, dtype=np.float64)
    if image_shape is None:
        image_shape = arr.shape if arr.ndim == 2 and arr.shape[0] > 1 else IMAGE_SHAPE
    h, w = (int(s) for s in image_shape)
    if arr.size != h * w:
        raise ValueError(f"a {h}×{w} face has {h * w} pixels, got an array of shape {arr.shape}")
    return arr.reshape(h, w)


def tile_faces(faces: np.ndarray, pad: int = 1, background: float = 1.0,
               image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tile faces (rows, cols, H·W) (or (rows, cols, H, W)) into one float image
    (rows·H + (rows+1)·pad, cols·W + (cols+1)·pad); flat faces take ``image_shape`` (default 28×20)."""
    faces = np.asarray(faces, dtype=np.float64)
    rows, cols = faces.shape[:2]
    h, w = faces.shape[2:] if faces.ndim == 4 and image_shape is None else (image_shape or IMAGE_SHAPE)
    return tile(faces.reshape(rows, cols, h, w), pad, background)


MAX_ZOOM = 12  # a face never grows beyond 240×336 screen pixels
MOSAIC_MAX_WASTE = 0.2  # a grid of faces takes the exact fit when a whole zoom would leave > 20 % unused
GRID_MARGIN = 20  # px a FaceGrid's plot layout takes beside its axes (margins, spacing)
# px more than the mosaic needs at its zoom: the centring stretches and a fractional axis width took the 2 px once
# left, so a 1920×1080 window showed 631.4 px of view for a 632 px mosaic at 2× and fell back to 1× (measured)
GRID_SLACK = 6


def integer_zoom(avail_w: float, avail_h: float, image_w: int, image_h: int, max_zoom: int = MAX_ZOOM,
                 max_waste: float = 1.0) -> float:
    """The largest whole zoom at which an image_w×image_h image fits avail_w×avail_h (pixel-crisp: every
    image pixel becomes zoom×zoom screen pixels); below 1 (no room) the exact fit, so it still shows whole.
    A whole zoom that would leave more than ``max_waste`` of the room unused (a 15×15 mosaic that fits
    1.5×: 1× leaves a third empty) gives way to the exact fit, still nearest-neighbour (no blur)."""
    fit = min(avail_w / image_w, avail_h / image_h)
    if fit < 1:
        return max(fit, 1e-3)
    whole = float(min(max_zoom, int(fit)))
    return whole if whole >= MAX_ZOOM or 1 - whole / fit <= max_waste else fit


def show_at_zoom(view: pg.ViewBox, image_w: int, image_h: int, align_top: bool = True,
                 max_waste: float = 1.0) -> float:
    """Set ``view``'s range so the image (0…image_w, 0…image_h) is drawn at integer zoom (see
    integer_zoom), centred across and at the top (or centred) down. Returns the zoom."""
    w, h = max(view.width(), 1.0), max(view.height(), 1.0)
    zoom = integer_zoom(w, h, image_w, image_h, max_waste=max_waste)
    span_x, span_y = w / zoom, h / zoom
    x0 = (image_w - span_x) / 2
    y0 = 0.0 if align_top else (image_h - span_y) / 2
    view.setRange(xRange=(x0, x0 + span_x), yRange=(y0, y0 + span_y), padding=0)
    return zoom


def _make_view(glw: pg.GraphicsLayoutWidget) -> pg.ViewBox:
    """A fixed ViewBox for images: y pointing down, no mouse pan/zoom, no menu; its range is set so the
    image shows at integer zoom (show_at_zoom)."""
    view = glw.addViewBox(lockAspect=False, invertY=True, enableMouse=False, enableMenu=False)
    view.setDefaultPadding(0.0)
    return view


def _make_image_item(levels: tuple[float, float]) -> pg.ImageItem:
    item = pg.ImageItem(axisOrder="row-major")
    item.setLevels(levels)
    return item


class FaceView(QWidget):
    """One face: a title above a crisp, upright grey image.

    ``set_face(face)`` takes 560 values (or (28, 20)); values are mapped to grey with ``levels``
    (default (0, 1)). ``set_colormap(name)`` switches to a pyqtgraph colormap (e.g. 'inferno') for
    difference images. ``current_image()`` returns the (28, 20) array shown."""

    clicked = pyqtSignal()

    def __init__(self, title: str = "", levels: tuple[float, float] = (0.0, 1.0), min_height: int = 168,
                 colorbar: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._levels = (float(levels[0]), float(levels[1]))
        self._image = np.zeros((FACE_H, FACE_W))
        self._fixed_height = False
        self._title = QLabel(title)
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._title.setVisible(bool(title))
        self._glw = pg.GraphicsLayoutWidget()
        self._glw.setBackground(None)
        self._glw.ci.setContentsMargins(0, 0, 0, 0)
        self._view = _make_view(self._glw)
        self._item = _make_image_item(self._levels)
        self._view.addItem(self._item)
        self._item.setImage(self._image, autoLevels=False, levels=self._levels)
        self.zoom = 1.0
        self._view.sigResized.connect(self._apply_zoom)
        self._colorbar: pg.ColorBarItem | None = None
        self._colorbar_px = 0
        if colorbar is not None:  # colormap name: a labelled bar right of the face (for difference images)
            self._colorbar = pg.ColorBarItem(values=self._levels, colorMap=pg.colormap.get(colorbar),
                                             interactive=False, width=14, label="", pen="k")
            self._colorbar.setImageItem(self._item)
            self._colorbar.getAxis("right").setTextPen("k")
            self._glw.addItem(self._colorbar)
            self._glw.ci.setContentsMargins(0, 8, 0, 8)  # room for the bar's end labels
            self._colorbar_px = 60
        self._glw.setMinimumSize(int(min_height * FACE_W / FACE_H) + self._colorbar_px, min_height)
        self._glw.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._glw.scene().sigMouseClicked.connect(lambda _ev: self.clicked.emit())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._title)
        layout.addWidget(self._glw, 1)
        layout.addStretch(0)  # spare height goes below the face, so the title stays right above it

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # A QGraphicsView has no height-for-width: cap the view's height at what the 20:28 face
        # needs for the current width, so the face is not centred in a tall empty box.
        self._cap_height()
        super().resizeEvent(event)

    def _cap_height(self) -> None:
        image_h, image_w = self._image.shape
        needed = int((self._glw.width() - self._colorbar_px) * image_h / image_w) + 2
        if not self._fixed_height:
            self._glw.setMaximumHeight(max(self._glw.minimumHeight(), needed))

    def _apply_zoom(self, *_args) -> None:
        image_h, image_w = self._image.shape
        self.zoom = show_at_zoom(self._view, image_w, image_h)

    def fix_height(self, image_height: int) -> None:
        """Keep the image area exactly ``image_height`` px tall (the width may still grow)."""
        self._fixed_height = True
        self._glw.setFixedHeight(int(image_height))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_face(self, face: np.ndarray, image_shape: tuple[int, int] | None = None) -> None:
        """Show one face: (H·W,) values (shaped as ``image_shape``, default 28×20) or (H, W), on the
        ``levels`` scale."""
        old_shape = self._image.shape
        self._image = as_image(face, image_shape).copy()
        self._item.setImage(self._image, autoLevels=False, levels=self._levels)
        if self._image.shape != old_shape:  # another image size: new aspect ratio and zoom
            self._cap_height()
            self._apply_zoom()

    def set_levels(self, levels: tuple[float, float]) -> None:
        self._levels = (float(levels[0]), float(levels[1]))
        self._item.setLevels(self._levels)
        if self._colorbar is not None:  # the bar drives its image's levels: move both
            self._colorbar.setLevels(self._levels)

    def set_colormap(self, name: str | None) -> None:
        """Use a pyqtgraph colormap by name ('inferno', 'viridis', …) or None for plain grey."""
        self._item.setColorMap(pg.colormap.get(name) if name else None)
        if not name:
            self._item.setLookupTable(None)

    def set_title(self, text: str) -> None:
        self._title.setText(text)
        self._title.setVisible(bool(text))

    def title(self) -> str:
        return self._title.text()

    def current_image(self) -> np.ndarray:
        """The (H, W) array on screen (a copy)."""
        return self._image.copy()

    def clear(self) -> None:
        self.set_face(np.zeros(self._image.shape))


class FaceStrip(QWidget):
    """A row of faces, wrapped after ``ncols`` faces (0 = one row), each with an optional caption.

    ``set_faces(faces (n, 560), labels=None)`` rebuilds the views only when n changes.
    ``clicked(int)`` carries the position of the face clicked."""

    clicked = pyqtSignal(int)
    face_height_changed = pyqtSignal(int)  # the faces' height in pixels after a resize

    def __init__(self, ncols: int = 0, face_height: int = 96, levels: tuple[float, float] = (0.0, 1.0),
                 max_face_height: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._ncols = int(ncols)
        self._face_height = int(face_height)  # the least height; faces grow (integer zoom) with the width
        self._max_face_height = int(max_face_height or face_height)
        self._shown_height = int(face_height)
        self._levels = levels
        self._views: list[FaceView] = []
        self._image_shape = IMAGE_SHAPE  # (H, W) of the faces shown
        self._layout_dirty = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)

    def _rebuild(self, n: int) -> None:
        for view in self._views:  # hidden at once: no frame may show the old and the new views together
            self._grid.removeWidget(view)
            view.hide()
            view.setParent(None)
            view.deleteLater()
        self._views = []
        ncols = self._ncols if self._ncols > 0 else max(n, 1)
        for i in range(n):
            view = FaceView(levels=self._levels, min_height=self._face_height)
            view.fix_height(self._shown_height)  # keeps each caption right above its face
            view.clicked.connect(lambda i=i: self.clicked.emit(i))
            self._grid.addWidget(view, i // ncols, i % ncols)
            self._views.append(view)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_heights()

    def _fit_heights(self) -> None:
        """Faces as tall as the width per face allows at integer zoom, within [face_height, max_face_height]."""
        n = len(self._views)
        if not n:
            return
        ncols = self._ncols if self._ncols > 0 else n
        per_face = (self.width() - (ncols - 1) * self._grid.horizontalSpacing()) / ncols
        image_h, image_w = self._image_shape
        zoom = max(1, int(per_face / image_w))
        height = int(min(self._max_face_height, max(self._face_height, zoom * image_h)))
        if height != self._shown_height:
            self._shown_height = height
            for view in self._views:
                view.fix_height(height)
            self.face_height_changed.emit(height)

    def set_ncols(self, ncols: int) -> None:
        """Wrap after ``ncols`` faces (0 = one row); takes effect at the next ``set_faces``."""
        if int(ncols) != self._ncols:
            self._ncols = int(ncols)
            self._layout_dirty = True

    def set_faces(self, faces: np.ndarray, labels: list[str] | None = None,
                  image_shape: tuple[int, int] | None = None) -> None:
        """Show faces (n, H·W) (shaped as ``image_shape``, default 28×20) or (n, H, W) with optional
        captions (n strings)."""
        faces = np.asarray(faces)
        if image_shape is None and faces.ndim == 3:
            image_shape = faces.shape[1:]
        shape = tuple(int(s) for s in (image_shape or IMAGE_SHAPE))
        if shape != self._image_shape:
            self._image_shape = shape
            self._fit_heights()
        n = len(faces)
        if labels is not None and len(labels) != n:
            raise ValueError(f"{n} faces but {len(labels)} labels")
        if n != len(self._views) or self._layout_dirty:
            self._layout_dirty = False
            self._rebuild(n)
        for i, (view, face) in enumerate(zip(self._views, faces, strict=True)):
            view.set_face(face, shape)
            view.set_title(labels[i] if labels is not None else "")

    def faces(self) -> np.ndarray:
        """The faces shown: (n, H, W)."""
        if not self._views:
            return np.zeros((0, *self._image_shape))
        return np.stack([v.current_image() for v in self._views])

    def labels(self) -> list[str]:
        return [v.title() for v in self._views]

    def views(self) -> list[FaceView]:
        return list(self._views)

    def count(self) -> int:
        return len(self._views)


class FaceGrid(QWidget):
    """rows × cols faces tiled into one ImageItem (pad pixels of white between them).

    ``set_grid(faces (rows, cols, 560))``; ``set_axes(row_name, row_values, col_name, col_values)``
    puts tick labels with each row's/column's latent value on the left/top axes.
    ``clicked(row, col)`` on a click on a face, ``hovered(row, col)`` when the pointer moves onto another
    face ((-1, -1): off the faces). ``max_waste`` as in integer_zoom (1.0: always a whole zoom when it fits)."""

    clicked = pyqtSignal(int, int)
    hovered = pyqtSignal(int, int)

    def __init__(self, pad: int = 1, levels: tuple[float, float] = (0.0, 1.0), min_height: int = 300,
                 max_waste: float = MOSAIC_MAX_WASTE, parent: QWidget | None = None):
        super().__init__(parent)
        self.pad = int(pad)
        self.max_waste = float(max_waste)
        self._hovered: tuple[int, int] | None = None
        self._levels = levels
        self._shape = (0, 0)
        self._face_shape = IMAGE_SHAPE  # (H, W) of each face
        self._mosaic = np.zeros((FACE_H, FACE_W))
        self._glw = pg.GraphicsLayoutWidget()
        self._glw.setBackground(None)
        self._plot = self._glw.addPlot()
        self._plot.setMenuEnabled(False)
        self._plot.setMouseEnabled(False, False)
        self._plot.hideButtons()
        self._plot.invertY(True)
        self.zoom = 1.0
        self._plot.getViewBox().sigResized.connect(self._apply_zoom)
        for side in ("left", "top"):
            self._plot.showAxis(side)
        for side in ("bottom", "right"):
            self._plot.hideAxis(side)
        self._item = _make_image_item(levels)
        self._plot.addItem(self._item)
        self._glw.setMinimumSize(int(min_height * 0.8), min_height)
        self._glw.scene().sigMouseClicked.connect(self._on_scene_click)
        self._glw.scene().sigMouseMoved.connect(self._on_scene_move)
        # centred by stretches (not an alignment flag, which would pin the view to its size hint)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addStretch(1)
        layout.addWidget(self._glw, 1000)
        layout.addStretch(1)

    def set_grid(self, faces: np.ndarray, image_shape: tuple[int, int] | None = None) -> None:
        """Show faces (rows, cols, H·W) (shaped as ``image_shape``, default 28×20) or (rows, cols, H, W)
        as one mosaic image."""
        faces = np.asarray(faces)
        if faces.ndim == 2:  # a single row (cols, H·W)
            faces = faces[None]
        self._shape = (faces.shape[0], faces.shape[1])
        if image_shape is None and faces.ndim == 4:
            image_shape = faces.shape[2:]
        self._face_shape = tuple(int(s) for s in (image_shape or IMAGE_SHAPE))
        self._mosaic = tile_faces(faces, pad=self.pad, background=self._levels[1], image_shape=self._face_shape)
        self._item.setImage(self._mosaic, autoLevels=False, levels=self._levels)
        self._apply_zoom()
        self._fit_width()

    def clear(self) -> None:
        """No faces and no axis labels."""
        self._shape = (0, 0)
        self._mosaic = np.ones((FACE_H, FACE_W)) * self._levels[1]
        self._item.setImage(self._mosaic, autoLevels=False, levels=self._levels)
        self.set_axes("", None, "", None)
        for side in ("left", "top"):
            self._plot.getAxis(side).setTicks([[]])
        self._apply_zoom()

    def _apply_zoom(self, *_args) -> None:
        h, w = self._mosaic.shape
        self.zoom = show_at_zoom(self._plot.getViewBox(), w, h, max_waste=self.max_waste)

    def set_axes(self, row_name: str, row_values: np.ndarray | None, col_name: str,
                 col_values: np.ndarray | None, decimals: int = 2, max_ticks: int = 9) -> None:
        """Label the left axis with ``row_name`` and each row's value, the top axis likewise for columns
        (at most ``max_ticks`` labels per axis so they never overlap); values may be texts (shown as given)."""
        rows, cols = self._shape
        left, top = self._plot.getAxis("left"), self._plot.getAxis("top")
        left.setLabel(row_name)
        top.setLabel(col_name)
        if row_values is not None:
            left.setTicks([self._ticks(row_values[:rows], self._face_shape[0], decimals, max_ticks)])
        if col_values is not None:
            top.setTicks([self._ticks(col_values[:cols], self._face_shape[1], decimals, max_ticks)])

    def _ticks(self, values: np.ndarray, size: int, decimals: int, max_ticks: int) -> list[tuple[float, str]]:
        """(position, text) at the centre of every k-th face, k chosen to keep ≤ max_ticks labels."""
        every = max(1, -(-len(values) // max_ticks))
        # + 0.0 turns -0.0 into 0.0 so the middle tick does not read "-0.0"
        return [(self.pad + i * (size + self.pad) + size / 2,
                 v if isinstance(v, str) else f"{round(float(v), decimals) + 0.0:.{decimals}f}")
                for i, v in enumerate(values) if i % every == 0 or i == len(values) - 1 and every == 1]

    def show_axes(self, visible: bool) -> None:
        for side in ("left", "top"):
            self._plot.showAxis(side, visible)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_width()

    def _axis_sizes(self) -> tuple[float, float]:
        """(left axis width, top axis height) in px, 0 for a hidden axis."""
        left, top = self._plot.getAxis("left"), self._plot.getAxis("top")
        return (left.width() if left.isVisible() else 0.0), (top.height() if top.isVisible() else 0.0)

    def _zoom_for(self, width: float, height: float) -> float:
        """The zoom the mosaic gets in a widget of width × height px."""
        h, w = self._mosaic.shape
        axis_w, axis_h = self._axis_sizes()
        # the plot's own layout margins take GRID_MARGIN px more on each axis (measured: view 289 of 362 px
        # with a 53 px axis)
        room = GRID_MARGIN + GRID_SLACK
        return integer_zoom(max(1, width - axis_w - room), max(1, height - axis_h - room), w, h,
                            max_waste=self.max_waste)

    def width_for_height(self, height: float) -> int:
        """The width this grid needs to show its faces as large as ``height`` px allows (nothing to spare)."""
        axis_w, _ = self._axis_sizes()
        zoom = self._zoom_for(1e9, height)
        return math.ceil(zoom * self._mosaic.shape[1] + axis_w + GRID_MARGIN + GRID_SLACK)

    def _fit_width(self) -> None:
        """Cap the view's width and height at what the locked-aspect mosaic needs at its zoom, so the
        axes hug the faces instead of spanning an empty strip."""
        # this widget's own size: the view's is not updated yet while our resizeEvent runs
        zoom = self._zoom_for(self.width(), self.height())
        axis_w, axis_h = self._axis_sizes()
        h, w = self._mosaic.shape
        room = GRID_MARGIN + GRID_SLACK
        self._glw.setMaximumWidth(max(self._glw.minimumWidth(), math.ceil(zoom * w + axis_w + room)))
        self._glw.setMaximumHeight(max(self._glw.minimumHeight(), math.ceil(zoom * h + axis_h + room)))

    def grid_shape(self) -> tuple[int, int]:
        """(rows, cols) of faces shown."""
        return self._shape

    def current_image(self) -> np.ndarray:
        """The whole mosaic shown (float, (rows·H + (rows+1)·pad, cols·W + (cols+1)·pad))."""
        return self._mosaic.copy()

    def face_at(self, row: int, col: int) -> np.ndarray:
        """The (H, W) face shown at (row, col)."""
        h, w = self._face_shape
        top, left = self.pad + row * (h + self.pad), self.pad + col * (w + self.pad)
        return self._mosaic[top : top + h, left : left + w].copy()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of the face under image coordinates (x, y), or None on padding/outside."""
        rows, cols = self._shape
        h, w = self._face_shape
        col, dx = divmod(x - self.pad, w + self.pad)
        row, dy = divmod(y - self.pad, h + self.pad)
        if 0 <= row < rows and 0 <= col < cols and dx < w and dy < h:
            return int(row), int(col)
        return None

    def _on_scene_click(self, ev) -> None:
        pos = self._item.mapFromScene(ev.scenePos())
        cell = self.cell_at(pos.x(), pos.y())
        if cell is not None:
            self.clicked.emit(*cell)

    def _on_scene_move(self, scene_pos) -> None:
        pos = self._item.mapFromScene(scene_pos)
        cell = self.cell_at(pos.x(), pos.y())
        if cell != self._hovered:
            self._hovered = cell
            self.hovered.emit(*(cell if cell is not None else (-1, -1)))
