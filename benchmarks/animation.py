"""gif_export_s: a 60-frame animation of the 15×15 latent grid (model/vae_gauss.npz, PC1 × PC2 with PC3 swept)
decoded, tiled and written as a GIF, as ``main.py grid --gif OUT --frames 60 --gif-scale 1`` does after loading.
The data set's encoding (which picks the axes) is not timed: the GUI and the CLI have it already."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("gif_export_s", "gif_export_cpu_s")


def run(X: np.ndarray, reps: int, frames: int = 60, n: int = 15) -> dict:
    """Best wall-clock and CPU seconds of ``reps`` exports (each ends with the file on disk)."""
    from core.animation import grid_sweep_frames, write_gif
    from core.checkpoint import load_model
    from core.evaluate import posterior_means
    from core.explore import pca_axes, third_axis

    model = load_model(ROOT / "model" / "vae_gauss.npz").model
    means, logvars = posterior_means(model, X)
    axes = pca_axes(means, logvars, n)
    direction, lo, hi, _ = third_axis(axes, means, logvars)
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(max(1, reps)):
            t0, c0 = time.perf_counter(), time.process_time()
            clip = grid_sweep_frames(model, axes, direction, lo, hi, frames, (28, 20))
            write_gif(Path(folder) / "grid.gif", clip, frame_ms=80, force=True)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    return {"gif_export_s": min(walls), "gif_export_cpu_s": min(cpus)}
