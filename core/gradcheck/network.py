"""The forward pass as the gradient check sees it: in sites, resumable, with every pre-activation kept.

A *site* is one affine layer of the model: ``("enc", i)``, ``("latent",)`` (the VAE's mean and
log-variance heads, or the AE's code layer), ``("dec", i)`` and ``("out",)`` (the logits, and the
per-pixel log-variance of a gaussian-learned model). A parameter acts first at its site, so a pass
that perturbs it can start there from the stored input of the site: ``run_from`` takes the site's
pre-activation(s) for any number of rows (images, or perturbed copies of images) and returns the
objective's terms and the pre-activations of every piecewise activation it passed through (for the
kink test, ``kinks.py``). This staged forward is the gradient check's own; ``Model`` keeps only the
training and inference passes.

Shapes: Q rows; x (Q, D) pixels, eps (Q, L) noise; hidden pre-activations (Q, H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.layers import activation_layer, affine_forward
from core.losses import kl_per_dim
from core.models import Model, reparameterize

# the coarse stages of earlier versions map onto sites: a parameter acting at a site resumes there
STAGES = ("x", "h", "z", "d")


def site_of(name: str) -> tuple:
    """The site of parameter ``name``: ('enc', i), ('latent',), ('dec', i) or ('out',)."""
    layer = name.split(".")[0]
    if layer.startswith(("enc", "dec")) and layer[3:].isdigit():
        return (layer[:3], int(layer[3:]))
    if layer in ("mean", "logvar", "code"):
        return ("latent",)
    if layer in ("out", "out_logvar"):
        return ("out",)
    raise ValueError(f"unknown parameter {name!r}")


def first_stage(name: str) -> str:
    """The coarse stage from which parameter ``name`` first acts (x, h, z or d)."""
    site = site_of(name)
    return {"enc": "x", "latent": "h", "dec": "z", "out": "d"}[site[0]]


def slot_of(name: str) -> int:
    """Which of its site's pre-activations a parameter feeds: 1 for logvar and out_logvar, else 0."""
    return 1 if name.split(".")[0] in ("logvar", "out_logvar") else 0


def activation(model: Model, stack: str) -> tuple[str, object]:
    """(name, forward) of the 'enc' or 'dec' hidden stack's activation."""
    cfg = model.config
    name = getattr(cfg, f"{stack}_activation", "relu")
    forward, _ = activation_layer(name, getattr(cfg, "leaky_slope", 0.01))
    return name, forward


@dataclass
class Pass:
    """One forward pass from a site on. ``rec``: (Q, D) reconstruction terms, ``kl``: (Q, L) KL per
    dimension (None when the site comes after the latent layer: the KL did not change);
    ``pieces``: {key: (activation name, pre-activation (Q, H))} of every activation passed through;
    ``inputs``: {site: the array that fed it}; ``pre``: {site: tuple of its pre-activations}."""

    rec: np.ndarray
    kl: np.ndarray | None
    pieces: dict
    inputs: dict
    pre: dict


def site_pre(model: Model, site: tuple, inp: np.ndarray) -> tuple:
    """The pre-activation(s) of ``site`` for input rows ``inp`` with the model's current parameters."""
    p = model.params
    if site[0] in ("enc", "dec"):
        return (affine_forward(inp, p[f"{site[0]}{site[1]}.W"], p[f"{site[0]}{site[1]}.b"])[0],)
    if site[0] == "latent":
        if model.is_vae:
            return (affine_forward(inp, p["mean.W"], p["mean.b"])[0],
                    affine_forward(inp, p["logvar.W"], p["logvar.b"])[0])
        return (affine_forward(inp, p["code.W"], p["code.b"])[0],)
    logits = affine_forward(inp, p["out.W"], p["out.b"])[0]
    logvar = affine_forward(inp, p["out_logvar.W"], p["out_logvar.b"])[0] if "out_logvar.W" in p else None
    return (logits, logvar)


def run_from(model: Model, site: tuple, pre: tuple, x: np.ndarray, eps: np.ndarray | None) -> Pass:
    """Continue a forward pass from ``site`` given its pre-activation(s) ``pre`` (rows of x and eps)."""
    out = Pass(rec=None, kl=None, pieces={}, inputs={}, pre={site: pre})
    kind, h = site[0], None
    if kind == "enc":
        h = _stack(model, "enc", site[1], pre[0], out)
        kind = "latent"
        pre = site_pre(model, ("latent",), h)
        out.inputs[("latent",)], out.pre[("latent",)] = h, pre
    if kind == "latent":
        z = _latent(model, pre, eps, out)
        kind = "dec"
        pre = site_pre(model, ("dec", 0), z)
        out.inputs[("dec", 0)], out.pre[("dec", 0)] = z, pre
        site = ("dec", 0)
    if kind == "dec":
        d = _stack(model, "dec", site[1], pre[0], out)
        pre = site_pre(model, ("out",), d)
        out.inputs[("out",)], out.pre[("out",)] = d, pre
    out.rec = model.rec_nll(pre[0], pre[1], x, per_pixel=True)
    return out


def _stack(model: Model, stack: str, first: int, pre: np.ndarray, out: Pass) -> np.ndarray:
    """The hidden layers of an 'enc' or 'dec' stack from layer ``first``'s pre-activation."""
    name, forward = activation(model, stack)
    p, h = model.params, None
    for i in range(first, len(model.config.hidden)):
        if i > first:
            pre = affine_forward(h, p[f"{stack}{i}.W"], p[f"{stack}{i}.b"])[0]
            out.inputs[(stack, i)], out.pre[(stack, i)] = h, (pre,)
        out.pieces[f"{stack}{i}"] = (name, pre)
        h, _ = forward(pre, inplace=False)
    return h


def _latent(model: Model, pre: tuple, eps: np.ndarray | None, out: Pass) -> np.ndarray:
    """z from the latent site's pre-activations; fills out.kl (and the AE code's ReLU piece)."""
    if model.is_vae:
        mean, logvar = pre
        out.kl = kl_per_dim(mean, logvar)
        return reparameterize(mean, logvar, eps)[0]
    code = pre[0]
    out.kl = np.zeros((code.shape[0], model.config.latent))
    if model.config.code_activation == "relu":
        out.pieces["code"] = ("relu", code)
        return code.clip(0, None)
    return code


def full_pass(model: Model, x: np.ndarray, eps: np.ndarray | None) -> Pass:
    """A whole forward pass: run_from the first encoder layer, with its input recorded (x, or x minus the
    model's input centre; the likelihood always compares with x itself)."""
    centre = model.config.input_centre
    inp = x if centre is None else x - np.asarray(centre, dtype=np.float64)
    result = run_from(model, ("enc", 0), site_pre(model, ("enc", 0), inp), x, eps)
    result.inputs[("enc", 0)] = inp
    return result


def objective_terms(model: Model, result: Pass, base: Pass, kl_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The objective's terms before summation, each divided by N: (rec (N, D), weighted KL (N, L)).
    A pass that started after the latent layer takes the KL of ``base``. Gradcheck subtracts these
    term by term, which keeps the round-off of a ~400-nat sum out of a finite difference."""
    n = result.rec.shape[0]
    kl = base.kl if result.kl is None else result.kl
    return result.rec / n, kl * (kl_weight / n)
