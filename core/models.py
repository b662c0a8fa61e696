"""Auto-encoder (AE) and variational auto-encoder (VAE) built from ``layers`` and ``losses``.

Both share one encoder/decoder: 560 → hidden… (ReLU) → code → …hidden (ReLU) → 560 logits.
The VAE replaces the code layer by a Gaussian head (mean, logvar), samples
z = mean + exp(logvar/2)·eps and adds the KL term; nothing else differs.

Parameters live in one flat vector ``model.flat``; ``model.params`` maps each name to a view
of it (same for ``grad_flat``/``grads``), so an optimiser updates every parameter with a few
whole-array operations and gradcheck, checkpoints and the CuPy backend see one dict.
Layout is batch-major: images are rows, x: (N, 560), W: (fan_in, fan_out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import losses
from .backend import get_xp, to_numpy, xp_of
from .errors import ConfigError
from .layers import (
    DEFAULT_LEAKY_SLOPE,
    activation_layer,
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
)
from .parallel import matmul

IMAGE_SHAPE = (28, 20)
INPUT_DIM = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
KINDS = ("ae", "vae")
CODE_ACTIVATIONS = ("relu", "linear")
# weight initialisation: "auto" is He (normal, variance 2/fan_in) for a stack of ReLU-family units and
# Glorot (variance 2/(fan_in + fan_out)) for tanh/softplus; "torch" is nn.Linear's default
# U(±1/√fan_in) for every weight and bias, to compare a run one-to-one with the PyTorch reference
INITS = ("auto", "he", "glorot", "torch")
DTYPES = ("float32", "float64")




@dataclass
class ModelConfig:
    """Architecture and objective of a model. ``hidden`` lists the encoder's hidden sizes;
    the decoder mirrors them. ``code_activation`` applies to the AE's code only."""

    kind: str = "vae"
    hidden: list[int] = field(default_factory=lambda: [256])
    latent: int = 16
    likelihood: str = "bernoulli"
    code_activation: str = "relu"
    enc_activation: str = "relu"  # the encoder's hidden layers (layers.ACTIVATIONS)
    dec_activation: str = "relu"  # the decoder's hidden layers
    leaky_slope: float = DEFAULT_LEAKY_SLOPE  # leaky_relu's slope for negative inputs
    init: str = "auto"  # INITS
    beta: float = 1.0
    warmup_steps: int = 0
    dtype: str = "float32"
    input_dim: int = INPUT_DIM
    # the first layer sees x − input_centre (the mean training image, Model.set_input_centre); None: x itself
    input_centre: list[float] | None = None

    def validate(self) -> ModelConfig:
        """Check every field against the one schema (core.settings); ConfigError names the field."""
        from .settings import MODEL_FIELDS, check_setting  # settings reads this module's vocabularies

        self.hidden = list(self.hidden) if isinstance(self.hidden, (list, tuple)) else self.hidden
        for name in MODEL_FIELDS:
            check_setting(name, getattr(self, name))
        if not (isinstance(self.input_dim, int) and not isinstance(self.input_dim, bool) and self.input_dim > 0):
            raise ConfigError(f"input size must be a whole number > 0, got {self.input_dim!r}")
        if self.input_centre is not None:
            centre = np.asarray(self.input_centre, dtype=np.float64)
            if centre.shape != (self.input_dim,) or not np.all(np.isfinite(centre)):
                raise ConfigError(f"input_centre must be {self.input_dim} finite numbers (one per pixel) or null")
            self.input_centre = centre.tolist()
        self.hidden = [int(h) for h in self.hidden]
        self.latent = int(self.latent)
        return self

    def init_scheme(self, stack: str) -> str:
        """The initialisation of the 'enc' or 'dec' hidden stack: 'he', 'glorot' or 'torch'."""
        if self.init != "auto":
            return self.init
        return "glorot" if getattr(self, f"{stack}_activation") in ("tanh", "softplus") else "he"

    def to_dict(self) -> dict:
        """The fields, plus 'init_schemes' stating the initialisation each stack got (from_dict ignores it)."""
        return {**asdict(self), "init_schemes": {s: self.init_scheme(s) for s in ("enc", "dec")}}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known).validate()

    def describe(self) -> str:
        """One line such as 'VAE 560-256-16, bernoulli, β=1'."""
        sizes = "-".join(str(s) for s in [self.input_dim, *self.hidden, self.latent])
        text = f"{self.kind.upper()} {sizes}, {self.likelihood}"
        if self.kind == "vae":
            text += f", β={self.beta:g}"
        else:
            text += f", {self.code_activation} code"
        if (self.enc_activation, self.dec_activation) != ("relu", "relu"):  # ReLU stays unsaid, as it always was
            text += f", {self.enc_activation}/{self.dec_activation}"
        if self.input_centre is not None:
            text += ", centred input"
        return text


def param_shapes(cfg: ModelConfig) -> list[tuple[str, tuple[int, ...]]]:
    """Ordered (name, shape) of every parameter array."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    fan_in = cfg.input_dim
    for i, h in enumerate(cfg.hidden):
        shapes += [(f"enc{i}.W", (fan_in, h)), (f"enc{i}.b", (h,))]
        fan_in = h
    heads = ["mean", "logvar"] if cfg.kind == "vae" else ["code"]
    for head in heads:
        shapes += [(f"{head}.W", (fan_in, cfg.latent)), (f"{head}.b", (cfg.latent,))]
    fan_in = cfg.latent
    for i, h in enumerate(reversed(cfg.hidden)):
        shapes += [(f"dec{i}.W", (fan_in, h)), (f"dec{i}.b", (h,))]
        fan_in = h
    shapes += [("out.W", (fan_in, cfg.input_dim)), ("out.b", (cfg.input_dim,))]
    if losses.likelihood(cfg.likelihood).learns_variance:
        shapes += [("out_logvar.W", (fan_in, cfg.input_dim)), ("out_logvar.b", (cfg.input_dim,))]
    return shapes


def reparameterize(mean, logvar, eps):
    """z = mean + std·eps with std = exp(logvar/2): a sample of N(mean, exp(logvar)) that is differentiable
    in mean and logvar. Returns (z, std); all (N, L), NumPy or CuPy."""
    std = xp_of(mean).exp(0.5 * logvar)
    return mean + std * eps, std


class Model:
    """An AE or VAE. ``forward_backward`` fills ``grads``; ``encode``/``decode`` serve the GUI."""

    def __init__(self, config: ModelConfig, seed: int = 0, device: str = "cpu"):
        self.config = config.validate()
        self.device = device
        self.xp = get_xp(device)
        self.dtype = np.dtype(config.dtype)
        self.likelihood = losses.likelihood(config.likelihood)
        self.shapes = param_shapes(config)
        total = sum(int(np.prod(s)) for _, s in self.shapes)
        self.flat = self.xp.zeros(total, dtype=self.dtype)
        self.grad_flat = self.xp.zeros(total, dtype=self.dtype)
        self.params: dict = {}
        self.grads: dict = {}
        offset = 0
        for name, shape in self.shapes:
            size = int(np.prod(shape))
            self.params[name] = self.flat[offset : offset + size].reshape(shape)
            self.grads[name] = self.grad_flat[offset : offset + size].reshape(shape)
            offset += size
        self.step = 0  # optimiser steps trained so far
        self.noise_rng = np.random.default_rng(seed)  # draws the VAE's eps during training
        self._init_weights(np.random.default_rng(seed))
        self._input_centre = None if config.input_centre is None else self.asarray(config.input_centre)

    # ---------------------------------------------------------------- parameters
    @property
    def is_vae(self) -> bool:
        return self.config.kind == "vae"

    @property
    def n_params(self) -> int:
        return int(self.flat.size)

    def _init_weights(self, rng: np.random.Generator) -> None:
        """Normal weights scaled by ``init_variance``, zero biases; ``init='torch'``: U(±1/√fan_in) for both."""
        fan_in = self.config.input_dim
        for name, shape in self.shapes:
            fan_in = shape[0] if name.endswith(".W") else fan_in  # a bias follows its weight matrix
            if self.config.init == "torch":
                bound = 1.0 / np.sqrt(fan_in)
                self.params[name][...] = self.xp.asarray(rng.uniform(-bound, bound, shape), dtype=self.dtype)
            elif name.endswith(".W"):
                w = rng.standard_normal(shape) * np.sqrt(self._init_variance(name, shape))
                self.params[name][...] = self.xp.asarray(w, dtype=self.dtype)

    def _init_variance(self, name: str, shape: tuple[int, int]) -> float:
        """He 2/fan_in or Glorot 2/(fan_in + fan_out) for the hidden stacks (ModelConfig.init_scheme), 1/fan_in
        for the code or mean head, 0.01/fan_in for the log-variance heads (they start near variance 1)."""
        layer = name.split(".")[0]
        if layer.startswith(("enc", "dec")):
            scheme = self.config.init_scheme(layer[:3])
            return 2.0 / shape[0] if scheme == "he" else 2.0 / (shape[0] + shape[1])
        return 0.01 / shape[0] if layer in ("logvar", "out_logvar") else 1.0 / shape[0]

    def set_input_centre(self, centre) -> None:
        """The first layer sees x − centre from now on ((D,), the mean training image): why, docs/RESULTS.md."""
        self.config.input_centre = np.asarray(to_numpy(centre), dtype=np.float64).reshape(-1).tolist()
        self.config.validate()
        self._input_centre = self.asarray(self.config.input_centre)

    def _activation(self, stack: str):
        """(forward, backward) of the 'enc' or 'dec' hidden stack's activation (layers.activation_layer)."""
        return activation_layer(getattr(self.config, f"{stack}_activation"), self.config.leaky_slope)

    def set_params(self, arrays: dict) -> None:
        """Copy ``{name: array}`` into the model, checking names and shapes first."""
        expected = dict(self.shapes)
        missing = [n for n in expected if n not in arrays]
        if missing:
            raise ConfigError(f"missing parameter arrays: {', '.join(missing)}")
        extra = [n for n in arrays if n not in expected]
        if extra:
            raise ConfigError(f"unexpected parameter arrays: {', '.join(extra)}")
        for name, shape in self.shapes:
            got = tuple(np.shape(arrays[name]))
            if got != shape:
                raise ConfigError(f"parameter {name} has shape {got}, the config needs {shape}")
        for name, _ in self.shapes:
            self.params[name][...] = self.xp.asarray(arrays[name], dtype=self.dtype)

    def params_numpy(self) -> dict[str, np.ndarray]:
        """Host copies of every parameter."""
        return {name: to_numpy(p).copy() for name, p in self.params.items()}

    def copy(self, dtype: str | None = None, device: str | None = None) -> Model:
        """An independent model with the same weights (optionally another dtype or device)."""
        cfg = ModelConfig.from_dict({**self.config.to_dict(), **({"dtype": dtype} if dtype else {})})
        clone = Model(cfg, device=device or self.device)
        clone.flat[...] = clone.xp.asarray(to_numpy(self.flat), dtype=clone.dtype)
        clone.step = self.step
        clone.noise_rng = np.random.default_rng()
        clone.noise_rng.bit_generator.state = self.noise_rng.bit_generator.state
        return clone

    def asarray(self, x):
        """Move a batch to this model's device and dtype."""
        return self.xp.asarray(x, dtype=self.dtype)

    def draw_eps(self, n: int):
        """Standard normal noise (n, latent) from the model's own seeded generator."""
        return self.asarray(self.noise_rng.standard_normal((n, self.config.latent)))

    # ---------------------------------------------------------------- forward pieces
    def _encoder_forward(self, x, record: dict | None = None):
        x = x if self._input_centre is None else x - self._input_centre  # see set_input_centre
        return self._hidden_stack(x, "enc", record)

    def _hidden_stack(self, h, prefix: str, record: dict | None = None):
        """The hidden layers ``prefix``0… ('enc' or 'dec') on h: (last output, [(affine cache, activation
        cache)]). ``record`` (a dict, log steps only) receives each layer's pre-activation copy
        '{prefix}{i}.pre' and its output '{prefix}{i}'."""
        caches = []
        activation_forward = self._activation(prefix)[0]
        for i in range(len(self.config.hidden)):
            a, affine_cache = affine_forward(h, self.params[f"{prefix}{i}.W"], self.params[f"{prefix}{i}.b"])
            if record is not None:
                record[f"{prefix}{i}.pre"] = a.copy()  # the in-place activation overwrites a
            h, relu_cache = activation_forward(a, inplace=True)
            if record is not None:
                record[f"{prefix}{i}"] = h
            caches.append((affine_cache, relu_cache))
        return h, caches

    def _output_forward(self, d):
        """Output layer(s) on the last decoder hidden d: (logits, per-pixel logvar or None)."""
        recon_logits = matmul(d, self.params["out.W"])
        recon_logits += self.params["out.b"]
        recon_logvar = None
        if self.likelihood.learns_variance:
            recon_logvar = matmul(d, self.params["out_logvar.W"])
            recon_logvar += self.params["out_logvar.b"]
        return recon_logits, recon_logvar

    def _code_forward(self, h, record: dict | None = None):
        """AE code layer: (code, cache)."""
        code, cache = affine_forward(h, self.params["code.W"], self.params["code.b"])
        if self.config.code_activation == "relu":
            if record is not None:
                record["code.pre"] = code.copy()
            code, _ = relu_forward(code, inplace=True)
        if record is not None:
            record["code"] = code
        return code, cache

    def _heads_forward(self, h):
        """VAE Gaussian head: (mean, logvar, caches)."""
        mean, mean_cache = affine_forward(h, self.params["mean.W"], self.params["mean.b"])
        logvar, logvar_cache = affine_forward(h, self.params["logvar.W"], self.params["logvar.b"])
        return mean, logvar, (mean_cache, logvar_cache)

    def rec_nll(self, recon_logits, recon_logvar, x, per_pixel: bool = False):
        """Per-image reconstruction NLL in nats: (N,), or its (N, D) terms when per_pixel."""
        return self.likelihood.nll(recon_logits, recon_logvar, x, per_pixel)

    # ---------------------------------------------------------------- training pass
    def kl_weight_at(self, step: int) -> float:
        """β times the linear warm-up factor at a 0-based step."""
        cfg = self.config
        if cfg.warmup_steps > 0:
            return cfg.beta * min(1.0, (step + 1) / cfg.warmup_steps)
        return cfg.beta

    def forward_backward(self, x, eps=None, kl_weight: float | None = None, compute_loss: bool = True,
                         record: dict | None = None, trace: dict | None = None):
        """One forward and backward pass on a batch x: (N, D) already on the device.

        Fills ``self.grads`` with the gradient of the objective
        mean_n [rec_n + kl_weight·KL_n]. ``eps``: (N, latent) noise for the VAE (drawn from the
        model's generator when None). Returns per-image means {total, rec, kl, objective} and
        ``kl_per_dim`` (latent,) as floats when compute_loss, else None: the loss value costs
        extra passes and its gradient never needs it. ``record`` (a dict, for the inspector on log
        steps) receives the pass's activations: 'enc{i}.pre', 'enc{i}', 'mean', 'logvar' or 'code.pre',
        'code', 'dec{i}.pre', 'dec{i}', 'out' (the decoder's mean image, (N, D)). ``trace`` (a dict, for the
        opened step of core/step.py; never in training) receives every intermediate array of the pass: under
        'forward' the record's entries plus 'eps', 'std', 'z', 'logits', 'logvar_px', under 'backward' the
        error signals (``_backward``).
        """
        kl_weight = self.config.beta if kl_weight is None else kl_weight
        if trace is not None:
            record = trace.setdefault("forward", {})
        fwd = self._train_forward(x, eps, record)
        if trace is not None:  # copies: the backward pass overwrites the logits in place
            record.update({k: None if fwd.get(k) is None else fwd[k].copy()
                           for k in ("eps", "std", "z", "logits", "logvar_px")})
        result = self._batch_losses(fwd, x, kl_weight) if compute_loss else None
        self._backward(fwd, x, kl_weight, None if trace is None else trace.setdefault("backward", {}))
        return result

    def _train_forward(self, x, eps, record: dict | None) -> dict:
        """The forward pass of forward_backward: every array its backward needs, by name."""
        h, enc_caches = self._encoder_forward(x, record)
        fwd = {"enc_caches": enc_caches}
        if self.is_vae:
            mean, logvar, fwd["head_caches"] = self._heads_forward(h)
            eps = self.draw_eps(x.shape[0]) if eps is None else eps
            z, std = reparameterize(mean, logvar, eps)
            fwd.update(mean=mean, logvar=logvar, eps=eps, std=std)
            if record is not None:
                record.update(mean=mean, logvar=logvar)
        else:
            z, fwd["code_cache"] = self._code_forward(h, record)
        fwd["z"] = z
        d, fwd["dec_caches"] = self._hidden_stack(z, "dec", record)
        fwd["d"] = d
        fwd["logits"], fwd["logvar_px"] = self._output_forward(d)
        if record is not None:
            record["out"] = self.likelihood.mean(fwd["logits"])
        return fwd

    def _batch_losses(self, fwd: dict, x, kl_weight: float) -> dict:
        """Per-image means {total, rec, kl, objective, kl_per_dim} of a forward pass, as host floats."""
        rec_mean = float(self.rec_nll(fwd["logits"], fwd["logvar_px"], x).mean())
        if self.is_vae:
            kl_dims = losses.kl_per_dim(fwd["mean"], fwd["logvar"]).mean(axis=0)
            kl = float(kl_dims.sum())
            kl_dims = to_numpy(kl_dims).astype(np.float64)
        else:
            kl, kl_dims = 0.0, np.zeros(self.config.latent)
        return {"total": rec_mean + kl, "rec": rec_mean, "kl": kl, "objective": rec_mean + kl_weight * kl,
                "kl_per_dim": kl_dims}

    def _backward(self, fwd: dict, x, kl_weight: float, trace: dict | None = None) -> None:
        """d(objective)/d(every parameter) into self.grads; the 1/N of the batch mean is folded in here.
        ``trace`` (a dict, see forward_backward) receives copies of the error signals, each ∂objective/∂
        (that array): 'logits', 'logvar_px', 'dec{i}' (a hidden output) and 'dec{i}.pre', 'z', for a VAE
        'mean.rec', 'mean.kl', 'logvar.rec', 'logvar.kl' (the two parts of each head's signal), for an AE
        'code.pre', then 'h' (the last encoder output), 'enc{i}', 'enc{i}.pre'."""
        keep = _tracer(trace)
        g, inv_n, d_last = self.grads, 1.0 / x.shape[0], fwd["d"]
        dlogits, dlogvar_px = self.likelihood.grad(fwd["logits"], fwd["logvar_px"], x)  # may overwrite the logits
        if dlogvar_px is not None:
            dlogvar_px *= inv_n
            keep("logvar_px", dlogvar_px)
            affine_backward(dlogvar_px, (d_last, self.params["out_logvar.W"]), g["out_logvar.W"],
                            g["out_logvar.b"], need_dx=False)
        dlogits *= inv_n
        keep("logits", dlogits)
        dd, _, _ = affine_backward(dlogits, (d_last, self.params["out.W"]), g["out.W"], g["out.b"])
        if dlogvar_px is not None:
            dd += matmul(dlogvar_px, self.params["out_logvar.W"].T)
        dz = self._hidden_stack_backward(dd, fwd["dec_caches"], "dec", keep)
        keep("z", dz)
        if self.is_vae:
            dkl_mean, dkl_logvar = losses.kl_grad(fwd["mean"], fwd["logvar"])
            w = kl_weight * inv_n
            dmean_kl, dlogvar_kl = w * dkl_mean, w * dkl_logvar
            dlogvar_rec = dz * fwd["eps"] * (0.5 * fwd["std"])  # the path through σ: ∂z/∂logvar = ε·σ/2
            keep("mean.rec", dz), keep("mean.kl", dmean_kl)
            keep("logvar.rec", dlogvar_rec), keep("logvar.kl", dlogvar_kl)
            dmean = dz + dmean_kl
            dlogvar = dlogvar_rec + dlogvar_kl
            head_caches = fwd["head_caches"]
            dh, _, _ = affine_backward(dmean, head_caches[0], g["mean.W"], g["mean.b"])
            dh2, _, _ = affine_backward(dlogvar, head_caches[1], g["logvar.W"], g["logvar.b"])
            dh += dh2
        else:
            if self.config.code_activation == "relu":
                dz = relu_backward(dz, fwd["z"], inplace=True)
            keep("code.pre", dz)
            dh, _, _ = affine_backward(dz, fwd["code_cache"], g["code.W"], g["code.b"])
        keep("h", dh)
        self._hidden_stack_backward(dh, fwd["enc_caches"], "enc", keep)

    def _hidden_stack_backward(self, dout, caches: list, prefix: str, keep=None):
        """Backward through the hidden layers ``prefix``0…: gradients into self.grads, returns d(input)
        (None for the encoder, whose input is the data). ``keep(name, array)`` (a trace) receives the signal
        at each layer's output '{prefix}{i}' and pre-activation '{prefix}{i}.pre'."""
        g, activation_backward = self.grads, self._activation(prefix)[1]
        for i in reversed(range(len(caches))):
            affine_cache, relu_cache = caches[i]
            if keep is not None:
                keep(f"{prefix}{i}", dout)
            dout = activation_backward(dout, relu_cache, inplace=True)
            if keep is not None:
                keep(f"{prefix}{i}.pre", dout)
            dout, _, _ = affine_backward(dout, affine_cache, g[f"{prefix}{i}.W"], g[f"{prefix}{i}.b"],
                                         need_dx=i > 0 or prefix != "enc")
        return dout

    def objective(self, x, eps=None, kl_weight: float | None = None) -> float:
        """mean_n [rec_n + kl_weight·KL_n] without a backward pass."""
        rec, kl_dims = self.per_image_losses(x, eps)
        w = self.config.beta if kl_weight is None else kl_weight
        return float((rec + w * kl_dims.sum(axis=1)).mean())

    # ---------------------------------------------------------------- inference
    def per_image_losses(self, x, eps=None, per_pixel: bool = False):
        """Forward only. Returns (rec (N,), kl_per_dim (N, latent)) on the device; for a VAE,
        z = mean + std·eps (eps from the model's generator when None). ``per_pixel`` gives
        rec as (N, 560) terms."""
        h, _ = self._encoder_forward(x)
        if self.is_vae:
            mean, logvar, _ = self._heads_forward(h)
            z, _ = reparameterize(mean, logvar, self.draw_eps(x.shape[0]) if eps is None else eps)
            kl_dims = losses.kl_per_dim(mean, logvar)
        else:
            z, _ = self._code_forward(h)
            kl_dims = self.xp.zeros((x.shape[0], self.config.latent), dtype=self.dtype)
        recon_logits, recon_logvar = self._output_forward(self._hidden_stack(z, "dec")[0])
        return self.rec_nll(recon_logits, recon_logvar, x, per_pixel), kl_dims

    def encode(self, x):
        """x: (N, 560) -> (mean (N, L), logvar (N, L)) for a VAE, (code, None) for an AE."""
        h, _ = self._encoder_forward(self.asarray(x))
        if self.is_vae:
            mean, logvar, _ = self._heads_forward(h)
            return mean, logvar
        code, _ = self._code_forward(h)
        return code, None

    def decoder_outputs(self, z):
        """z: (N, L) -> (logits (N, D), per-pixel logvar (N, D) or None): what the likelihood reads."""
        return self._output_forward(self._hidden_stack(self.asarray(z), "dec")[0])

    def decode(self, z):
        """z: (N, L) -> mean images (N, D) in [0, 1] (the decoder's sigmoid output)."""
        return self.likelihood.mean(self.decoder_outputs(z)[0])

    def reconstruct(self, x, sample: bool = False, rng: np.random.Generator | None = None):
        """Decode the posterior mean (or a sample when ``sample``) of each row of x."""
        mean, logvar = self.encode(x)
        if sample and self.is_vae:
            rng = rng or np.random.default_rng()
            mean, _ = reparameterize(mean, logvar, self.asarray(rng.standard_normal(mean.shape)))
        return self.decode(mean)


def _tracer(trace: dict | None):
    """keep(name, array): a copy of the array into ``trace`` (the in-place backward overwrites it later);
    a no-op without a trace, so training pays one call per signal and no copy."""
    if trace is None:
        return lambda _name, _array: None
    return lambda name, array: trace.__setitem__(name, array.copy())


def folded(model: Model) -> Model:
    """A copy of ``model`` that computes the same function without an input centre: enc0.b − centre·enc0.W
    (in float64) and input_centre None, i.e. the plain layout the assignment's models have."""
    clone = model.copy()
    if model.config.input_centre is not None:
        W = to_numpy(model.params["enc0.W"]).astype(np.float64)
        b = to_numpy(model.params["enc0.b"]).astype(np.float64) - np.asarray(model.config.input_centre) @ W
        clone.params["enc0.b"][...] = clone.asarray(b)
        clone.config.input_centre = None
        clone._input_centre = None
    return clone
