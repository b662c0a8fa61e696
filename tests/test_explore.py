"""Latent-space walks (core.explore): grid axes over principal directions or units, the aggregate
posterior's quantiles, Mahalanobis distances and the pixel-spread measure."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from core.explore import (
    _normal_cdf,
    decode_grid,
    default_axes,
    dims_axes,
    latent_grid,
    mahalanobis,
    mixture_quantiles,
    pca_axes,
    pixel_spread,
    principal_directions,
    quantile_axis,
)
from core.models import Model, ModelConfig


def test_normal_cdf_matches_the_standard_library():
    x = np.linspace(-6, 6, 241)
    np.testing.assert_allclose(_normal_cdf(x), [NormalDist().cdf(float(v)) for v in x], atol=2e-7)


def test_mixture_quantiles_of_one_gaussian_and_of_a_sample():
    probs = np.linspace(0.05, 0.95, 7)
    one = mixture_quantiles(np.array([1.0]), np.array([2.0]), probs)
    np.testing.assert_allclose(one, 1.0 + 2.0 * quantile_axis(7), atol=1e-5)
    rng = np.random.default_rng(0)
    centres, sds = rng.normal(0, 3, 400), rng.uniform(0.1, 1.0, 400)
    draws = (centres[:, None] + sds[:, None] * rng.standard_normal((400, 500))).ravel()
    np.testing.assert_allclose(mixture_quantiles(centres, sds, probs), np.quantile(draws, probs), atol=0.05)
    np.testing.assert_allclose(mixture_quantiles(centres, None, probs), np.quantile(centres, probs))


def _stretched_means(n: int = 2000, latent: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Means with known principal directions: sd 3 along (1,1,0,…)/√2, sd 1 along (1,−1,0,…)/√2, 0.1 elsewhere."""
    rng = np.random.default_rng(1)
    coords = rng.standard_normal((n, latent)) * np.array([3.0, 1.0] + [0.1] * (latent - 2))
    rot = np.eye(latent)
    rot[:2, :2] = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    return coords @ rot.T + 0.5, rot


def test_principal_directions_found_with_stable_signs():
    means, rot = _stretched_means()
    dirs, variances = principal_directions(means, 2)
    assert abs(dirs[0] @ rot[:, 0]) == pytest.approx(1, abs=1e-3)
    assert abs(dirs[1] @ rot[:, 1]) == pytest.approx(1, abs=1e-3)
    np.testing.assert_allclose(variances, [9.0, 1.0], rtol=0.1)
    assert all(d[np.argmax(np.abs(d))] > 0 for d in dirs)


def test_pca_axes_span_the_aggregate_posterior_within_mahalanobis_3():
    means, rot = _stretched_means()
    logvars = np.full_like(means, np.log(0.25))  # posterior sd 0.5 in every unit
    axes = pca_axes(means, logvars, 9)
    points = axes.points()
    assert points.shape == (81, 5) and axes.kind == "pca" and axes.shrink == 1.0
    np.testing.assert_allclose(axes.centre, means.mean(axis=0))
    # along PC1 the aggregate posterior is ≈ N(·, 3² + 0.5²): its 5 % … 95 % quantiles
    np.testing.assert_allclose(axes.row_values[[0, -1]], np.array([-1, 1]) * 1.645 * np.hypot(3, 0.5), rtol=0.05)
    offsets = points - axes.centre
    in_plane = offsets @ axes.directions.T @ axes.directions
    np.testing.assert_allclose(offsets, in_plane, atol=1e-9)  # other directions at the mean code
    assert mahalanobis(points, means).max() <= 3.0 + 1e-9
    np.testing.assert_allclose(points[1] - points[0], (axes.col_values[1] - axes.col_values[0]) * axes.directions[1])


def test_pca_axes_shrink_when_posteriors_are_wide():
    means, _ = _stretched_means()
    wide = pca_axes(means, np.full_like(means, np.log(25.0)), 5)  # sd 5: quantiles far beyond the means
    assert wide.shrink < 1
    assert mahalanobis(wide.points(), means).max() == pytest.approx(3.0, abs=1e-6)


def test_mahalanobis_of_the_mean_and_one_sd():
    means, rot = _stretched_means()
    centre = means.mean(axis=0)
    # one SD (3) along PC1 and one SD (1) along PC2 are both at distance 1
    d = mahalanobis(np.stack([centre, centre + 3.0 * rot[:, 0], centre + 1.0 * rot[:, 1]]), means)
    assert d[0] == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(d[1:], 1.0, rtol=0.05)


@pytest.fixture
def small_vae() -> Model:
    return Model(ModelConfig(kind="vae", hidden=[8], latent=4, dtype="float64"), seed=0)


def test_dims_axes_are_the_old_latent_grid(small_vae):
    base = np.array([0.3, -0.2, 0.7, 0.1])
    axes = dims_axes(4, 2, 0, 5, base)
    assert axes.names == ("z2", "z0") and axes.dims == (2, 0)
    z = axes.points().reshape(5, 5, 4)
    np.testing.assert_allclose(z[:, 0, 2], quantile_axis(5))
    np.testing.assert_allclose(z[0, :, 0], quantile_axis(5))
    np.testing.assert_allclose(z[..., 1], -0.2)
    np.testing.assert_allclose(latent_grid(small_vae, 2, 0, 5, base), decode_grid(small_vae, axes))
    with pytest.raises(ValueError, match="latent dims"):
        dims_axes(4, 0, 4, 5)


def test_default_axes_pca_above_two_units_dims_at_two(small_vae):
    means, _ = _stretched_means(latent=4)
    assert default_axes(small_vae, means, None, 5).kind == "pca"
    assert default_axes(small_vae, means, None, 5, "dims").dims in ((0, 1), (1, 0))
    two = Model(ModelConfig(kind="vae", hidden=[8], latent=2, dtype="float64"), seed=0)
    assert default_axes(two, means[:, :2], None, 5).kind == "dims"
    with pytest.raises(ValueError, match="posterior means"):
        default_axes(small_vae, None, None, 5, "pca")


def test_pixel_spread():
    assert pixel_spread(np.ones((10, 6))) == 0
    faces = np.array([[0.0, 0.0], [1.0, 0.5]])
    assert pixel_spread(faces) == pytest.approx((0.5 + 0.25) / 2)
