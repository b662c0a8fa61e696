"""Latent-space walks shared by the CLI and the GUI: Gaussian-quantile grids, interpolation."""

from __future__ import annotations

from dataclasses import dataclass
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
    """Decoded faces (n, n, D) on the device: row i, column j sets z[dim_row] to the i-th and
    z[dim_col] to the j-th quantile value; other dims stay at ``base`` (zeros by default)."""
    return decode_grid(model, dims_axes(model.config.latent, dim_row, dim_col, n, base))


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


# ---------------------------------------------------------------------------------------------- grid axes
MAX_MAHALANOBIS = 3.0  # every default grid point stays within 3 SD of the posterior means' distribution
GRID_LO, GRID_HI = 0.05, 0.95  # the quantiles the grid spans (Kingma & Welling's 5 %…95 %)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) for an array, |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26 on erf): NumPy has no erf and
    scipy.special costs the GUI's cold start an import."""
    t_abs = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * t_abs)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-t_abs * t_abs)
    return 0.5 * (1.0 + np.sign(x) * erf)


def mixture_quantiles(centres: np.ndarray, sds: np.ndarray | None, probs: np.ndarray) -> np.ndarray:
    """Quantiles of the equal-weight mixture of N(centres[i], sds[i]²) (N,) at ``probs`` (n,) -> (n,).

    With ``sds`` None (an AE's codes: no posterior spread) the empirical quantiles of ``centres``.
    Bisection on the mixture's CDF, to 1e-9 of the centres' range."""
    centres = np.asarray(centres, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if sds is None:
        return np.quantile(centres, probs)
    sds = np.maximum(np.asarray(sds, dtype=np.float64), 1e-12)
    lo = np.full(probs.shape, (centres - 10 * sds).min())
    hi = np.full(probs.shape, (centres + 10 * sds).max())
    for _ in range(60):  # 2^-60 of the bracket: exact in float64
        mid = 0.5 * (lo + hi)
        below = _normal_cdf((mid[:, None] - centres[None, :]) / sds[None, :]).mean(axis=1) < probs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class GridAxes:
    """Where an N×N latent grid lies: z[i, j] = centre + row_values[i]·directions[0] + col_values[j]·directions[1].

    kind "pca": the two principal directions of the posterior means (unit vectors), centred on the data's
    mean code, spanning the aggregate posterior's quantiles along each; kind "dims": two raw latent units
    at Gaussian quantiles, the others at ``centre`` (0 or a face's code). ``names`` label the two axes."""

    kind: str
    centre: np.ndarray  # (L,)
    directions: np.ndarray  # (2, L): row axis, column axis
    row_values: np.ndarray  # (n,) coordinate along directions[0], top to bottom
    col_values: np.ndarray  # (n,) coordinate along directions[1], left to right
    names: tuple[str, str]
    dims: tuple[int, int] | None = None  # the two units of a "dims" grid
    shrink: float = 1.0  # < 1 when the quantile span was shrunk to keep Mahalanobis ≤ 3

    @property
    def n(self) -> int:
        return len(self.row_values)

    def points(self) -> np.ndarray:
        """The grid's latent vectors row by row: (n·n, L)."""
        rows = self.row_values[:, None, None] * self.directions[0][None, None, :]
        cols = self.col_values[None, :, None] * self.directions[1][None, None, :]
        return (self.centre[None, None, :] + rows + cols).reshape(-1, len(self.centre))

    def to_json(self) -> dict:
        """Plain lists for ``main.py grid --json``: enough to rebuild every point."""
        return {"kind": self.kind, "names": list(self.names), "centre": self.centre.tolist(),
                "directions": self.directions.tolist(), "row_values": self.row_values.tolist(),
                "col_values": self.col_values.tolist(), "dims": list(self.dims) if self.dims else None,
                "shrink": self.shrink}


def dims_axes(latent: int, dim_row: int, dim_col: int, n: int, base: np.ndarray | None = None) -> GridAxes:
    """Two raw units at Gaussian quantiles 5 %…95 % (the prior's), other units at ``base`` (default 0)."""
    if not (0 <= dim_row < latent and 0 <= dim_col < latent):
        raise ValueError(f"latent dims must be in 0…{latent - 1}")
    directions = np.zeros((2, latent))
    directions[0, dim_row] = directions[1, dim_col] = 1.0
    centre = np.zeros(latent) if base is None else np.array(base, dtype=np.float64)
    centre[[dim_row, dim_col]] = 0.0  # the grid's own units take the quantile values, not the base's
    axis = quantile_axis(n, GRID_LO, GRID_HI)
    return GridAxes("dims", centre, directions, axis, axis.copy(), (f"z{dim_row}", f"z{dim_col}"),
                    (dim_row, dim_col))


def principal_directions(means: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(unit directions (k, L), variances (k,)) of the posterior means (N, L), largest variance first;
    each direction's sign makes its largest-magnitude component positive (a stable choice)."""
    means = np.asarray(means, dtype=np.float64)
    cov = np.cov(means, rowvar=False).reshape(means.shape[1], means.shape[1])
    variances, vectors = np.linalg.eigh(cov)
    order = np.argsort(-variances, kind="stable")[:k]
    dirs = vectors[:, order].T
    signs = np.sign(dirs[np.arange(len(dirs)), np.argmax(np.abs(dirs), axis=1)])
    return dirs * signs[:, None], np.maximum(variances[order], 0.0)


def mahalanobis(points: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each point (M, L) from the distribution of the posterior means (N, L):
    sqrt((z − m̄)ᵀ C⁺ (z − m̄)), C⁺ the pseudo-inverse (unused units have ~0 variance)."""
    means = np.asarray(means, dtype=np.float64)
    cov = np.cov(means, rowvar=False).reshape(means.shape[1], means.shape[1])
    diff = np.asarray(points, dtype=np.float64) - means.mean(axis=0)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, np.linalg.pinv(cov, hermitian=True), diff), 0.0))


def pca_axes(means: np.ndarray, logvars: np.ndarray | None, n: int,
             max_mahalanobis: float = MAX_MAHALANOBIS) -> GridAxes:
    """The grid over the two principal directions of the posterior means (N, L), other directions at the
    mean code. Each axis spans the aggregate posterior's quantiles 5 %…95 % along its direction (the
    mixture of the N posteriors N(μᵢ, diag σᵢ²) projected on it; an AE: its codes' quantiles). If a grid
    corner would lie beyond ``max_mahalanobis`` of the means' distribution, both spans shrink by the
    same factor until it does not (recorded in ``shrink``)."""
    means = np.asarray(means, dtype=np.float64)
    centre = means.mean(axis=0)
    dirs, variances = principal_directions(means, 2)
    probs = np.linspace(GRID_LO, GRID_HI, n)
    values = []
    for d in dirs:
        proj = (means - centre) @ d
        sds = None if logvars is None else np.sqrt(np.exp(np.asarray(logvars, dtype=np.float64)) @ (d * d))
        values.append(mixture_quantiles(proj, sds, probs))
    # in principal coordinates the means' Mahalanobis distance is sqrt(Σ (value/sd)²); the corners are farthest
    sd = np.sqrt(np.maximum(variances, 1e-300))
    worst = max(np.hypot(r / sd[0], c / sd[1]) for r in values[0][[0, -1]] for c in values[1][[0, -1]])
    shrink = min(1.0, max_mahalanobis / worst) if worst > 0 else 1.0
    return GridAxes("pca", centre, dirs, values[0] * shrink, values[1] * shrink, ("PC1", "PC2"), None, shrink)


def default_axes(model: Model, means: np.ndarray | None, logvars: np.ndarray | None, n: int,
                 kind: str | None = None) -> GridAxes:
    """The grid a user sees first: for more than two latent units the principal directions ("pca", needs
    the posterior means), else (or kind "dims") the two most active units at Gaussian quantiles."""
    latent = model.config.latent
    kind = kind or ("pca" if latent > 2 and means is not None else "dims")
    if kind == "pca":
        if means is None:
            raise ValueError("principal-direction axes need the posterior means of a data set")
        return pca_axes(means, logvars, n)
    dims = most_active_dims(means, 2) if means is not None else [0, 1]
    return dims_axes(latent, dims[0], dims[1], n)


def decode_grid(model: Model, axes: GridAxes) -> np.ndarray:
    """Decoded faces (n, n, D) of a grid, on the model's device."""
    return model.decode(axes.points()).reshape(axes.n, axes.n, -1)


def pixel_spread(images: np.ndarray) -> float:
    """Mean over pixels of each pixel's standard deviation over images (M, D): how much a set of faces
    differs (the issue's measure; a grid of near-identical faces has ~0)."""
    return float(np.asarray(images, dtype=np.float64).std(axis=0).mean())


# ---------------------------------------------------------------------------------------------- traversals
def unit_kl(means: np.ndarray, logvars: np.ndarray | None) -> np.ndarray:
    """Mean KL(q(z_j|x) ‖ N(0, 1)) of each latent unit over the data (L,), nats; zeros for an AE."""
    means = np.asarray(means, dtype=np.float64)
    if logvars is None:
        return np.zeros(means.shape[1])
    logvars = np.asarray(logvars, dtype=np.float64)
    return (0.5 * (means**2 + np.exp(logvars) - 1.0 - logvars)).mean(axis=0)


@dataclass(frozen=True)
class TraversalRows:
    """The directions of a traversal sheet, one per row: unit vectors (k, L), the codes' standard deviation
    along each (k,) (a column step is a multiple of it), names, and the score they are sorted by
    (units: mean KL in nats, an AE's units and principal directions: the codes' variance)."""

    directions: np.ndarray
    sds: np.ndarray
    names: list[str]
    scores: np.ndarray
    score_name: str


def traversal_rows(means: np.ndarray, logvars: np.ndarray | None, kind: str = "units",
                   k: int | None = None) -> TraversalRows:
    """The k rows of a traversal sheet: latent units sorted by their KL (most informative first; an AE's
    by variance), or the principal directions of the posterior means (by variance)."""
    means = np.asarray(means, dtype=np.float64)
    latent = means.shape[1]
    k = latent if k is None else max(1, min(int(k), latent))
    if kind == "pca":
        dirs, variances = principal_directions(means, k)
        return TraversalRows(dirs, np.sqrt(variances), [f"PC{i + 1}" for i in range(k)], variances, "variance")
    if kind != "units":
        raise ValueError(f"traversal rows are 'units' or 'pca', not {kind!r}")
    kl, var = unit_kl(means, logvars), latent_activity(means)
    score, name = (kl, "KL") if logvars is not None else (var, "variance")
    order = np.argsort(-score, kind="stable")[:k]
    return TraversalRows(np.eye(latent)[order], np.sqrt(var[order]), [f"z{d}" for d in order], score[order], name)


def traversal_sheet(z0: np.ndarray, rows: TraversalRows, cols: int, span: float = 3.0) -> np.ndarray:
    """Latent vectors (k, cols, L): row r moves z0 along rows.directions[r] by −span … +span of that row's
    standard deviation (the middle column is z0 itself when cols is odd)."""
    offsets = np.linspace(-span, span, cols)
    return (np.asarray(z0, dtype=np.float64)[None, None, :]
            + offsets[None, :, None] * (rows.sds[:, None] * rows.directions)[:, None, :])


def third_axis(axes: GridAxes, means: np.ndarray | None, logvars: np.ndarray | None) -> tuple[np.ndarray, float,
                                                                                                 float, str]:
    """(unit direction (L,), lo, hi, name) of the axis a grid animation sweeps: for principal-direction axes
    PC3 over the aggregate posterior's 5 %…95 % quantiles along it; for unit axes the most active unit not on
    the grid over the prior's. ValueError for a model with two latent units (no third axis)."""
    latent = len(axes.centre)
    if latent < 3:
        raise ValueError("a grid sweep needs a third latent dimension; this model has two")
    if axes.kind == "pca":
        dirs, _ = principal_directions(means, 3)
        proj = (np.asarray(means, dtype=np.float64) - axes.centre) @ dirs[2]
        sds = None if logvars is None else np.sqrt(np.exp(np.asarray(logvars, dtype=np.float64)) @ (dirs[2] ** 2))
        lo, hi = mixture_quantiles(proj, sds, np.array([GRID_LO, GRID_HI]))
        return dirs[2], float(lo), float(hi), "PC3"
    order = (np.argsort(-latent_activity(means), kind="stable") if means is not None else np.arange(latent))
    dim = next(int(d) for d in order if int(d) not in axes.dims)
    lo, hi = quantile_axis(2, GRID_LO, GRID_HI)
    return np.eye(latent)[dim], float(lo), float(hi), f"z{dim}"
