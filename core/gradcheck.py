"""Gradient check: analytic gradients against central finite differences, in float64.

With ``a`` the analytic and ``n`` the numerical derivative of one entry:

* relative error of an entry = |a − n| / max(|a| + |n|, 0.01·g), where g is the largest
  |a| + |n| over the parameter's checked entries (the error is 0 when a = n = 0). Entries
  whose true gradient is almost zero are judged on their parameter's scale, so round-off in a
  ~400-nat loss (~1e-10) cannot flag a correct gradient of ~1e-7, and 0/0 never happens;
* norm-wise error = ‖a − n‖ / (‖a‖ + ‖n‖) over the parameter's checked entries;
* an entry over 1e-3 is a *warning*; a parameter *passes* when its max relative error ≤ 1e-5.

n = (f(θ + h) − f(θ − h)) / 2h with h = 1e-6: the truncation error is O(h²)·f''' ≈ 1e-12
and the round-off ≈ 1e-16·|term|/h per term. The difference f(θ+) − f(θ−) is summed term
by term (per pixel and per latent dimension), so the ~1e-13 round-off of summing a 400-nat
loss does not enter it. The objective f is the batch mean of rec + β·KL with the VAE's noise
eps held fixed, so f is a deterministic function of the parameters.

Modes: ``full`` checks every entry, ``sample`` k random entries per parameter, ``direction``
one random unit direction per parameter (2 forward passes each) plus one direction over all
parameters at once (reported as ``overall``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .models import Model

STEP = 1e-6
PASS_THRESHOLD = 1e-5
WARN_THRESHOLD = 1e-3
MODES = ("full", "sample", "direction")


class GradcheckCancelled(Exception):
    """Raised inside gradcheck when the cancel callback returns True."""


@dataclass
class ParamCheck:
    name: str
    shape: list[int]
    checked: int
    max_rel_error: float
    mean_rel_error: float
    norm_rel_error: float
    warnings: int
    passed: bool
    rel_errors: list[float] = field(default_factory=list, repr=False)


@dataclass
class GradcheckReport:
    mode: str
    params: list[ParamCheck]
    overall: dict | None
    seconds: float

    @property
    def passed(self) -> bool:
        ok = all(p.passed for p in self.params)
        return ok and (self.overall is None or self.overall["passed"])

    def to_dict(self) -> dict:
        """JSON-ready summary (without the per-entry errors)."""
        params = []
        for p in self.params:
            d = asdict(p)
            d.pop("rel_errors")
            params.append(d)
        out = {"passed": self.passed, "mode": self.mode, "params": params, "seconds": self.seconds}
        if self.overall is not None:
            out["overall"] = self.overall
        return out

    def all_rel_errors(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.rel_errors, dtype=float) for p in self.params] or [np.zeros(0)])


def relative_errors(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Per-entry relative error as defined in this module's docstring."""
    scale = np.abs(analytic) + np.abs(numeric)
    g = float(scale.max()) if scale.size else 0.0
    denom = np.maximum(scale, 0.01 * g)
    diff = np.abs(analytic - numeric)
    return np.divide(diff, denom, out=np.zeros_like(diff), where=denom > 0)


def norm_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / denom) if denom > 0 else 0.0


def _summarise(name, shape, analytic, numeric) -> ParamCheck:
    rel = relative_errors(analytic, numeric)
    max_rel = float(rel.max()) if rel.size else 0.0
    return ParamCheck(
        name=name, shape=list(shape), checked=int(rel.size), max_rel_error=max_rel,
        mean_rel_error=float(rel.mean()) if rel.size else 0.0,
        norm_rel_error=norm_error(analytic, numeric), warnings=int((rel > WARN_THRESHOLD).sum()),
        passed=max_rel <= PASS_THRESHOLD, rel_errors=rel.tolist(),
    )


def gradcheck(
    model: Model,
    x: np.ndarray,
    eps: np.ndarray | None = None,
    mode: str = "full",
    k: int = 10,
    seed: int = 0,
    step: float = STEP,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> GradcheckReport:
    """Check every parameter of ``model`` on the batch x: (N, 560).

    Works on a float64 CPU copy, so the model itself is untouched. ``eps``: (N, latent) noise
    for a VAE (drawn once from ``seed`` when None, then held fixed). ``progress(done, total,
    name)`` is called as entries are checked; ``cancelled()`` returning True stops the check
    by raising GradcheckCancelled.
    """
    if mode not in MODES:
        raise ValueError(f"gradcheck mode must be one of {MODES}, not {mode!r}")
    start = time.perf_counter()
    m = model.copy(dtype="float64", device="cpu")
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if eps is None:
        eps = rng.standard_normal((x.shape[0], m.config.latent))
    eps = np.asarray(eps, dtype=np.float64)
    kl_weight = m.config.beta

    m.forward_backward(x, eps, kl_weight=kl_weight, compute_loss=False)
    analytic_flat = m.grad_flat.copy()

    # a perturbed parameter changes nothing before its layer, so its passes resume from the stored
    # stages (bitwise the values a full pass recomputes): the output layer's ~half of all entries
    # then skip the encoder, the heads and the decoder's hidden layers
    stages = m.forward_stages(x, eps)

    def f(start: str = "x"):
        return m.objective_terms(x, eps, kl_weight, start=start, stages=stages)

    # which flat indices to check, per parameter
    plan: list[tuple[str, tuple, int, np.ndarray]] = []
    offset = 0
    for name, shape in m.shapes:
        size = int(np.prod(shape))
        if mode == "full":
            idx = np.arange(size)
        elif mode == "sample":
            idx = np.sort(rng.choice(size, size=min(k, size), replace=False))
        else:
            idx = np.zeros(0, dtype=int)
        plan.append((name, shape, offset, idx))
        offset += size
    total = sum(len(p[3]) for p in plan) if mode != "direction" else len(plan) + 1
    done = 0
    flat = m.flat
    results: list[ParamCheck] = []
    overall = None

    def tick(name: str) -> None:
        if cancelled is not None and cancelled():
            raise GradcheckCancelled("gradient check cancelled")
        if progress is not None:
            progress(done, total, name)

    if mode == "direction":
        for name, shape, off, _ in plan:
            size = int(np.prod(shape))
            tick(name)
            u = rng.standard_normal(size)
            u /= np.linalg.norm(u)
            sl = slice(off, off + size)
            a, n = _directional(f, flat, sl, u, analytic_flat, step)
            results.append(_summarise(name, shape, np.array([a]), np.array([n])))
            done += 1
        tick("all parameters")
        u = rng.standard_normal(flat.size)
        u /= np.linalg.norm(u)
        a, n = _directional(f, flat, slice(0, flat.size), u, analytic_flat, step)
        rel = float(relative_errors(np.array([a]), np.array([n]))[0])
        overall = {"analytic": a, "numeric": n, "rel_error": rel, "passed": rel <= PASS_THRESHOLD}
        done += 1
    else:
        for name, shape, off, idx in plan:
            numeric = np.empty(len(idx))
            start_at = m.first_stage(name)
            for j, i in enumerate(idx):
                if j % 64 == 0:
                    tick(name)
                pos = off + i
                old = flat[pos]
                flat[pos] = old + step
                fp = f(start_at)
                flat[pos] = old - step
                fm = f(start_at)
                flat[pos] = old
                numeric[j] = _difference(fp, fm) / (2 * step)
                done += 1
            results.append(_summarise(name, shape, analytic_flat[off + idx], numeric))
    if progress is not None:
        progress(total, total, "done")
    return GradcheckReport(mode=mode, params=results, overall=overall,
                           seconds=time.perf_counter() - start)


def _directional(f, flat, sl, u, analytic_flat, step) -> tuple[float, float]:
    """(analytic, numerical) derivative of f along unit vector u placed at flat[sl]."""
    saved = flat[sl].copy()
    flat[sl] = saved + step * u
    fp = f()
    flat[sl] = saved - step * u
    fm = f()
    flat[sl] = saved
    return float(analytic_flat[sl] @ u), _difference(fp, fm) / (2 * step)


def _difference(terms_plus, terms_minus) -> float:
    """f(θ+) − f(θ−) summed term by term (see Model.objective_terms)."""
    return float(sum((tp - tm).sum() for tp, tm in zip(terms_plus, terms_minus, strict=True)))
