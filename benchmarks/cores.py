"""What the second core gains per training step (issue 27): ``python benchmarks/cores.py [reps]``.

Our Trainer.step on the 560-256-16 VAE and AE (batch 64, Adam) at one thread, at two (NumPy's OpenBLAS at two
threads, SciPy's at one: what ``--threads 2`` does), and with SciPy's OpenBLAS at two threads as well (what
``OPENBLAS_NUM_THREADS=2`` did before this module set the counts itself: two pools of spinning threads on two
cores). Per step: wall-clock ms and the process's CPU ms; the variants alternate within each repetition,
medians of the repetitions; the load average at the start and end of each table is printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = ("1 thread", "2 threads", "2 + SciPy's BLAS at 2")


def scipy_blas(threads: int) -> None:
    """SciPy's own OpenBLAS at ``threads`` threads (core.parallel keeps it at one)."""
    import scipy.linalg.blas  # noqa: F401 - loaded, so threadpoolctl sees it
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    libs = [lib.filepath for lib in controller.lib_controllers if "scipy" in Path(lib.filepath).parent.name]
    controller.select(filepath=libs).limit(limits=threads)


def variant_stepper(kind: str, X, variant: str):
    """A Trainer.step of ``variant`` (one of VARIANTS; the third is the second's, run inside ``both_pools``)."""
    from benchmarks.engine import engine_stepper

    return engine_stepper(kind, X, threads=1 if variant == "1 thread" else 2)


def segment(step, variant: str, n: int) -> tuple[float, float]:
    """per_step_ms of ``variant``: for the third, NumPy's BLAS raised first (raising it pins every other BLAS
    to one thread), then SciPy's raised too, and put back after."""
    from core.parallel import blas_threads

    if "SciPy" not in variant:
        return per_step_ms(step, n)
    blas_threads().set(2)
    scipy_blas(2)
    try:
        return per_step_ms(step, n)
    finally:
        scipy_blas(1)


def per_step_ms(step, n: int) -> tuple[float, float]:
    """(wall, process CPU) ms per step over n steps."""
    w, p = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return (time.perf_counter() - w) / n * 1e3, (time.process_time() - p) / n * 1e3


def measure(kind: str, X, reps: int, steps: int) -> dict[str, tuple[float, float]]:
    """{variant: median (wall, process CPU) ms per step}."""
    steppers = {v: variant_stepper(kind, X, v) for v in VARIANTS}
    for step in steppers.values():
        for _ in range(50):
            step()
    ms: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for r in range(reps):
        for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
            # the both-pools variant is ~15× slower: fewer steps keep its share of the run small
            ms[v].append(segment(steppers[v], v, steps // 10 if "SciPy" in v else steps))
            steppers[v].__self__.close()  # no idle BLAS thread spinning into the next variant's time
    return {v: tuple(statistics.median(t[i] for t in times) for i in range(2)) for v, times in ms.items()}


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
        print(f"  {'':<24}{'wall':>8}{'speed-up':>10}{'CPU':>8}")
        for v, (wall, cpu) in result.items():
            print(f"  {v:<24}{wall:8.3f}{one[0] / wall:10.2f}{cpu:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
