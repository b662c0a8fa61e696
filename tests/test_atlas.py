"""core/atlas.py: thumbnails atlas, fading, projections and their inverse, ellipses, selections, own images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.factories import small_model

from core import atlas
from core.backend import to_numpy

ROOT = Path(__file__).resolve().parent.parent


def test_pack_atlas_keeps_every_tile_upright_for_any_shape():
    rng = np.random.default_rng(0)
    faces = rng.random((7, 5 * 3))  # 7 images of 5×3 (taller than wide)
    img, src = atlas.pack_atlas(faces, (5, 3), pad=1)
    assert img.dtype == np.uint8 and src.shape == (7, 4)
    for face, (x, y, w, h) in zip(faces, src, strict=True):
        assert (w, h) == (3, 5)
        np.testing.assert_array_equal(img[y : y + h, x : x + w], np.rint(face.reshape(5, 3) * 255))
    assert len({(x, y) for x, y, _, _ in src}) == 7  # no two tiles share a place


def test_overlap_opacity_fades_only_crowded_thumbnails():
    pile = np.full((20, 2), 100.0)  # 20 thumbnails on one spot
    lone = np.array([[500.0, 500.0], [800.0, 100.0]])
    alpha = atlas.overlap_opacity(np.vstack([pile, lone]), box=(30, 42), crowd_limit=2.0, floor=0.05)
    np.testing.assert_allclose(alpha[:20], 2.0 / 20)
    np.testing.assert_allclose(alpha[20:], 1.0)
    two = atlas.overlap_opacity(np.array([[0.0, 0.0], [3.0, 3.0]]), box=(30, 42), crowd_limit=2.0)
    np.testing.assert_allclose(two, 1.0)  # two overlapping thumbnails stay opaque


def test_dims_projection_lift_sets_only_the_shown_dims():
    proj = atlas.dims_projection(5, 3, 1)
    base = np.arange(5.0)
    z = proj.lift(np.array([[9.0, -7.0]]), base)[0]
    np.testing.assert_allclose(z, [0, -7, 2, 9, 4])
    np.testing.assert_allclose(proj.project(z[None]), [[9.0, -7.0]])


def test_pca_projection_inverse_round_trip_and_leading_axis():
    rng = np.random.default_rng(1)
    means = rng.standard_normal((400, 6)) * np.array([5.0, 0.1, 2.0, 0.1, 0.1, 0.1])
    proj = atlas.pca_projection(means)
    assert abs(abs(proj.basis[0, 0]) - 1) < 0.01 and abs(abs(proj.basis[2, 1]) - 1) < 0.02
    xy = np.array([[1.5, -0.5], [0.0, 2.0]])
    base = means[7]
    z = proj.lift(xy, base)
    np.testing.assert_allclose(proj.project(z), xy, atol=1e-12)
    # the part of z outside the PCA plane is base's
    perp = np.eye(6) - proj.basis @ proj.basis.T
    np.testing.assert_allclose((z - proj.center) @ perp, np.tile((base - proj.center) @ perp, (2, 1)), atol=1e-12)


def test_latent_at_zero_or_nearest_faces():
    means = np.array([[0.0, 0.0, 10.0], [1.0, 0.0, 20.0], [50.0, 50.0, -5.0]])
    proj = atlas.dims_projection(3, 0, 1)
    coords = proj.project(means)
    np.testing.assert_allclose(atlas.latent_at(proj, (0.5, 0.2), other="zero"), [0.5, 0.2, 0.0])
    z = atlas.latent_at(proj, (0.5, 0.2), means, coords, other="nearest", k=2)
    np.testing.assert_allclose(z, [0.5, 0.2, 15.0])  # the two nearest faces' mean z2
    with pytest.raises(ValueError, match="other dims"):
        atlas.latent_at(proj, (0, 0), other="median")


def test_resample_path_is_equally_spaced_along_the_polyline():
    pts = atlas.resample_path(np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]]), 5)
    np.testing.assert_allclose(pts, [[0, 0], [2, 0], [4, 0], [4, 2], [4, 4]])
    proj = atlas.dims_projection(4, 2, 3)
    z = atlas.path_latents(proj, np.array([[0.0, 0.0], [1.0, 1.0]]), 3)
    np.testing.assert_allclose(z, [[0, 0, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 1, 1]])


def test_posterior_ellipse_axes_are_the_sigmas_of_the_shown_dims():
    proj = atlas.dims_projection(3, 0, 2)
    mean, logvar = np.array([1.0, 5.0, -1.0]), np.log(np.array([0.5, 9.0, 0.2]) ** 2)
    for k in (1.0, 2.0):
        pts = atlas.posterior_ellipse(proj, mean, logvar, k)
        d = (pts - [1.0, -1.0]) / [0.5, 0.2]
        np.testing.assert_allclose(np.hypot(d[:, 0], d[:, 1]), k)  # Mahalanobis distance k on every point
    # PCA view: a rotated basis; Mahalanobis distance under the projected covariance
    rng = np.random.default_rng(2)
    pproj = atlas.pca_projection(rng.standard_normal((50, 3)) * [3, 2, 1])
    sigma = np.array([0.3, 0.7, 1.1])
    pts = atlas.posterior_ellipse(pproj, mean, 2 * np.log(sigma), 2.0)
    cov = pproj.basis.T @ np.diag(sigma**2) @ pproj.basis
    d = pts - pproj.project(mean[None])[0]
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0)


def test_polygon_and_rect_selection():
    coords = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [3.0, 3.0], [1.5, 1.5]])
    l_shape = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])  # concave: excludes (1.5, 1.5)
    np.testing.assert_array_equal(atlas.points_in_polygon(coords, l_shape), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(atlas.points_in_rect(coords, (2, 2), (0, 0)), [1, 1, 1, 0, 1])


def test_selection_summary_mean_face_and_decoded_mean_z():
    model = small_model(latent=3)
    rng = np.random.default_rng(3)
    X = rng.random((10, 560))
    means = to_numpy(model.encode(X)[0])
    s = atlas.selection_summary(model, X, means, np.array([1, 4, 6]))
    np.testing.assert_allclose(s.mean_face, X[[1, 4, 6]].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(s.decoded_mean_face, to_numpy(model.decode(means[[1, 4, 6]].mean(0)[None]))[0],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        atlas.selection_summary(model, X, means, np.array([], dtype=int))


def test_colour_values_sigma_and_reconstruction_loss():
    model = small_model(latent=3)
    rng = np.random.default_rng(4)
    X = rng.random((6, 560))
    mean, logvar = (to_numpy(a) for a in model.encode(X))
    np.testing.assert_allclose(atlas.mean_posterior_sigma(logvar), np.exp(0.5 * logvar).mean(axis=1))
    p = to_numpy(model.decode(mean)).astype(np.float64)
    bce = -(X * np.log(p) + (1 - X) * np.log(1 - p)).sum(axis=1)
    np.testing.assert_allclose(atlas.reconstruction_loss(model, X, batch=4), bce, rtol=1e-6)


def test_to_grey_luma_alpha_and_ranges():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[1, 0] = (0, 0, 255)
    rgb[1, 1] = (255, 255, 255)
    np.testing.assert_allclose(atlas.to_grey(rgb), [[0.299, 0.587], [0.114, 1.0]])
    rgba = np.zeros((1, 1, 4), dtype=np.uint8)  # fully transparent black → white background
    assert atlas.to_grey(rgba)[0, 0] == 1.0
    np.testing.assert_allclose(atlas.to_grey(np.array([[65535, 0]], dtype=np.uint16)), [[1.0, 0.0]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        atlas.to_grey(np.array([[2.0]]))


def test_crop_keeps_the_target_aspect_and_stays_inside():
    crop = atlas.default_crop((100, 200), (28, 20))
    assert crop.height == 100 and crop.width == pytest.approx(100 * 20 / 28)
    assert crop.left == pytest.approx((200 - crop.width) / 2)
    moved = atlas.clamp_crop(atlas.Crop(190, -5, crop.width, crop.height), (100, 200))
    assert moved.left + moved.width == pytest.approx(200) and moved.top == 0


def test_crop_resize_averages_areas():
    grey = np.arange(16, dtype=np.float64).reshape(4, 4) / 15
    out = atlas.crop_resize(grey, atlas.Crop(0, 0, 4, 4), (2, 2))
    np.testing.assert_allclose(out, grey.reshape(2, 2, 2, 2).mean(axis=(1, 3)))
    right_half = atlas.crop_resize(grey, atlas.Crop(2, 0, 2, 4), (4, 2))
    np.testing.assert_allclose(right_half, grey[:, 2:])
    half_pixel = atlas.crop_resize(grey, atlas.Crop(0.5, 0, 1, 1), (1, 1))  # straddles pixels 0 and 1
    np.testing.assert_allclose(half_pixel, [[(grey[0, 0] + grey[0, 1]) / 2]])


def test_encode_pixels_mean_sigma_and_neg_elbo():
    model = small_model(latent=3)
    rng = np.random.default_rng(5)
    x = rng.random(560)
    enc = atlas.encode_pixels(model, x.reshape(28, 20), (28, 20), samples=4000)
    mean, logvar = (to_numpy(a)[0] for a in model.encode(x[None]))
    np.testing.assert_allclose(enc.mean, mean)
    np.testing.assert_allclose(enc.sigma, np.exp(0.5 * logvar))
    kl = 0.5 * np.sum(mean**2 + np.exp(logvar) - 1 - logvar)
    assert enc.kl == pytest.approx(kl, rel=1e-9)
    assert enc.neg_elbo == pytest.approx(enc.rec + enc.kl)
    assert atlas.encode_pixels(model, x, (28, 20)).neg_elbo == atlas.encode_pixels(model, x, (28, 20)).neg_elbo
    with pytest.raises(ValueError, match="pixels"):
        atlas.encode_pixels(model, x[:100], (10, 10))
    ae = atlas.encode_pixels(small_model(kind="ae", latent=3), x, (28, 20))
    assert ae.sigma is None and ae.kl == 0.0


def test_encode_image_array_crops_colour_images_to_the_model_shape():
    model = small_model(latent=2)
    rng = np.random.default_rng(6)
    photo = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    enc = atlas.encode_image_array(model, photo, (28, 20))
    expected = atlas.crop_resize(atlas.to_grey(photo), atlas.default_crop((90, 120), (28, 20)), (28, 20))
    np.testing.assert_allclose(enc.pixels, expected.ravel(), rtol=1e-6)
    assert enc.image_shape == (28, 20) and np.isfinite(enc.neg_elbo)


# ---------------------------------------------------------------------------------------------- main.py encode
def _write_png(path, size=(45, 30)) -> np.ndarray:
    """A colour PNG written with Pillow; returns its RGBA pixels."""
    from PIL import Image

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(path)
    return np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)


def test_cli_encode_json_matches_the_engine(tmp_path, capsys):
    import json

    import main
    from core.checkpoint import load_model

    path = tmp_path / "photo.png"
    rgba = _write_png(path)
    weights = str(ROOT / "model" / "vae.npz")
    assert main.main(["encode", str(path), "--weights", weights, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"mean", "sigma", "neg_elbo", "image_shape"}
    assert out["image_shape"] == [28, 20]
    expected = atlas.encode_image_array(load_model(weights).model, rgba, (28, 20))
    np.testing.assert_allclose(out["mean"], expected.mean, rtol=1e-6)
    np.testing.assert_allclose(out["sigma"], expected.sigma, rtol=1e-6)
    assert out["neg_elbo"] == pytest.approx(expected.neg_elbo, rel=1e-9)
    assert main.main(["encode", str(path), "--weights", str(ROOT / "model" / "ae.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sigma"] is None
    assert main.main(["encode", str(path), "--weights", weights]) == 0
    text = capsys.readouterr().out
    assert "−ELBO" in text and text.count("\n") == 3


def test_cli_encode_bad_image_is_one_line_exit_2(tmp_path, capsys):
    import main

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main.main(["encode", str(bad), "--weights", str(ROOT / "model" / "vae.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a PNG or JPEG image" in err and "notes.png" in err
    assert main.main(["encode", str(tmp_path / "nope.jpg"), "--weights", str(ROOT / "model" / "vae.npz")]) == 2
    assert "image file not found" in capsys.readouterr().err
