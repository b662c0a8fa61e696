"""Faces to pictures without Qt or matplotlib: mosaics as uint8 arrays and a tiny PNG writer."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .models import IMAGE_SHAPE


def to_uint8(faces: np.ndarray) -> np.ndarray:
    """(…, 560) or (…, 28, 20) values in [0, 1] -> uint8 images (…, 28, 20)."""
    faces = np.asarray(faces, dtype=np.float64)
    faces = faces.reshape(*faces.shape[:-1], *IMAGE_SHAPE) if faces.shape[-1] == 560 else faces
    return np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)


def mosaic(faces: np.ndarray, ncols: int, pad: int = 1, background: int = 255) -> np.ndarray:
    """Tile faces (n, 560) in rows of ``ncols`` with ``pad`` pixels between: uint8 (H, W)."""
    imgs = to_uint8(faces)
    n = len(imgs)
    nrows = max(1, -(-n // ncols))
    h, w = IMAGE_SHAPE
    out = np.full((nrows * h + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad), background, np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top : top + h, left : left + w] = img
    return out


def write_png(path: str | os.PathLike, gray: np.ndarray, scale: int = 1) -> Path:
    """Write a uint8 (H, W) greyscale image as PNG, each pixel a scale×scale block."""
    gray = np.asarray(gray, dtype=np.uint8)
    if scale > 1:
        gray = np.repeat(np.repeat(gray, scale, axis=0), scale, axis=1)
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


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
