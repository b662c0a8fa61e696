"""Kinks: where an activation's derivative jumps, a central difference means nothing.

A finite difference (f(θ + h) − f(θ − h)) / 2h estimates the derivative only where f is smooth
between θ − h and θ + h. A piecewise activation has *kink points* where its slope jumps (ReLU and
leaky ReLU at 0: ``core.layers.KINKED_ACTIVATIONS``). An entry of the check is a *kink entry* when,
for any unit of any such activation, the pre-activations of the base pass and of the two perturbed
passes span an interval of non-zero width that contains a kink point: the perturbation crossed the
kink or reached it. ELU (α = 1) is C¹ at 0 (only its curvature jumps): across 0 the central
difference is off by at most h/4 of its slope 1, 2.5e-7, far below the pass line, so it has no kink
here; softplus, tanh and the linear code are smooth. A new piecewise activation needs only its kink
points here (and, if its output is constant below some input, that input in FLAT_BELOW).
"""

from __future__ import annotations

import numpy as np

from core.layers import KINKED_ACTIVATIONS

KINK_POINTS: dict[str, tuple[float, ...]] = {name: (0.0,) for name in KINKED_ACTIVATIONS}

EXPLANATION = ("A kink entry: the finite difference crossed a ReLU's kink, where the derivative is "
               "undefined; this says nothing about the backprop.")


FLAT_BELOW: dict[str, float] = {"relu": 0.0}  # the output is constant (0) for every input at or below this


def kink_points(activation: str) -> tuple[float, ...]:
    """The kink points of an activation by name (empty for a smooth one)."""
    return KINK_POINTS.get(activation, ())


def unit_hits(base: np.ndarray, plus: np.ndarray, minus: np.ndarray, points: tuple[float, ...]) -> np.ndarray:
    """Elementwise: does the interval [min, max] of (base, plus, minus) have non-zero width and contain a
    kink point? (base may broadcast.)"""
    lo = np.minimum(np.minimum(plus, minus), base)
    hi = np.maximum(np.maximum(plus, minus), base)
    hit = np.zeros(lo.shape, dtype=bool)
    for k in points:
        hit |= (lo <= k) & (k <= hi)
    return hit & (lo < hi)


def pass_kinks(base: dict, plus: dict, minus: dict, rows: int) -> np.ndarray:
    """(rows,) bool: the kink test over every piece the perturbed passes went through (``network.Pass``
    pieces: {key: (activation, pre-activation (..., H))}); ``base`` pieces broadcast against the others."""
    flags = np.zeros(rows, dtype=bool)
    for key, (name, p_plus) in plus.items():
        points = kink_points(name)
        if points:
            flags |= unit_hits(base[key][1], p_plus, minus[key][1], points).reshape(rows, -1).any(axis=1)
    return flags
