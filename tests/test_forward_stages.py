"""The gradient check's own staged forward (core/gradcheck/network.py): a pass resumed from any site
equals the model's full pass bit for bit, and sees exactly the parameters that act at or after it."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.gradcheck.network import first_stage, full_pass, objective_terms, run_from, site_of, site_pre, slot_of
from core.parallel import matmul

CONFIGS = [("vae", "bernoulli", (16,)), ("vae", "gaussian-learned", (12, 8)), ("ae", "gaussian", (16,)),
           ("ae", "bernoulli", (12, 8))]


def sites(model) -> list[tuple]:
    return list(dict.fromkeys(site_of(name) for name, _ in model.shapes))


@pytest.mark.parametrize("kind,likelihood,hidden", CONFIGS)
def test_full_pass_equals_the_model_and_resuming_from_every_site_equals_the_full_pass(kind, likelihood, hidden,
                                                                                        synthetic_faces):
    model = small_model(kind, likelihood, hidden=hidden)
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, model.config.latent)) if kind == "vae" else None
    base = full_pass(model, x, eps)
    rec, kl = model.per_image_losses(x, eps, per_pixel=True)
    assert np.array_equal(base.rec, rec) and np.array_equal(base.kl, kl)
    assert len(sites(model)) == 2 * len(hidden) + 2
    for site in sites(model):
        resumed = run_from(model, site, site_pre(model, site, base.inputs[site]), x, eps)
        terms = objective_terms(model, resumed, base, 0.7)
        for a, b in zip(objective_terms(model, base, base, 0.7), terms, strict=True):
            assert np.array_equal(a, b), site
        assert set(resumed.pieces) <= set(base.pieces)


def test_a_resumed_pass_sees_a_changed_later_layer_but_not_an_earlier_one(synthetic_faces):
    model = small_model("vae", "bernoulli", hidden=(16,))
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, model.config.latent))
    base = full_pass(model, x, eps)
    out = ("out",)

    def resumed_rec(site):
        return run_from(model, site, site_pre(model, site, base.inputs[site]), x, eps).rec

    model.params["out.b"][...] += 0.5  # acts at the output site: a pass resumed there sees it
    assert not np.array_equal(resumed_rec(out), base.rec)
    model.params["out.b"][...] -= 0.5
    model.params["enc0.b"][...] += 0.5  # acts before the output site: its stored input hides it
    assert np.array_equal(resumed_rec(out), base.rec)
    assert not np.array_equal(resumed_rec(("enc", 0)), base.rec)


def test_site_stage_and_slot_of_every_parameter():
    model = small_model("vae", "gaussian-learned", hidden=(12, 8))
    expected = {"enc": "x", "mean": "h", "logvar": "h", "dec": "z", "out": "d", "out_logvar": "d"}
    for name, _ in model.shapes:
        layer = name.split(".")[0].rstrip("0123456789")
        assert first_stage(name) == expected[layer], name
        assert slot_of(name) == (1 if layer in ("logvar", "out_logvar") else 0)
    assert site_of("enc1.W") == ("enc", 1) and site_of("dec0.b") == ("dec", 0)
    assert site_of("code.W") == ("latent",) and first_stage("code.W") == "h"
    with pytest.raises(ValueError, match="unknown parameter"):
        site_of("bogus.W")


def test_pieces_are_the_pre_activations_of_every_piecewise_layer(synthetic_faces):
    model = small_model("ae", "bernoulli", hidden=(12, 8))
    x = synthetic_faces[:4].astype(np.float64)
    base = full_pass(model, x, None)
    assert set(base.pieces) == {"enc0", "enc1", "code", "dec0", "dec1"}
    name, pre = base.pieces["enc0"]
    assert name == "relu"
    # the model's own product: core.parallel.matmul sums the 560 pixels in two fixed slices
    np.testing.assert_array_equal(pre, matmul(x, model.params["enc0.W"]) + model.params["enc0.b"])
    np.testing.assert_allclose(pre, x @ model.params["enc0.W"] + model.params["enc0.b"], rtol=1e-12, atol=1e-12)


def test_the_objective_terms_sum_to_the_training_objective(synthetic_faces):
    """What gradcheck differentiates is what forward_backward reports (and back-propagates)."""
    model = small_model("vae", "gaussian-learned", hidden=(8,), latent=3)
    x = synthetic_faces[:8].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((8, 3))
    stats = model.forward_backward(x, eps, kl_weight=0.3)
    base = full_pass(model, x, eps)
    rec_terms, kl_terms = objective_terms(model, base, base, 0.3)
    assert rec_terms.shape == (8, 560) and kl_terms.shape == (8, 3)
    assert rec_terms.sum() + kl_terms.sum() == pytest.approx(stats["objective"], rel=1e-12)


def test_a_centred_model_is_checked_on_its_centred_input(synthetic_faces):
    """The first layer sees x − centre, the likelihood x: the staged pass matches the model's own."""
    model = small_model("vae", "bernoulli", hidden=(8,), latent=3)
    model.set_input_centre(synthetic_faces.mean(axis=0))
    x = synthetic_faces[:4].astype(np.float64)
    eps = np.random.default_rng(0).standard_normal((4, 3))
    base = full_pass(model, x, eps)
    rec, kl = model.per_image_losses(x, eps, per_pixel=True)
    np.testing.assert_allclose(base.rec, rec, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(base.kl, kl, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(base.inputs[("enc", 0)], x - np.asarray(model.config.input_centre))
