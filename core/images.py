"""Faces to pictures without Qt or matplotlib: mosaics as uint8 arrays and a tiny PNG writer."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

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


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A uint8 greyscale (H, W) or RGB (H, W, 3) image as the bytes of a PNG file, each pixel a
    scale×scale block."""
    image = np.asarray(image, dtype=np.uint8)
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
