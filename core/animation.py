"""Animated GIFs of latent walks, written with Pillow: a traversal, an A→B interpolation, a grid sweeping a
third axis, a training timeline. No Qt: the CLI and the GUI both call it.

Every animation is a stack of greyscale frames (F, H, W) uint8. ``write_gif`` scales them (nearest
neighbour, so face pixels stay crisp), adds a thin progress bar under each frame (where the walk is; it also
keeps every frame distinct, so a GIF writer never merges two equal frames and the file has exactly the
frames asked for) and writes the file atomically (``core.safe_io``: it may replace a GIF, nothing else).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .backend import to_numpy
from .explore import GridAxes, lerp, slerp
from .images import to_uint8
from .models import Model
from .safe_io import OutputKind, atomic_write

MAX_FRAMES = 1000  # ~ a minute at 60 ms a frame; more is a typo, not an animation
MAX_SIDE = 4096  # px of a frame after scaling
BAR_HEIGHT = 2  # px of the progress bar under each frame (before scaling)


def _is_gif(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) in (b"GIF87a", b"GIF89a")


GIF = OutputKind("GIF animation", _is_gif)


def check_frames(frames: int) -> int:
    """A frame count in 2…MAX_FRAMES, else ValueError naming the range."""
    if not 2 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"an animation has 2 … {MAX_FRAMES} frames, not {frames}")
    return int(frames)


def sweep(lo: float, hi: float, frames: int, there_and_back: bool = True) -> np.ndarray:
    """``frames`` values from lo to hi: a cosine there-and-back that loops without a jump (lo, …, hi, …,
    back towards lo), or with ``there_and_back`` False evenly spaced lo … hi (both included)."""
    if not there_and_back:
        return np.linspace(lo, hi, frames)
    t = np.arange(frames) / frames
    return lo + (hi - lo) * (1.0 - np.cos(2.0 * np.pi * t)) / 2.0


def with_progress_bar(frames: np.ndarray, height: int = BAR_HEIGHT) -> np.ndarray:
    """Frames (F, H, W) uint8 with ``height`` rows added below: black up to the frame's position in the
    animation, white after it, the pixel at the edge grey by the fraction it is filled (so up to 255·W
    frames all differ)."""
    n, h, w = frames.shape
    out = np.full((n, h + height, w), 255, dtype=np.uint8)
    out[:, :h] = frames
    filled = (np.arange(n) + 1) / n * w  # (F,) bar length in pixels
    fraction = np.clip(filled[:, None] - np.arange(w)[None, :], 0.0, 1.0)  # (F, W) how much of each pixel
    out[:, h:, :] = np.rint(255 * (1 - fraction)).astype(np.uint8)[:, None, :]
    return out


def scale_frames(frames: np.ndarray, scale: int = 1, size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames (F, H, W) uint8 enlarged by a whole ``scale`` or to ``size`` (width, height), nearest neighbour."""
    if size is not None:
        w, h = (int(s) for s in size)
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise ValueError(f"a frame is 1 … {MAX_SIDE} px wide and high, not {w}×{h}")
        rows = np.minimum((np.arange(h) * frames.shape[1] / h).astype(int), frames.shape[1] - 1)
        cols = np.minimum((np.arange(w) * frames.shape[2] / w).astype(int), frames.shape[2] - 1)
        return frames[:, rows][:, :, cols]
    if scale < 1 or max(frames.shape[1:]) * scale > MAX_SIDE:
        raise ValueError(f"scale {scale} gives frames over {MAX_SIDE} px (or is below 1)")
    return np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2) if scale > 1 else frames


def gif_bytes(frames: np.ndarray, frame_ms: int, scale: int = 1, size: tuple[int, int] | None = None,
              progress_bar: bool = True) -> bytes:
    """The GIF file of frames (F, H, W) uint8, each shown ``frame_ms`` ms, looping forever."""
    from PIL import Image

    check_frames(len(frames))
    if not 10 <= int(frame_ms) <= 10_000:
        raise ValueError(f"a frame shows for 10 … 10 000 ms, not {frame_ms}")
    frames = np.asarray(frames, dtype=np.uint8)
    if progress_bar:
        frames = with_progress_bar(frames)
    frames = scale_frames(frames, scale, size)
    images = [Image.fromarray(f, mode="L") for f in frames]
    buffer = io.BytesIO()
    # GIF stores durations in 10 ms units; optimize=False keeps the frames exactly as given
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(frame_ms), loop=0,
                   optimize=False, disposal=1)
    return buffer.getvalue()


def write_gif(path: str | os.PathLike, frames: np.ndarray, frame_ms: int = 80, scale: int = 1,
              size: tuple[int, int] | None = None, force: bool = False, progress_bar: bool = True) -> Path:
    """Write frames (F, H, W) uint8 as a looping GIF, atomically; returns the path written."""
    data = gif_bytes(frames, frame_ms, scale, size, progress_bar)
    return atomic_write(path, GIF, lambda f: f.write(data), force=force)


# ------------------------------------------------------------------------------------------ the walks
def face_frames(faces: np.ndarray, image_shape: tuple[int, int], ncols: int, pad: int = 1) -> np.ndarray:
    """Decoded faces (F, k, D) in [0, 1] -> frames (F, H', W') uint8, each frame the k faces tiled in rows
    of ``ncols`` (white ``pad`` between). One strided copy for all frames (a 60-frame 15×15 clip: ~50 ms)."""
    faces = np.asarray(faces)
    n, k, _ = faces.shape
    h, w = image_shape
    rows = -(-k // ncols)
    cell_h, cell_w = h + pad, w + pad
    out = np.full((n, rows * cell_h + pad, ncols * cell_w + pad), 255, dtype=np.uint8)
    cells = out[:, pad:, pad:].reshape(n, rows, cell_h, ncols, cell_w)  # a view: writing it fills ``out``
    padded = np.full((n, rows * ncols, h, w), 255, dtype=np.uint8)
    padded[:, :k] = to_uint8(faces.reshape(n, k, h * w), image_shape)
    cells[:, :, :h, :, :w] = padded.reshape(n, rows, ncols, h, w).transpose(0, 1, 3, 2, 4)
    return out


def decode_frames(model: Model, z: np.ndarray) -> np.ndarray:
    """Decoded faces of latent vectors z (F, k, L) -> (F, k, D) float in [0, 1] (one decoder call)."""
    f, k, latent = z.shape
    return to_numpy(model.decode(z.reshape(f * k, latent))).reshape(f, k, -1)


def traversal_path(z0: np.ndarray, directions: np.ndarray, sds: np.ndarray, frames: int,
                   span: float = 3.0) -> np.ndarray:
    """Latent vectors (F, k, L) of a traversal animation: frame t moves each of the k rows' faces along its
    own direction to offset s(t)·sd, s sweeping −span … +span and back (``sweep``)."""
    offsets = sweep(-span, span, frames)  # (F,)
    return (np.asarray(z0, dtype=np.float64)[None, None, :]
            + offsets[:, None, None] * (np.asarray(sds)[:, None] * np.asarray(directions))[None, :, :])


def interpolation_path(z_a: np.ndarray, z_b: np.ndarray, frames: int, spherical: bool = False) -> np.ndarray:
    """Latent vectors (F, 1, L) from z_a to z_b, both included (lerp, or slerp with ``spherical``)."""
    path = slerp(z_a, z_b, frames) if spherical else lerp(np.asarray(z_a, float), np.asarray(z_b, float), frames)
    return path[:, None, :]


def grid_sweep_path(axes: GridAxes, direction: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Latent vectors (F, n·n, L): the grid of ``axes`` moved by values[t]·direction in frame t (a third
    axis swept while the grid's two stay)."""
    points = axes.points()
    return points[None, :, :] + np.asarray(values)[:, None, None] * np.asarray(direction)[None, None, :]


def grid_sweep_frames(model: Model, axes: GridAxes, direction: np.ndarray, lo: float, hi: float, frames: int,
                      image_shape: tuple[int, int]) -> np.ndarray:
    """Frames (F, H', W') uint8 of the n×n grid of ``axes`` with a third direction swept lo … hi and back."""
    path = grid_sweep_path(axes, direction, sweep(lo, hi, frames))
    return face_frames(decode_frames(model, path), image_shape, axes.n)


def timeline_frames(models: list[Model], faces: np.ndarray, image_shape: tuple[int, int], frames: int) -> np.ndarray:
    """Frames (F, H', W') uint8 of a training timeline: the faces (k, D) in the top row and their
    reconstructions (decoded posterior means) by each snapshot's model in the bottom row; frame i shows snapshot
    ⌊i·S/F⌋ of the S given (in step order), so any frame count plays the whole run."""
    faces = np.asarray(faces, dtype=np.float64)
    shown = []
    for model in models:
        mean, _ = model.encode(model.asarray(faces))
        shown.append(np.concatenate([faces, to_numpy(model.decode(mean)).astype(np.float64)]))
    which = (np.arange(frames) * len(models)) // frames
    return face_frames(np.stack(shown)[which], image_shape, len(faces))
