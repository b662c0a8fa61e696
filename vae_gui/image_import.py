"""Your own image (issue 14): File ▸ Encode an image… or drop a PNG/JPEG onto the window.

The file is read by core.images.read_picture (Pillow, PNG and JPEG only, as ``main.py encode`` reads it), converted
to grey (BT.601 luma, alpha over white), cropped with the model's aspect ratio (centred at first) and resampled to
the model's image size by ``core.atlas``, then encoded; the session's ``own_image`` signal takes the result to the
Latent map (marked with its ellipses), Reconstruction and the Sampling sliders. A crop window shows the crop on the
picture; moving or resizing it re-encodes the image.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QObject, QRectF
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core import atlas
from core.images import read_picture
from vae_gui.widgets.atlas import ImageBox

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SIDE = 1024  # larger pictures are scaled down first (smoothly): the model reads a few hundred pixels anyway


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGBA uint8 (h, w, 4) (uint16 (h, w) for 16-bit grey), reduced to MAX_SIDE; ValueError
    with the reason when it cannot be read. The same reader as ``main.py encode`` (core.images.read_picture):
    PNG and JPEG only, a regular file only (a FIFO is refused at once), no decompression bombs."""
    return read_picture(path, MAX_SIDE)


def image_path_of(mime) -> Path | None:
    """The one local PNG/JPEG file a drag carries, else None."""
    urls = mime.urls() if mime is not None and mime.hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = Path(urls[0].toLocalFile())
    return path if path.suffix.lower() in IMAGE_SUFFIXES else None


class CropDialog(QDialog):
    """The picture with a movable crop of the model's aspect ratio; the model's input and its reconstruction.
    One window serves every image (``set_picture``), so dropping many images creates no new widgets."""

    def __init__(self, importer: ImageImporter, parent: QWidget | None = None):
        super().__init__(parent)
        self.importer = importer
        glw = pg.GraphicsLayoutWidget()
        glw.setMinimumSize(320, 320)
        self.view = glw.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.picture = pg.ImageItem(axisOrder="row-major", levels=(0.0, 1.0))
        self.view.addItem(self.picture)
        self.roi = pg.ROI((0, 0), (1, 1), aspectLocked=True, rotatable=False, pen=pg.mkPen((220, 20, 60), width=2))
        self.roi.addScaleHandle([1, 1], [0, 0], lockAspect=True)
        self.roi.addScaleHandle([0, 0], [1, 1], lockAspect=True)
        self.roi.sigRegionChangeFinished.connect(lambda _roi: importer.recrop(self.crop()))
        self.view.addItem(self.roi)
        self.model_input = ImageBox("what the model reads", min_height=140)
        self.reconstruction = ImageBox("its reconstruction", min_height=140)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.model_input)
        side.addWidget(self.reconstruction)
        side.addWidget(self.label)
        help_text = QLabel("Drag the red frame to move the crop; drag a corner to resize it (the model's aspect "
                           "ratio is kept). The image is re-encoded when you let go.")
        help_text.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(glw, 1)
        left.addWidget(help_text)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(side, 1)

    def set_picture(self, grey: np.ndarray, crop: atlas.Crop, title: str) -> None:
        """Show a new picture (h, w) with the crop frame at ``crop`` (no re-encoding: the caller just did it)."""
        self.setWindowTitle(f"Your image: {title}")
        h, w = grey.shape
        self.picture.setImage(grey, autoLevels=False, levels=(0.0, 1.0))
        self.roi.maxBounds = QRectF(0, 0, w, h)
        self.roi.setPos((crop.left, crop.top), finish=False)
        self.roi.setSize((crop.width, crop.height), finish=False)
        self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def crop(self) -> atlas.Crop:
        pos, size = self.roi.pos(), self.roi.size()
        return atlas.Crop(pos.x(), pos.y(), size.x(), size.y())

    def show_encoding(self, enc: atlas.EncodedImage, reconstruction: np.ndarray) -> None:
        self.model_input.set_image(enc.pixels, enc.image_shape)
        self.reconstruction.set_image(reconstruction, enc.image_shape)
        sigma = "" if enc.sigma is None else f", mean σ {float(np.mean(enc.sigma)):.3f}"
        self.label.setText(f"−ELBO {enc.neg_elbo:.1f} nats (reconstruction {enc.rec:.1f} + KL {enc.kl:.1f}){sigma}")


class ImageImporter(QObject):
    """Reads, crops and encodes images for the session; ``action`` is the File menu entry; as an event filter
    on the main window it takes PNG/JPEG drops (other drops pass through to the window)."""

    def __init__(self, session, window: QWidget):
        super().__init__(window)
        self.session = session
        self.window = window
        self.action = QAction("Encode an &image…", window)
        self.action.setToolTip("encode a PNG/JPEG of your own (grey, cropped to the model's image size), mark it "
                               "on the Latent map, show its reconstruction and put its z on the Sampling sliders")
        self.action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.action.triggered.connect(self.open_dialog)
        self.grey: np.ndarray | None = None
        self.source: Path | None = None
        self.dialog: CropDialog | None = None
        self.last: atlas.EncodedImage | None = None
        self.last_ms: float | None = None  # file → encoded and shown, ms

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Encode an image", "", "Images (*.png *.jpg *.jpeg)")
        if path:
            self.encode_file(path)

    def encode_file(self, path: str | Path, show_crop: bool = True) -> atlas.EncodedImage | None:
        """Read, grey, centre-crop, encode and show one image file; errors become a dialog (None returned)."""
        start = time.perf_counter()
        if self.session.model is None:
            self.session.report_error("No model", "Open or train a model before encoding an image.")
            return None
        try:
            grey = atlas.to_grey(read_image(path))
            shape = self.image_shape()
        except ValueError as exc:
            self.session.report_error("Cannot encode the image", str(exc))
            return None
        self.grey, self.source = grey, Path(path)
        enc = self.recrop(atlas.default_crop(grey.shape, shape))
        self.last_ms = 1000 * (time.perf_counter() - start)
        if show_crop and enc is not None:
            self._show_dialog(enc)
        return enc

    def image_shape(self) -> tuple[int, int]:
        dataset = self.session.dataset
        if dataset is not None and dataset.dim == self.session.model.config.input_dim:
            return dataset.image_shape
        return self.session.record.image_shape

    def recrop(self, crop: atlas.Crop) -> atlas.EncodedImage | None:
        """Encode the current picture with this crop and send it to the session."""
        model = self.session.model
        if self.grey is None or model is None:
            return None
        shape = self.image_shape()
        try:
            enc = atlas.encode_pixels(model, atlas.crop_resize(self.grey, crop, shape), shape)
        except ValueError as exc:
            self.session.report_error("Cannot encode the image", str(exc))
            return None
        self.last = enc
        self.session.show_own_image(enc)  # marked on the Latent map, shown in Reconstruction
        self.session.choose_latent(enc.mean)  # its z on the Sampling sliders
        if self.dialog is not None:
            self.dialog.show_encoding(enc, atlas.decode_latents(model, enc.mean[None, :])[0])
        return enc

    def _show_dialog(self, enc: atlas.EncodedImage) -> None:
        if self.dialog is None:
            self.dialog = CropDialog(self, self.window)
        self.dialog.set_picture(self.grey, atlas.default_crop(self.grey.shape, enc.image_shape), self.source.name)
        self.dialog.show_encoding(enc, atlas.decode_latents(self.session.model, enc.mean[None, :])[0])
        self.dialog.show()

    # ------------------------------------------------------------------ drag and drop onto the window
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and image_path_of(event.mimeData()) is not None:
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop:
            path = image_path_of(event.mimeData())
            if path is not None:
                event.acceptProposedAction()
                self.encode_file(path)
                return True
        return super().eventFilter(obj, event)
