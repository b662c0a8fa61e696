"""pyqtgraph pieces of the latent atlas (issue 14), for images of any shape (H, W).

- ``ImageBox``: one grey image (or a strip of them tiled into ONE ImageItem) with a title, upright, locked aspect.
- ``ThumbnailItem``: every face drawn at its point from ONE atlas pixmap (``core.atlas.pack_atlas``) with a
  single ``QPainter.drawPixmapFragments`` call — the way pyqtgraph's ScatterPlotItem draws its symbols —
  at a fixed screen size (zooming in spreads them), faded where too many overlap, the hovered one last
  (in front) and enlarged.
- ``ToolViewBox``: a ViewBox whose left-drag pans (pyqtgraph's default) or draws a path, a lasso or a
  rectangle, reported in view coordinates.
- ``AtlasPlot``: the map itself: points (split colours or a colour value with a colour bar), thumbnails,
  the posterior's 1σ/2σ ellipses, your image's marker, the drawn path and the selection; it turns mouse
  moves into ``point_hovered(i)`` / ``empty_hovered(x, y)``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen, QPixmap
from PyQt6.QtWidgets import QGraphicsItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.atlas import overlap_opacity, pack_atlas
from core.images import tile

TOOLS = ("pan", "path", "lasso", "rect")
TOOL_NAMES = {"pan": "pan / zoom", "path": "draw a path", "lasso": "lasso select", "rect": "rectangle select"}
TRAIN_BRUSH = (31, 119, 180, 150)
TEST_BRUSH = (214, 39, 40, 190)
ELLIPSE_PEN = {1: pg.mkPen((220, 20, 60), width=2), 2: pg.mkPen((220, 20, 60), width=1.5, style=Qt.PenStyle.DashLine)}
OWN_PEN = {1: pg.mkPen((160, 0, 200), width=2), 2: pg.mkPen((160, 0, 200), width=1.5, style=Qt.PenStyle.DashLine)}
COLORMAP = "viridis"


class TwoLineLabel(QLabel):
    """A word-wrapped label two lines tall that does not ask for height-for-width layout: in a column beside
    the map such labels made Qt under-count the column, which then squashed its faces to a strip of a few
    pixels (the selection's mean face at 1024×600)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setFixedHeight(2 * self.fontMetrics().lineSpacing() + 4)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False


class ImageBox(QWidget):
    """A title above one grey image in [0, 1] (H, W), crisp and upright; ``set_strip`` tiles several."""

    def __init__(self, title: str = "", min_height: int = 120, max_height: int | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._title = TwoLineLabel(title)  # fixed height: new text never re-lays out the box
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._glw = pg.GraphicsLayoutWidget()
        self._glw.setBackground(None)
        self._glw.ci.setContentsMargins(0, 0, 0, 0)
        self._glw.setMinimumHeight(min_height)
        # crisp pixels, and a cheap repaint on every hover move (smooth scaling costs ~1.5 ms a paint)
        self._glw.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self._glw.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if max_height is not None:
            self._glw.setMaximumHeight(max_height)
        self._glw.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._view = self._glw.addViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
        self._view.setDefaultPadding(0.0)
        self._item = pg.ImageItem(axisOrder="row-major")
        self._view.addItem(self._item)
        self.image = np.zeros((1, 1))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._title)
        layout.addWidget(self._glw, 1)
        # its own minimum (title + image): in a column with word-wrapped labels, Qt's layouts under-count it
        self.setMinimumHeight(self._title.height() + layout.spacing() + min_height)

    def set_image(self, pixels: np.ndarray, image_shape: tuple[int, int]) -> None:
        self._show(np.asarray(pixels, dtype=np.float64).reshape(image_shape))

    def set_strip(self, faces: np.ndarray, image_shape: tuple[int, int]) -> None:
        """Faces (n, H·W) side by side in one image, one pixel of white between them."""
        faces = np.asarray(faces, dtype=np.float64).reshape(1, len(faces), *image_shape)
        self._show(tile(faces, pad=1, background=1.0))

    def _show(self, image: np.ndarray) -> None:
        same_shape = image.shape == self.image.shape
        self.image = image
        self._item.setImage(image, autoLevels=False, levels=(0.0, 1.0))
        if not same_shape:  # re-ranging the view on every hover move would cost a second layout pass
            self._view.setRange(xRange=(0, image.shape[1]), yRange=(0, image.shape[0]), padding=0)

    def clear(self) -> None:
        self._show(np.ones((1, 1)))

    def set_image_visible(self, visible: bool) -> None:
        """Hide the image (its room is kept: nothing moves), e.g. when there is nothing to show beside another
        face, rather than a blank box."""
        policy = self._glw.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self._glw.setSizePolicy(policy)
        self._glw.setVisible(visible)

    def set_title(self, text: str) -> None:
        self._title.setText(text)

    def title(self) -> str:
        return self._title.text()


class ThumbnailItem(pg.GraphicsObject):
    """All faces as thumbnails at their points, painted from one atlas pixmap in one call.

    Screen size is ``scale`` screen px per image px; the hovered face is drawn last at ``hover_scale``
    with a frame. The view's auto-range sees the faces' centres (``dataBounds``) padded by half a thumbnail."""

    max_drawn = 6000  # at most this many per paint (70 000 zoomed out): the most crowded, faintest ones go first

    def __init__(self, scale: float = 1.5, hover_scale: float = 4.0):
        super().__init__()
        self.scale = float(scale)
        self.hover_scale = float(hover_scale)
        self._faces: np.ndarray | None = None
        self._shape = (1, 1)
        self._pixmap: QPixmap | None = None
        self._sources: np.ndarray | None = None
        self._coords = np.zeros((0, 2))
        self.hovered: int | None = None
        self.last_drawn = 0  # thumbnails drawn by the last paint (for tests)
        self.paints = 0  # paints so far (for benchmarks: one per frame)
        self.last_opacity = np.zeros(0)
        self._fragments = pg.Qt.internals.PrimitiveArray(QPainter.PixmapFragment, 10)
        # a hover must not repaint thousands of thumbnails (70 000 faces: 39 ms): they are kept as a device
        # pixmap, and the hovered face is drawn by a child item over them
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.hover_item = HoveredThumbnail(self)

    def set_faces(self, faces: np.ndarray, image_shape: tuple[int, int]) -> None:
        """Faces (N, H·W); the atlas pixmap is built on the first paint that needs it."""
        self._faces = faces
        self._shape = (int(image_shape[0]), int(image_shape[1]))
        self._pixmap = None
        self.update()

    def set_positions(self, coords: np.ndarray) -> None:
        self._coords = np.asarray(coords, dtype=np.float64)
        self.prepareGeometryChange()
        self.update()

    def set_hovered(self, index: int | None) -> None:
        if index != self.hovered:
            self.hovered = index
            self.hover_item.update()

    def build_atlas(self) -> None:
        """Pack the faces into one grey QPixmap (done once per face set)."""
        atlas, self._sources = pack_atlas(self._faces, self._shape)
        h, w = atlas.shape
        image = QImage(atlas.data, w, h, w, QImage.Format.Format_Grayscale8)
        self._pixmap = QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive the numpy buffer

    def box(self) -> tuple[float, float]:
        """A thumbnail's size on screen (w, h) px."""
        return self._shape[1] * self.scale, self._shape[0] * self.scale

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802 - pyqtgraph auto-range hook
        """(min, max) of the thumbnails' centres along axis ax, so auto-range works with the faces on."""
        if len(self._coords) == 0:
            return None, None
        values = self._coords[:, ax]
        if orthoRange is not None:
            other = self._coords[:, 1 - ax]
            values = values[(other >= orthoRange[0]) & (other <= orthoRange[1])]
            if len(values) == 0:
                return None, None
        return float(values.min()), float(values.max())

    def pixelPadding(self) -> float:  # noqa: N802 - pyqtgraph auto-range hook
        w, h = self.box()
        return max(w, h) / 2

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        rect = self.viewRect()  # the visible range: thumbnails are painted over all of it
        return QRectF() if rect is None else rect

    def viewRangeChanged(self) -> None:  # noqa: N802 - pyqtgraph hook
        self.prepareGeometryChange()
        self.update()  # the cached picture is stale: which faces show and how faded depend on the view

    def paint(self, painter: QPainter, *_args) -> None:
        self.paints += 1
        if self._faces is None or len(self._coords) == 0:
            return
        if self._pixmap is None:
            self.build_atlas()
        screen = pg.functions.transformCoordinates(painter.transform(), self._coords.T).T
        w, h = self.box()
        device = painter.device()
        inside = ((screen[:, 0] > -w) & (screen[:, 0] < device.width() + w)
                  & (screen[:, 1] > -h) & (screen[:, 1] < device.height() + h))
        ids = np.flatnonzero(inside)
        opacity = overlap_opacity(screen[ids], (w, h))
        order = np.argsort(opacity, kind="stable")  # faded ones first: the clear ones stay on top
        ids, opacity = ids[order][-self.max_drawn :], opacity[order][-self.max_drawn :]  # big sets: the clearest
        self.last_opacity = opacity
        painter.resetTransform()
        # crisp face pixels, and no per-fragment filtering: several times cheaper than smooth scaling
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self._draw(painter, screen[ids], self._sources[ids], opacity, self.scale)
        self.last_drawn = len(ids)

    def paint_hovered(self, painter: QPainter) -> None:
        """The hovered face (if any) at ``hover_scale`` with a frame (called by ``hover_item``)."""
        if self.hovered is None or self._pixmap is None or not 0 <= self.hovered < len(self._coords):
            return
        xy = pg.functions.transformCoordinates(painter.transform(), self._coords[self.hovered][:, None]).T[0]
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self._draw_hovered(painter, xy)

    def _draw(self, painter: QPainter, xy: np.ndarray, sources: np.ndarray, opacity: np.ndarray, scale: float) -> None:
        self._fragments.resize(len(xy))
        frags = self._fragments.ndarray()
        frags[:, 0:2] = xy  # centre of each target rectangle
        frags[:, 2:6] = sources  # source x, y, w, h in the atlas
        frags[:, 6] = scale
        frags[:, 7] = scale
        frags[:, 8] = 0.0
        frags[:, 9] = opacity
        painter.drawPixmapFragments(*self._fragments.drawargs(), self._pixmap)

    def _draw_hovered(self, painter: QPainter, xy: np.ndarray) -> None:
        self._draw(painter, xy[None, :], self._sources[self.hovered : self.hovered + 1], np.ones(1), self.hover_scale)
        w, h = self._shape[1] * self.hover_scale, self._shape[0] * self.hover_scale
        painter.setPen(QPen(QColor(220, 20, 60), 2))
        painter.drawRect(QRectF(QPointF(xy[0] - w / 2, xy[1] - h / 2), QPointF(xy[0] + w / 2, xy[1] + h / 2)))


class HoveredThumbnail(pg.GraphicsObject):
    """The hovered face over the thumbnails (a child of the ThumbnailItem, so it shows and hides with it)."""

    def __init__(self, thumbnails: ThumbnailItem):
        super().__init__(thumbnails)
        self.thumbnails = thumbnails

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.thumbnails.boundingRect()

    def paint(self, painter: QPainter, *_args) -> None:
        self.thumbnails.paint_hovered(painter)


class ToolViewBox(pg.ViewBox):
    """Left-drag pans (tool 'pan') or draws a stroke: 'path', 'lasso' or 'rect'. ``stroke_changed``
    while drawing and ``stroke_finished`` at release carry (tool, points (M, 2) in view coordinates)."""

    stroke_changed = pyqtSignal(str, object)
    stroke_finished = pyqtSignal(str, object)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tool = "pan"
        self._stroke: list[tuple[float, float]] = []

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, not {tool!r}")
        self.tool = tool

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph override
        if self.tool == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            start = self.mapToView(ev.buttonDownPos())
            self._stroke = [(start.x(), start.y())]
        pos = self.mapToView(ev.pos())
        self._stroke.append((pos.x(), pos.y()))
        points = self.stroke_points()
        if ev.isFinish():
            self.stroke_finished.emit(self.tool, points)
        else:
            self.stroke_changed.emit(self.tool, points)

    def stroke_points(self) -> np.ndarray:
        """The stroke so far; a rectangle as its 4 corners (closed outline: 5 points)."""
        pts = np.asarray(self._stroke, dtype=np.float64)
        if self.tool == "rect" and len(pts):
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
        return pts


def _has_data(curve: pg.PlotCurveItem) -> bool:
    x = curve.getData()[0]
    return x is not None and len(x) > 0


def _curve(pen) -> pg.PlotCurveItem:
    return pg.PlotCurveItem(pen=pen, skipFiniteCheck=True)


class AtlasPlot(pg.PlotWidget):
    """The latent map: points, thumbnails, ellipses, path, selection, your image; hover and click signals."""

    point_hovered = pyqtSignal(int)
    empty_hovered = pyqtSignal(float, float)
    point_clicked = pyqtSignal(int)
    pick_px = 6.0  # a dot within this many screen px is under the mouse

    def __init__(self, parent: QWidget | None = None):
        self.tool_box = ToolViewBox()
        super().__init__(parent, viewBox=self.tool_box)
        self.setMinimumSize(300, 200)
        self.showGrid(x=True, y=True, alpha=0.25)
        for name in ("left", "bottom"):  # their grid spans the map: kept as a pixmap, a hover repaint blits it
            self.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.coords = np.zeros((0, 2))
        self.hovered: int | None = None
        self._split_brushes: list = []
        self.points = pg.ScatterPlotItem(size=6, pen=None)
        # kept as a device pixmap: moving the hover ring, an ellipse or a path repaints them, not every point
        # (70 000 points: hover → ring 33 → 15 ms); a pan or zoom renders the points once into the new cache
        self.points.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.thumbnails = ThumbnailItem()
        self.thumbnails.setVisible(False)
        self.hover_ring = pg.ScatterPlotItem(size=14, pen=pg.mkPen((220, 20, 60), width=2), brush=None)
        self.selected_ring = pg.ScatterPlotItem(size=16, pen=pg.mkPen("r", width=2.5), brush=None)
        self.selection_marks = pg.ScatterPlotItem(size=9, pen=pg.mkPen((20, 20, 20), width=1.2), brush=None)
        self.ellipses = {k: _curve(ELLIPSE_PEN[k]) for k in (1, 2)}
        self.own_ellipses = {k: _curve(OWN_PEN[k]) for k in (1, 2)}
        self.own_marker = pg.ScatterPlotItem(size=20, symbol="star", pen=pg.mkPen("k"), brush=(160, 0, 200))
        self.stroke = _curve(pg.mkPen((40, 40, 40), width=1.5, style=Qt.PenStyle.DashLine))
        self.path = pg.PlotDataItem(pen=pg.mkPen((0, 150, 60), width=2.5), symbol="o", symbolSize=7,
                                    symbolBrush=(0, 150, 60))
        self.addItem(self.points)
        self.addItem(self.thumbnails)
        for item in (self.selection_marks, *self.ellipses.values(), *self.own_ellipses.values(), self.hover_ring,
                     self.selected_ring, self.own_marker, self.stroke, self.path):
            self.addItem(item, ignoreBounds=True)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(COLORMAP), interactive=False,
                                          width=14, label="")
        self.getPlotItem().layout.addItem(self.colour_bar, 2, 5)
        # room for tick texts such as "-1800" and the title's line beside them (the default 45 px put the title
        # over the ticks); fixed once here: resizing the axis later left a deleted item to paint (a crash)
        metrics = QFontMetrics(self.font())
        self.colour_bar.axis.setWidth(metrics.horizontalAdvance("-0.0000") + metrics.height() + 12)
        self.colour_bar.setVisible(False)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.tool_box.stroke_changed.connect(lambda _tool, pts: self.stroke.setData(pts[:, 0], pts[:, 1]))

    # ------------------------------------------------------------------ content
    def set_points(self, coords: np.ndarray, train_ids: np.ndarray, test_ids: np.ndarray,
                   x_name: str = "", y_name: str = "") -> None:
        """Place every point (N, 2); brushes by split until ``set_colour_values``."""
        self.coords = np.asarray(coords, dtype=np.float64)
        brushes = np.full(len(self.coords), pg.mkBrush(*TRAIN_BRUSH), dtype=object)  # two shared brushes:
        test_ids = np.asarray(test_ids, dtype=np.int64)  # fast for 70 000 points too
        brushes[test_ids[test_ids < len(brushes)]] = pg.mkBrush(*TEST_BRUSH)
        self._split_brushes = list(brushes)
        self.points.setData(pos=self.coords, brush=self._split_brushes)
        self.thumbnails.set_positions(self.coords)
        self.setLabel("bottom", x_name)
        self.setLabel("left", y_name)
        self.autoRange()

    def set_colour_values(self, values: np.ndarray | None, label: str = "") -> None:
        """Colour every point by values (N,) with a colour bar (1st–99th percentile), or by split (None)."""
        if values is None:
            self.colour_bar.setVisible(False)
            self.points.setBrush(self._split_brushes)
            self._update_points_visible()
            return
        lo, hi = (float(v) for v in np.percentile(values, [1, 99]))
        hi = hi if hi > lo else lo + 1e-12
        cmap = pg.colormap.get(COLORMAP)
        colours = cmap.map(np.clip((np.asarray(values) - lo) / (hi - lo), 0, 1), mode="qcolor")
        self.points.setBrush([pg.mkBrush(c) for c in colours])
        self.colour_bar.setLevels((lo, hi))
        self.colour_bar.axis.setLabel(label)
        self.colour_bar.setVisible(True)
        self._update_points_visible()

    def show_thumbnails(self, on: bool) -> None:
        """Faces on (the dots stay only when they carry a colour value; no grid behind the faces) or off."""
        self.thumbnails.setVisible(bool(on))
        self.thumbnails.update()  # a new cached picture (the faces may have changed while hidden)
        self.showGrid(x=not on, y=not on, alpha=0.25)
        self._update_points_visible()

    def _update_points_visible(self) -> None:
        self.points.setVisible(not self.thumbnails.isVisible() or self.colour_bar.isVisible())

    def set_ellipses(self, curves: dict[int, np.ndarray] | None, own: bool = False) -> None:
        """1σ/2σ outlines {1: (n, 2), 2: (n, 2)} of the hovered face (or of your image when ``own``); None clears."""
        items = self.own_ellipses if own else self.ellipses
        if curves is None and not any(_has_data(item) for item in items.values()):
            return  # nothing shown: leave the map unpainted
        for k, item in items.items():
            pts = None if curves is None else curves.get(k)
            item.setData([], []) if pts is None else item.setData(pts[:, 0], pts[:, 1])

    def set_own_point(self, xy: np.ndarray | None) -> None:
        self.own_marker.setData([] if xy is None else [xy[0]], [] if xy is None else [xy[1]])

    def set_selected(self, index: int | None) -> None:
        ok = index is not None and 0 <= index < len(self.coords)
        self.selected_ring.setData(pos=self.coords[index : index + 1] if ok else np.zeros((0, 2)))

    def set_selection(self, ids: np.ndarray) -> None:
        self.selection_marks.setData(pos=self.coords[ids] if len(ids) else np.zeros((0, 2)))

    def set_path(self, points: np.ndarray | None) -> None:
        self.stroke.setData([], [])
        self.path.setData([] if points is None else points[:, 0], [] if points is None else points[:, 1])

    def clear_stroke(self) -> None:
        self.stroke.setData([], [])

    # ------------------------------------------------------------------ mouse
    def point_under(self, x: float, y: float) -> int | None:
        """The point whose dot (or thumbnail, when shown) is under view position (x, y), nearest first."""
        if len(self.coords) == 0:
            return None
        px, py = self.tool_box.viewPixelSize()  # view units per screen pixel
        dx, dy = (self.coords[:, 0] - x) / px, (self.coords[:, 1] - y) / py
        if self.thumbnails.isVisible():
            w, h = self.thumbnails.box()
            hit = np.flatnonzero((np.abs(dx) <= w / 2) & (np.abs(dy) <= h / 2))
        else:
            hit = np.flatnonzero(dx * dx + dy * dy <= self.pick_px**2)
        return None if len(hit) == 0 else int(hit[np.argmin(dx[hit] ** 2 + dy[hit] ** 2)])

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.tool_box.sceneBoundingRect().contains(scene_pos):
            return
        pos = self.tool_box.mapSceneToView(scene_pos)
        self.hover_at(pos.x(), pos.y())

    def hover_at(self, x: float, y: float) -> None:
        """What a mouse move to view point (x, y) does: hover a point or the empty space there."""
        index = self.point_under(x, y)
        was = self.hovered
        self.hovered = index
        self.thumbnails.set_hovered(index)
        if index is None:
            if was is not None:  # only then is there a ring to clear (no repaint of the map while decoding)
                self.hover_ring.setData([], [])
            self.empty_hovered.emit(float(x), float(y))
        else:
            self.hover_ring.setData(pos=self.coords[index : index + 1])
            self.point_hovered.emit(index)

    def _on_mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.tool_box.tool != "pan":
            return
        pos = self.tool_box.mapSceneToView(ev.scenePos())
        index = self.point_under(pos.x(), pos.y())
        if index is not None:
            self.point_clicked.emit(index)

    def view_to_widget(self, x: float, y: float) -> QPointF:
        """Widget (viewport) position of view point (x, y), for tests that drive the mouse."""
        return self.mapFromScene(self.tool_box.mapViewToScene(QPointF(x, y))).toPointF()
