"""Dataset: images with their shape, the one split rule, ids, fingerprint, and the model file's data record."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import split_indices
from core.dataset import Dataset, check_compatible, frey_dataset, n_test_of
from core.errors import DataError, VaeError


def test_split_rule_is_seeded_ten_percent_and_matches_the_frey_ids():
    assert n_test_of(1965) == 197 and n_test_of(100) == 10 and n_test_of(101) == 11 and n_test_of(2) == 1
    ds = Dataset(np.random.default_rng(0).random((1965, 6), dtype=np.float32), (2, 3), "synthetic")
    train, test = split_indices()
    np.testing.assert_array_equal(ds.train_ids, train)
    np.testing.assert_array_equal(ds.test_ids, test)
    small = Dataset(np.zeros((50, 4), np.float32), (2, 2), "tiny")
    assert len(small.test_ids) == 5 and len(small.train_ids) == 45
    assert sorted(np.concatenate([small.train_ids, small.test_ids]).tolist()) == small.ids.tolist()
    assert small.split_of(int(small.test_ids[0])) == "test" and small.split_of(int(small.train_ids[0])) == "train"
    fit, val = small.train_val_ids(5)
    np.testing.assert_array_equal(val, small.train_ids[-5:])
    assert len(fit) == 40


def test_shape_is_checked_and_images_become_float32_rows():
    with pytest.raises(ValueError, match="image shape 3x3 does not match 4 pixels"):
        Dataset(np.zeros((5, 4)), (3, 3), "bad")
    with pytest.raises(ValueError, match="at least 2 images"):
        Dataset(np.zeros((1, 4)), (2, 2), "one")
    ds = Dataset(np.ones((3, 6), np.float64), (3, 2), "x")
    assert ds.images.dtype == np.float32 and ds.dim == 6 and ds.image_shape == (3, 2)


def test_fingerprint_follows_the_pixels_and_the_model_record_is_checked():
    rng = np.random.default_rng(1)
    images = rng.random((20, 12), dtype=np.float32)
    a = Dataset(images, (3, 4), "a")
    assert Dataset(images.copy(), (3, 4), "renamed").fingerprint == a.fingerprint
    changed = images.copy()
    changed[3, 5] = 1.0 - changed[3, 5]
    assert Dataset(changed, (3, 4), "a").fingerprint != a.fingerprint
    assert Dataset(images, (4, 3), "a").fingerprint != a.fingerprint  # same pixels, other shape
    record = a.to_meta()
    assert record == {"name": "a", "n": 20, "image_shape": [3, 4], "fingerprint": a.fingerprint}
    assert check_compatible(12, record, a) == [] and check_compatible(12, None, a) == []
    warnings = check_compatible(12, record, Dataset(changed, (3, 4), "b"))
    assert len(warnings) == 1 and "other data" in warnings[0]
    with pytest.raises(DataError, match="trained on 3×4 images, these are 4×3"):
        check_compatible(12, record, Dataset(images, (4, 3), "a"))
    with pytest.raises(DataError, match="reads 20 pixels per image"):  # checked first, with or without a record
        check_compatible(20, None, a)
    assert issubclass(DataError, VaeError)  # the one base the CLI and the GUI catch


@pytest.mark.frey
def test_frey_dataset(frey_path, frey):
    ds = frey_dataset(frey_path)
    assert ds.describe() == "frey: 1965 images of 28×20 (1768 train, 197 test)"
    np.testing.assert_array_equal(ds.images, frey)


def test_mosaic_and_tile_keep_non_square_images_upright():
    from core.images import mosaic, tile

    images = np.zeros((3, 2 * 5))
    images[1] = 1.0
    images[2, :5] = 1.0  # image 2: its top row white
    out = mosaic(images, ncols=2, pad=1, background=128, image_shape=(2, 5))
    assert out.shape == (2 * 2 + 3, 2 * 5 + 3)
    assert (out[1:3, 7:12] == 255).all() and (out[1:3, 1:6] == 0).all()
    assert (out[4, 1:6] == 255).all() and (out[5, 1:6] == 0).all()  # top row of image 2 on top
    assert (out[4:6, 7:12] == 128).all()  # the empty cell
    floats = tile(np.arange(2 * 3 * 2 * 5, dtype=float).reshape(2, 3, 2, 5), pad=0)
    assert floats.shape == (4, 15) and floats[2, 5] == 1 * 30 + 1 * 10 + 0 * 5 + 0


def test_most_active_dims():
    from core.explore import latent_activity, most_active_dims

    means = np.random.default_rng(0).standard_normal((500, 4)) * np.array([0.1, 3.0, 1.0, 3.0])
    assert most_active_dims(means, 3) == [1, 3, 2] or most_active_dims(means, 3) == [3, 1, 2]
    np.testing.assert_allclose(latent_activity(means), means.var(axis=0))
    assert most_active_dims(np.zeros((5, 3))) == [0, 1]  # ties: the lower dim first
