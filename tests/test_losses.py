"""Loss values against an independent, straightforward NumPy computation.

``reference_losses`` is written the way the assignment wrote it: one image at a time as a
column vector, h = relu(W·x + b), p = 1/(1 + e^−a), with the textbook formulas for the BCE,
the Gaussian NLL and the KL. The engine is batch-major, computes BCE from logits and folds
constants differently, so agreement to ~1e-9 means the reported numbers (per image, nats,
constants included) are the textbook ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core import losses
from core.evaluate import evaluate
from core.evaluate import per_image_losses as eval_per_image_losses

LIKELIHOODS = ["bernoulli", "gaussian", "gaussian-learned"]


def randomise(model, rng, scale=0.3):
    """Give every parameter (biases too) generic non-zero values."""
    for name, p in model.params.items():
        p[...] = rng.standard_normal(p.shape) * (scale if name.endswith(".b") else np.sqrt(1.0 / p.shape[0]))
    return model


def reference_losses(model, X, eps):
    """Per-image (rec, kl) with the column-vector formulas; X: (N, 560), eps: (N, L)."""
    cfg = model.config
    P = {k: np.array(v, dtype=np.float64) for k, v in model.params.items()}
    recs, kls = [], []
    for n in range(len(X)):
        x = X[n].astype(np.float64).reshape(-1, 1)
        h = x
        for i in range(len(cfg.hidden)):
            h = np.maximum(P[f"enc{i}.W"].T @ h + P[f"enc{i}.b"].reshape(-1, 1), 0)
        if cfg.kind == "vae":
            mu = P["mean.W"].T @ h + P["mean.b"].reshape(-1, 1)
            logvar = P["logvar.W"].T @ h + P["logvar.b"].reshape(-1, 1)
            z = mu + np.exp(logvar / 2) * eps[n].reshape(-1, 1)
            kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
        else:
            z = P["code.W"].T @ h + P["code.b"].reshape(-1, 1)
            if cfg.code_activation == "relu":
                z = np.maximum(z, 0)
            kl = 0.0
        d = z
        for i in range(len(cfg.hidden)):
            d = np.maximum(P[f"dec{i}.W"].T @ d + P[f"dec{i}.b"].reshape(-1, 1), 0)
        p = 1 / (1 + np.exp(-(P["out.W"].T @ d + P["out.b"].reshape(-1, 1))))
        if cfg.likelihood == "bernoulli":
            rec = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p))
        else:
            if cfg.likelihood == "gaussian":
                var = np.ones_like(p)
            else:
                var = np.exp(P["out_logvar.W"].T @ d + P["out_logvar.b"].reshape(-1, 1))
            rec = np.sum(0.5 * np.log(2 * np.pi * var) + (x - p) ** 2 / (2 * var))
        recs.append(rec)
        kls.append(kl)
    return np.array(recs), np.array(kls)


@pytest.fixture
def faces(synthetic_faces):
    X = synthetic_faces[:6].astype(np.float64)
    X[0, :10] = 0.0  # exact 0 and 1 pixels: the x·log p terms must vanish cleanly
    X[1, :10] = 1.0
    return X


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("hidden", [(16,), (12, 8)])
def test_losses_match_straightforward_numpy(kind, likelihood, hidden, faces, rng):
    model = randomise(small_model(kind=kind, likelihood=likelihood, hidden=hidden), rng)
    eps = rng.standard_normal((len(faces), model.config.latent))
    ref_rec, ref_kl = reference_losses(model, faces, eps)

    rec, kl_dims = model.per_image_losses(faces, eps)
    np.testing.assert_allclose(rec, ref_rec, rtol=1e-10)
    np.testing.assert_allclose(kl_dims.sum(axis=1), ref_kl, rtol=1e-10, atol=1e-12)

    stats = model.forward_backward(faces, eps, kl_weight=0.5)
    assert stats["rec"] == pytest.approx(ref_rec.mean(), rel=1e-10)
    assert stats["kl"] == pytest.approx(ref_kl.mean(), rel=1e-10, abs=1e-12)
    assert stats["total"] == pytest.approx((ref_rec + ref_kl).mean(), rel=1e-10)
    assert stats["objective"] == pytest.approx((ref_rec + 0.5 * ref_kl).mean(), rel=1e-10)
    np.testing.assert_allclose(stats["kl_per_dim"].sum(), ref_kl.mean(), rtol=1e-10, atol=1e-12)
    if kind == "ae":
        assert stats["kl"] == 0.0
        assert stats["total"] == stats["rec"]
        assert np.all(kl_dims == 0)
    else:
        assert np.all(ref_kl > 0)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_evaluate_reports_the_same_per_image_numbers(likelihood, faces, rng):
    """evaluate() documents its noise as default_rng(seed); with that eps it is the textbook −ELBO."""
    model = randomise(small_model(kind="vae", likelihood=likelihood), rng)
    eps = np.random.default_rng(3).standard_normal((len(faces), model.config.latent))
    ref_rec, ref_kl = reference_losses(model, faces, eps)
    rec, kl_dims = eval_per_image_losses(model, faces, seed=3)
    np.testing.assert_allclose(rec, ref_rec, rtol=1e-10)
    result = evaluate(model, faces, seed=3)
    assert result["neg_elbo"] == pytest.approx((ref_rec + ref_kl).mean(), rel=1e-10)
    assert result["rec"] == pytest.approx(ref_rec.mean(), rel=1e-10)
    assert result["kl"] == pytest.approx(ref_kl.mean(), rel=1e-10)
    assert result["n"] == len(faces)


def test_gaussian_loss_includes_its_constant():
    """A perfect unit-variance reconstruction still costs 560·½·log(2π) nats per image."""
    x = np.full((2, 560), 0.5)
    logits = np.zeros((2, 560))  # sigmoid(0) = 0.5 = x
    np.testing.assert_allclose(losses.gaussian_fixed_nll(logits, x), 560 * 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(losses.gaussian_learned_nll(logits, np.zeros_like(x), x), 560 * 0.5 * np.log(2 * np.pi))
    per_pixel = losses.gaussian_fixed_nll(logits, x, per_pixel=True)
    assert per_pixel.shape == (2, 560)
    np.testing.assert_allclose(per_pixel.sum(axis=1), losses.gaussian_fixed_nll(logits, x))


def test_bce_is_finite_for_extreme_logits():
    logits = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 0.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0, 0.5]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        terms = losses.bernoulli_nll(logits, x, per_pixel=True)
        grad = losses.bernoulli_grad(logits, x)
    assert np.all(np.isfinite(terms)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(terms[0], [0.0, 0.0, 1000.0, 1000.0, np.log(2.0)], atol=1e-12)
    np.testing.assert_allclose(grad[0], [0.0, 0.0, 1.0, -1.0, 0.0], atol=1e-12)


def test_model_losses_finite_with_saturated_decoder(faces):
    """Decoder biases of ±1000 saturate every pixel; the loss and gradient stay finite."""
    for kind in ("ae", "vae"):
        model = small_model(kind=kind)
        model.params["out.b"][::2] = 1000.0
        model.params["out.b"][1::2] = -1000.0
        rec, _ = model.per_image_losses(faces, np.zeros((len(faces), 4)))
        stats = model.forward_backward(faces, np.zeros((len(faces), 4)))
        assert np.all(np.isfinite(rec)) and np.isfinite(stats["total"])
        assert np.all(np.isfinite(model.grad_flat))
        assert rec.min() > 1000.0  # each image has pixels the decoder is sure are wrong


def _numeric(f, a, h=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        fp = f()
        a[i] = old - h
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def test_loss_gradients_match_finite_differences(rng):
    logits = rng.standard_normal((3, 5)) * 2
    logvar = rng.standard_normal((3, 5)) * 0.5
    x = rng.random((3, 5))
    np.testing.assert_allclose(losses.bernoulli_grad(logits, x),
                               _numeric(lambda: losses.bernoulli_nll(logits, x).sum(), logits), atol=1e-8)
    np.testing.assert_allclose(losses.gaussian_fixed_grad(logits, x),
                               _numeric(lambda: losses.gaussian_fixed_nll(logits, x).sum(), logits), atol=1e-8)
    dl, dv = losses.gaussian_learned_grad(logits, logvar, x)
    np.testing.assert_allclose(dl, _numeric(lambda: losses.gaussian_learned_nll(logits, logvar, x).sum(), logits),
                               atol=1e-8)
    np.testing.assert_allclose(dv, _numeric(lambda: losses.gaussian_learned_nll(logits, logvar, x).sum(), logvar),
                               atol=1e-8)
    mean, lv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    dm, dlv = losses.kl_grad(mean, lv)
    np.testing.assert_allclose(dm, _numeric(lambda: losses.kl_per_dim(mean, lv).sum(), mean), atol=1e-8)
    np.testing.assert_allclose(dlv, _numeric(lambda: losses.kl_per_dim(mean, lv).sum(), lv), atol=1e-8)


def test_kl_is_zero_only_at_the_prior():
    assert np.all(losses.kl_per_dim(np.zeros((2, 3)), np.zeros((2, 3))) == 0)
    assert np.all(losses.kl_per_dim(np.full((1, 3), 0.1), np.zeros((1, 3))) > 0)
    assert np.all(losses.kl_per_dim(np.zeros((1, 3)), np.full((1, 3), -0.1)) > 0)


def test_bernoulli_entropy_formula(rng):
    x = rng.random((4, 560))
    x[0, :5] = 0.0
    x[1, :5] = 1.0
    ref = -np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1)), 0)
                  + np.where(x < 1, (1 - x) * np.log(np.where(x < 1, 1 - x, 1)), 0), axis=1)
    np.testing.assert_allclose(losses.bernoulli_entropy(x), ref, rtol=1e-12)
    # it is the minimum of the BCE over decoders: logits = logit(x) reach it
    inner = x[2:]
    np.testing.assert_allclose(losses.bernoulli_nll(np.log(inner / (1 - inner)), inner),
                               losses.bernoulli_entropy(inner), rtol=1e-9)


@pytest.mark.parametrize("name", LIKELIHOODS)
def test_likelihood_objects_match_the_functions(name):
    rng = np.random.default_rng(3)
    logits, logvar = rng.standard_normal((5, 7)), 0.3 * rng.standard_normal((5, 7))
    x = rng.random((5, 7))
    lik = losses.likelihood(name)
    assert lik.name == name and lik.learns_variance == (name == "gaussian-learned")
    expected = {"bernoulli": lambda pp: losses.bernoulli_nll(logits, x, pp),
                "gaussian": lambda pp: losses.gaussian_fixed_nll(logits, x, pp),
                "gaussian-learned": lambda pp: losses.gaussian_learned_nll(logits, logvar, x, pp)}[name]
    np.testing.assert_array_equal(lik.nll(logits, logvar, x), expected(False))
    np.testing.assert_array_equal(lik.nll(logits, logvar, x, per_pixel=True), expected(True))
    dlogits, dlogvar = lik.grad(logits.copy(), logvar, x)
    h = 1e-6
    bumped = logits.copy()
    bumped[2, 3] += h
    numeric = (lik.nll(bumped, logvar, x).sum() - lik.nll(logits, logvar, x).sum()) / h
    assert dlogits[2, 3] == pytest.approx(numeric, rel=1e-4, abs=1e-6)
    assert (dlogvar is None) == (name != "gaussian-learned")
    np.testing.assert_allclose(lik.mean(logits), 1 / (1 + np.exp(-logits)), rtol=1e-12)
    draws = np.stack([lik.sample(logits, logvar, np.random.default_rng(s)) for s in range(400)])
    assert draws.shape == (400, 5, 7)
    np.testing.assert_allclose(draws.mean(axis=0), lik.mean(logits), atol=0.25)
    if name == "bernoulli":
        assert set(np.unique(draws)) <= {0.0, 1.0}


def test_unknown_likelihood_is_a_clear_error():
    with pytest.raises(ValueError, match="likelihood must be one of bernoulli, gaussian, gaussian-learned"):
        losses.likelihood("poisson")
