"""The three modes of the check as one generator that yields progress and returns the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from core.models import Model

from . import batched, kinks
from .network import Pass, full_pass, run_from, site_of, site_pre, slot_of
from .report import (
    PASS_THRESHOLD,
    RETRY_STEPS,
    STEP,
    GradcheckReport,
    relative_errors,
    roundoff_bound,
    roundoff_floor,
    summarise,
)

MODES = ("full", "sample", "direction")


class GradcheckCancelled(Exception):
    """Raised inside gradcheck when the cancel callback returns True."""


@dataclass
class Progress:
    """Entries done of the total, the parameter being checked, seconds so far and to go (None: unknown)."""

    done: int
    total: int
    name: str
    elapsed_s: float
    eta_s: float | None


@dataclass
class _Setup:
    model: Model
    x: np.ndarray
    eps: np.ndarray | None
    kl_weight: float
    base: Pass
    analytic: np.ndarray
    offsets: dict
    step: float
    term_mass: float  # Σ|terms| of the objective (each term divided by N): sets the round-off floor

    def floor(self, step) -> float | np.ndarray:
        return roundoff_floor(self.term_mass, step)


def _setup(model: Model, x, eps, seed: int, step: float, rng: np.random.Generator,
           kl_weight: float | None = None) -> _Setup:
    """The float64 copy, its analytic gradient and base pass; ``kl_weight`` None: the model's β."""
    m = model.copy(dtype="float64", device="cpu")
    kl_weight = m.config.beta if kl_weight is None else float(kl_weight)
    x = np.asarray(x, dtype=np.float64)
    if m.is_vae:
        eps = rng.standard_normal((x.shape[0], m.config.latent)) if eps is None else np.asarray(eps, np.float64)
    else:
        eps = None
    m.forward_backward(x, eps, kl_weight=kl_weight, compute_loss=False)
    offsets, off = {}, 0
    for name, shape in m.shapes:
        offsets[name] = (off, tuple(shape))
        off += int(np.prod(shape))
    base = full_pass(m, x, eps)
    mass = (np.abs(base.rec).sum() + kl_weight * np.abs(base.kl).sum()) / x.shape[0]
    return _Setup(m, x, eps, kl_weight, base, m.grad_flat.copy(), offsets, step, float(mass))


def check_steps(model: Model, x: np.ndarray, eps: np.ndarray | None = None, mode: str = "full", k: int = 10,
                seed: int = 0, step: float = STEP, batched_full: bool = True,
                ) -> Generator[Progress, None, GradcheckReport]:
    """Generator form of ``gradcheck`` (same arguments): yields Progress, returns the GradcheckReport.
    Stop it early by closing it (or by not resuming it)."""
    if mode not in MODES:
        raise ValueError(f"gradcheck mode must be one of {MODES}, not {mode!r}")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    s = _setup(model, x, eps, seed, step, rng)
    clock = _Clock(start)
    if mode == "direction":
        results, overall = yield from _direction_mode(s, rng, clock)
    elif mode == "full" and batched_full:
        results, overall = (yield from _full_batched(s, clock)), None
    else:
        results, overall = (yield from _entry_mode(s, mode, k, rng, clock)), None
    total = sum(p.checked for p in results) + (overall is not None)
    yield clock.progress(total, total, "done")
    return GradcheckReport(mode=mode, params=results, overall=overall, seconds=time.perf_counter() - start,
                           roundoff=roundoff_bound(s.term_mass, s.step))


class _Clock:
    """Progress records with an ETA from the share of work done."""

    def __init__(self, start: float):
        self.start = start

    def progress(self, done: float, total: float, name: str, entries: int | None = None) -> Progress:
        elapsed = time.perf_counter() - self.start
        share = min(1.0, done / total) if total else 1.0
        eta = elapsed * (1 - share) / share if share > 0.01 and elapsed > 0.2 else None
        shown_total = entries if entries is not None else int(total)
        return Progress(int(round(share * shown_total)), shown_total, name, elapsed, eta)


def gradcheck(model: Model, x: np.ndarray, eps: np.ndarray | None = None, mode: str = "full", k: int = 10,
              seed: int = 0, step: float = STEP, progress: Callable[[int, int, str], None] | None = None,
              cancelled: Callable[[], bool] | None = None, batched_full: bool = True) -> GradcheckReport:
    """Check every parameter of ``model`` on the batch x: (N, D).

    Works on a float64 CPU copy, so the model itself is untouched. ``eps``: (N, latent) noise for a
    VAE (drawn once from ``seed`` when None, then held fixed). ``progress(done, total, name)`` is
    called as entries are checked; ``cancelled()`` returning True stops the check by raising
    GradcheckCancelled. ``batched_full=False`` runs mode 'full' one entry at a time (the reference
    the batched check is tested against).
    """
    steps = check_steps(model, x, eps, mode, k, seed, step, batched_full)
    try:
        while True:
            if cancelled is not None and cancelled():
                steps.close()
                raise GradcheckCancelled("gradient check cancelled")
            p = next(steps)
            if progress is not None:
                progress(p.done, p.total, p.name)
    except StopIteration as stop:
        return stop.value


# ------------------------------------------------------------------ one entry at a time
@dataclass
class EntryCheck:
    """One entry of one parameter: the analytic derivative, its central difference (taken with ``step``;
    ``kink``: it crossed an activation's kink, so the difference means nothing) and their relative error."""

    name: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    kink: bool
    step: float
    rel_error: float


def check_entry(model: Model, x: np.ndarray, eps: np.ndarray | None, name: str, index: tuple[int, ...],
                kl_weight: float | None = None, step: float = STEP) -> EntryCheck:
    """Central difference of the objective on x (N, D) (eps (N, L) held fixed; ``kl_weight`` None: β) in
    entry ``index`` of parameter ``name``, against the backward pass, on a float64 copy of the model."""
    s = _setup(model, x, eps, 0, step, np.random.default_rng(0), kl_weight)
    off, shape = s.offsets[name]
    pos = off + int(np.ravel_multi_index(tuple(int(i) for i in index), shape))
    numeric, kink, used = _entry_with_retries(s, name, pos)
    analytic = float(s.analytic[pos])
    rel = float(relative_errors(np.array([analytic]), np.array([numeric]), abs(analytic) + abs(numeric),
                                s.floor(used))[0])
    return EntryCheck(name, tuple(int(i) for i in index), analytic, float(numeric), bool(kink), float(used), rel)


def _entry(s: _Setup, name: str, pos: int, step: float) -> tuple[float, bool]:
    """(numerical derivative, kink?) of flat entry ``pos`` of parameter ``name``."""
    site, flat, old = site_of(name), s.model.flat, s.model.flat[pos]
    passes = []
    for sign in (1.0, -1.0):
        flat[pos] = old + sign * step
        passes.append(run_from(s.model, site, site_pre(s.model, site, s.base.inputs[site]), s.x, s.eps))
    flat[pos] = old
    return _difference(s, *passes) / (2 * step), bool(_kinked(s, *passes).any())


def _difference(s: _Setup, plus: Pass, minus: Pass) -> float:
    """f(θ+) − f(θ−) summed term by term (each term of the batch mean compared with its twin)."""
    n = s.x.shape[0]
    total = ((plus.rec - minus.rec) / n).sum()
    if plus.kl is not None:
        total += ((plus.kl - minus.kl) * (s.kl_weight / n)).sum()
    return float(total)


def _kinked(s: _Setup, plus: Pass, minus: Pass) -> np.ndarray:
    return kinks.pass_kinks(s.base.pieces, plus.pieces, minus.pieces, s.x.shape[0])


def _entry_with_retries(s: _Setup, name: str, pos: int) -> tuple[float, bool, float]:
    """(numerical derivative, kink?, the step it was taken with)."""
    numeric, kink = _entry(s, name, pos, s.step)
    for smaller in RETRY_STEPS if kink else ():
        retry, still = _entry(s, name, pos, smaller)
        if not still:
            return retry, False, smaller
    return numeric, kink, s.step


def _entry_mode(s: _Setup, mode: str, k: int, rng, clock: _Clock):
    """'sample' (k random entries per parameter) or 'full' one entry at a time."""
    plan = []
    for name, (off, shape) in s.offsets.items():
        size = int(np.prod(shape))
        idx = np.arange(size) if mode == "full" else np.sort(rng.choice(size, size=min(k, size), replace=False))
        plan.append((name, off, shape, idx))
    total, done, results = sum(len(p[3]) for p in plan), 0, []
    for name, off, shape, idx in plan:
        numeric, kink, steps = np.empty(len(idx)), np.zeros(len(idx), dtype=bool), np.empty(len(idx))
        for j, i in enumerate(idx):
            if j % 64 == 0:
                yield clock.progress(done, total, name)
            numeric[j], kink[j], steps[j] = _entry_with_retries(s, name, off + int(i))
            done += 1
        results.append(summarise(name, shape, idx, s.analytic[off + idx], numeric, kink, floor=s.floor(steps)))
    return results


# ------------------------------------------------------------------ every entry, batched
def _full_batched(s: _Setup, clock: _Clock):
    """Mode 'full' through ``batched.site_numeric``: (site, slot) by (site, slot), with kink retries."""
    groups: dict[tuple, list[str]] = {}
    for name in s.offsets:
        groups.setdefault((site_of(name), slot_of(name)), []).append(name)
    work = {key: batched.site_work(s.model, s.base, key[0], key[1], s.step) * _row_cost(s.model, key[0]) + 1
            for key in groups}
    total, done, found = sum(work.values()), 0, {}
    entries = sum(int(np.prod(shape)) for _, shape in s.offsets.values())
    for key, names in groups.items():
        cost = _row_cost(s.model, key[0])
        runner = batched.site_numeric(s.model, s.base, key[0], key[1], s.x, s.eps, s.kl_weight, s.step)
        yield clock.progress(done, total, names[0], entries)
        while True:
            try:
                rows = next(runner)
            except StopIteration as stop:
                res = stop.value
                break
            done += rows * cost
            yield clock.progress(done, total, names[0], entries)
        yield clock.progress(done, total, names[1], entries)
        res, steps_w, steps_b = _retry_kinks(s, key, res)
        found[names[0]] = (res.numeric_w, res.kink_w, steps_w)
        found[names[1]] = (res.numeric_b, res.kink_b, steps_b)
        done += 1
    results = []
    for name, (off, shape) in s.offsets.items():
        numeric, kink, steps = found[name]
        size = int(np.prod(shape))
        results.append(summarise(name, shape, np.arange(size), s.analytic[off:off + size], numeric.ravel(),
                                 kink.ravel(), floor=s.floor(steps.ravel())))
    return results


def _retry_kinks(s: _Setup, key: tuple, res: batched.SiteResult):
    """Entries that crossed a kink, tried again with smaller steps on their columns; kept where they no
    longer cross. Returns (res, the step of each W entry, of each b entry)."""
    steps = (np.full(res.kink_w.shape, s.step), np.full(res.kink_b.shape, s.step))
    for smaller in RETRY_STEPS:
        columns = np.flatnonzero(res.kink_w.any(axis=0) | res.kink_b)
        if columns.size == 0:
            break
        runner = batched.site_numeric(s.model, s.base, key[0], key[1], s.x, s.eps, s.kl_weight, smaller,
                                      columns=columns, skip_sure_kinks=True)
        retry = _drain(runner)
        for numeric, kink, new_numeric, new_kink, step in (
                (res.numeric_w, res.kink_w, retry.numeric_w, retry.kink_w, steps[0]),
                (res.numeric_b, res.kink_b, retry.numeric_b, retry.kink_b, steps[1])):
            fixed = kink & ~new_kink & np.isin(np.arange(kink.shape[-1]), columns)
            numeric[fixed] = new_numeric[fixed]
            kink[fixed] = False
            step[fixed] = smaller
    return res, steps[0], steps[1]


def _drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _row_cost(model: Model, site: tuple) -> int:
    """Multiply-adds of one moved row from ``site`` to the loss (weights the progress and the ETA)."""
    cfg = model.config
    sizes = [cfg.input_dim, *cfg.hidden]
    enc = sum(a * b for a, b in zip(sizes[1:], sizes[2:], strict=False))
    heads = sizes[-1] * cfg.latent * (2 if model.is_vae else 1)
    dec_sizes = [cfg.latent, *reversed(cfg.hidden)]
    dec = sum(a * b for a, b in zip(dec_sizes, dec_sizes[1:], strict=False))
    out = dec_sizes[-1] * cfg.input_dim * (2 if cfg.likelihood == "gaussian-learned" else 1) + 20 * cfg.input_dim
    costs = {"enc": enc + heads + dec + out, "latent": dec + out, "dec": dec + out, "out": 1}
    return costs[site[0]]


# ------------------------------------------------------------------ directions
def _direction_mode(s: _Setup, rng, clock: _Clock):
    """One random unit direction per parameter, then one over all parameters (``overall``)."""
    results, names = [], list(s.offsets)
    for done, name in enumerate(names):
        yield clock.progress(done, len(names) + 1, name)
        off, shape = s.offsets[name]
        u = rng.standard_normal(int(np.prod(shape)))
        sl = slice(off, off + u.size)
        a, n, kink, note, step = _direction_with_retries(s, sl, u / np.linalg.norm(u), site_of(name))
        results.append(summarise(name, shape, None, np.array([a]), np.array([n]), np.array([kink]), note,
                                 scale=2 * float(np.linalg.norm(s.analytic[sl])), floor=s.floor(step)))
    yield clock.progress(len(names), len(names) + 1, "all parameters")
    u = rng.standard_normal(s.model.n_params)
    a, n, kink, note, step = _direction_with_retries(s, slice(0, u.size), u / np.linalg.norm(u), ("enc", 0))
    rel = float(relative_errors(np.array([a]), np.array([n]), 2 * float(np.linalg.norm(s.analytic)),
                                s.floor(step))[0])
    overall = {"analytic": a, "numeric": n, "rel_error": rel, "passed": bool(kink or rel <= PASS_THRESHOLD),
               "kink": bool(kink), "note": note}
    return results, overall


def _along(s: _Setup, sl: slice, u: np.ndarray, site: tuple, step: float):
    """(analytic, numerical derivative along u at flat[sl], the two passes)."""
    flat = s.model.flat
    saved = flat[sl].copy()
    passes = []
    for sign in (1.0, -1.0):
        flat[sl] = saved + sign * step * u
        passes.append(run_from(s.model, site, site_pre(s.model, site, s.base.inputs[site]), s.x, s.eps))
    flat[sl] = saved
    return float(s.analytic[sl] @ u), _difference(s, *passes) / (2 * step), passes


def _direction_with_retries(s: _Setup, sl: slice, u: np.ndarray, site: tuple) -> tuple[float, float, bool, str,
                                                                                      float]:
    """(analytic, numeric, kink?, note, step) along u. A direction that crosses a kink is kept off the units that
    crossed (their incoming weights and bias set to 0 in u, renormalised; twice at most), then tried with
    the smaller steps; the first that crosses nothing is kept."""
    first = None
    for step in (s.step, *RETRY_STEPS):
        v, units = u, 0
        for _ in range(3):
            a, n, (plus, minus) = _along(s, sl, v, site, step)
            first = first or (a, n)
            if not _kinked(s, plus, minus).any():
                notes = [f"kept off {units} unit(s) at a kink"] if units else []
                notes += [f"h = {step:g}"] if step != s.step else []
                return a, n, False, "; ".join(notes), step
            count, kept = _without_kinked_units(s, sl, v, plus, minus)
            if count == 0 or not np.linalg.norm(kept) > 0:
                break
            v, units = kept / np.linalg.norm(kept), units + count
    return first[0], first[1], True, "", s.step


def _without_kinked_units(s: _Setup, sl: slice, u: np.ndarray, plus: Pass, minus: Pass) -> tuple[int, np.ndarray]:
    """u with the entries feeding every unit whose pre-activation crossed a kink set to 0: (units, new u)."""
    kept, count = u.copy(), 0
    for key, (act, p_plus) in plus.pieces.items():
        hit = kinks.unit_hits(s.base.pieces[key][1], p_plus, minus.pieces[key][1], kinks.kink_points(act)).any(axis=0)
        if not hit.any():
            continue
        count += int(hit.sum())
        for suffix in (".W", ".b"):
            off, shape = s.offsets[key + suffix]
            mask = np.zeros(shape, dtype=bool)
            mask[..., hit] = True
            positions = off + np.flatnonzero(mask) - sl.start
            inside = positions[(positions >= 0) & (positions < u.size)]
            kept[inside] = 0.0
    return count, kept
