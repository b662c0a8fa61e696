"""One training step, opened up: every array the forward and backward pass of one face compute, with the
update the optimiser would make.

``open_step`` runs the engine's own code (``Model.forward_backward`` with a ``trace``, the likelihood
objects, the optimiser classes) on a float64 CPU copy of the model, as the gradient check does, on a
batch of one face x (D,) with the noise ε (L,) held fixed. The objective is training's at the model's
step: rec + w·KL with w = ``Model.kl_weight_at(step)``; weight decay (an L2 penalty ½·wd·‖θ‖² the
trainer adds to the gradient) is kept apart: ``grads`` are the objective's alone, ``decay`` holds wd·θ,
and the update is the optimiser's step on their sum, as training takes it.

The result, ``OpenedStep``, lists ``stages`` in the order training computes them (forward, objective,
backward, update), each with its formula in plain Unicode/HTML, the array, and the picture that suits it;
``to_json`` gives the CLI's JSON object (cli/step.py, docs in README "One step, opened up").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from . import losses
from .models import Model
from .optim import make_optimizer, optimizer_from_state

SECTIONS = ("forward", "objective", "backward", "update")
# picture kinds: an image of the data's shape, bars (a vector), a heat map (a weight matrix), numbers
PICTURES = ("image", "bars", "heatmap", "numbers")


@dataclass
class Stage:
    """One array of the step. ``values``: the array (one face's row for activations and signals; the
    parameter's shape for gradients and updates); ``picture``: one of PICTURES; ``param``: the parameter
    whose gradient this is (its entries can be checked by central differences), else None; ``labels``:
    names of the entries of a 'numbers' stage; ``views``: other arrays of the same shape the picture can show
    instead (an update's optimiser state: {'m', 'v', 'm̂', 'v̂'} for Adam), by name."""

    key: str
    section: str
    title: str
    formula: str
    values: np.ndarray
    picture: str
    param: str | None = None
    labels: tuple[str, ...] = ()
    note: str = ""
    views: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def summary(self) -> dict:
        """{'min', 'max', 'norm'} of the values (Euclidean / Frobenius norm)."""
        v = self.values
        return {"min": float(v.min()), "max": float(v.max()), "norm": float(np.linalg.norm(v.ravel()))}


@dataclass
class Update:
    """The optimiser's next step: its name, hyper-parameters and step count t (after this step), whether
    its state was fresh (the model file had none), Δθ per parameter, and the state per parameter after the
    step ({'m', 'v', 'm̂', 'v̂'} for Adam, {'buf'} for SGD, {'sum'} for Adagrad)."""

    name: str
    hyper: dict
    t: int
    fresh: bool
    delta: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]


@dataclass
class OpenedStep:
    """One face through one training step (float64). Vectors are one face's rows: mu, logvar, eps (L,) for
    a VAE; for an AE ``mu`` is the code layer's pre-activation, ``z`` the code, and logvar/eps are None."""

    description: str
    kind: str
    likelihood: str
    index: int | None
    model_step: int
    x: np.ndarray
    eps: np.ndarray | None
    mu: np.ndarray
    logvar: np.ndarray | None
    z: np.ndarray
    rec: float
    kl: float
    beta: float
    kl_weight: float
    loss: float
    dL_dmu_rec: np.ndarray  # noqa: N815 - the notation of the course
    dL_dmu_kl: np.ndarray  # noqa: N815
    dL_dlogvar_rec: np.ndarray | None  # noqa: N815
    dL_dlogvar_kl: np.ndarray | None  # noqa: N815
    grads: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    weight_decay: float
    decay: dict[str, np.ndarray]
    update: Update
    stages: list[Stage] = field(default_factory=list)

    def grad_norms(self) -> dict[str, float]:
        return {name: float(np.linalg.norm(g)) for name, g in self.grads.items()}

    def update_norms(self) -> dict[str, float]:
        return {name: float(np.linalg.norm(d)) for name, d in self.update.delta.items()}

    def update_ratios(self) -> dict[str, float]:
        """‖Δθ‖/‖θ‖ per parameter (inf where θ = 0 and Δθ is not)."""
        out = {}
        for name, d in self.update.delta.items():
            theta, step = float(np.linalg.norm(self.params[name])), float(np.linalg.norm(d))
            out[name] = step / theta if theta > 0 else (0.0 if step == 0 else math.inf)
        return out

    def to_json(self) -> dict:
        """The JSON object of ``main.py step --json`` (every number a float64 printed exactly)."""
        def vec(a):
            return [] if a is None else [float(v) for v in np.ravel(a)]

        return {"index": self.index, "model": self.description, "kind": self.kind, "step": self.model_step,
                "eps": vec(self.eps), "mu": vec(self.mu), "logvar": vec(self.logvar), "z": vec(self.z),
                "rec": self.rec, "kl": self.kl, "beta": self.beta, "kl_weight": self.kl_weight, "loss": self.loss,
                "dL_dmu_rec": vec(self.dL_dmu_rec), "dL_dmu_kl": vec(self.dL_dmu_kl),
                "dL_dlogvar_rec": vec(self.dL_dlogvar_rec), "dL_dlogvar_kl": vec(self.dL_dlogvar_kl),
                "grad_norm": self.grad_norms(), "update_norm": self.update_norms(),
                "update_ratio": self.update_ratios(), "weight_decay": self.weight_decay,
                "decay_grad_norm": {n: float(np.linalg.norm(d)) for n, d in self.decay.items()},
                "optimizer": {"name": self.update.name, **self.update.hyper, "t": self.update.t,
                              "fresh": self.update.fresh}}


def parse_eps(text: str, latent: int) -> np.ndarray:
    """ε (latent,) from typed numbers 'v1, v2, …' (commas and/or spaces); ValueError naming what is wrong."""
    parts = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    try:
        values = np.array([float(t) for t in parts])
    except ValueError:
        raise ValueError(f"ε must be {latent} comma-separated numbers, got {text!r}") from None
    if values.size != latent or not np.all(np.isfinite(values)):
        raise ValueError(f"ε must be {latent} finite numbers (the model's latent size), got {values.size}")
    return values


def draw_eps(latent: int, seed: int) -> np.ndarray:
    """ε ~ N(0, I) of one face (latent,), from ``seed`` alone (the same ε on every machine)."""
    return np.random.default_rng(seed).standard_normal(latent)


def open_step(model: Model, x: np.ndarray, eps: np.ndarray | None = None, index: int | None = None,
              optimizer_state: dict | None = None, train_settings: dict | None = None) -> OpenedStep:
    """The opened step of ``model`` on one face x (D,) with noise eps (L,) (a VAE needs it; ignored for an
    AE). ``optimizer_state``: the model file's (``LoadedModel.optimizer_state``), else a fresh optimiser
    of ``train_settings`` ('optimizer', 'lr'; default Adam 1e-3) as a new run would start; ``train_settings``
    'weight_decay' is added to the gradient before the update, as the trainer does. The model is untouched."""
    settings = train_settings or {}
    m = model.copy(dtype="float64", device="cpu")
    xb = np.asarray(x, dtype=np.float64).reshape(1, -1)
    if m.is_vae:
        if eps is None:
            raise ValueError("a VAE's step needs its noise ε")
        eps = np.asarray(eps, dtype=np.float64).reshape(1, -1)
        if eps.shape[1] != m.config.latent:
            raise ValueError(f"ε needs {m.config.latent} numbers (the latent size), got {eps.shape[1]}")
    else:
        eps = None
    kl_weight = m.kl_weight_at(m.step)
    trace: dict = {}
    stats = m.forward_backward(xb, eps, kl_weight=kl_weight, compute_loss=True, trace=trace)
    grads = {name: g.copy() for name, g in m.grads.items()}
    params = {name: p.copy() for name, p in m.params.items()}
    wd = float(settings.get("weight_decay") or 0.0)
    decay = {name: wd * p for name, p in params.items()} if wd else {}
    update = _update(m, decay, optimizer_state, settings)
    fwd, bwd = trace["forward"], trace["backward"]
    row = {k: (None if v is None else v[0]) for k, v in {**fwd}.items()}
    if m.is_vae:
        mu, logvar, z = row["mean"], row["logvar"], row["z"]
        dmu_rec, dmu_kl = bwd["mean.rec"][0], bwd["mean.kl"][0]
        dlv_rec, dlv_kl = bwd["logvar.rec"][0], bwd["logvar.kl"][0]
    else:
        mu, logvar, z = row.get("code.pre", row["code"]), None, row["code"]
        dmu_rec, dmu_kl, dlv_rec, dlv_kl = bwd["code.pre"][0], np.zeros(m.config.latent), None, None
    opened = OpenedStep(
        description=m.config.describe(), kind=m.config.kind, likelihood=m.config.likelihood, index=index,
        model_step=int(m.step), x=xb[0], eps=None if eps is None else eps[0], mu=mu, logvar=logvar, z=z,
        rec=stats["rec"], kl=stats["kl"], beta=float(m.config.beta), kl_weight=float(kl_weight),
        loss=stats["objective"], dL_dmu_rec=dmu_rec, dL_dmu_kl=dmu_kl, dL_dlogvar_rec=dlv_rec,
        dL_dlogvar_kl=dlv_kl, grads=grads, params=params, weight_decay=wd, decay=decay, update=update)
    opened.stages = _stages(m, opened, row, {k: v[0] for k, v in bwd.items()})
    return opened


def take_step(model: Model, x: np.ndarray, eps: np.ndarray | None, optimizer_state: dict | None = None,
              train_settings: dict | None = None) -> tuple[Model, dict]:
    """The step ``open_step`` opens, taken as training takes it: on a copy of the model in its own dtype and
    device (forward_backward on the batch of one face at w = kl_weight_at(step), + wd·θ, the optimiser's step,
    step + 1). Returns (the new model, the optimiser's state after the step); ``model`` is untouched."""
    settings = train_settings or {}
    clone = model.copy()
    xb = clone.asarray(np.asarray(x).reshape(1, -1))
    eb = clone.asarray(np.asarray(eps).reshape(1, -1)) if clone.is_vae else None
    clone.forward_backward(xb, eb, kl_weight=clone.kl_weight_at(clone.step), compute_loss=False)
    wd = float(settings.get("weight_decay") or 0.0)
    if wd:
        clone.grad_flat += wd * clone.flat
    opt = (optimizer_from_state(clone, optimizer_state) if optimizer_state is not None
           else make_optimizer(settings.get("optimizer") or "adam", clone, settings.get("lr")))
    opt.step()
    clone.step += 1
    return clone, opt.state_dict()


# ------------------------------------------------------------------ the update
def _update(m: Model, decay: dict, optimizer_state: dict | None, settings: dict) -> Update:
    """Δθ of the optimiser's next step on the objective's gradient plus weight decay (on a copy of m)."""
    clone = m.copy()
    clone.grad_flat[...] = m.grad_flat
    for name, d in decay.items():
        clone.grads[name][...] += d
    if optimizer_state is not None:
        opt, fresh = optimizer_from_state(clone, optimizer_state), False
    else:
        opt, fresh = make_optimizer(settings.get("optimizer") or "adam", clone, settings.get("lr")), True
    before = clone.flat.copy()
    opt.step()
    delta_flat = clone.flat - before
    delta = {name: _view(clone, delta_flat, name) for name in clone.params}
    return Update(opt.name, opt.hyper(), int(opt.t), fresh, delta, _state(clone, opt))


def _view(model: Model, flat: np.ndarray, name: str) -> np.ndarray:
    """Parameter ``name``'s part of a flat vector laid out like model.flat, in its shape."""
    offset = 0
    for n, shape in model.shapes:
        size = int(np.prod(shape))
        if n == name:
            return flat[offset:offset + size].reshape(shape)
        offset += size
    raise KeyError(name)


def _state(model: Model, opt) -> dict[str, dict[str, np.ndarray]]:
    """The optimiser's state after its step, per parameter (Adam: true moments and bias-corrected ones)."""
    if opt.name == "adam":
        m_true, v_true = opt.moments()
        arrays = {"m": m_true, "v": v_true, "m̂": m_true / (1 - opt.beta1 ** opt.t),
                  "v̂": v_true / (1 - opt.beta2 ** opt.t)}
    else:
        arrays = {key: np.asarray(getattr(opt, key)) for key in opt.state_arrays}
    return {name: {k: _view(model, a, name) for k, a in arrays.items()} for name in model.params}


# ------------------------------------------------------------------ the stages, in training's order
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(i: int) -> str:
    return str(i).translate(_SUB)


ACTIVATION_FORMULAS = {"relu": "max(a, 0)", "leaky_relu": "max(a, s·a)", "elu": "a if a > 0 else eᵃ − 1",
                       "softplus": "log(1 + eᵃ)", "tanh": "tanh a", "linear": "a"}
ACTIVATION_DERIVATIVES = {"relu": "[a > 0]", "leaky_relu": "(1 if a > 0 else s)", "elu": "(1 if a > 0 else eᵃ)",
                          "softplus": "sigmoid(a)", "tanh": "(1 − tanh² a)"}
REC_FORMULAS = {
    "bernoulli": "rec = Σᵢ −[xᵢ log x̂ᵢ + (1 − xᵢ) log(1 − x̂ᵢ)] = Σᵢ softplus(lᵢ) − xᵢ·lᵢ",
    "gaussian": "rec = Σᵢ ½ log 2π + ½ (x̂ᵢ − xᵢ)²",
    "gaussian-learned": "rec = Σᵢ ½ log 2π + ½ log σ²ᵢ + (xᵢ − x̂ᵢ)² / (2σ²ᵢ)",
}
DLOGITS_FORMULAS = {
    "bernoulli": "∂L/∂l = (x̂ − x) / N",
    "gaussian": "∂L/∂l = (x̂ − x) ⊙ x̂ ⊙ (1 − x̂) / N",
    "gaussian-learned": "∂L/∂l = (x̂ − x) ⊙ x̂ ⊙ (1 − x̂) / (σ²ₓ N)",
}


def _stages(m: Model, s: OpenedStep, fwd: dict, bwd: dict) -> list[Stage]:
    return [*_forward_stages(m, s, fwd), *_objective_stages(m, s, fwd), *_backward_stages(m, s, fwd, bwd),
            *_update_stages(m, s)]


def _stack_forward(m: Model, stack: str, fwd: dict, first_input: str) -> list[Stage]:
    act = getattr(m.config, f"{stack}_activation")
    word = "encoder" if stack == "enc" else "decoder"
    out, prev = [], first_input
    for i in range(len(m.config.hidden)):
        k = f"{stack}{i}"
        out.append(Stage(f"{k}.pre", "forward", f"{word} layer {i + 1}: pre-activation",
                         f"a<sub>{k}</sub> = {prev}·W<sub>{k}</sub> + b<sub>{k}</sub>", fwd[f"{k}.pre"], "bars"))
        out.append(Stage(k, "forward", f"{word} layer {i + 1}: activation ({act})",
                         f"h<sub>{k}</sub> = {ACTIVATION_FORMULAS[act]} of a<sub>{k}</sub>", fwd[k], "bars"))
        prev = f"h<sub>{k}</sub>"
    return out


def _forward_stages(m: Model, s: OpenedStep, fwd: dict) -> list[Stage]:
    cfg = m.config
    stages = [Stage("x", "forward", "the face", "x ∈ [0, 1]<sup>D</sup>", s.x, "image")]
    first = "x"
    if cfg.input_centre is not None:
        stages.append(Stage("x_centred", "forward", "the face, centred", "x − x̄ (x̄: the mean training face)",
                            s.x - np.asarray(cfg.input_centre), "image"))
        first = "(x − x̄)"
    stages += _stack_forward(m, "enc", fwd, first)
    h = f"h<sub>enc{len(cfg.hidden) - 1}</sub>"
    if m.is_vae:
        stages += [
            Stage("mean", "forward", "posterior mean μ", f"μ = {h}·W<sub>μ</sub> + b<sub>μ</sub>", s.mu, "bars"),
            Stage("logvar", "forward", "posterior log-variance log σ²",
                  f"log σ² = {h}·W<sub>σ</sub> + b<sub>σ</sub>", s.logvar, "bars"),
            Stage("std", "forward", "posterior standard deviation σ", "σ = exp(½ log σ²)", fwd["std"], "bars"),
            Stage("eps", "forward", "noise ε (held fixed)", "ε ~ N(0, I)", s.eps, "bars"),
            Stage("z", "forward", "latent sample z (reparameterisation)", "z = μ + σ ⊙ ε", s.z, "bars")]
    else:
        if "code.pre" in fwd:
            stages.append(Stage("code.pre", "forward", "code pre-activation",
                                f"a<sub>code</sub> = {h}·W<sub>code</sub> + b<sub>code</sub>", s.mu, "bars"))
            stages.append(Stage("z", "forward", "code z", "z = max(a<sub>code</sub>, 0)", s.z, "bars"))
        else:
            stages.append(Stage("z", "forward", "code z (linear)",
                                f"z = {h}·W<sub>code</sub> + b<sub>code</sub>", s.z, "bars"))
    stages += _stack_forward(m, "dec", fwd, "z")
    d = f"h<sub>dec{len(cfg.hidden) - 1}</sub>"
    stages.append(Stage("logits", "forward", "decoder output logits l",
                        f"l = {d}·W<sub>out</sub> + b<sub>out</sub>", fwd["logits"], "image"))
    stages.append(Stage("out", "forward", "reconstruction (mean image) x̂", "x̂ = sigmoid(l)", fwd["out"], "image"))
    if fwd.get("logvar_px") is not None:
        stages.append(Stage("logvar_px", "forward", "per-pixel log-variance log σ²ₓ (learned)",
                            f"log σ²ₓ = {d}·W<sub>out_logvar</sub> + b<sub>out_logvar</sub>", fwd["logvar_px"],
                            "image"))
    return stages


def _objective_stages(m: Model, s: OpenedStep, fwd: dict) -> list[Stage]:
    xb = s.x.reshape(1, -1)
    lv = None if fwd.get("logvar_px") is None else fwd["logvar_px"].reshape(1, -1)
    rec_map = m.rec_nll(fwd["logits"].reshape(1, -1), lv, xb, per_pixel=True)[0]
    stages = [Stage("rec_map", "objective", f"reconstruction term per pixel ({s.likelihood})",
                    REC_FORMULAS[s.likelihood], rec_map, "image", note=f"Σ = rec = {s.rec:.10g} nats")]
    if m.is_vae:
        kl_dims = losses.kl_per_dim(s.mu, s.logvar)
        stages.append(Stage("kl_dims", "objective", "KL term per latent unit",
                            "KL<sub>j</sub> = ½ (μ<sub>j</sub>² + σ<sub>j</sub>² − 1 − log σ<sub>j</sub>²)",
                            kl_dims, "bars", note=f"Σ = KL = {s.kl:.10g} nats"))
        formula = "L = rec + w·KL  (w = β, times the warm-up factor at this step)"
        values, labels = [s.rec, s.kl, s.beta, s.kl_weight, s.loss], ("rec", "KL", "β", "w", "L")
    else:
        formula, values, labels = "L = rec  (an AE has no KL term)", [s.rec, s.loss], ("rec", "L")
    stages.append(Stage("loss", "objective", "the objective of this step (batch of one face, N = 1)", formula,
                        np.array(values), "numbers", labels=labels))
    return stages


def _stack_backward(m: Model, stack: str, bwd: dict, top: str) -> list[Stage]:
    """∂L/∂h and δ of each hidden layer of a stack, top layer first; ``top``: what the top layer receives."""
    act = getattr(m.config, f"{stack}_activation")
    word = "encoder" if stack == "enc" else "decoder"
    out = []
    for i in reversed(range(len(m.config.hidden))):
        k = f"{stack}{i}"
        above = f"δ<sub>{stack}{i + 1}</sub>·W<sub>{stack}{i + 1}</sub>ᵀ" if i + 1 < len(m.config.hidden) else top
        out.append(Stage(f"d.{k}", "backward", f"∂L/∂h, {word} layer {i + 1}",
                         f"∂L/∂h<sub>{k}</sub> = {above}", bwd[k], "bars"))
        out.append(Stage(f"d.{k}.pre", "backward", f"error signal δ, {word} layer {i + 1}",
                         f"δ<sub>{k}</sub> = ∂L/∂a<sub>{k}</sub> = ∂L/∂h<sub>{k}</sub> ⊙ "
                         f"{ACTIVATION_DERIVATIVES[act]}", bwd[f"{k}.pre"], "bars"))
    return out


def _backward_stages(m: Model, s: OpenedStep, fwd: dict, bwd: dict) -> list[Stage]:
    stages = [Stage("d.logits", "backward", "∂L/∂logits", DLOGITS_FORMULAS[s.likelihood], bwd["logits"], "image")]
    if "logvar_px" in bwd:
        stages.append(Stage("d.logvar_px", "backward", "∂L/∂log σ²ₓ (per pixel)",
                            "∂L/∂log σ²ₓ = ½ (1 − (x − x̂)²/σ²ₓ) / N", bwd["logvar_px"], "image"))
    top = "∂L/∂l·W<sub>out</sub>ᵀ" + (" + ∂L/∂log σ²ₓ·W<sub>out_logvar</sub>ᵀ" if "logvar_px" in bwd else "")
    stages += _stack_backward(m, "dec", bwd, top)
    stages.append(Stage("d.z", "backward", "∂L/∂z", "∂L/∂z = δ<sub>dec0</sub>·W<sub>dec0</sub>ᵀ", bwd["z"], "bars"))
    if m.is_vae:
        stages += [
            Stage("d.mean.rec", "backward", "∂L/∂μ, reconstruction part", "∂rec/∂μ = ∂L/∂z  (∂z/∂μ = 1)",
                  s.dL_dmu_rec, "bars"),
            Stage("d.mean.kl", "backward", "∂L/∂μ, KL part", "w·∂KL/∂μ = w·μ / N", s.dL_dmu_kl, "bars"),
            Stage("d.std", "backward", "the path through σ: ∂L/∂σ", "∂L/∂σ = ∂L/∂z ⊙ ε  (∂z/∂σ = ε)",
                  bwd["z"] * s.eps, "bars"),
            Stage("d.logvar.rec", "backward", "∂L/∂log σ², reconstruction part (through σ)",
                  "∂rec/∂log σ² = ∂L/∂σ ⊙ σ/2  (∂σ/∂log σ² = σ/2)", s.dL_dlogvar_rec, "bars"),
            Stage("d.logvar.kl", "backward", "∂L/∂log σ², KL part", "w·∂KL/∂log σ² = w·(σ² − 1) / 2N",
                  s.dL_dlogvar_kl, "bars"),
            Stage("d.mean", "backward", "error signal δ<sub>μ</sub>", "δ<sub>μ</sub> = ∂rec/∂μ + w·∂KL/∂μ",
                  s.dL_dmu_rec + s.dL_dmu_kl, "bars"),
            Stage("d.logvar", "backward", "error signal δ<sub>σ</sub>",
                  "δ<sub>σ</sub> = ∂rec/∂log σ² + w·∂KL/∂log σ²", s.dL_dlogvar_rec + s.dL_dlogvar_kl, "bars"),
        ]
        h_formula = "δ<sub>μ</sub>·W<sub>μ</sub>ᵀ + δ<sub>σ</sub>·W<sub>σ</sub>ᵀ"
    else:
        gate = " ⊙ [a<sub>code</sub> > 0]" if "code.pre" in fwd else ""
        stages.append(Stage("d.code.pre", "backward", "error signal δ at the code layer",
                            f"δ<sub>code</sub> = ∂L/∂z{gate}", s.dL_dmu_rec, "bars"))
        h_formula = "δ<sub>code</sub>·W<sub>code</sub>ᵀ"
    stages += _stack_backward(m, "enc", bwd, h_formula)  # the top encoder layer's ∂L/∂h is the trace's 'h'
    stages += _grad_stages(m, s)
    return stages


def _layer_input(m: Model, layer: str) -> str:
    """The input of a layer in the formulas' notation."""
    n = len(m.config.hidden)
    if layer == "enc0":
        return "x" if m.config.input_centre is None else "(x − x̄)"
    if layer.startswith("enc"):
        return f"h<sub>enc{int(layer[3:]) - 1}</sub>"
    if layer in ("mean", "logvar", "code"):
        return f"h<sub>enc{n - 1}</sub>"
    if layer == "dec0":
        return "z"
    if layer.startswith("dec"):
        return f"h<sub>dec{int(layer[3:]) - 1}</sub>"
    return f"h<sub>dec{n - 1}</sub>"


_DELTA = {"mean": "δ<sub>μ</sub>", "logvar": "δ<sub>σ</sub>", "code": "δ<sub>code</sub>", "out": "∂L/∂l",
          "out_logvar": "∂L/∂log σ²ₓ"}


def _grad_stages(m: Model, s: OpenedStep) -> list[Stage]:
    stages = []
    for name, g in s.grads.items():
        layer, kind = name.split(".")
        delta = _DELTA.get(layer, f"δ<sub>{layer}</sub>")
        formula = (f"∂L/∂W<sub>{layer}</sub> = {_layer_input(m, layer)}ᵀ · {delta}" if kind == "W"
                   else f"∂L/∂b<sub>{layer}</sub> = Σ<sub>n</sub> {delta}")
        note = ""
        if s.weight_decay:
            note = (f"weight decay, apart: wd·θ with wd = {s.weight_decay:g}, ‖wd·θ‖ = "
                    f"{np.linalg.norm(s.decay[name]):.6g}; the optimiser gets the sum")
        stages.append(Stage(f"grad.{name}", "backward", f"gradient of {name}", formula, g,
                            "heatmap" if g.ndim == 2 else "bars", param=name, note=note))
    return stages


def _update_stages(m: Model, s: OpenedStep) -> list[Stage]:
    u = s.update
    hyper = ", ".join(f"{k} = {v:g}" for k, v in u.hyper.items())
    rules = {"adam": "m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ),  "
                     "Δθ = −lr·m̂ / (√v̂ + eps)",
             "sgd": "buf ← momentum·buf + g,  Δθ = −lr·buf",
             "adagrad": "sum ← sum + g²,  Δθ = −lr·g / (√sum + eps)"}
    fresh = "a fresh optimiser (the model file holds no optimiser state)" if u.fresh else "the model file's optimiser"
    ratios = s.update_ratios()
    stages = []
    for name, d in u.delta.items():
        state = ";  ".join(f"{k}: norm {np.linalg.norm(a):.4g}, max |·| {np.abs(a).max():.4g}"
                           for k, a in u.state[name].items())
        stages.append(Stage(f"update.{name}", "update", f"step Δθ of {name}  (‖Δθ‖/‖θ‖ = {ratios[name]:.3g})",
                            f"{u.name} (t = {u.t}; {hyper}): {rules.get(u.name, '')}", d,
                            "heatmap" if d.ndim == 2 else "bars", note=f"{fresh}; state after the step: {state}",
                            views=dict(u.state[name])))
    return stages


# ------------------------------------------------------------------ pictures (the HTML page and the Step tab)
def is_signed(stage: Stage) -> bool:
    """Whether a stage's values are drawn on the diverging scale (blue < 0 < red) rather than in grey
    (only the face and the reconstruction, both in [0, 1], are grey)."""
    return stage.key not in ("x", "out")


def stage_grid(stage: Stage, image_shape: tuple[int, int]) -> np.ndarray:
    """The values as the 2-D grid they are drawn as: an image (H, W), a weight matrix (fan_in, fan_out)."""
    v = stage.values
    return v.reshape(image_shape) if stage.picture == "image" else np.atleast_2d(v)


def colours(grid: np.ndarray, signed: bool) -> np.ndarray:
    """uint8 RGB (…, 3): grey for values in [0, 1]; else white at 0, red for > 0, blue for < 0, full
    colour at the largest |value|."""
    if not signed:
        g = np.clip(np.rint(grid * 255.0), 0, 255).astype(np.uint8)
        return np.stack([g, g, g], axis=-1)
    top = float(np.abs(grid).max()) or 1.0
    t = np.clip(grid / top, -1.0, 1.0)
    pos, neg = np.clip(t, 0, None), np.clip(-t, 0, None)
    r = 1.0 - neg * 0.85
    g = 1.0 - (pos + neg) * 0.85
    b = 1.0 - pos * 0.85
    return np.clip(np.rint(np.stack([r, g, b], axis=-1) * 255.0), 0, 255).astype(np.uint8)
