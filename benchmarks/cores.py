"""What each use of the second core gains per training step (issue 27): ``python benchmarks/cores.py``.

Our Trainer.step on the 560-256-16 VAE and AE (batch 64, Adam) at one thread, at two threads with every split,
and at two threads with one kind of split alone: the large products' columns (forward and the first layer's
weight gradient), a layer's weight and input gradients at once. Per step: wall-clock ms,
the process's CPU ms (both threads) and the calling thread's own CPU ms (the critical path when the helper
keeps up: on a busy machine, where wall times say little, it estimates what a free second core would give);
the variants alternate within each repetition, medians of the repetitions; the load average is printed.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = ("1 thread", "2: all", "2: columns only", "2: gradient pairs only")


def variant_stepper(kind: str, X, variant: str):
    """A Trainer.step of ``variant`` (one of VARIANTS)."""
    from benchmarks.engine import engine_stepper
    from core.parallel import Workers

    step = engine_stepper(kind, X, threads=1 if variant == "1 thread" else 2)
    trainer = step.__self__
    if variant in ("1 thread", "2: all"):
        return step
    trainer.workers.close()
    workers = Workers(errstate={"over": "ignore", "invalid": "ignore", "divide": "ignore"})
    if variant != "2: columns only":
        workers.split_min_mnk = math.inf
    if variant != "2: gradient pairs only":
        workers.pair_min_mnk = math.inf
    trainer.workers = workers
    return step


def per_step_ms(step, n: int) -> tuple[float, float, float]:
    """(wall, process CPU, calling thread's CPU) ms per step over n steps."""
    w, p, t = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(n):
        step()
    return tuple((now - then) / n * 1e3 for now, then in
                 zip((time.perf_counter(), time.process_time(), time.thread_time()), (w, p, t), strict=True))


def measure(kind: str, X, reps: int, steps: int) -> dict[str, tuple[float, float, float]]:
    """{variant: median (wall, process CPU, caller CPU) ms per step}."""
    steppers = {v: variant_stepper(kind, X, v) for v in VARIANTS}
    for step in steppers.values():
        for _ in range(100):
            step()
    ms: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    for r in range(reps):
        for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
            ms[v].append(per_step_ms(steppers[v], steps))
    return {v: tuple(statistics.median(t[i] for t in times) for i in range(3)) for v, times in ms.items()}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from benchmarks.engine import load_faces

    X, _ = load_faces()
    reps, steps = (int(sys.argv[1]) if len(sys.argv) > 1 else 7), 300
    for kind in ("vae", "ae"):
        load = os.getloadavg()[0]
        result = measure(kind, X, reps, steps)
        one = result["1 thread"]
        print(f"{kind.upper()} 560-256-16, batch 64, ms per step (median of {reps}), load average at start {load:.2f}, "
              f"at end {os.getloadavg()[0]:.2f}")
        print(f"  {'':<24}{'wall':>8}{'speed-up':>10}{'CPU both':>10}{'CPU caller':>12}{'1 thread/caller':>17}")
        for v, (wall, cpu, caller) in result.items():
            print(f"  {v:<24}{wall:8.3f}{one[0] / wall:10.2f}{cpu:10.3f}{caller:12.3f}{one[2] / caller:17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
