"""Backprop inspector: per-layer statistics of a model's activations, gradients and updates.

While training, ``Inspector`` reads the arrays the trainer's own pass recorded on a log step
(``Model.forward_backward(record=...)``: no second forward pass) and returns one *snapshot*, a dict of
plain NumPy arrays and floats::

    {"step", "source" ('training' | 'data set'), "images" (how many images the dead/rare counts cover),
     "layers": [{"name", "kind" ('relu' | 'linear' | 'sigmoid'), "units", "act_mean", "act_std",
                 "pre_values", "post_values" (samples of the activation's input and output, or None: see
                 ``layer_histograms``), "dead", "rare", "never_on", "unit_active" (units,) images each unit
                 passed gradient on,
                 "active_share", "saturated",
                 "weight_norm", "grad_norm", "update_ratio"}, ...],
     "kl_per_unit" (L,) | None, "active_units", "sigma_per_unit" (L,) | None, "diagnoses" [str],
     "weights" {layer: W} (only with keep_weights)}

Layers are named as the model file names their parameters (``enc0`` for ``enc0.W``/``enc0.b``); norms and
the update/weight ratio ‖ΔW‖/‖W‖ are of the layer's weight matrix. A hidden unit is *dead* when its activation
passes no gradient (derivative < 1e-3) for any image seen: for ReLU, when its input is ≤ 0 for every image;
*rare* when it passes gradient for fewer than 1 % of them; ``never_on`` counts units whose input is ≤ 0 for every
image whatever the activation (for ReLU the same as dead) — the definitions of tools/unit_usage.py.
During training "every image seen" means the batches of the last ``window`` log steps; ``inspect_model``
counts over a whole data set.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

from .backend import to_numpy
from .evaluate import ACTIVE_UNIT_THRESHOLD
from .layers import activation_layer
from .models import Model

RARE_SHARE = 0.01  # active on fewer than 1 % of the images
SATURATED_P = 0.01  # a sigmoid output below 0.01 or above 0.99 is saturated
RATIO_HIGH = 1e-1  # update/weight ratio above this: the learning rate is probably too high
RATIO_LOW = 1e-5  # below this: probably too low (cs231n's rule of thumb is ~1e-3)
GRAD_TINY = 1e-7  # ‖∇W‖/‖W‖ below this: the layer gets no gradient to speak of (healthy layers: 1e-2…1e2)
SATURATED_WARN = 0.25  # share of saturated decoder outputs worth a word
HIST_BINS = 40
HIST_VALUES = 4096  # a training histogram takes the first ⌈4096/units⌉ images of the (shuffled) batch


def _slope(model: Model) -> float:
    return float(getattr(model.config, "leaky_slope", 0.01))


def layer_names(model: Model) -> list[str]:
    """Every affine layer in forward order: enc0…, mean/logvar or code, dec0…, out (, out_logvar)."""
    return [name[:-2] for name, _ in model.shapes if name.endswith(".W")]


DEAD_DERIVATIVE = 1e-3  # an activation derivative below this passes no useful gradient (tools/unit_usage.py's)
NOT_HIDDEN = ("linear", "sigmoid")  # the heads and the output: no hidden units to die


def gate_open(kind: str, pre: np.ndarray, slope: float) -> np.ndarray:
    """Where a hidden unit passes gradient: its activation's derivative at ``pre`` is ≥ 1e-3 (bool, pre's shape).
    ReLU: pre > 0 (the issue's definition); leaky ReLU never closes; elu and softplus close below ≈ −6.9, tanh
    beyond |pre| ≈ 4.1. Taken from the layer's own backward, as tools/unit_usage.py does."""
    if kind == "relu":
        return pre > 0
    forward, backward = activation_layer(kind, slope)
    _, cache = forward(pre.copy())
    return backward(np.ones_like(pre), cache) >= DEAD_DERIVATIVE


def layer_kind(model: Model, layer: str) -> str:
    """The layer's nonlinearity: the hidden stacks' activation (ReLU unless the config names another),
    'relu' for a ReLU code, 'sigmoid' for the decoder output, else 'linear'."""
    cfg = model.config
    if layer.startswith("enc"):
        return getattr(cfg, "enc_activation", "relu")
    if layer.startswith("dec"):
        return getattr(cfg, "dec_activation", "relu")
    if layer == "code" and cfg.code_activation == "relu":
        return "relu"
    return "sigmoid" if layer == "out" else "linear"


def _norm(a) -> float:
    """Frobenius norm as one BLAS dot of the flattened array (no temporary of a's size)."""
    flat = to_numpy(a).ravel()
    return math.sqrt(float(np.dot(flat, flat)))


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(counts (bins,), edges (bins + 1,)) of the finite values over their own range: equal bins, the last one
    closed, as np.histogram's; one bincount of the bin indices (2.2x faster than np.histogram on 64×256
    float32, measured), the index rounding of values on an edge corrected as np.histogram does."""
    flat = np.asarray(values).ravel()
    if flat.size and not (np.isfinite(flat.min()) and np.isfinite(flat.max())):
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return np.zeros(bins, dtype=np.int64), np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(flat.min()), float(flat.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    # edges in the values' own float type, as np.histogram makes them: the corrections below compare against them
    edges = np.linspace(lo, hi, bins + 1, dtype=flat.dtype if flat.dtype.kind == "f" else np.float64)
    idx = ((flat - lo) * (bins / (hi - lo))).astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    # a value just below (above) an edge may round into the next (previous) bin: move it back
    idx -= flat < edges[idx]
    idx += (flat >= edges[idx + 1]) & (idx < bins - 1)
    return np.bincount(idx, minlength=bins), edges


def layer_histograms(row: dict, bins: int = HIST_BINS) -> tuple[tuple | None, tuple | None]:
    """(counts, edges) of a snapshot row's activation input and output samples (None where it has none)."""
    return tuple(None if row.get(key) is None else histogram(row[key], bins)  # type: ignore[return-value]
                 for key in ("pre_values", "post_values"))


def _mean_std(a: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all entries, from the sum and one BLAS dot (float64 result)."""
    flat = a.ravel()
    mean = float(flat.sum(dtype=np.float64)) / flat.size
    return mean, math.sqrt(max(float(np.dot(flat, flat)) / flat.size - mean * mean, 0.0))


def _activations(record: dict, layer: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(input of the nonlinearity, its output) of a layer as host arrays; a linear layer has only the first."""
    if layer == "out":
        probs = record.get("out")
        return None, (None if probs is None else to_numpy(probs))
    pre, post = record.get(f"{layer}.pre"), record.get(layer)
    if pre is None:  # a linear layer records its output under its name
        return (None if post is None else to_numpy(post)), None
    return to_numpy(pre), to_numpy(post)


def activation_stats(kind: str, pre: np.ndarray | None, post: np.ndarray | None, slope: float = 0.01) -> dict:
    """Mean/std of what the layer passes on, samples for its histograms, and for a ReLU the per-unit active
    counts (units,). The samples are views of the first rows of the pass's own arrays (fresh each step): the
    histograms are binned by whoever draws them (``layer_histograms``), not on the training thread."""
    shown = post if post is not None else pre
    out = {"act_mean": None, "act_std": None, "pre_values": None, "post_values": None, "active": None, "on": None,
           "active_share": None, "saturated": None}
    if shown is None:
        return out
    out["act_mean"], out["act_std"] = _mean_std(shown)
    rows = max(1, -(-HIST_VALUES // shown.shape[1]))  # a random sample of the batch: its rows are shuffled
    out["pre_values"] = None if pre is None else pre[:rows]
    out["post_values"] = None if post is None else post[:rows]
    if kind not in NOT_HIDDEN and pre is not None:
        out["active"] = np.count_nonzero(gate_open(kind, pre, slope), axis=0)  # per unit: images it passes
        out["on"] = out["active"] if kind == "relu" else np.count_nonzero(pre > 0, axis=0)  # images with input > 0
        out["active_share"] = float(out["active"].sum()) / pre.size  # of (image, unit) pairs: the gate is open
    if kind == "sigmoid" and post is not None:
        out["saturated"] = float(np.mean((post < SATURATED_P) | (post > 1.0 - SATURATED_P)))
    return out


def latent_stats(record: dict) -> dict:
    """KL per unit (L,) averaged over the batch, active units (posterior-mean variance > 0.01, as in
    core.evaluate), mean posterior σ per unit; all None for an AE."""
    if "mean" not in record or "logvar" not in record:
        return {"kl_per_unit": None, "active_units": None, "sigma_per_unit": None}
    mean = to_numpy(record["mean"]).astype(np.float64)
    logvar = to_numpy(record["logvar"]).astype(np.float64)
    kl = 0.5 * (mean**2 + np.exp(logvar) - 1.0 - logvar)
    return {"kl_per_unit": kl.mean(axis=0), "active_units": int((mean.var(axis=0) > ACTIVE_UNIT_THRESHOLD).sum()),
            "sigma_per_unit": np.exp(0.5 * logvar).mean(axis=0)}


def dead_and_rare(active: np.ndarray, n_images: int) -> tuple[int, int]:
    """From per-unit active counts over n_images: (dead: never active, rare: active on < 1 % but not dead)."""
    dead = int(np.count_nonzero(active == 0))
    rare = int(np.count_nonzero((active > 0) & (active < RARE_SHARE * n_images)))
    return dead, rare


def _layer_row(model: Model, layer: str, stats: dict) -> dict:
    W = model.params[f"{layer}.W"]
    row = {"name": layer, "kind": layer_kind(model, layer), "units": int(W.shape[1]),
           "weight_norm": _norm(W), "grad_norm": None, "update_ratio": None, "dead": None, "rare": None,
           "unit_active": None, "never_on": None}
    row.update({k: v for k, v in stats.items() if k not in ("active", "on")})
    return row


class _WindowSum:
    """The running sum of the last ``size`` arrays added (one add and at most one subtract per step, instead of
    summing the whole window again on every log step)."""

    def __init__(self, size: int):
        self._items: deque = deque()
        self.size = size
        self.total = None

    def add(self, item: np.ndarray) -> None:
        self._items.append(item)
        self.total = item.copy() if self.total is None else self.total + item
        if len(self._items) > self.size:
            self.total -= self._items.popleft()


class Inspector:
    """Statistics on the trainer's log steps: ``before_update(model, record)`` right after the log step's
    forward/backward (its gradient, its activations, θ before the step), ``after_update(model)`` after the
    optimiser step returns the snapshot. Costs a few copies of batch-sized arrays and one of θ per log step."""

    def __init__(self, window: int = 20, keep_weights: bool = False, weights_every_s: float = 0.2):
        self.window, self.keep_weights = int(window), bool(keep_weights)
        # θ is copied for the weight images at most this often (the tab draws 4 times a second); the snapshots
        # in between carry the last copy, never a view of the training weights
        self.weights_every_s = float(weights_every_s)
        self._weights: dict | None = None
        self._weights_time = -math.inf
        self._active: dict[str, _WindowSum] = {}  # per hidden layer: (active, on) counts per unit
        self._images = _WindowSum(self.window)
        self._theta: np.ndarray | None = None
        self._pending: dict | None = None

    def before_update(self, model: Model, record: dict) -> None:
        rows, batch = [], 0
        for layer in layer_names(model):
            pre, post = _activations(record, layer)
            stats = activation_stats(layer_kind(model, layer), pre, post, _slope(model))
            batch = max(batch, len(pre) if pre is not None else len(post) if post is not None else 0)
            if stats["active"] is not None:
                self._active.setdefault(layer, _WindowSum(self.window)).add(np.stack([stats["active"], stats["on"]]))
            row = _layer_row(model, layer, stats)
            row["grad_norm"] = _norm(model.grads[f"{layer}.W"])
            rows.append(row)
        self._images.add(np.array(batch))
        if self._theta is None or self._theta.shape != model.flat.shape:
            self._theta = np.empty(model.flat.shape, dtype=model.flat.dtype)
        self._theta[...] = to_numpy(model.flat)
        self._pending = {"rows": rows, "latent": latent_stats(record)}

    def after_update(self, model: Model) -> dict:
        if self._pending is None:
            raise RuntimeError("after_update needs a before_update on the same step")
        rows, latent = self._pending["rows"], self._pending["latent"]
        self._pending = None
        flat = to_numpy(model.flat)
        delta = np.subtract(flat, self._theta, out=self._theta)  # θ before the step is not needed after this
        images = int(self._images.total)
        slices = _weight_slices(model)
        for row, (start, stop) in zip(rows, slices, strict=True):
            row["update_ratio"] = _norm(delta[start:stop]) / max(row["weight_norm"], 1e-30)
            if row["name"] in self._active:
                active, on = self._active[row["name"]].total
                row["unit_active"] = active.copy()
                row["dead"], row["rare"] = dead_and_rare(active, images)
                row["never_on"] = int(np.count_nonzero(on == 0))
        snap = {"step": int(model.step), "source": "training", "images": images, "layers": rows, **latent}
        snap["diagnoses"] = diagnose(snap)
        if self.keep_weights:
            now = time.monotonic()
            if self._weights is None or now - self._weights_time >= self.weights_every_s:
                copy = flat.copy()  # one copy of θ, the layers' W as views of it
                self._weights = {row["name"]: copy[a:b].reshape(model.params[f"{row['name']}.W"].shape)
                                 for row, (a, b) in zip(rows, slices, strict=True)}
                self._weights_time = now
            snap["weights"] = self._weights
        return snap


def _weight_slices(model: Model) -> list[tuple[int, int]]:
    """(start, stop) of every layer's W inside the flat parameter vector, in layer order."""
    slices, offset = [], 0
    for name, shape in model.shapes:
        size = math.prod(shape)  # np.prod costs ~15 µs a call: this runs on every log step
        if name.endswith(".W"):
            slices.append((offset, offset + size))
        offset += size
    return slices


def _sci(x: float) -> str:
    """One significant digit, exponent without padding: 0.3 -> '3e-1'."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _ratio_findings(row: dict) -> list[str]:
    """The update/weight ratio in words; a layer whose gradient has all but vanished is not the learning
    rate's fault (a dead layer next to it passes no gradient), so it is named as such instead."""
    ratio, name = row.get("update_ratio"), row["name"]
    grad, weight = row.get("grad_norm"), row.get("weight_norm")
    if grad is not None and weight and grad < GRAD_TINY * weight:
        return [f"{name}.W gets almost no gradient (‖∇W‖/‖W‖ = {_sci(grad / weight)}): it has stopped learning"]
    if ratio is not None and ratio > RATIO_HIGH:
        return [f"update/weight ratio of {name}.W is {_sci(ratio)}: learning rate probably too high"]
    if ratio is not None and 0 < ratio < RATIO_LOW:
        return [f"update/weight ratio of {name}.W is {_sci(ratio)}: learning rate probably too low"]
    return []


def diagnose(snap: dict) -> list[str]:
    """Clear-cut findings in words; an empty list when nothing stands out."""
    if snap["source"] == "data set":
        never, seen = "any face", f"the {snap['images']} faces"
    else:
        never = seen = f"the last {snap['images']} training images"
    found = []
    for row in snap["layers"]:
        relu = row.get("kind", "relu") == "relu"
        if row["dead"]:
            why = f"never active on {never}" if relu else f"their {row['kind']} passes no gradient for {never}"
            found.append(f"{row['name']}: {row['dead']} of {row['units']} units are dead ({why})")
        if row["rare"]:
            found.append(f"{row['name']}: {row['rare']} of {row['units']} units are rarely active "
                         f"(on < 1 % of {seen})")
        if not relu and (row.get("never_on") or 0) > (row["dead"] or 0):
            found.append(f"{row['name']}: {row['never_on']} of {row['units']} {row['kind']} units never have an input "
                         f"> 0 on {never} (they still pass gradient)")
        found += _ratio_findings(row)
        if row["saturated"] is not None and row["saturated"] > SATURATED_WARN:
            found.append(f"{row['name']}: {100 * row['saturated']:.0f} % of the decoder's sigmoid outputs are "
                         f"saturated (< {SATURATED_P} or > {1 - SATURATED_P})")
    kl = snap.get("kl_per_unit")
    if kl is not None and snap["active_units"] is not None:
        inactive = len(kl) - snap["active_units"]
        if inactive:
            collapse = " (posterior collapse)" if inactive >= len(kl) / 2 else ""
            found.append(f"{inactive} of {len(kl)} latent units are inactive{collapse}")
    return found


class _DataSetTotals:
    """Per-layer sums over the chunks of a data set: active counts, moments, histogram samples, saturation."""

    def __init__(self, model: Model, hist_images: int):
        self.model, self.hist_images = model, hist_images
        self.n = 0
        self.sums: dict[str, dict] = {}
        self.latent: dict[str, list] = {"mean": [], "logvar": []}

    def add(self, record: dict) -> None:
        for layer in layer_names(self.model):
            pre, post = _activations(record, layer)
            shown = post if post is not None else pre
            if shown is None:
                continue
            s = self.sums.setdefault(layer, {"sum": 0.0, "sumsq": 0.0, "count": 0, "active": 0, "on": 0,
                                             "saturated": 0, "pre": [], "post": []})
            shown64 = shown.astype(np.float64)
            s["sum"] += float(shown64.sum())
            s["sumsq"] += float(np.dot(shown64.ravel(), shown64.ravel()))
            s["count"] += shown.size
            kind = layer_kind(self.model, layer)
            if kind not in NOT_HIDDEN and pre is not None:
                s["active"] = s["active"] + np.count_nonzero(gate_open(kind, pre, _slope(self.model)), axis=0)
                s["on"] = s["on"] + np.count_nonzero(pre > 0, axis=0)
            if layer == "out":
                s["saturated"] += int(np.count_nonzero((post < SATURATED_P) | (post > 1.0 - SATURATED_P)))
            if self.n < self.hist_images:
                keep = self.hist_images - self.n
                s["pre"] += [] if pre is None else [pre[:keep]]
                s["post"] += [] if post is None else [post[:keep]]
        for key in self.latent:
            if key in record:
                self.latent[key].append(to_numpy(record[key]).astype(np.float64))
        self.n += len(next(iter(record.values())))

    def layer_stats(self, layer: str) -> dict:
        s = self.sums.get(layer)
        if s is None:
            return activation_stats(layer_kind(self.model, layer), None, None)
        mean = s["sum"] / s["count"]
        out = {"act_mean": mean, "act_std": math.sqrt(max(s["sumsq"] / s["count"] - mean * mean, 0.0)),
               "pre_values": np.concatenate(s["pre"]) if s["pre"] else None,
               "post_values": np.concatenate(s["post"]) if s["post"] else None,
               "saturated": s["saturated"] / s["count"] if layer == "out" else None, "active_share": None}
        if layer_kind(self.model, layer) not in NOT_HIDDEN and s["pre"]:
            out["unit_active"] = np.asarray(s["active"])
            out["never_on"] = int(np.count_nonzero(np.asarray(s["on"]) == 0))
            out["dead"], out["rare"] = dead_and_rare(out["unit_active"], self.n)
            out["active_share"] = float(np.sum(s["active"])) / (self.n * np.size(s["active"]))
        return out

    def latent_record(self) -> dict:
        return {k: np.concatenate(v) for k, v in self.latent.items() if v}


def _record_pass(model: Model, x: np.ndarray, eps) -> dict:
    """One forward/backward of ``model`` on x, returning what it recorded (and leaving its gradient)."""
    record: dict = {}
    model.forward_backward(model.asarray(x), eps=eps, compute_loss=False, record=record)
    return record


def inspect_model(model: Model, X: np.ndarray, chunk: int = 512, grad_batch: int = 128, seed: int = 0,
                  hist_images: int = 4096, keep_weights: bool = False) -> dict:
    """A snapshot (see the module docstring) of ``model`` over the whole data set X (N, 560), in chunks.

    Activations, dead/rare units, saturation, KL per unit and σ come from the deterministic pass (z = the
    posterior mean); the gradient norms from one seeded batch of ``grad_batch`` images with z sampled as in
    training. Works on a copy, so the caller's model (and its gradient buffer) is untouched."""
    if len(X) == 0:
        raise ValueError("inspect needs at least one image")
    work = model.copy()
    totals = _DataSetTotals(work, hist_images)
    for start in range(0, len(X), chunk):
        xb = X[start : start + chunk]
        zeros = work.asarray(np.zeros((len(xb), work.config.latent))) if work.is_vae else None
        totals.add(_record_pass(work, xb, zeros))
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(X), size=min(grad_batch, len(X)), replace=False))
    eps = work.asarray(rng.standard_normal((len(idx), work.config.latent))) if work.is_vae else None
    _record_pass(work, X[idx], eps)
    rows = []
    for layer in layer_names(work):
        row = _layer_row(work, layer, totals.layer_stats(layer))
        row["grad_norm"] = _norm(work.grads[f"{layer}.W"])
        rows.append(row)
    snap = {"step": int(model.step), "source": "data set", "images": int(len(X)), "layers": rows,
            **latent_stats(totals.latent_record())}
    snap["diagnoses"] = diagnose(snap) + subnormal_weights(work)
    if keep_weights:
        snap["weights"] = {layer: to_numpy(work.params[f"{layer}.W"]).copy() for layer in layer_names(work)}
    return snap


def subnormal_weights(model: Model) -> list[str]:
    """Weights so small that the CPU stores them as subnormal floats: every matrix product touching them runs
    far slower (x @ enc0.W of model/vae_gauss.npz on 512 faces: 48 ms, 1.1 ms with them set to 0; measured).
    One line naming every layer that has them, or none."""
    tiny = np.finfo(model.dtype).tiny
    counts = []
    for layer in layer_names(model):
        W = to_numpy(model.params[f"{layer}.W"])
        count = int(np.count_nonzero((W != 0) & (np.abs(W) < tiny)))
        if count:
            counts.append(f"{count} of {layer}.W")
    if not counts:
        return []
    return [f"subnormal weights (|w| < {tiny:.1e}): {', '.join(counts)}; they make matrix products many times "
            f"slower, and setting them to 0 removes that"]


JSON_LAYER_KEYS = ("name", "units", "dead", "rare", "act_mean", "act_std", "weight_norm", "grad_norm",
                   "update_ratio", "saturated", "active_share", "never_on")


def _plain(v):
    """A JSON value: None, str, bool, int, or a finite float (non-finite becomes None)."""
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v) if math.isfinite(float(v)) else None


def _plain_vector(a) -> list | None:
    return None if a is None else [_plain(v) for v in a]


def snapshot_json(snap: dict) -> dict:
    """The snapshot's numbers as JSON-ready Python values (histograms and weights left out):
    {"layers": [{"name", "units", "dead", "rare", "act_mean", "act_std", "weight_norm", "grad_norm", ...}],
     "kl_per_unit": [...], ...}."""
    layers = [{k: _plain(row.get(k)) for k in JSON_LAYER_KEYS} for row in snap["layers"]]
    return {"step": snap["step"], "source": snap["source"], "images": snap["images"], "layers": layers,
            "kl_per_unit": _plain_vector(snap.get("kl_per_unit")), "active_units": snap.get("active_units"),
            "sigma_per_unit": _plain_vector(snap.get("sigma_per_unit")), "diagnoses": list(snap.get("diagnoses", []))}


class SnapshotHistory:
    """The numbers of successive training snapshots over time, for plots: ``steps`` (T,), ``ratios``
    {layer: (T,)}, ``kl`` (T, L) or None, ``active`` (T,). Keeps at most ``capacity`` steps: when full, every
    other old step is dropped, so a long run still spans its whole length."""

    def __init__(self, capacity: int = 2000):
        self.capacity = int(capacity)
        self.clear()

    def clear(self) -> None:
        self._steps: list[int] = []
        self._ratios: dict[str, list[float]] = {}
        self._kl: list[np.ndarray] = []
        self._active: list[int] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, snap: dict) -> None:
        if self._steps and snap["step"] <= self._steps[-1]:  # a new run started over: its own history
            self.clear()
        self._steps.append(int(snap["step"]))
        for row in snap["layers"]:
            ratio = row.get("update_ratio")
            self._ratios.setdefault(row["name"], []).append(np.nan if ratio is None else float(ratio))
        if snap.get("kl_per_unit") is not None:
            self._kl.append(np.asarray(snap["kl_per_unit"], dtype=np.float64))
            self._active.append(int(snap["active_units"]))
        if len(self._steps) > self.capacity:
            self._thin()

    def _thin(self) -> None:
        keep = slice(None, None, 2)
        self._steps = self._steps[keep]
        self._ratios = {k: v[keep] for k, v in self._ratios.items()}
        self._kl, self._active = self._kl[keep], self._active[keep]

    @property
    def steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.float64)

    def ratios(self, layer: str) -> np.ndarray:
        return np.asarray(self._ratios.get(layer, []), dtype=np.float64)

    @property
    def layers(self) -> list[str]:
        return list(self._ratios)

    @property
    def kl(self) -> np.ndarray | None:
        """(T, L) KL per unit per logged step, or None for an AE / no history."""
        return np.stack(self._kl) if self._kl else None

    @property
    def active(self) -> np.ndarray:
        return np.asarray(self._active, dtype=np.float64)


def weight_image(W: np.ndarray, layer: str, image_shape: tuple[int, int],
                 order: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """A layer's weight matrix W (fan_in, fan_out) as one grey image in [0, 1] (0.5 = zero weight), and a caption.

    A layer that reads the pixels (enc0) shows each unit's input weights as a face, one that writes them
    (out, out_logvar) each unit's output weights; each face is scaled to its own largest |w|, so the
    pattern shows, not the size. Any other layer shows W.T (units × inputs) scaled to the largest |w|."""
    from .images import tile

    W = np.asarray(W, dtype=np.float64)
    h, w = image_shape
    pixels = h * w
    faces = W.T if W.shape[0] == pixels else W if W.shape[1] == pixels else None
    if faces is None:
        scale = max(float(np.abs(W).max()), 1e-30)
        return 0.5 + 0.5 * W.T / scale, (f"{layer}.W as units × inputs ({W.shape[1]} × {W.shape[0]}): "
                                         f"grey 0, white +{scale:.2g}, black −{scale:.2g}")
    if order is not None:  # e.g. the units by how often they fire
        faces = faces[np.asarray(order)]
    scale = np.maximum(np.abs(faces).max(axis=1, keepdims=True), 1e-30)
    faces = 0.5 + 0.5 * faces / scale
    n = len(faces)
    cols = int(math.ceil(math.sqrt(n * h / w)))
    rows = int(math.ceil(n / cols))
    cells = np.ones((rows * cols, pixels))
    cells[:n] = faces
    what = "input" if W.shape[0] == pixels else "output"
    return tile(cells.reshape(rows, cols, h, w), pad=1, background=1.0), (
        f"{layer}.W: the {what} weights of each of its {n} units as a {h}×{w} face "
        f"(grey 0, white +, black −; each face scaled to its own largest |w|)")
