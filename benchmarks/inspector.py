"""The backprop inspector's cost: training steps/s with ``Trainer.inspector`` set over steps/s without it.

Two trainers on the same VAE 560-256-16, batches and seed alternate within each repetition (the order
swapped every other one), so a noisy shared machine slows both alike; the ratio is the median of the
per-repetition ratios. Measured at the GUI's cadence (a log step every 10 steps, weights kept for the
weight images) and at the CLI's default (every 100 steps, numbers only).
"""

from __future__ import annotations

import statistics

import numpy as np

from benchmarks.engine import BATCH, LR, engine_model, steps_per_second
from core.inspection import Inspector
from core.optim import make_optimizer
from core.train import Trainer

CADENCES = {"inspector_overhead_ratio": (10, True), "inspector_overhead_ratio_cli": (100, False)}


def _stepper(X: np.ndarray, log_every: int, inspector: Inspector | None):
    model = engine_model("vae")
    trainer = Trainer(model, make_optimizer("adam", model, lr=LR), X, batch_size=BATCH, log_every=log_every,
                      eval_every=0)
    trainer.inspector = inspector
    return trainer.step


def overhead_ratio(X: np.ndarray, reps: int, steps: int, log_every: int, keep_weights: bool) -> float:
    """Median over repetitions of (steps/s with the inspector) / (steps/s without), wall clock."""
    on = _stepper(X, log_every, Inspector(keep_weights=keep_weights))
    off = _stepper(X, log_every, None)
    for _ in range(max(log_every, 50)):  # warm-up, including a few log steps
        on(), off()
    ratios = []
    for r in range(reps):
        pair = (on, off) if r % 2 == 0 else (off, on)
        rates = {id(step): steps_per_second(step, steps)[0] for step in pair}
        ratios.append(rates[id(on)] / rates[id(off)])
    return statistics.median(ratios)


def run(X: np.ndarray, reps: int, steps: int) -> dict:
    """{'inspector_overhead_ratio': at log_every 10 (GUI), 'inspector_overhead_ratio_cli': at log_every 100}."""
    # at least 5 log steps per repetition, so the ratio is not decided by where the log steps fall
    return {key: overhead_ratio(X, reps, max(steps, 5 * log_every), log_every, keep)
            for key, (log_every, keep) in CADENCES.items()}
