"""Cross-check of the hand-written back-propagation and optimisers against PyTorch autograd.

A PyTorch copy of each network (AE and VAE, every likelihood) gets the same initial weights,
the same minibatches and the same noise eps. Losses and every gradient must agree to a
relative 1e-10 in float64 at the first step, and 50-step training trajectories with
SGD (momentum), Adagrad and Adam must end at the same weights. The PyTorch side is written
independently of core/losses.py (torch's own BCE-with-logits, Normal log-density and KL), so a
mistake in any backward line or loss formula of the engine shows up here.

torch is a development dependency (requirements-dev.txt); it is imported directly so a
missing install fails loudly instead of skipping the check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.factories import small_model
from torch.distributions import Normal, kl_divergence

from core.data import BatchSchedule
from core.models import Model
from core.optim import make_optimizer
from core.train import Trainer

torch.set_num_threads(1)  # tiny nets: threads only add contention

HIDDEN = (32,)
LATENT = 4
BATCH = 16
N_TRAIN = 64
GRAD_RTOL = 1e-10
TRAJECTORY_STEPS = 50
TRAJECTORY_RTOL = 1e-8

CASES = [  # (kind, likelihood, AE code activation, KL weight)
    ("ae", "bernoulli", "relu", 1.0),
    ("ae", "bernoulli", "linear", 1.0),
    ("ae", "gaussian", "relu", 1.0),
    ("ae", "gaussian-learned", "linear", 1.0),
    ("vae", "bernoulli", "relu", 1.0),
    ("vae", "bernoulli", "relu", 0.3),
    ("vae", "gaussian", "relu", 1.0),
    ("vae", "gaussian-learned", "relu", 1.0),
    ("vae", "gaussian-learned", "relu", 0.3),
]
CASE_IDS = [f"{k}-{lik}-{act}-w{w:g}" for k, lik, act, w in CASES]
LEAKY_SLOPE = 0.2  # far from the default 0.01, so a slope that is ignored shows up
# (encoder activation, decoder activation) of the hidden stacks, each against torch's own function
ACTIVATION_CASES = [("leaky_relu", "leaky_relu"), ("elu", "elu"), ("softplus", "softplus"), ("tanh", "tanh"),
                    ("elu", "tanh"), ("softplus", "leaky_relu")]
TORCH_ACTIVATIONS = {"relu": torch.relu, "leaky_relu": lambda a: F.leaky_relu(a, negative_slope=LEAKY_SLOPE),
                     "elu": F.elu, "softplus": F.softplus, "tanh": torch.tanh}


# ----------------------------------------------------------------------------- the PyTorch copy
def torch_params(model: Model) -> dict[str, torch.Tensor]:
    """Leaf float64 tensors holding copies of the engine's weights, same names."""
    return {name: torch.tensor(arr, dtype=torch.float64, requires_grad=True)
            for name, arr in model.params_numpy().items()}


def torch_objective(model: Model, p: dict[str, torch.Tensor], x: torch.Tensor, eps: torch.Tensor | None,
                    kl_weight: float) -> torch.Tensor:
    """mean_n [rec_n + kl_weight·KL_n] of the same architecture, built from torch primitives."""
    cfg = model.config
    assert cfg.leaky_slope == LEAKY_SLOPE or "leaky_relu" not in (cfg.enc_activation, cfg.dec_activation)
    enc_act, dec_act = TORCH_ACTIVATIONS[cfg.enc_activation], TORCH_ACTIVATIONS[cfg.dec_activation]
    h = x
    for i in range(len(cfg.hidden)):
        h = enc_act(h @ p[f"enc{i}.W"] + p[f"enc{i}.b"])
    if cfg.kind == "vae":
        mean = h @ p["mean.W"] + p["mean.b"]
        logvar = h @ p["logvar.W"] + p["logvar.b"]
        std = torch.exp(0.5 * logvar)
        z = mean + std * eps
        kl = kl_divergence(Normal(mean, std), Normal(torch.zeros_like(mean), torch.ones_like(std))).sum(dim=1)
    else:
        z = h @ p["code.W"] + p["code.b"]
        if cfg.code_activation == "relu":
            z = torch.relu(z)
        kl = torch.zeros(x.shape[0], dtype=x.dtype)
    d = z
    for i in range(len(cfg.hidden)):
        d = dec_act(d @ p[f"dec{i}.W"] + p[f"dec{i}.b"])
    logits = d @ p["out.W"] + p["out.b"]
    if cfg.likelihood == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    elif cfg.likelihood == "gaussian":
        rec = -Normal(torch.sigmoid(logits), 1.0).log_prob(x).sum(dim=1)
    else:
        out_logvar = d @ p["out_logvar.W"] + p["out_logvar.b"]
        rec = -Normal(torch.sigmoid(logits), torch.exp(0.5 * out_logvar)).log_prob(x).sum(dim=1)
    return (rec + kl_weight * kl).mean()


def make_model(kind: str, likelihood: str, code_activation: str, **kw) -> Model:
    return small_model(kind=kind, likelihood=likelihood, hidden=HIDDEN, latent=LATENT, dtype="float64",
                       seed=7, code_activation=code_activation, **kw)


def faces(rng: np.random.Generator, n: int) -> np.ndarray:
    """Float32-representable pixels in [0, 1] with some exact 0s and 1s (as in the Frey data)."""
    x = rng.random((n, 560)).astype(np.float32)
    x[:, :20] = 0.0
    x[:, 20:40] = 1.0
    return x.astype(np.float64)


def rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """Norm-wise relative difference ‖ours − ref‖ / ‖ref‖."""
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-300))


# ----------------------------------------------------------------------------- first step
@pytest.mark.parametrize("kind,likelihood,code_activation,kl_weight", CASES, ids=CASE_IDS)
def test_loss_and_every_gradient_match_autograd(kind, likelihood, code_activation, kl_weight, rng):
    model = make_model(kind, likelihood, code_activation)
    x = faces(rng, BATCH)
    eps = rng.standard_normal((BATCH, LATENT)) if kind == "vae" else None

    stats = model.forward_backward(model.asarray(x), eps=None if eps is None else model.asarray(eps),
                                   kl_weight=kl_weight)

    p = torch_params(model)
    loss = torch_objective(model, p, torch.tensor(x), None if eps is None else torch.tensor(eps), kl_weight)
    loss.backward()
    assert stats["objective"] == pytest.approx(loss.item(), rel=GRAD_RTOL, abs=0)
    for name, tensor in p.items():
        ref = tensor.grad.numpy()
        assert np.any(ref != 0), f"{name}: the reference gradient is all zero, the check would be empty"
        err = rel_diff(model.grads[name], ref)
        assert err <= GRAD_RTOL, f"{name}: gradient differs from autograd by a relative {err:.2e}"


def test_crosscheck_notices_a_wrong_gradient(rng):
    """The comparison itself has teeth: a tiny change to one gradient entry is caught."""
    model = make_model("vae", "bernoulli", "relu")
    x = faces(rng, BATCH)
    eps = rng.standard_normal((BATCH, LATENT))
    model.forward_backward(model.asarray(x), eps=model.asarray(eps))
    p = torch_params(model)
    torch_objective(model, p, torch.tensor(x), torch.tensor(eps), 1.0).backward()
    wrong = model.grads["logvar.b"].copy()
    wrong[0] *= 1.0 + 1e-6
    assert rel_diff(wrong, p["logvar.b"].grad.numpy()) > GRAD_RTOL


# ----------------------------------------------------------------------------- trajectories
OPTIMIZERS = {  # (our hyper-parameters, torch.optim with the same ones given params and weight decay)
    "sgd": ({"lr": 1e-3, "momentum": 0.9}, lambda ps, wd: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, weight_decay=wd)),
    "adagrad": ({"lr": 0.01}, lambda ps, wd: torch.optim.Adagrad(ps, lr=0.01, eps=1e-10, weight_decay=wd)),
    "adam": ({"lr": 1e-3},
             lambda ps, wd: torch.optim.Adam(ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)),
}
# (kind, likelihood, AE code activation, KL warm-up steps, Trainer weight decay)
TRAJECTORY_CASES = [("ae", "bernoulli", "relu", 0, 0.0), ("vae", "bernoulli", "relu", 20, 0.0),
                    ("vae", "gaussian-learned", "relu", 0, 0.0), ("vae", "gaussian-learned", "relu", 0, 0.05)]


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("kind,likelihood,code_activation,warmup,weight_decay", TRAJECTORY_CASES,
                         ids=[f"{k}-{lik}-warmup{w}-wd{wd:g}" for k, lik, _, w, wd in TRAJECTORY_CASES])
def test_training_trajectory_matches_torch_optim(optimizer, kind, likelihood, code_activation, warmup,
                                                 weight_decay, rng):
    """50 steps of the engine's Trainer against torch.optim on the same batches and noise."""
    seed = 3
    model = make_model(kind, likelihood, code_activation, warmup_steps=warmup)
    X = faces(rng, N_TRAIN)
    ours_hyper, make_torch_opt = OPTIMIZERS[optimizer]
    trainer = Trainer(model, make_optimizer(optimizer, model, **ours_hyper), X, batch_size=BATCH, seed=seed,
                      log_every=10, eval_every=0, weight_decay=weight_decay)

    # the reference replays the Trainer's minibatch order and the model's noise generator
    p = torch_params(model)
    names = list(p)
    opt = make_torch_opt([p[n] for n in names], weight_decay)
    schedule = BatchSchedule(np.arange(N_TRAIN), BATCH, seed)
    noise = np.random.default_rng(7)  # the model's noise_rng is default_rng(model seed)
    X_t = torch.tensor(X)
    ref_losses = []
    for step in range(TRAJECTORY_STEPS):
        idx = schedule.batch(step)
        eps = torch.tensor(noise.standard_normal((len(idx), LATENT))) if kind == "vae" else None
        opt.zero_grad()
        loss = torch_objective(model, p, X_t[idx], eps, model.kl_weight_at(step))
        loss.backward()
        opt.step()
        ref_losses.append(loss.item())

    logged = [trainer.step() for _ in range(TRAJECTORY_STEPS)]
    ours_losses = [s["objective"] for s in logged if s is not None]
    assert len(ours_losses) == TRAJECTORY_STEPS // 10
    np.testing.assert_allclose(ours_losses, ref_losses[9::10], rtol=TRAJECTORY_RTOL)
    for name in names:
        ref = p[name].detach().numpy()
        err = rel_diff(model.params[name], ref)
        assert err <= TRAJECTORY_RTOL, f"{optimizer}: {name} after {TRAJECTORY_STEPS} steps differs by {err:.2e}"
    # the weights really moved, so agreement is not just two copies of the initial weights
    start = make_model(kind, likelihood, code_activation).params_numpy()
    assert all(rel_diff(model.params[n], start[n]) > 1e-4 for n in ("enc0.W", "out.W"))
    assert math.isfinite(ref_losses[-1])


# ----------------------------------------------------------------------------- other activations
@pytest.mark.parametrize("kind,likelihood", [("vae", "bernoulli"), ("vae", "gaussian-learned"), ("ae", "bernoulli")])
@pytest.mark.parametrize("enc,dec", ACTIVATION_CASES, ids=[f"{e}-{d}" for e, d in ACTIVATION_CASES])
def test_each_activation_matches_autograd(enc, dec, kind, likelihood, rng):
    """Loss and every gradient with each hidden activation (torch's own F.elu, F.softplus, …)."""
    model = make_model(kind, likelihood, "relu", enc_activation=enc, dec_activation=dec, leaky_slope=LEAKY_SLOPE)
    x = faces(rng, BATCH)
    eps = rng.standard_normal((BATCH, LATENT)) if kind == "vae" else None
    stats = model.forward_backward(model.asarray(x), eps=None if eps is None else model.asarray(eps))
    p = torch_params(model)
    loss = torch_objective(model, p, torch.tensor(x), None if eps is None else torch.tensor(eps), 1.0)
    loss.backward()
    assert stats["objective"] == pytest.approx(loss.item(), rel=GRAD_RTOL, abs=0)
    for name, tensor in p.items():
        err = rel_diff(model.grads[name], tensor.grad.numpy())
        assert err <= GRAD_RTOL, f"{enc}/{dec} {name}: gradient differs from autograd by a relative {err:.2e}"


@pytest.mark.parametrize("enc,dec", ACTIVATION_CASES, ids=[f"{e}-{d}" for e, d in ACTIVATION_CASES])
def test_each_activation_trajectory_matches_torch_adam(enc, dec, rng):
    """50 Adam steps (weight decay on, KL warm-up on) with each activation against torch.optim.Adam."""
    model = make_model("vae", "gaussian-learned", "relu", enc_activation=enc, dec_activation=dec,
                       leaky_slope=LEAKY_SLOPE, warmup_steps=20)
    X = faces(rng, N_TRAIN)
    trainer = Trainer(model, make_optimizer("adam", model, lr=1e-3), X, batch_size=BATCH, seed=3, log_every=10,
                      eval_every=0, weight_decay=0.05)
    p = torch_params(model)
    names = list(p)
    opt = OPTIMIZERS["adam"][1]([p[n] for n in names], 0.05)
    schedule = BatchSchedule(np.arange(N_TRAIN), BATCH, 3)
    noise = np.random.default_rng(7)
    X_t = torch.tensor(X)
    for step in range(TRAJECTORY_STEPS):
        idx = schedule.batch(step)
        eps = torch.tensor(noise.standard_normal((len(idx), LATENT)))
        opt.zero_grad()
        torch_objective(model, p, X_t[idx], eps, model.kl_weight_at(step)).backward()
        opt.step()
    for _ in range(TRAJECTORY_STEPS):
        trainer.step()
    start = make_model("vae", "gaussian-learned", "relu", enc_activation=enc, dec_activation=dec,
                       leaky_slope=LEAKY_SLOPE).params_numpy()
    for name in names:
        err = rel_diff(model.params[name], p[name].detach().numpy())
        assert err <= TRAJECTORY_RTOL, f"{enc}/{dec}: {name} after {TRAJECTORY_STEPS} steps differs by {err:.2e}"
    assert all(rel_diff(model.params[n], start[n]) > 1e-4 for n in ("enc0.W", "out.W"))
