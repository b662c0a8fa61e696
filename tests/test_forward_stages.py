"""Forward passes resumed from a stored stage (used by gradcheck) equal full passes bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model


@pytest.mark.parametrize("kind,likelihood,hidden", [("vae", "bernoulli", (16,)), ("vae", "gaussian-learned", (12, 8)),
                                                    ("ae", "gaussian", (16,))])
def test_resuming_from_every_stage_gives_the_full_pass(kind, likelihood, hidden, synthetic_faces):
    model = small_model(kind, likelihood, hidden=hidden)
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, model.config.latent))
    stages = model.forward_stages(x, eps)
    full = model.objective_terms(x, eps, 0.7)
    for start in model.STAGES:
        resumed = model.objective_terms(x, eps, 0.7, start=start, stages=stages)
        for a, b in zip(full, resumed, strict=True):
            assert np.array_equal(a, b), start


def test_a_resumed_pass_sees_a_changed_later_layer_but_not_an_earlier_one(synthetic_faces):
    model = small_model("vae", "bernoulli", hidden=(16,))
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, model.config.latent))
    stages = model.forward_stages(x, eps)
    before = model.objective_terms(x, eps, start="d", stages=stages)[0]
    model.params["out.b"][...] += 0.5  # after stage d: the resumed pass must see it
    assert not np.array_equal(model.objective_terms(x, eps, start="d", stages=stages)[0], before)
    model.params["out.b"][...] -= 0.5
    model.params["enc0.b"][...] += 0.5  # before stage d: the stored stage hides it, a full pass sees it
    assert np.array_equal(model.objective_terms(x, eps, start="d", stages=stages)[0], before)
    assert not np.array_equal(model.objective_terms(x, eps)[0], before)


def test_first_stage_of_every_parameter():
    model = small_model("vae", "gaussian-learned", hidden=(12, 8))
    expected = {"enc": "x", "mean": "h", "logvar": "h", "dec": "z", "out": "d", "out_logvar": "d"}
    for name, _ in model.shapes:
        layer = name.split(".")[0].rstrip("0123456789")
        assert model.first_stage(name) == expected[layer], name
    assert small_model("ae").first_stage("code.W") == "h"


def test_unknown_start_is_refused(synthetic_faces):
    model = small_model()
    with pytest.raises(ValueError, match="start"):
        model.per_image_losses(synthetic_faces[:2], start="q")
