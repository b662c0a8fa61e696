"""Attribute vectors (core.attributes): a direction from two groups' mean codes, moving a face along it,
projecting the data set on it, and storing directions in a model file."""

from __future__ import annotations

import numpy as np
import pytest

from core import attributes
from core.checkpoint import load_model, save_model
from core.models import Model, ModelConfig


def _codes() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.standard_normal((40, 3))


def test_direction_is_the_difference_of_group_means_and_moves_faces():
    means = _codes()
    attr = attributes.make_attribute("smile", means, [0, 1, 2, 2], [10, 11])
    np.testing.assert_allclose(attr.direction, means[[10, 11]].mean(0) - means[[0, 1, 2]].mean(0))
    assert attr.from_ids == [0, 1, 2] and attr.to_ids == [10, 11]
    moved = attributes.move_along(means[5], attr, [-1, 0, 0.5])
    np.testing.assert_allclose(moved[1], means[5])
    np.testing.assert_allclose(moved[2] - moved[0], 1.5 * attr.direction)
    along = attributes.project(means, attr)
    assert along[[0, 1, 2]].mean() == pytest.approx(0) and along[[10, 11]].mean() == pytest.approx(1)


@pytest.mark.parametrize("bad", [dict(from_ids=[]), dict(to_ids=[40]), dict(to_ids=[0, 1, 2]), dict(name="a/b")])
def test_bad_groups_and_names_are_refused(bad):
    args = {"name": "x", "from_ids": [0, 1, 2], "to_ids": [5], **bad}
    with pytest.raises(ValueError):
        attributes.make_attribute(args["name"], _codes(), args["from_ids"], args["to_ids"])


def test_meta_round_trip_skips_malformed_entries():
    attr = attributes.make_attribute("open mouth", _codes(), [0], [1])
    meta = {"attributes": [attr.to_meta(), {"name": "short", "direction": [1.0]}, {"direction": [0, 0, 0]},
                           {"name": "nan", "direction": [float("nan"), 0, 0]}]}
    found = attributes.from_meta(meta, 3)
    assert list(found) == ["open mouth"]
    np.testing.assert_allclose(found["open mouth"].direction, attr.direction)
    assert attributes.from_meta(None, 3) == {}


def test_store_keeps_the_model_and_adds_directions(tmp_path):
    model = Model(ModelConfig(kind="vae", hidden=[8], latent=3, dtype="float64"), seed=1)
    path = save_model(tmp_path / "m.npz", model, extra={"train": {"lr": 0.001}})
    before = load_model(path).meta
    attr = attributes.make_attribute("smile", _codes(), [0, 1], [2, 3])
    attributes.store(path, {"smile": attr})
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.model.flat, model.flat)
    assert {k: v for k, v in loaded.meta.items() if k != "attributes"} == before and loaded.settings.lr == 0.001
    np.testing.assert_allclose(attributes.from_meta(loaded.other, 3)["smile"].direction, attr.direction)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError):
        attributes.store(tmp_path / "notes.txt", {"smile": attr})
    assert (tmp_path / "notes.txt").read_text() == "not a model"
