"""Where the inspector counts a hidden unit as passing gradient (core.inspection.gate_open): its activation's
derivative is at least 1e-3, at the boundaries the module documents for each activation."""

from __future__ import annotations

import numpy as np
import pytest

from core.inspection import gate_open


@pytest.mark.parametrize(("kind", "open_at", "closed_at"), [
    ("elu", [-6.8, -1.0, 0.5], [-7.0, -20.0]),  # e^x: e^-6.8 = 1.1e-3, e^-7.0 = 9.1e-4
    ("softplus", [-6.8, 0.0, 3.0], [-7.0, -20.0]),  # sigmoid(x): the same boundary
    ("tanh", [-4.0, 0.0, 4.0], [-4.2, 4.2, 30.0]),  # 1 − tanh²: 1.3e-3 at ±4.0, 9.0e-4 at ±4.2
    ("relu", [1e-9, 3.0], [0.0, -1e-9]),
    ("leaky_relu", [-50.0, 0.0, 5.0], []),  # slope 0.01: never closes
])
def test_the_gate_boundaries_are_the_documented_ones(kind, open_at, closed_at):
    pre = np.array([open_at + closed_at], dtype=np.float64)
    gate = gate_open(kind, pre, slope=0.01)[0]
    assert gate[: len(open_at)].all(), f"{kind} should pass gradient at {open_at}: {gate}"
    assert not gate[len(open_at):].any(), f"{kind} should be closed at {closed_at}: {gate}"
