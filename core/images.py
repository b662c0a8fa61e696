"""Faces to pictures without Qt or matplotlib: mosaics as uint8 arrays and a tiny PNG writer."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import VaeError
from .models import IMAGE_SHAPE
from .safe_io import PNG, atomic_write


def to_uint8(faces: np.ndarray, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """(…, D) or (…, H, W) values in [0, 1] -> uint8 images (…, H, W). ``image_shape`` (H, W) reshapes
    flat rows (default: the Frey faces' 28×20 when D is 560)."""
    faces = np.asarray(faces, dtype=np.float64)
    shape = image_shape or (IMAGE_SHAPE if faces.shape[-1] == 560 else None)
    if shape is not None and faces.shape[-1] == shape[0] * shape[1]:
        faces = faces.reshape(*faces.shape[:-1], *shape)
    return np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, pad: int = 1, background: float = 1.0) -> np.ndarray:
    """Tile images (rows, cols, H, W) into one array (rows·H + (rows+1)·pad, cols·W + (cols+1)·pad) of
    their dtype, ``pad`` pixels of ``background`` between and around them. Whole-array reshapes instead of
    a Python loop: a 25×25 grid of faces takes well under a millisecond."""
    images = np.asarray(images)
    rows, cols, h, w = images.shape
    cell_h, cell_w = h + pad, w + pad
    out = np.full((rows * cell_h + pad, cols * cell_w + pad), background, dtype=images.dtype)
    # padded cells (rows, cell_h, cols, cell_w) laid into out[pad:, pad:], each image at its cell's top-left
    cells = np.full((rows, cell_h, cols, cell_w), background, dtype=images.dtype)
    cells[:, :h, :, :w] = images.transpose(0, 2, 1, 3)
    out[pad:, pad:] = cells.reshape(rows * cell_h, cols * cell_w)
    return out


def mosaic(faces: np.ndarray, ncols: int, pad: int = 1, background: int = 255,
           image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Tile images (n, D) (or (n, H, W)) in rows of ``ncols`` with ``pad`` pixels between: uint8 (H', W').
    ``image_shape`` (H, W) for flat rows of other data than the 28×20 Frey faces."""
    imgs = to_uint8(faces, image_shape)
    n, h, w = imgs.shape
    nrows = max(1, -(-n // ncols))
    grid = np.full((nrows * ncols, h, w), background, np.uint8)
    grid[:n] = imgs
    return tile(grid.reshape(nrows, ncols, h, w), pad=pad, background=background)


MAX_PNG_PIXELS = 64_000_000  # a written PNG (64 MB of grey pixels, plus its compressed copy)


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A uint8 greyscale (H, W) or RGB (H, W, 3) image as the bytes of a PNG file, each pixel a
    scale×scale block. A picture of more than MAX_PNG_PIXELS pixels is refused (ValueError) before it is
    enlarged."""
    image = np.asarray(image, dtype=np.uint8)
    height, width = image.shape[0] * scale, image.shape[1] * scale
    if height * width > MAX_PNG_PIXELS:
        raise ValueError(f"refusing to write a {width}×{height} PNG (scale {scale}): more than the "
                         f"{MAX_PNG_PIXELS:,} pixels a PNG may have; use a smaller --scale or fewer images")
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    h, w = image.shape[:2]
    colour_type = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_png(path: str | os.PathLike, gray: np.ndarray, scale: int = 1, force: bool = False) -> Path:
    """Write a uint8 (H, W) greyscale image as PNG, each pixel a scale×scale block, atomically: it may
    replace a PNG (any regular file with ``force``), never another kind of file (see safe_io)."""
    png = png_bytes(gray, scale)
    return atomic_write(path, PNG, lambda f: f.write(png), force=force)


def read_png_gray(path: str | os.PathLike) -> np.ndarray:
    """Read back a PNG written by ``write_png`` (8-bit grey, filter 0 rows): uint8 (H, W)."""
    data = Path(path).read_bytes()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)
    return raw[:, 1:].copy()


# ------------------------------------------------------------------ reading pictures (PNG and JPEG only)
PICTURE_FORMATS = ("PNG", "JPEG")  # Pillow never guesses another format: EPS would start Ghostscript
MAX_PICTURE_BYTES = 256 << 20
MAX_DECODED_PIXELS = 40_000_000  # one decoded image (8000×5000); a 13 000² RGBA PNG would take 676 MB
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class PictureError(VaeError, ValueError):
    """An image file that is not read: not a regular file, not PNG/JPEG, too large, damaged (one line)."""


@contextmanager
def open_picture(path: str | os.PathLike, draft_size: tuple[int, int] | None = None) -> Iterator:
    """A Pillow image of ``path`` with its header read and nothing decoded yet, closed on leaving the block.
    Only a regular file (a FIFO is refused without blocking, see safe_io.open_regular) holding PNG or JPEG,
    told by its content, is opened: no other Pillow plugin is ever asked, so no external program (Ghostscript
    for EPS) can start. A JPEG is set to decode at the smallest 1/2ⁿ scale still at least ``draft_size``
    (w, h). A picture whose decoded size would pass MAX_DECODED_PIXELS is refused before decoding."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from .safe_io import open_regular

    with open_regular(path, "image file", MAX_PICTURE_BYTES, PictureError) as f:
        try:
            with warnings.catch_warnings():  # our own pixel limit below is the one that counts
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(f, formats=list(PICTURE_FORMATS))
        except UnidentifiedImageError:
            raise PictureError(f"{path} is not a PNG or JPEG image (only those two formats are read)") from None
        except Image.DecompressionBombError as exc:
            raise PictureError(f"{path} is too large to decode ({exc}); refused") from None
        except (OSError, ValueError, SyntaxError) as exc:  # Pillow's header parsers raise these on garbage
            raise PictureError(f"cannot read {path} as an image: {one_line(exc)}") from None
        with image:
            if image.format == "JPEG" and draft_size is not None:
                image.draft(image.mode if image.mode in ("L", "RGB") else None, draft_size)
            width, height = image.size
            if width * height > MAX_DECODED_PIXELS:
                raise PictureError(f"{path} is {width}×{height} pixels, more than the {MAX_DECODED_PIXELS:,} an "
                                   "image may have (a decompression bomb?); refused before decoding it")
            yield image


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def picture_grey(image, size: tuple[int, int] | None = None, where: object = "the image") -> np.ndarray:
    """An opened picture as grey float32 (h, w) in [0, 1], resized (Lanczos) to ``size`` (w, h) when
    given. 8-bit images are scaled by 1/255, 16-bit ones by 1/65535 (``convert("L")`` would clip them: a
    16-bit grey PNG turned almost all white)."""
    try:
        if image.mode in SIXTEEN_BIT_MODES:
            grey, scale = image.convert("F"), 65535.0
        else:
            grey, scale = image.convert("L"), 255.0
        if size is not None and grey.size != size:
            grey = grey.resize(size, _lanczos())
        return np.asarray(grey, dtype=np.float32) / np.float32(scale)  # divided, as core.dataset_io divides
    except (OSError, ValueError, SyntaxError) as exc:
        raise PictureError(f"cannot decode {where}: {one_line(exc)}") from None


def read_picture(path: str | os.PathLike, max_side: int) -> np.ndarray:
    """An image file for encoding: RGBA uint8 (h, w, 4) reduced (area filter) so its longer side is at most
    ``max_side``, or for 16-bit greyscale uint16 (h, w). JPEGs decode at a reduced scale; see open_picture."""
    with open_picture(path, (max_side, max_side)) as image:
        try:
            if image.mode in SIXTEEN_BIT_MODES:
                image = image.convert("F")
                image.thumbnail((max_side, max_side), _box())
                return np.clip(np.rint(np.asarray(image)), 0, 65535).astype(np.uint16)
            image.thumbnail((max_side, max_side), _box())
            return np.asarray(image.convert("RGBA"))
        except (OSError, ValueError, SyntaxError) as exc:
            raise PictureError(f"cannot decode {path}: {one_line(exc)}") from None


def _lanczos():
    from PIL import Image

    return Image.Resampling.LANCZOS


def _box():
    from PIL import Image

    return Image.Resampling.BOX
