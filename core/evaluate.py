"""Evaluation in nats per image: −ELBO, reconstruction, KL, IWAE bound, active units, BCE floor."""

from __future__ import annotations

import math

import numpy as np

from . import losses
from .backend import to_numpy
from .explore import latent_activity
from .models import Model, reparameterize

ACTIVE_UNIT_THRESHOLD = 0.01


def posterior_means(model: Model, X: np.ndarray, batch: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """(mean (N, L), logvar (N, L) or None for an AE) as host float64 arrays."""
    means, logvars = [], []
    for start in range(0, len(X), batch):
        mean, logvar = model.encode(X[start : start + batch])
        means.append(to_numpy(mean).astype(np.float64))
        if logvar is not None:
            logvars.append(to_numpy(logvar).astype(np.float64))
    return np.concatenate(means), (np.concatenate(logvars) if logvars else None)


def per_image_losses(model: Model, X: np.ndarray, seed: int = 0, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(rec (N,), kl_per_dim (N, L)) as host float64; a VAE's z is one draw per image from
    default_rng(seed), so the same call gives the same numbers."""
    rng = np.random.default_rng(seed)
    recs, kls = [], []
    for start in range(0, len(X), batch):
        xb = model.asarray(X[start : start + batch])
        eps = model.asarray(rng.standard_normal((xb.shape[0], model.config.latent))) if model.is_vae else None
        rec, kl_dims = model.per_image_losses(xb, eps)
        recs.append(to_numpy(rec).astype(np.float64))
        kls.append(to_numpy(kl_dims).astype(np.float64))
    return np.concatenate(recs), np.concatenate(kls)


def neg_elbo(model: Model, X: np.ndarray, seed: int = 0) -> float:
    """Mean −ELBO (nats/image) with the fixed evaluation seed."""
    rec, kl_dims = per_image_losses(model, X, seed)
    return float((rec + kl_dims.sum(axis=1)).mean())


def iwae_neg_log_px(model: Model, X: np.ndarray, k: int, seed: int = 1, chunk_rows: int = 8192) -> np.ndarray:
    """Importance-sampled estimate of −log p(x) with k samples per image, (N,) float64:

    −log (1/k) Σ_j p(x|z_j) p(z_j) / q(z_j|x),  z_j ~ q(z|x),

    combined with log-sum-exp in float64. With k = 1 it is an unbiased −ELBO sample; it
    tightens (decreases in expectation) as k grows and is ≥ −log p(x) in expectation.
    """
    if not model.is_vae:
        raise ValueError("the IWAE estimate needs a VAE")
    if k < 1:
        raise ValueError("iwae k must be >= 1")
    rng = np.random.default_rng(seed)
    L = model.config.latent
    mean, logvar = posterior_means(model, X)
    n = len(X)
    out = np.empty(n)
    per = max(1, chunk_rows // k)  # images per chunk
    for start in range(0, n, per):
        stop = min(n, start + per)
        b = stop - start
        running = np.full(b, -np.inf)
        for k0 in range(0, k, max(1, chunk_rows // b)):
            kc = min(k - k0, max(1, chunk_rows // b))
            eps = rng.standard_normal((b, kc, L))
            z, _ = reparameterize(mean[start:stop, None, :], logvar[start:stop, None, :], eps)
            x_rep = np.repeat(X[start:stop], kc, axis=0)
            recon_logits, recon_logvar = model.decoder_outputs(z.reshape(b * kc, L))
            rec = to_numpy(model.rec_nll(recon_logits, recon_logvar, model.asarray(x_rep))).astype(np.float64)
            # log p(z) − log q(z|x): the 0.5·log(2π) terms cancel
            log_ratio = -0.5 * (z * z).sum(-1) + 0.5 * (eps * eps).sum(-1) + 0.5 * logvar[start:stop, None, :].sum(-1)
            log_w = -rec.reshape(b, kc) + log_ratio
            running = np.logaddexp(running, _logsumexp(log_w))
        out[start:stop] = -(running - math.log(k))
    return out


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def active_units(model: Model, X: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Latent dims whose posterior mean (AE: code) varies over X with variance > threshold."""
    mean, _ = posterior_means(model, X)
    return int((latent_activity(mean) > threshold).sum())


def bce_floor(X: np.ndarray) -> float:
    """Mean over images of Σ_pixels H(x): the smallest Bernoulli reconstruction loss possible."""
    return float(to_numpy(losses.bernoulli_entropy(np.asarray(X, dtype=np.float64))).mean())


def evaluate(model: Model, X: np.ndarray, iwae_k: int = 0, seed: int = 0) -> dict:
    """Per-image means in nats: neg_elbo, rec, kl, iwae_neg_log_px (VAE with iwae_k > 0, else
    None), active_units, bce_floor (None for Gaussian decoders), n, kl_per_dim (list)."""
    rec, kl_dims = per_image_losses(model, X, seed)
    kl = kl_dims.sum(axis=1)
    result = {
        "neg_elbo": float((rec + kl).mean()),
        "rec": float(rec.mean()),
        "kl": float(kl.mean()),
        "iwae_neg_log_px": None,
        "iwae_k": None,
        "active_units": active_units(model, X),
        "bce_floor": bce_floor(X) if model.config.likelihood == "bernoulli" else None,
        "n": int(len(X)),
        "kl_per_dim": kl_dims.mean(axis=0).tolist(),
    }
    if model.is_vae and iwae_k > 0:
        result["iwae_neg_log_px"] = float(iwae_neg_log_px(model, X, iwae_k, seed=seed + 1).mean())
        result["iwae_k"] = int(iwae_k)
    return result
