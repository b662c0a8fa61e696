"""Both cores without BLAS threads: the calling thread and one long-lived helper thread share a training step.

OpenBLAS's own threads spin while they wait for work, which on a busy 2-core machine turned 5 s of training
into 69 s (issue 27); so BLAS stays single-threaded inside each thread, and the engine hands the helper one
independent half of the large pieces of a step instead. NumPy releases the GIL inside matmul and inside
ufunc loops over more than a few hundred entries, so the two halves run at once on two cores; the Python
between them still runs one thread at a time. Adam is not split: SciPy's BLAS level-1 wrappers (its axpy
passes) keep the GIL, and its two halves took ~580 µs each against ~290 µs for the whole update on one
thread (measured, 2026-12-07); on the project's 2-vCPU machine the splits below did not pay either
(benchmarks/cores.py, benchmarks/RESULTS.md), which is why ``threads="auto"`` measures before it uses them.

What is split, and why each result is bit-identical to one thread (tests/test_parallel.py asserts it):

* ``Workers.matmul``: the output columns of a large product in two halves. Each output entry is the same
  dot product over the same K-blocks, computed by the same kernel, whether its column sits in a half or in
  the whole; only products far above OpenBLAS's small-matrix path are split (``SPLIT_MIN_MNK``).
* ``core.layers.affine_backward``: a layer's weight gradient and its input gradient, which are independent
  products of the same operands.

``ThreadChoice`` decides between one and two threads by timing real training steps (``Trainer`` uses it for
``threads="auto"``), and keeps re-checking, so a machine that gets busy falls back to one thread.
"""

from __future__ import annotations

import os
import statistics
import threading
import weakref
from collections.abc import Callable

import numpy as np

# A product is split only when each half stays far above OpenBLAS's small-matrix kernels: on SkylakeX the
# products with M·N·K ≤ 1e6 take a kernel that sums in another order (a 7×560 @ 560×256 product split in
# two differed in the last bits from the whole, measured), so a half that fell below it would not be
# bit-identical. 4e6 keeps every half ≥ 2e6; it also keeps the ~15 µs handoff small against the work.
SPLIT_MIN_MNK = 4_000_000
COLUMN_ALIGN = 16  # split points on whole AVX-512 float32 vectors of output columns
THREAD_CHOICES = (1, 2)  # the engine splits work in two: a larger count would have nothing to run


class _HelperState:
    """What the caller and the helper thread share: the task, its exception, and two locks used as
    one-shot signals (a bare lock is the cheapest wake-up Python has: ~13 µs per round trip, measured)."""

    def __init__(self):
        self.go = threading.Lock()
        self.done = threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.task: Callable[[], object] | None = None
        self.error: BaseException | None = None
        self.stopping = False


def _helper_loop(state: _HelperState, errstate: dict) -> None:
    np.seterr(**errstate)  # this thread's own floating-point error handling (NumPy's is per thread)
    while True:
        state.go.acquire()
        if state.stopping:
            return
        try:
            state.task()
        except BaseException as exc:  # handed to the caller, which re-raises it
            state.error = exc
        state.task = None
        state.done.release()


def _stop(state: _HelperState) -> None:
    state.stopping = True
    state.go.release()


class Workers:
    """The calling thread plus one helper thread that waits for work between calls.

    ``run(mine, theirs)`` runs ``theirs`` on the helper and ``mine`` on the caller and returns when both
    are done. A call while another thread is inside ``run`` (or from within ``mine``) runs both parts on
    the caller, one after the other: the results are the same either way; so does a call in a forked child
    process, which has no helper thread. ``errstate``: the helper's
    NumPy floating-point error handling (np.seterr keywords). The helper ends with ``close()`` or when
    this object is garbage-collected; it is a daemon thread, so it never holds up the program's exit.
    """

    split_min_mnk = SPLIT_MIN_MNK  # the smallest product (M·N·K) split by columns (matmul)
    pair_min_mnk = SPLIT_MIN_MNK  # the smallest layer whose weight and input gradients run at once (M·N·K of each)

    def __init__(self, errstate: dict | None = None):
        self._state = _HelperState()
        self._busy = threading.Lock()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=_helper_loop, name="vae-helper", daemon=True,
                                        args=(self._state, errstate or np.geterr()))
        self._thread.start()
        self._closer = weakref.finalize(self, _stop, self._state)

    @property
    def alive(self) -> bool:
        """True until close(): run() still uses the helper."""
        return self._closer.alive

    def close(self) -> None:
        """End the helper thread (idempotent)."""
        if self._busy.acquire(timeout=10):  # not while a run is in flight
            self._closer()
            self._busy.release()

    def run(self, mine: Callable[[], object], theirs: Callable[[], object]) -> None:
        """mine() here and theirs() on the helper, at once; an exception of either is raised here."""
        if not self._closer.alive or os.getpid() != self._pid or not self._busy.acquire(blocking=False):
            mine()
            theirs()
            return
        state = self._state
        try:
            state.task = theirs
            state.go.release()
            try:
                mine()
            finally:
                state.done.acquire()
            if state.error is not None:
                error, state.error = state.error, None
                raise error
        finally:
            self._busy.release()

    def matmul(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """out = a @ b for 2-D a (M, K), b (K, N); a large product's output columns in two halves at once.
        Bit-identical to np.matmul(a, b, out=out)."""
        m, k = a.shape
        n = b.shape[1]
        if m * n * k < self.split_min_mnk or n < 2 * COLUMN_ALIGN:
            return np.matmul(a, b, out=out)
        if out is None:
            out = np.empty((m, n), dtype=np.result_type(a, b))
        half = (n // 2) // COLUMN_ALIGN * COLUMN_ALIGN
        self.run(lambda: np.matmul(a, b[:, :half], out=out[:, :half]),
                 lambda: np.matmul(a, b[:, half:], out=out[:, half:]))
        return out


def parse_threads(value) -> int | str:
    """A thread setting from a flag or a form: 'auto', or 1 or 2 (an int or its text). ValueError otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        value = int(text) if text.isdigit() else text
    if isinstance(value, int) and not isinstance(value, bool) and value in THREAD_CHOICES:
        return value
    raise ValueError(f"threads must be auto, 1 or 2; got {value!r}")


class ThreadChoice:
    """1 or 2 threads, chosen by timing real training steps and checked again now and then.

    A probe runs ``probe_steps`` steps at each count in turn, ``rounds`` times (1, 2, 1, 2, … starting
    with the count in use), and takes two threads when the median step with two is faster than ``margin``
    times the median step with one. After a probe the choice holds for ``recheck_s`` seconds of steps,
    then the next probe starts, so a machine that gets busy (another process on the second core) falls
    back to one thread within a few seconds, and one that gets quiet goes back to two. While probes keep
    finding one thread faster, the wait doubles up to ``max_recheck_s``: on a busy machine the probe's
    two-thread steps are the slow ones, and they should not recur every few seconds. The probe's steps
    are training steps like any other (every split is bit-identical), so measuring costs no work, only
    the steps that ran at the slower count.

    Use: ``n = choice.threads()`` before a step, ``choice.record(n, seconds)`` after it.
    """

    def __init__(self, probe_steps: int = 12, rounds: int = 2, recheck_s: float = 5.0, margin: float = 0.95,
                 max_recheck_s: float = 40.0):
        self.probe_steps, self.rounds, self.recheck_s, self.margin = probe_steps, rounds, recheck_s, margin
        self.max_recheck_s = max_recheck_s
        self.wait_s = recheck_s  # seconds of steps until the next probe
        self.current = 1
        self.probes = 0  # probes finished
        self.last_probe: dict = {}  # {'1': median s, '2': median s, 'chose': n} of the latest probe
        self.steps_at = {n: 0 for n in THREAD_CHOICES}  # steps run at each count
        self._plan: list[int] = []
        self._times: dict[int, list[float]] = {}
        self._settled_s = 0.0
        self._start_probe()

    def _start_probe(self) -> None:
        other = 3 - self.current
        self._plan = [n for _ in range(self.rounds) for n in (self.current, other) for _ in range(self.probe_steps)]
        self._times = {n: [] for n in THREAD_CHOICES}

    def threads(self) -> int:
        """The thread count for the next step."""
        return self._plan[0] if self._plan else self.current

    def record(self, threads: int, seconds: float) -> None:
        """The step just run took ``seconds`` at ``threads`` threads."""
        self.steps_at[threads] += 1
        if not self._plan:
            self._settled_s += seconds
            if self._settled_s >= self.wait_s:
                self._settled_s = 0.0
                self._start_probe()
            return
        self._plan.pop(0)
        self._times[threads].append(seconds)
        if not self._plan:
            one, two = (statistics.median(self._times[n]) for n in THREAD_CHOICES)
            before, self.current = self.current, 2 if two < self.margin * one else 1
            self.wait_s = min(2 * self.wait_s, self.max_recheck_s) if before == self.current == 1 else self.recheck_s
            self.probes += 1
            self.last_probe = {"1": one, "2": two, "chose": self.current}

    def report(self) -> dict:
        """What a run records: the count in use, steps run at each count, the probes and the last one's medians."""
        return {"threads": self.current, "steps_at": {str(n): c for n, c in self.steps_at.items()},
                "probes": self.probes, "last_probe": dict(self.last_probe)}
