"""Kinks: where an activation's derivative jumps, a central difference means nothing.

A finite difference (f(θ + h) − f(θ − h)) / 2h estimates the derivative only where f is smooth
between θ − h and θ + h. A piecewise activation has *kink points* (ReLU and leaky ReLU at 0: the
slope jumps; ELU at 0: the curvature jumps, so the central difference is only first-order accurate
across it). An entry of the check is a *kink entry* when, for any unit of any piecewise activation,
the pre-activations of the base pass and of the two perturbed passes span an interval of non-zero
width that contains a kink point: the perturbation crossed the kink or reached it. Smooth
activations (softplus, tanh) and the linear code have none. A new activation only needs its kink
points here.
"""

from __future__ import annotations

import numpy as np

KINK_POINTS: dict[str, tuple[float, ...]] = {"relu": (0.0,), "leaky_relu": (0.0,), "elu": (0.0,)}

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
