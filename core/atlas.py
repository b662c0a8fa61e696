"""The latent atlas (no Qt): what the Latent map draws and decodes, for images of any shape (H, W).

- thumbnails: every image packed into ONE atlas image (``pack_atlas``) with each tile's source rectangle,
  and an opacity per thumbnail that fades thumbnails where too many overlap on screen (``overlap_opacity``);
- the 2-D view of the latent space (``Projection``: two chosen dims or the two leading principal axes) and
  its inverse: a point of the view lifted back to a full z, the other dims held at zero (the view's own
  origin) or at the mean of the k nearest faces (``latent_at``, ``path_latents``);
- the posterior q(z|x) = N(mean, diag σ²) seen in the view: its 1σ / 2σ ellipse (``posterior_ellipse``);
- per-face colour values: the posterior σ averaged over dims, the reconstruction loss;
- selections: point-in-polygon / rectangle, the selection's mean face and its decoded mean z;
- your own image: grey conversion, a movable crop with the model's aspect ratio, area resampling to the
  model's (H, W), and its encoding (mean, σ, −ELBO).

Shapes: L latent dims, D = H·W pixels, N faces; faces are rows (N, D) in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backend import to_numpy
from .evaluate import per_image_losses
from .models import Model

OTHER_ZERO = "zero"  # dims outside the view at the view's origin (0; for PCA the data mean)
OTHER_NEAREST = "nearest"  # dims outside the view at the mean of the k nearest faces
OTHER_MODES = (OTHER_ZERO, OTHER_NEAREST)


# ---------------------------------------------------------------------------------------------- thumbnails
def pack_atlas(faces: np.ndarray, image_shape: tuple[int, int], pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pack faces (N, H·W) in [0, 1] into one uint8 grey atlas of about square shape.

    Returns (atlas (rows·(H+pad), cols·(W+pad)) uint8, sources (N, 4) int: x, y, w, h of each tile).
    Whole-array reshapes, no per-face loop."""
    h, w = (int(s) for s in image_shape)
    faces = np.asarray(faces, dtype=np.float32).reshape(-1, h, w)
    n = len(faces)
    cell_h, cell_w = h + pad, w + pad
    cols = max(1, math.ceil(math.sqrt(n * cell_h / cell_w)))
    rows = max(1, math.ceil(n / cols))
    cells = np.zeros((rows * cols, cell_h, cell_w), dtype=np.uint8)
    cells[:n, :h, :w] = np.rint(np.clip(faces, 0.0, 1.0) * 255.0).astype(np.uint8)
    atlas = cells.reshape(rows, cols, cell_h, cell_w).transpose(0, 2, 1, 3).reshape(rows * cell_h, cols * cell_w)
    ids = np.arange(n)
    sources = np.column_stack([(ids % cols) * cell_w, (ids // cols) * cell_h, np.full(n, w), np.full(n, h)])
    return np.ascontiguousarray(atlas), sources.astype(np.int64)


def overlap_opacity(screen_xy: np.ndarray, box: tuple[float, float], crowd_limit: float = 3.0,
                    floor: float = 0.2) -> np.ndarray:
    """Opacity (N,) in [floor, 1] of thumbnails of size box = (w, h) px centred at screen_xy (N, 2) px.

    A thumbnail's crowd is the number of thumbnail centres (itself included) in the 3×3 block of
    half-size cells around its own (about the boxes that overlap it by more than a quarter); up to
    ``crowd_limit`` it stays opaque, beyond it fades as crowd_limit / crowd. Counting on a grid is
    O(N + cells), so it runs on every repaint while panning."""
    xy = np.asarray(screen_xy, dtype=np.float64)
    if len(xy) == 0:
        return np.zeros(0)
    cell = np.maximum(np.asarray(box, dtype=np.float64) / 2.0, 1.0)
    ij = np.floor((xy - xy.min(axis=0)) / cell).astype(np.int64)
    shape = ij.max(axis=0) + 3  # one empty cell of margin on each side
    counts = np.zeros(shape, dtype=np.int64)
    np.add.at(counts, (ij[:, 0] + 1, ij[:, 1] + 1), 1)
    # 3×3 box sums with a summed-area table
    sat = np.zeros((shape[0] + 1, shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = counts.cumsum(0).cumsum(1)
    i, j = ij[:, 0], ij[:, 1]  # the block around cell (i+1, j+1) spans rows i…i+2, cols j…j+2
    crowd = sat[i + 3, j + 3] - sat[i, j + 3] - sat[i + 3, j] + sat[i, j]
    return np.clip(crowd_limit / np.maximum(crowd, 1), floor, 1.0)


# ---------------------------------------------------------------------------------------------- projection
@dataclass
class Projection:
    """An affine 2-D view of the latent space: xy = (z − center) @ basis, basis (L, 2) orthonormal."""

    center: np.ndarray  # (L,)
    basis: np.ndarray  # (L, 2)
    x_name: str
    y_name: str
    kind: str  # 'pca' or 'dims'

    def project(self, z: np.ndarray) -> np.ndarray:
        """z (N, L) → view coordinates (N, 2)."""
        return (np.asarray(z, dtype=np.float64) - self.center) @ self.basis

    def lift(self, xy: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The z (N, L) with view coordinates xy (N, 2) and base's (L,) or (N, L) part outside the view."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        base = np.asarray(base, dtype=np.float64)
        return base + (xy - self.project(base)) @ self.basis.T

    def covariance(self, sigma: np.ndarray) -> np.ndarray:
        """The view's 2×2 covariance of N(·, diag σ²) for σ (L,)."""
        return self.basis.T @ (np.asarray(sigma, dtype=np.float64)[:, None] ** 2 * self.basis)


def dims_projection(latent: int, dim_x: int, dim_y: int) -> Projection:
    """Two latent dimensions as they are (the other dims' origin is 0, the prior's mean)."""
    basis = np.zeros((latent, 2))
    basis[dim_x, 0] = 1.0
    basis[dim_y, 1] = 1.0
    return Projection(np.zeros(latent), basis, f"z{dim_x}", f"z{dim_y}", "dims")


def pca_projection(means: np.ndarray) -> Projection:
    """The two leading principal axes of the posterior means (N, L) around their mean (an eigh of L×L)."""
    means = np.asarray(means, dtype=np.float64)
    center = means.mean(axis=0)
    latent = means.shape[1]
    if latent < 2:
        return Projection(center, np.eye(latent, 2), "PC 1", "—", "pca")
    centred = means - center
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / len(centred))
    order = np.argsort(eigvals)[::-1][:2]
    share = eigvals[order] / max(eigvals.sum(), 1e-300)
    basis = eigvecs[:, order]
    basis *= np.where(basis[np.abs(basis).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)  # a fixed sign per axis
    return Projection(center, basis, f"PC 1 ({100 * share[0]:.0f} % of variance)",
                      f"PC 2 ({100 * share[1]:.0f} % of variance)", "pca")


def nearest_ids(coords: np.ndarray, xy, k: int) -> np.ndarray:
    """Indices of the k points of coords (N, 2) nearest to xy (2,), nearest first."""
    d2 = ((coords - np.asarray(xy, dtype=np.float64)) ** 2).sum(axis=1)
    k = min(int(k), len(d2))
    ids = np.argpartition(d2, k - 1)[:k] if k < len(d2) else np.arange(len(d2))
    return ids[np.argsort(d2[ids], kind="stable")]


def latent_at(projection: Projection, xy, means: np.ndarray | None = None, coords: np.ndarray | None = None,
              other: str = OTHER_ZERO, k: int = 8) -> np.ndarray:
    """The z (L,) decoded at view point xy: the view's coordinates set to xy, the other dims at the
    view's origin (other='zero') or at the mean posterior mean of the k nearest faces ('nearest')."""
    if other not in OTHER_MODES:
        raise ValueError(f"other dims must be one of {OTHER_MODES}, not {other!r}")
    base = projection.center
    if other == OTHER_NEAREST and means is not None and len(means):
        base = means[nearest_ids(coords, xy, k)].mean(axis=0)
    return projection.lift(np.asarray(xy, dtype=np.float64)[None, :], base)[0]


def decode_latents(model: Model, z: np.ndarray) -> np.ndarray:
    """Decoded mean images (M, D) float32 on the host for latents z (M, L)."""
    return to_numpy(model.decode(np.atleast_2d(z))).astype(np.float32, copy=False)


def resample_path(points: np.ndarray, n: int) -> np.ndarray:
    """n points (n, 2) equally spaced by arc length along the polyline points (M, 2)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 1:
        return np.repeat(points, n, axis=0)
    seg = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] == 0:
        return np.repeat(points[:1], n, axis=0)
    at = np.linspace(0.0, arc[-1], n)
    return np.column_stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])])


def path_latents(projection: Projection, points: np.ndarray, n: int, means: np.ndarray | None = None,
                 coords: np.ndarray | None = None, other: str = OTHER_ZERO, k: int = 8) -> np.ndarray:
    """The z (n, L) at n equally spaced points along a dragged view path (M, 2)."""
    return np.stack([latent_at(projection, xy, means, coords, other, k) for xy in resample_path(points, n)])


# ---------------------------------------------------------------------------------------------- posterior
def posterior_sigma(logvars: np.ndarray) -> np.ndarray:
    """σ = exp(logvar / 2), (N, L)."""
    return np.exp(0.5 * np.asarray(logvars, dtype=np.float64))


def ellipse(center, cov: np.ndarray, n_sigma: float = 1.0, n: int = 64) -> np.ndarray:
    """Closed polyline (n+1, 2) of the points at Mahalanobis distance n_sigma from center under cov (2, 2)."""
    eigvals, eigvecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0.0, 2 * np.pi, n + 1)
    circle = np.column_stack([np.cos(t), np.sin(t)]) * (n_sigma * np.sqrt(np.maximum(eigvals, 0.0)))
    return np.asarray(center, dtype=np.float64) + circle @ eigvecs.T


def posterior_ellipse(projection: Projection, mean: np.ndarray, logvar: np.ndarray, n_sigma: float = 1.0,
                      n: int = 64) -> np.ndarray:
    """The n_sigma ellipse (n+1, 2) of q(z|x) = N(mean, diag exp(logvar)) in the view."""
    center = projection.project(np.asarray(mean)[None, :])[0]
    return ellipse(center, projection.covariance(posterior_sigma(logvar)), n_sigma, n)


def mean_posterior_sigma(logvars: np.ndarray) -> np.ndarray:
    """Each face's posterior σ averaged over its L dims, (N,): how unsure the encoder is about it."""
    return posterior_sigma(logvars).mean(axis=1)


def reconstruction_loss(model: Model, X: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Each face's reconstruction NLL (N,) in nats, decoded from its posterior mean (no sampling noise)."""
    out = []
    for start in range(0, len(X), batch):
        xb = model.asarray(X[start : start + batch])
        eps = model.asarray(np.zeros((len(xb), model.config.latent))) if model.is_vae else None
        rec, _ = model.per_image_losses(xb, eps)
        out.append(to_numpy(rec).astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


# ---------------------------------------------------------------------------------------------- selections
def points_in_polygon(coords: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Bool (N,): which points (N, 2) lie inside the closed polygon (M, 2) (even–odd rule, vectorised per edge)."""
    poly = np.asarray(polygon, dtype=np.float64)
    x, y = coords[:, 0], coords[:, 1]
    inside = np.zeros(len(coords), dtype=bool)
    if len(poly) < 3:
        return inside
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def points_in_rect(coords: np.ndarray, corner_a, corner_b) -> np.ndarray:
    """Bool (N,): which points lie in the axis-aligned rectangle spanned by two corners."""
    lo, hi = np.minimum(corner_a, corner_b), np.maximum(corner_a, corner_b)
    return np.all((coords >= lo) & (coords <= hi), axis=1)


@dataclass
class SelectionSummary:
    ids: np.ndarray  # (S,) selected face ids
    mean_face: np.ndarray  # (D,) pixel mean of the selected faces
    mean_z: np.ndarray  # (L,) mean of their posterior means
    decoded_mean_face: np.ndarray  # (D,) decoder's image of mean_z


def selection_summary(model: Model, X: np.ndarray, means: np.ndarray, ids: np.ndarray) -> SelectionSummary:
    """The selected faces' mean face beside the face decoded from their mean z."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        raise ValueError("the selection is empty")
    mean_z = means[ids].mean(axis=0)
    return SelectionSummary(ids, X[ids].astype(np.float64).mean(axis=0).astype(np.float32), mean_z,
                            decode_latents(model, mean_z[None, :])[0])


# ---------------------------------------------------------------------------------------------- your own image
def to_grey(pixels: np.ndarray) -> np.ndarray:
    """Any image array → grey float64 (h, w) in [0, 1] (integer pixels are weighted in float32).

    Accepts (h, w) or (h, w, 3|4) in uint8/uint16 (scaled by the dtype's maximum) or floats in [0, 1];
    colour is weighted as ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B); an alpha channel is
    composited over white (transparent parts become background, not black)."""
    arr = np.asarray(pixels)
    if np.issubdtype(arr.dtype, np.integer):  # float32 is plenty for 8/16-bit pixels, and twice as fast
        arr = arr.astype(np.float32) * np.float32(1.0 / np.iinfo(arr.dtype).max)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
            raise ValueError("float images must hold finite values in [0, 1]")
    else:
        raise ValueError(f"cannot read an image of dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        alpha = arr[:, :, 3] if arr.shape[2] == 4 else None
        arr = arr[:, :, 0] if arr.shape[2] == 1 else arr[:, :, :3] @ np.array([0.299, 0.587, 0.114], arr.dtype)
        if alpha is not None:
            arr = arr * alpha + (1 - alpha)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"an image must be (h, w) or (h, w, 3|4), got shape {np.asarray(pixels).shape}")
    return arr.astype(np.float64, copy=False)


@dataclass
class Crop:
    """A crop rectangle in source pixels (floats: it may sit between pixels)."""

    left: float
    top: float
    width: float
    height: float


def default_crop(source_hw: tuple[int, int], target_hw: tuple[int, int]) -> Crop:
    """The largest centred rectangle of the source with the target's aspect ratio (so faces are not squashed)."""
    sh, sw = source_hw
    th, tw = target_hw
    width = min(float(sw), sh * tw / th)
    height = width * th / tw
    return Crop((sw - width) / 2, (sh - height) / 2, width, height)


def clamp_crop(crop: Crop, source_hw: tuple[int, int]) -> Crop:
    """The crop moved (not resized, unless larger than the source) to lie inside the source."""
    sh, sw = source_hw
    width, height = min(crop.width, float(sw)), min(crop.height, float(sh))
    left = float(np.clip(crop.left, 0.0, sw - width))
    top = float(np.clip(crop.top, 0.0, sh - height))
    return Crop(left, top, width, height)


def _area_weights(start: float, length: float, n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights: output i averages the source span [start + i·s, start + (i+1)·s), s = length/n_out."""
    edges = start + length * np.arange(n_out + 1) / n_out
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / np.maximum(overlap.sum(axis=1, keepdims=True), 1e-12)


def crop_resize(grey: np.ndarray, crop: Crop, target_hw: tuple[int, int]) -> np.ndarray:
    """The crop of grey (h, w) resampled by area averaging to target (H, W) float64 in [0, 1]."""
    grey = np.asarray(grey, dtype=np.float64)
    crop = clamp_crop(crop, grey.shape)
    rows = _area_weights(crop.top, crop.height, target_hw[0], grey.shape[0])
    cols = _area_weights(crop.left, crop.width, target_hw[1], grey.shape[1])
    return np.clip(rows @ grey @ cols.T, 0.0, 1.0)


@dataclass
class EncodedImage:
    pixels: np.ndarray  # (D,) the grey image the model read, in [0, 1]
    mean: np.ndarray  # (L,) posterior mean (AE: the code)
    sigma: np.ndarray | None  # (L,) posterior σ (None for an AE)
    neg_elbo: float  # −ELBO in nats (AE: the reconstruction NLL alone)
    rec: float  # expected reconstruction NLL, nats
    kl: float  # KL(q(z|x) ‖ p(z)), nats
    image_shape: tuple[int, int]

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "sigma": None if self.sigma is None else self.sigma.tolist(),
                "neg_elbo": self.neg_elbo, "rec": self.rec, "kl": self.kl, "image_shape": list(self.image_shape)}


def encode_pixels(model: Model, pixels: np.ndarray, image_shape: tuple[int, int], samples: int = 32,
                  seed: int = 0) -> EncodedImage:
    """Encode one grey image (D,) or (H, W) in [0, 1]: mean, σ and −ELBO (averaged over ``samples``
    seeded draws z ~ q(z|x), so the same image gives the same number)."""
    x = np.asarray(pixels, dtype=np.float64).reshape(1, -1)
    if x.shape[1] != model.config.input_dim:
        raise ValueError(f"the image has {x.shape[1]} pixels; the model reads {model.config.input_dim}")
    mean, logvar = model.encode(x)
    mean = to_numpy(mean)[0].astype(np.float64)
    sigma = None if logvar is None else posterior_sigma(to_numpy(logvar)[0])
    rec, kl_dims = per_image_losses(model, np.repeat(x, samples if model.is_vae else 1, axis=0), seed=seed)
    rec_mean, kl = float(rec.mean()), float(kl_dims.sum(axis=1).mean())
    return EncodedImage(x[0].astype(np.float32), mean, sigma, rec_mean + kl, rec_mean, kl,
                        (int(image_shape[0]), int(image_shape[1])))


def encode_image_array(model: Model, pixels: np.ndarray, image_shape: tuple[int, int],
                       crop: Crop | None = None) -> EncodedImage:
    """Grey-convert any image array, crop it (default: the centred crop) to the model's aspect, resample
    it to image_shape (H, W) and encode it."""
    grey = to_grey(pixels)
    crop = crop or default_crop(grey.shape, image_shape)
    return encode_pixels(model, crop_resize(grey, crop, image_shape), image_shape)
