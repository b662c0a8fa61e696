"""Animated GIFs of latent walks (core.animation): exact frame counts, sizes, frame times, the progress bar,
the paths they decode, and safe writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.animation import (
    check_frames,
    face_frames,
    gif_bytes,
    grid_sweep_path,
    interpolation_path,
    scale_frames,
    sweep,
    traversal_path,
    with_progress_bar,
    write_gif,
)
from core.errors import UnsafeFileError
from core.explore import dims_axes


def _gif(path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def test_gif_has_exactly_the_frames_asked_even_when_frames_repeat(tmp_path):
    frames = np.zeros((12, 28, 20), dtype=np.uint8)  # identical frames: a writer would merge them
    frames[5:] = 200
    path = write_gif(tmp_path / "a.gif", frames, frame_ms=70, scale=2)
    image = _gif(path)
    assert image.is_animated and image.n_frames == 12
    assert image.size == (40, 2 * (28 + 2))  # the 2-px progress bar under each frame, scaled too
    assert image.info["duration"] == 70 and image.info["loop"] == 0
    image.seek(4)
    assert np.asarray(image.convert("L"))[:56].max() == 0 and np.asarray(image.convert("L"))[:56].min() == 0
    image.seek(6)
    assert np.asarray(image.convert("L"))[:56].min() == 200


def test_size_overrides_scale_and_bad_values_are_refused(tmp_path):
    frames = np.full((3, 4, 2), 128, dtype=np.uint8)
    image = _gif(write_gif(tmp_path / "s.gif", frames, size=(30, 50)))
    assert image.size == (30, 50) and image.n_frames == 3
    for bad in (dict(frame_ms=5), dict(size=(0, 10)), dict(scale=0)):
        with pytest.raises(ValueError):
            gif_bytes(frames, **{"frame_ms": 80, **bad})
    with pytest.raises(ValueError, match="frames"):
        check_frames(1)
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(UnsafeFileError):
        write_gif(tmp_path / "notes.txt", frames)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_progress_bar_grows_and_scaling_is_nearest_neighbour():
    frames = np.full((4, 2, 8), 100, dtype=np.uint8)
    barred = with_progress_bar(frames, height=1)
    assert [int((barred[i, 2] == 0).sum()) for i in range(4)] == [2, 4, 6, 8]
    big = scale_frames(np.arange(4, dtype=np.uint8).reshape(1, 2, 2), scale=3)
    assert big.shape == (1, 6, 6) and big[0, 2, 2] == 0 and big[0, 3, 3] == 3


def test_sweep_loops_there_and_back():
    values = sweep(-3, 3, 8)
    assert values[0] == pytest.approx(-3) and values[4] == pytest.approx(3) and values[7] == pytest.approx(values[1])
    np.testing.assert_allclose(sweep(-1, 1, 5, there_and_back=False), np.linspace(-1, 1, 5))


def test_walk_paths():
    z0 = np.array([1.0, 2.0, 3.0])
    dirs, sds = np.eye(3)[[2, 0]], np.array([0.5, 2.0])
    path = traversal_path(z0, dirs, sds, 8, span=3)
    assert path.shape == (8, 2, 3)
    np.testing.assert_allclose(path[4, 0], [1.0, 2.0, 3.0 + 1.5])  # +3σ of row 0 (unit z2, σ 0.5)
    np.testing.assert_allclose(path[0, 1], [1.0 - 6.0, 2.0, 3.0])
    line = interpolation_path(np.zeros(3), np.ones(3), 5)
    assert line.shape == (5, 1, 3) and np.allclose(line[2, 0], 0.5)
    axes = dims_axes(3, 0, 1, 4)
    swept = grid_sweep_path(axes, np.eye(3)[2], np.array([-1.0, 2.0]))
    assert swept.shape == (2, 16, 3) and np.allclose(swept[1, :, 2], 2.0)
    np.testing.assert_allclose(swept[0, :, :2], axes.points()[:, :2])


def test_face_frames_tile_each_frame():
    faces = np.random.default_rng(0).uniform(size=(3, 5, 6))  # 3 frames of 5 faces, each 3×2
    frames = face_frames(faces, (3, 2), ncols=3)
    assert frames.shape == (3, 2 * 3 + 3, 3 * 2 + 4)
    assert frames[0, 1:4, 1:3].tolist() == np.clip(np.rint(faces[0, 0].reshape(3, 2) * 255), 0, 255).tolist()
    assert (frames[0, 5:8, 7:9] == 255).all()  # the empty sixth cell is white
