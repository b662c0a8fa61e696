"""Latent-space walks shared by the CLI and the GUI: Gaussian-quantile grids, interpolation."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from .models import Model


def quantile_axis(n: int, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """n values at Gaussian quantiles norm.ppf(linspace(lo, hi, n)), like the Frey-face
    manifold figure of Kingma & Welling (2013)."""
    # the standard library's inverse CDF agrees with scipy.stats.norm.ppf to ~1e-15 and spares the GUI's
    # cold start the ~0.8 s import of scipy.stats (measured with python -X importtime)
    inv_cdf = NormalDist().inv_cdf
    return np.array([inv_cdf(float(p)) for p in np.linspace(lo, hi, n)])


def latent_grid(model: Model, dim_row: int, dim_col: int, n: int, base: np.ndarray | None = None):
    """Decoded faces (n, n, 560) on the device: row i, column j sets z[dim_row] to the i-th and
    z[dim_col] to the j-th quantile value; other dims stay at ``base`` (zeros by default)."""
    L = model.config.latent
    if not (0 <= dim_row < L and 0 <= dim_col < L):
        raise ValueError(f"latent dims must be in 0…{L - 1}")
    axis = quantile_axis(n)
    z = np.tile(np.zeros(L) if base is None else np.asarray(base, dtype=np.float64), (n, n, 1))
    z[:, :, dim_row] = axis[:, None]
    z[:, :, dim_col] = axis[None, :]
    return model.decode(z.reshape(n * n, L)).reshape(n, n, -1)


def latent_activity(means: np.ndarray) -> np.ndarray:
    """How much each latent dim is used: the variance of the posterior means (AE: codes) over the
    data, (N, L) -> (L,). evaluate.active_units counts the dims above a threshold."""
    return np.asarray(means, dtype=np.float64).var(axis=0)


def most_active_dims(means: np.ndarray, k: int = 2) -> list[int]:
    """The k latent dims whose posterior means vary most over the data, most active first (ties: the
    lower dim first, so the choice is stable)."""
    order = np.argsort(-latent_activity(means), kind="stable")
    return [int(d) for d in order[:k]]


def lerp(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """k points on the straight line from a to b (both included): (k, L)."""
    t = np.linspace(0.0, 1.0, k)[:, None]
    return (1 - t) * a[None, :] + t * b[None, :]


def slerp(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """k points on the great-circle arc from a to b, norms interpolated linearly: (k, L)."""
    t = np.linspace(0.0, 1.0, k)[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return lerp(a, b, k)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if omega < 1e-6:
        return lerp(a, b, k)
    dirs = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return dirs * ((1 - t) * na + t * nb)
