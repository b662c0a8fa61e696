"""Small models for unit tests (float64 by default, so gradchecks are exact)."""

from __future__ import annotations

from core.models import Model, ModelConfig


def small_model(kind="vae", likelihood="bernoulli", hidden=(16,), latent=4, dtype="float64", seed=0, **kw) -> Model:
    """A small model on the Frey image size; `kw` goes to ModelConfig (beta, warmup_steps, …)."""
    return Model(ModelConfig(kind=kind, hidden=list(hidden), latent=latent, likelihood=likelihood,
                             dtype=dtype, **kw), seed=seed)
