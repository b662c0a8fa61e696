"""Evaluation: −ELBO, IWAE bound, active units and the BCE floor, on a briefly trained VAE."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core import evaluate as ev
from core.data import split_indices
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer


@pytest.fixture(scope="module")
def test_faces(frey) -> np.ndarray:
    return frey[split_indices()[1]]


@pytest.fixture(scope="module")
def trained_vae(frey) -> Model:
    train_ids, _ = split_indices()
    model = Model(ModelConfig(kind="vae", hidden=[64], latent=8), seed=0)
    Trainer(model, make_optimizer("adam", model, lr=3e-3), frey[train_ids], batch_size=64, eval_every=0).run(150)
    return model


def test_iwae_is_at_most_the_elbo(trained_vae, test_faces):
    result = ev.evaluate(trained_vae, test_faces, iwae_k=100)
    assert result["iwae_k"] == 100
    assert result["iwae_neg_log_px"] <= result["neg_elbo"] + 0.5  # within noise; in expectation strictly below
    k1 = ev.iwae_neg_log_px(trained_vae, test_faces, k=1, seed=5)
    assert k1.shape == (len(test_faces),)
    # k = 1 is an unbiased sample of the −ELBO; more samples tighten the bound
    assert k1.mean() == pytest.approx(result["neg_elbo"], abs=3.0)
    assert result["iwae_neg_log_px"] < k1.mean()
    assert result["neg_elbo"] == pytest.approx(result["rec"] + result["kl"])
    assert result["n"] == len(test_faces) == 197
    assert len(result["kl_per_dim"]) == 8 and sum(result["kl_per_dim"]) == pytest.approx(result["kl"])


def test_iwae_is_exact_when_the_posterior_is_the_prior():
    """With q(z|x) = N(0, I) = p(z) and a decoder that ignores z, p(x) = p(x|z) for every z,
    so the importance weights are all equal and every estimate is exact: −log p(x) = rec."""
    model = small_model("vae", hidden=(8,), latent=3)
    for name in ("mean.W", "mean.b", "logvar.W", "logvar.b", "dec0.W"):
        model.params[name][...] = 0.0
    model.params["dec0.b"][...] = 0.5
    X = np.random.default_rng(0).random((5, 560))
    rec, kl_dims = ev.per_image_losses(model, X)
    assert np.all(kl_dims == 0)
    for k in (1, 7, 50):
        np.testing.assert_allclose(ev.iwae_neg_log_px(model, X, k=k), rec, rtol=1e-12)


def test_iwae_refuses_ae_and_bad_k():
    with pytest.raises(ValueError, match="VAE"):
        ev.iwae_neg_log_px(small_model("ae"), np.zeros((2, 560)), k=5)
    with pytest.raises(ValueError, match="k"):
        ev.iwae_neg_log_px(small_model("vae"), np.zeros((2, 560)), k=0)


def test_active_units_count(trained_vae, test_faces):
    mean, logvar = ev.posterior_means(trained_vae, test_faces)
    assert mean.shape == logvar.shape == (197, 8)
    variances = mean.var(axis=0)
    count = ev.active_units(trained_vae, test_faces)
    assert count == int((variances > ev.ACTIVE_UNIT_THRESHOLD).sum())
    assert 1 <= count <= 8
    # silencing the most active unit's input weights makes its posterior mean constant: one fewer
    silenced = trained_vae.copy()
    silenced.params["mean.W"][:, int(np.argmax(variances))] = 0.0
    assert ev.active_units(silenced, test_faces) == count - 1
    assert ev.active_units(trained_vae, test_faces, threshold=np.inf) == 0


def test_bce_floor_is_the_pixel_entropy(test_faces, trained_vae):
    x = test_faces.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(x > 0, x * np.log(x), 0.0) + np.where(x < 1, (1 - x) * np.log(1 - x), 0.0))
    expected = h.sum(axis=1).mean()
    assert ev.bce_floor(test_faces) == pytest.approx(expected, rel=1e-12)
    result = ev.evaluate(trained_vae, test_faces)
    assert result["bce_floor"] == pytest.approx(expected, rel=1e-12)
    # a cross-entropy is never below the entropy: every image's reconstruction costs more than its floor
    rec, _ = ev.per_image_losses(trained_vae, test_faces)
    assert np.all(rec >= h.sum(axis=1) - 1e-6)


def test_gaussian_decoder_has_no_bce_floor():
    model = small_model("vae", likelihood="gaussian", hidden=(8,), latent=3)
    assert ev.evaluate(model, np.random.default_rng(0).random((4, 560)))["bce_floor"] is None


def test_ae_gives_zero_kl_and_no_iwae(test_faces):
    model = small_model("ae", hidden=(16,), latent=4, dtype="float32")
    result = ev.evaluate(model, test_faces, iwae_k=50)
    assert result["kl"] == 0.0
    assert result["neg_elbo"] == result["rec"]
    assert result["iwae_neg_log_px"] is None and result["iwae_k"] is None
    assert 0 <= result["active_units"] <= 4
    mean, logvar = ev.posterior_means(model, test_faces)
    assert logvar is None and mean.shape == (197, 4)


def test_same_call_gives_identical_numbers(trained_vae, test_faces):
    first = ev.evaluate(trained_vae, test_faces, iwae_k=20, seed=4)
    second = ev.evaluate(trained_vae, test_faces, iwae_k=20, seed=4)
    assert first == second
    other_seed = ev.evaluate(trained_vae, test_faces, iwae_k=20, seed=5)
    assert other_seed["neg_elbo"] != first["neg_elbo"]  # the seed really drives the noise
    assert ev.neg_elbo(trained_vae, test_faces, seed=4) == first["neg_elbo"]


def test_evaluation_does_not_disturb_training_noise(trained_vae, test_faces):
    """Evaluating uses its own generator, so it does not change the model's training noise stream."""
    state = trained_vae.noise_rng.bit_generator.state
    ev.evaluate(trained_vae, test_faces, iwae_k=5)
    assert trained_vae.noise_rng.bit_generator.state == state
