"""Every entry of a parameter at once: perturbed copies of the batch's rows as one big batch.

A perturbation of W[i, j] (or b[j]) of an affine layer changes only column j of its pre-activation
P, by ±h·A[n, i] in row n (A: the layer's input; a bias acts like an input of 1). The rows of the batch
are independent, so every entry's finite difference is a sum over rows n of
f_n(P[n] with column j moved by +h·A[n, i]) − f_n(… −h·A[n, i]).

Since P is linear in W, one move of column j by ±δ, δ = h·max|A[n]|, serves every entry of the column:
entry (i, j) gets A[n, i]·(f_n(P + δe_j) − f_n(P − δe_j)) / 2δ, the same central difference up to the
O(h²) truncation that each has anyway. A column whose move crosses a kink anywhere downstream is moved
value by value instead (each distinct non-zero A[n, i] once), which flags exactly the entries that
cross, as the one-at-a-time check does. A ReLU unit that stays below 0 for every move changes nothing
and is skipped; the output layer's entries move one pixel's term and need no network pass. The moved
rows go through the rest of the network together (``network.run_from``), at most ``CHUNK_ROWS`` at a
time, so memory stays bounded.

Each moved row's objective is compared with its unmoved row term by term, as in the one-at-a-time
check; the two agree to the round-off of a central difference (tests/test_gradcheck.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.models import Model

from . import kinks
from .network import Pass, activation, run_from

CHUNK_ROWS = 2048


@dataclass
class SiteResult:
    """Numerical derivatives of one (W, b) pair and their kink flags: W (fan_in, H), b (H,)."""

    numeric_w: np.ndarray
    numeric_b: np.ndarray
    kink_w: np.ndarray
    kink_b: np.ndarray


def site_activation(model: Model, site: tuple) -> str:
    """The activation right after a site's pre-activation ('' for none)."""
    if site[0] in ("enc", "dec"):
        return activation(model, site[0])[0]
    if site[0] == "latent" and not model.is_vae:
        return model.config.code_activation
    return ""


def _values(a_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of one input row with a bias's 1 appended: (values, index of each input and of the 1)."""
    return np.unique(np.append(a_row, 1.0), return_inverse=True)


def _live_columns(p_row: np.ndarray, reach: float, act: str) -> np.ndarray:
    """Columns whose activation output can change within ±reach (a ReLU far below 0 cannot)."""
    flat = kinks.FLAT_BELOW.get(act)
    if flat is None:
        return np.arange(p_row.size)
    return np.flatnonzero(p_row + reach >= flat)


def site_work(model: Model, base: Pass, site: tuple, slot: int, step: float, columns=None) -> int:
    """Rows this site will send through the network (for progress and the ETA; columns that cross a kink
    and are then moved value by value come on top)."""
    if site[0] == "out":
        return 0
    act, total = site_activation(model, site), 0
    for n in range(base.rec.shape[0]):
        values, _ = _values(base.inputs[site][n])
        live = _live_columns(base.pre[site][slot][n], step * np.abs(values).max(), act)
        if columns is not None:
            live = np.intersect1d(live, columns)
        moved = int((values != 0).sum())
        total += 2 * live.size * (1 if moved > 1 else moved)  # one scaled move per column (see _scaled_moves)
    return total


def site_numeric(model: Model, base: Pass, site: tuple, slot: int, x, eps, kl_weight: float, step: float,
                 columns=None, chunk_rows: int | None = None, skip_sure_kinks: bool = False,
                 every_value: bool = False) -> Iterator[int]:
    """Generator: yields rows done per chunk; returns a SiteResult for the parameters at (site, slot).
    ``columns``: only these output columns (None: all); the others come back as 0 and no kink.
    ``skip_sure_kinks`` (for retries): a value v with |P[n, j]| ≤ step·|v| moves unit j onto or across its
    own kink, so it is not evaluated, only flagged (a unit with weights ~1e-16 is never evaluated again).
    ``every_value``: move every (j, v) pair itself instead of scaling one column move (see _row_diffs)."""
    if site[0] == "out":
        return _out_numeric(model, base, slot, x, kl_weight, step)
    inp, pre = base.inputs[site], base.pre[site]
    n_rows, fan_in, width = inp.shape[0], inp.shape[1], pre[slot].shape[1]
    act = site_activation(model, site)
    res = SiteResult(np.zeros((fan_in, width)), np.zeros(width), np.zeros((fan_in, width), bool), np.zeros(width, bool))
    for n in range(n_rows):
        values, index = _values(inp[n])
        diffs = np.zeros((width, values.size, 2))
        kinked = np.zeros((width, values.size), dtype=bool)
        moved = np.flatnonzero(values != 0)
        live = _live_columns(pre[slot][n], step * np.abs(values).max(), act)
        if columns is not None:
            live = np.intersect1d(live, columns)
        if skip_sure_kinks and kinks.kink_points(act):
            sure = np.abs(pre[slot][n][live]) <= step * np.abs(values[moved]).min(initial=np.inf)
            kinked[np.ix_(live[sure], moved)] = True
            live = live[~sure]
        chunk = chunk_rows or CHUNK_ROWS
        if not every_value and moved.size > 1:
            live = yield from _scaled_moves(model, base, site, slot, n, live, values, moved, diffs, x, eps,
                                            kl_weight, step, chunk)
        per_chunk = max(1, chunk // (2 * max(moved.size, 1)))
        for start in range(0, live.size, per_chunk):
            cols = live[start:start + per_chunk]
            d, k = _evaluate(model, base, site, slot, n, cols, values[moved], x, eps, kl_weight, step)
            diffs[np.ix_(cols, moved)] = d
            kinked[np.ix_(cols, moved)] = k
            yield 2 * cols.size * moved.size
        res.numeric_w += (diffs[:, index[:-1], 0] - diffs[:, index[:-1], 1]).T
        res.numeric_b += diffs[:, index[-1], 0] - diffs[:, index[-1], 1]
        res.kink_w |= kinked[:, index[:-1]].T
        res.kink_b |= kinked[:, index[-1]]
    scale = 1.0 / (n_rows * 2 * step)
    res.numeric_w *= scale
    res.numeric_b *= scale
    return res


def _scaled_moves(model, base: Pass, site, slot, n, live, values, moved, diffs, x, eps, kl_weight, step, chunk):
    """Generator returning the columns still to be moved value by value.

    P[n, j] depends on W[i, j] linearly (∂P[n, j]/∂W[i, j] = A[n, i]), so the central difference of entry
    (i, j) in image n is A[n, i]·(f(P + δ·e_j) − f(P − δ·e_j)) / 2δ up to the O(δ²) truncation that every
    central difference has: one move of column j by ±δ = ±step·max|v| serves all its entries. The moves
    that cross a kink (anywhere downstream) say nothing for the smaller moves, so those columns go back
    to the caller to be moved value by value, which flags exactly the entries that cross."""
    v_max = float(np.abs(values[moved]).max())
    crossing = []
    per_chunk = max(1, chunk // 2)
    for start in range(0, live.size, per_chunk):
        cols = live[start:start + per_chunk]
        change, flags = _evaluate(model, base, site, slot, n, cols, np.array([v_max]), x, eps, kl_weight, step)
        ok = ~flags[:, 0]
        scale = values[moved] / v_max  # (f(P ± δ) − f(P)) · v/v_max: its ± difference / 2·step = v·(quotient)
        diffs[np.ix_(cols[ok], moved, [0])] = (change[ok, 0, 0][:, None] * scale)[..., None]
        diffs[np.ix_(cols[ok], moved, [1])] = (change[ok, 0, 1][:, None] * scale)[..., None]
        crossing.append(cols[~ok])
        yield 2 * cols.size
    return np.concatenate(crossing) if crossing else live[:0]


def _evaluate(model, base: Pass, site, slot, n, cols, values, x, eps, kl_weight, step):
    """Row n with column j ∈ cols of the site's pre-activation ``slot`` moved by ±step·v for every v:
    (objective change vs the unmoved row (len(cols), len(values), 2), kink flags (len(cols), len(values)))."""
    c, v = cols.size, values.size
    p_row = base.pre[site][slot][n]
    moved = p_row[cols][:, None, None] + np.array([1.0, -1.0])[None, :, None] * (step * values)[None, None, :]
    rows = c * 2 * v
    pre = []
    for k, p in enumerate(base.pre[site]):
        block = np.repeat(p[n][None, :], rows, axis=0)
        if k == slot:
            block[np.arange(rows), np.repeat(cols, 2 * v)] = moved.ravel()
        pre.append(block)
    out = run_from(model, site, tuple(pre), x[n:n + 1], None if eps is None else eps[n:n + 1])
    change = (out.rec - base.rec[n]).sum(axis=1)
    if out.kl is not None:
        change += kl_weight * (out.kl - base.kl[n]).sum(axis=1)
    change = change.reshape(c, 2, v).transpose(0, 2, 1)
    plus = {key: (name, a.reshape(c, 2, v, -1)[:, 0]) for key, (name, a) in out.pieces.items()}
    minus = {key: (name, a.reshape(c, 2, v, -1)[:, 1]) for key, (name, a) in out.pieces.items()}
    base_pieces = {key: (name, a[n]) for key, (name, a) in base.pieces.items()}
    flags = kinks.pass_kinks(base_pieces, plus, minus, c * v).reshape(c, v)
    return change, flags


def _out_numeric(model, base: Pass, slot: int, x, kl_weight: float, step: float) -> SiteResult:
    """The output layer: W[i, j] moves pixel j's logit (slot 0) or log-variance (slot 1) only."""
    del kl_weight  # the KL does not depend on the output layer
    d = base.inputs[("out",)]
    n_rows, width = d.shape[0], base.rec.shape[1]
    res = SiteResult(np.zeros((d.shape[1], width)), np.zeros(width), np.zeros((d.shape[1], width), bool),
                     np.zeros(width, bool))
    for n in range(n_rows):
        values, index = _values(d[n])
        pre = [p[n][None, :] if p is not None else None for p in base.pre[("out",)]]
        diffs = []
        for sign in (1.0, -1.0):
            moved = list(pre)
            moved[slot] = pre[slot] + sign * step * values[:, None]
            diffs.append(model.rec_nll(moved[0], moved[1], x[n:n + 1], per_pixel=True) - base.rec[n])
        res.numeric_w += diffs[0][index[:-1]] - diffs[1][index[:-1]]
        res.numeric_b += diffs[0][index[-1]] - diffs[1][index[-1]]
    scale = 1.0 / (n_rows * 2 * step)
    res.numeric_w *= scale
    res.numeric_b *= scale
    return res
