"""Engine benchmarks: training throughput (ours vs PyTorch), the GEMM floor, gradcheck wall times.

Every timing is a median over repetitions; the two trainers alternate within a repetition
(and swap order every other one) so a noisy shared machine slows both sides alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from core.data import BatchSchedule, find_data, load_frey
from core.gradcheck import gradcheck
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer

HIDDEN, LATENT, BATCH, LR, LOG_EVERY = 256, 16, 64, 1e-3, 50


def load_faces() -> tuple[np.ndarray, str]:
    """The Frey faces (1965, 560) float32, or uniform noise of that shape when the file is absent."""
    path = find_data(None)
    if path.exists():
        return load_frey(path), "frey"
    return np.random.default_rng(0).random((1965, 560), dtype=np.float32), "synthetic"


def engine_model(kind: str, seed: int = 0, dtype: str = "float32") -> Model:
    return Model(ModelConfig(kind=kind, hidden=[HIDDEN], latent=LATENT, likelihood="bernoulli", dtype=dtype), seed=seed)


def engine_stepper(kind: str, X: np.ndarray, threads: int | str = 1) -> Callable[[], object]:
    """Our Trainer.step (Adam, loss computed on logging steps only, as in real training); ``threads`` 1, 2 or
    'auto' (core.parallel; the trainer is the bound method's ``__self__``)."""
    model = engine_model(kind)
    trainer = Trainer(model, make_optimizer("adam", model, lr=LR), X, batch_size=BATCH, log_every=LOG_EVERY,
                      eval_every=0, threads=threads)
    return trainer.step


def torch_stepper(kind: str, X: np.ndarray, fused: bool = False) -> Callable[[], object]:
    """The same network, objective, batches and Adam in PyTorch; the loss read back on logging steps only.
    ``fused``: torch.optim.Adam(fused=True), one compiled pass over each parameter (opt-in; the default
    on the CPU is the per-parameter loop)."""
    import torch

    from benchmarks.torch_ref import from_engine

    net = from_engine(engine_model(kind))
    opt = torch.optim.Adam(net.parameters(), lr=LR, **({"fused": True} if fused else {}))
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    schedule = BatchSchedule(np.arange(len(X)), BATCH, 0)
    gen = torch.Generator().manual_seed(0)
    state = {"step": 0}

    def step():
        s = state["step"]
        xb = X_t[torch.from_numpy(schedule.batch(s))]
        eps = torch.randn(xb.shape[0], LATENT, generator=gen) if kind == "vae" else None
        opt.zero_grad(set_to_none=True)
        loss = net.loss(xb, eps)
        loss.backward()
        opt.step()
        state["step"] = s + 1
        return loss.item() if (s + 1) % LOG_EVERY == 0 else None

    return step


def steps_per_second(step: Callable[[], object], n: int) -> tuple[float, float]:
    """(steps per wall-clock second, steps per CPU second of this process). On a shared machine the CPU
    rate is what the code would reach alone (with one thread); the wall rate includes waiting for a core."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - w0), n / max(time.process_time() - c0, 1e-9)


def training_throughput(kind: str, X: np.ndarray, reps: int, steps: int, with_torch: bool) -> dict:
    """Median steps/s of ours, of PyTorch (default Adam) and of PyTorch with its fused Adam, and the medians
    of the per-repetition ratios ours/PyTorch (the target is against the default; fused is reported beside it)."""
    steppers = {"ours": engine_stepper(kind, X)}
    if with_torch:
        steppers["torch"] = torch_stepper(kind, X)
        steppers["fused"] = torch_stepper(kind, X, fused=True)
    for _ in range(min(steps, 50)):  # warm-up: allocator, BLAS buffers, first epoch permutation
        for step in steppers.values():
            step()
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in steppers}  # (wall, cpu) per repetition
    for r in range(reps):
        for name in (list(steppers) if r % 2 == 0 else list(reversed(steppers))):  # alternate the order
            rates[name].append(steps_per_second(steppers[name], steps))

    def median(name, which):
        return statistics.median(r[which] for r in rates[name]) if name in rates else None

    def median_ratio(name, which):
        if name not in rates:
            return None
        return statistics.median(o[which] / t[which] for o, t in zip(rates["ours"], rates[name], strict=True))

    return {
        f"train_{kind}_steps_per_s": median("ours", 0),
        f"train_{kind}_torch_steps_per_s": median("torch", 0),
        f"train_{kind}_ratio": median_ratio("torch", 0),
        f"train_{kind}_cpu_steps_per_s": median("ours", 1),
        f"train_{kind}_torch_cpu_steps_per_s": median("torch", 1),
        f"train_{kind}_cpu_ratio": median_ratio("torch", 1),
        f"train_{kind}_torch_fused_steps_per_s": median("fused", 0),
        f"train_{kind}_fused_ratio": median_ratio("fused", 0),
    }


def best_of_both(ours: Callable[[], object], torch_step: Callable[[], object], reps: int, steps: int) -> dict:
    """Each side at its best: in every repetition ours (a Trainer with threads='auto') and PyTorch at 1 and at
    2 threads (torch.set_num_threads), in alternating order; the repetition's ratio is ours over the faster
    PyTorch. Returns the medians {'ratio', 'ours_steps_per_s', 'torch_steps_per_s'}, 'torch_threads' (the
    faster count of each repetition) and 'ours_threads' (the trainer's thread_report)."""
    import torch

    before = torch.get_num_threads()
    order = ["ours", 1, 2]
    for who in order[1:]:  # warm-up of each thread pool
        torch.set_num_threads(who)
        for _ in range(30):
            torch_step()
    ratios, ours_rates, torch_rates, torch_threads = [], [], [], []
    trainer = getattr(ours, "__self__", None)
    try:
        for r in range(reps):
            rate = {}
            for who in (order if r % 2 == 0 else order[::-1]):
                if who != "ours":
                    torch.set_num_threads(who)
                rate[who] = steps_per_second(ours if who == "ours" else torch_step, steps)[0]
                if who == "ours" and isinstance(trainer, Trainer):
                    trainer.close()  # OpenBLAS's idle thread would spin on into PyTorch's time (~0.1 s)
            best = max((1, 2), key=rate.get)
            ratios.append(rate["ours"] / rate[best])
            ours_rates.append(rate["ours"])
            torch_rates.append(rate[best])
            torch_threads.append(best)
    finally:
        torch.set_num_threads(before)
    return {"ratio": statistics.median(ratios), "ours_steps_per_s": statistics.median(ours_rates),
            "torch_steps_per_s": statistics.median(torch_rates), "torch_threads": torch_threads,
            "ours_threads": trainer.thread_report() if isinstance(trainer, Trainer) else None}


def second_core_speedup(seconds: float = 0.4) -> float:
    """How much this machine's second core gives right now: the step's largest product (64×560 @ 560×256,
    core.parallel.matmul) at one BLAS thread over at two, medians of alternating 20-call blocks for ``seconds``.
    ~1.7 on a quiet machine here; near or below 1 while another process (or the host) holds the second core.
    The load average misses the host's share, so each both-cores part records this beside it."""
    from core.parallel import blas_threads, matmul

    blas, rng = blas_threads(), np.random.default_rng(0)
    a, b = rng.random((64, 560), dtype=np.float32), rng.random((560, 256), dtype=np.float32)
    out = np.empty((64, 256), dtype=np.float32)
    times: dict[int, list[float]] = {1: [], 2: []}
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end or not times[2]:
            for threads in (1, 2):
                blas.set(threads)
                for _ in range(20):
                    t0 = time.perf_counter()
                    matmul(a, b, out=out)
                    times[threads].append(time.perf_counter() - t0)
    finally:
        blas.restore()
    return statistics.median(times[1]) / statistics.median(times[2])


def training_best(kind: str, X: np.ndarray, reps: int, steps: int) -> dict:
    """``train_{kind}_ratio_best`` and its parts (best_of_both) on the 560-256-16 network."""
    ours = engine_stepper(kind, X, threads="auto")
    for _ in range(min(steps, 100)):  # warm-up, the first thread probe included
        ours()
    best = best_of_both(ours, torch_stepper(kind, X), reps, steps)
    return {f"train_{kind}_ratio_best": best["ratio"], f"train_{kind}_best_steps_per_s": best["ours_steps_per_s"],
            f"train_{kind}_torch_best_steps_per_s": best["torch_steps_per_s"],
            f"train_{kind}_torch_best_threads": best["torch_threads"], f"train_{kind}_threads": best["ours_threads"]}


def step_over_2core_floor(X: np.ndarray, reps: int, steps: int) -> dict:
    """Our VAE step at threads='auto' against its matrix products on both cores (core.parallel.matmul with
    NumPy's BLAS at two threads: the step's own products, K-blocked the same way), wall clock, back to back;
    ``step_vs_2core_floor`` is the median of the per-repetition ratios."""
    from core.parallel import blas_threads, matmul

    step = engine_stepper("vae", X, threads="auto")
    work, blas = gemm_work(), blas_threads()

    def floor_once():
        blas.set(2)  # the step sets its own count each step
        for a, b, out in work:
            matmul(a, b, out=out)

    for _ in range(100):
        step()
        floor_once()
    step_ms, floor_ms = [], []
    for _ in range(reps):
        step_ms.append(1e3 / steps_per_second(step, steps)[0])
        floor_ms.append(1e3 / steps_per_second(floor_once, steps)[0])
    step.__self__.close()
    return {"vae_step_auto_ms": statistics.median(step_ms), "gemm_2core_floor_ms": statistics.median(floor_ms),
            "step_vs_2core_floor": statistics.median(s / f for s, f in zip(step_ms, floor_ms, strict=True)),
            "vae_step_auto_threads": step.__self__.thread_report()}


def vae_gemm_shapes(n: int = BATCH, d: int = 560, h: int = HIDDEN, latent: int = LATENT) -> list[tuple]:
    """(A shape, B shape, transpose A?, transpose B?) of every matrix product in one VAE training step, in the
    step's order: forward x@W1, h@W_mean, h@W_logvar (two heads, as the model runs them), z@W_dec, d@W_out;
    backward, per layer, the weight gradient (A.T@dY) and the input gradient (dY@W.T), none for the images.
    tests/test_benchmarks.py records a real step's products and compares them with this list."""
    heads_backward = [((n, h), (n, latent), True, False), ((n, latent), (h, latent), False, True)] * 2
    return [
        ((n, d), (d, h), False, False), ((n, h), (h, latent), False, False), ((n, h), (h, latent), False, False),
        ((n, latent), (latent, h), False, False), ((n, h), (h, d), False, False),
        ((n, h), (n, d), True, False), ((n, d), (h, d), False, True),
        ((n, latent), (n, h), True, False), ((n, h), (latent, h), False, True),
        *heads_backward,
        ((n, d), (n, h), True, False),
    ]


def gemm_work() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(A, B, out) float32 operands of every product in ``vae_gemm_shapes`` (transposed views as in the step)."""
    rng = np.random.default_rng(0)
    work = []
    for a_shape, b_shape, ta, tb in vae_gemm_shapes():
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        a, b = (a.T if ta else a), (b.T if tb else b)
        work.append((a, b, np.empty((a.shape[0], b.shape[1]), dtype=np.float32)))
    return work


def step_over_gemm_floor(X: np.ndarray, reps: int, steps: int) -> dict:
    """Our VAE training step (forward, backward, Adam) against its matrix products alone (NumPy float32,
    same shapes, outputs preallocated): CPU ms of each and the median of the per-repetition ratios.

    CPU time of this (single-threaded) process, measured back to back: on a time-sliced machine that is
    what each would take on an idle core, and both see the same cache state."""
    step = engine_stepper("vae", X)
    work = gemm_work()

    def floor_once():
        for a, b, out in work:
            np.matmul(a, b, out=out)

    for _ in range(20):
        step()
        floor_once()
    step_ms, floor_ms = [], []
    for _ in range(reps):
        c0 = time.process_time()
        for _ in range(steps):
            step()
        step_ms.append((time.process_time() - c0) / steps * 1e3)
        c0 = time.process_time()
        for _ in range(steps):
            floor_once()
        floor_ms.append((time.process_time() - c0) / steps * 1e3)
    return {"vae_step_cpu_ms": statistics.median(step_ms), "gemm_floor_cpu_ms": statistics.median(floor_ms),
            "gemm_floor_ratio": statistics.median(s / f for s, f in zip(step_ms, floor_ms, strict=True))}


def gradcheck_seconds(X: np.ndarray, mode: str, hidden: int, latent: int, reps: int, batch: int = 4,
                      batched_full: bool = True) -> tuple[float, float]:
    """Median (wall, CPU) seconds of gradcheck(mode) on a float64 VAE 560-hidden-latent, on a batch of 4
    faces (issue 11's setting); raises if the check does not pass. ``batched_full=False``: mode 'full'
    one entry at a time (the check before batching, kept as the reference)."""
    model = Model(ModelConfig(kind="vae", hidden=[hidden], latent=latent, dtype="float64"), seed=0)
    return _gradcheck_timed(model, X[np.random.default_rng(0).choice(len(X), batch, replace=False)], mode, reps,
                            batched_full, f"VAE 560-{hidden}-{latent}")


def gradcheck_shipped_seconds(X: np.ndarray, path, reps: int, batch: int = 4) -> tuple[float, float]:
    """Median (wall, CPU) seconds of a full gradcheck of a shipped model file (every entry, batch 4)."""
    from core.checkpoint import load_model

    model = load_model(path).model
    x = X[np.random.default_rng(0).choice(len(X), batch, replace=False)]
    return _gradcheck_timed(model, x, "full", reps, True, str(path))


def _gradcheck_timed(model, x, mode: str, reps: int, batched_full: bool, what: str) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        report = gradcheck(model, x, mode=mode, batched_full=batched_full)
        cpu.append(time.process_time() - c0)
        if not report.passed:
            raise RuntimeError(f"gradcheck {mode} failed on {what}")
        wall.append(report.seconds)
    return statistics.median(wall), statistics.median(cpu)
