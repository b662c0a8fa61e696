"""Both cores for training: NumPy's BLAS at two threads while a step runs, and a K-blocked product that gives
the same bits at one thread and at two.

Issue 27 measured 69 s instead of 5 s for 3 000 steps with ``OPENBLAS_NUM_THREADS=2`` and blamed OpenBLAS's
threads on small matrices. The cause was another: NumPy and SciPy each load their own OpenBLAS, and that
variable gave *both* a pool of spinning threads, so four threads fought over two cores (24 ms per step;
with only NumPy's pool at two threads and SciPy's at one, 1.35 ms against 1.77 ms at one thread, measured
2026-12-07, benchmarks/RESULTS.md). So a 2-thread step raises NumPy's OpenBLAS alone to two threads
(``BlasThreads``, through OpenBLAS's own functions) and SciPy's stays at one. Adam's level-1 calls (axpy, and the
finiteness check's asum) go to NumPy's OpenBLAS as well (``BlasThreads.level1``), which splits them over the
thread it keeps spinning anyway: 300k float32 entries 20 µs against 33 µs at one thread, measured.
(The first version of this module handed half of each large product to a Python helper thread instead;
each handoff woke a sleeping thread, 13–46 µs on this VM, and no split paid — the same table.)

OpenBLAS's threaded GEMM blocks the summed dimension K differently from its one-thread path once K passes
its block size GEMM_Q (on this machine's SkylakeX kernels: K > 448 in float32, K > 384 in float64), so a 64×560
@ 560×256 product differed in the last bits between one and two threads. ``matmul`` therefore sums any K
longer than the block of the kernel in use as a fixed sequence of slices of at most that length (two slices
of 288 and 272 for 560 pixels): then each slice is one block at any thread count, the slices are added in a
fixed order, and one thread and two give identical bits. tests/test_parallel.py and test_cli's training test
assert it.
"""

from __future__ import annotations

import ctypes
import math
import statistics
import threading
import weakref
from collections import deque
from pathlib import Path

import numpy as np

from .backend import xp_of

THREAD_CHOICES = (1, 2)  # what ``threads`` may be: a third thread would find no free core on the machines aimed at
# OpenBLAS's K block (GEMM_Q in its param.h, x86-64) for float32 and float64, by the kernel it chose for this CPU:
# a K up to it is one block at any thread count. SkylakeX's agrees with what was measured here (results of 1 and 2
# threads first differed at K = 464 float32, 400 float64); a kernel not listed gets the smallest of any x86 kernel.
GEMM_Q = {"skylakex": (448, 384), "cooperlake": (320, 384), "haswell": (320, 256), "zen": (320, 256)}
SMALLEST_GEMM_Q = (128, 128)  # Prescott's and the generic kernel's


def k_slices(k: int, block: int) -> list[slice]:
    """[0, k) as the fewest slices of at most ``block``, equal but for the last, starts on multiples of 16."""
    parts = math.ceil(k / block)
    width = min(block, math.ceil(k / parts / 16) * 16)
    return [slice(start, min(start + width, k)) for start in range(0, k, width)]


def matmul(a, b, out=None):
    """a @ b for 2-D a (M, K), b (K, N) -> (M, N), written into ``out`` when given; for NumPy arrays whose K is
    longer than OpenBLAS's K block (``BlasThreads.k_block``) the sum over K runs slice by slice (``k_slices``), so
    one BLAS thread and two give the same bits. Other arrays (CuPy) and short K: one plain product."""
    k = a.shape[1]
    block = _BLAS.k_block(a.dtype) if isinstance(a, np.ndarray) else 0
    if not block or k <= block:
        return a @ b if out is None else xp_of(a).matmul(a, b, out=out)
    first, *rest = k_slices(k, block)
    out = np.matmul(a[:, first], b[first], out=out)
    part = np.empty_like(out)
    for s in rest:
        out += np.matmul(a[:, s], b[s], out=part)
    return out


_SYMBOL_FORMS = ("{}", "{}64_", "scipy_{}", "scipy_{}64_")  # plain, 64-bit-integer, and scipy-openblas wheels


class _OpenBlas:
    """One OpenBLAS loaded in this process: its file and its thread-count functions (ctypes)."""

    def __init__(self, path: str):
        lib = ctypes.CDLL(path)  # already loaded: the same library, not a second copy
        self.path = path
        self._get, self._set = (next(getattr(lib, form.format(name)) for form in _SYMBOL_FORMS
                                     if hasattr(lib, form.format(name)))
                                for name in ("openblas_get_num_threads", "openblas_set_num_threads"))
        self._get.restype, self._set.argtypes = ctypes.c_int, [ctypes.c_int]
        names = [getattr(lib, form.format("openblas_get_corename")) for form in _SYMBOL_FORMS
                 if hasattr(lib, form.format("openblas_get_corename"))]
        if names:
            names[0].restype = ctypes.c_char_p
        self.corename = (names[0]() or b"").decode(errors="replace") if names else ""  # e.g. 'SkylakeX'
        self._level1 = {dtype: _cblas_level1(lib, letter) for dtype, letter in ((np.float32, "s"), (np.float64, "d"))}

    def level1(self, dtype) -> tuple | None:
        """(axpy, asum) of this OpenBLAS's CBLAS for float32/float64 (``cblas_axpy``, ``cblas_asum``), else None."""
        return self._level1.get(np.dtype(dtype).type)

    @property
    def num_threads(self) -> int:
        return int(self._get())

    def set_num_threads(self, threads: int) -> None:
        self._set(threads)


def _cblas_level1(lib, letter: str) -> tuple | None:
    """(axpy(a, x, y), asum(x)) on contiguous 1-D arrays of one dtype through ``lib``'s cblas_?axpy and
    cblas_?asum, or None when it lacks them. Integer arguments are 64-bit in the builds whose symbols end
    in '64_' (NumPy's wheels), else C ints. ctypes lets the GIL go for each call."""
    forms = [form for form in _SYMBOL_FORMS if hasattr(lib, form.format(f"cblas_{letter}axpy"))
             and hasattr(lib, form.format(f"cblas_{letter}asum"))]
    if not forms:
        return None
    integer = ctypes.c_int64 if forms[0].endswith("64_") else ctypes.c_int
    real = ctypes.c_float if letter == "s" else ctypes.c_double
    c_axpy, c_asum = (getattr(lib, forms[0].format(f"cblas_{letter}{name}")) for name in ("axpy", "asum"))
    c_axpy.restype, c_axpy.argtypes = None, [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
    c_asum.restype, c_asum.argtypes = real, [integer, ctypes.c_void_p, integer]

    def axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
        c_axpy(y.size, a, data_address(x), 1, data_address(y), 1)

    def asum(x: np.ndarray) -> float:
        return float(c_asum(x.size, data_address(x), 1))

    return axpy, asum


_ADDRESSES: dict[int, tuple] = {}  # id(array) -> (weak reference to it, its data address)


def data_address(x: np.ndarray) -> int:
    """The address of x's data, remembered per array object: ``x.ctypes.data`` builds a helper object each time
    (1.5 µs, seven times per Adam step on the same arrays). An array keeps its buffer for life (nothing here
    resizes one in place); a weak reference tells a live array from a new one that reuses a dead one's id."""
    entry = _ADDRESSES.get(id(x))
    if entry is not None and entry[0]() is x:
        return entry[1]
    if len(_ADDRESSES) >= 64:  # views made on the fly would pile up
        _ADDRESSES.clear()
    address = x.ctypes.data
    _ADDRESSES[id(x)] = (weakref.ref(x), address)
    return address


def loaded_openblas() -> list[_OpenBlas]:
    """Every OpenBLAS this process has loaded (read from /proc/self/maps: Linux only; [] elsewhere)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split(maxsplit=5)[-1].strip() for line in maps if "openblas" in line.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            found.append(_OpenBlas(path))
        except (OSError, StopIteration):  # not a library after all, or one without the thread functions
            continue
    return found


class BlasThreads:
    """The thread count of NumPy's own OpenBLAS (NumPy's products), leaving every other BLAS at one thread.

    NumPy's and SciPy's wheels each carry an OpenBLAS; only NumPy's is raised (see the module's docstring).
    ``available`` is False, with ``reason``, when NumPy's OpenBLAS cannot be found and told apart from another
    (another BLAS, another system): ``set`` then does nothing and training runs one thread. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._scanned = False
        self._numpy_blas: _OpenBlas | None = None
        self.reason = ""
        self.initial = 1  # NumPy's BLAS threads before the first change (restore() goes back to it)
        self.current: int | None = None
        self._blocks: dict | None = None  # {dtype: K block} once known (k_block)

    @property
    def available(self) -> bool:
        with self._lock:
            self._scan()
            return self._numpy_blas is not None

    def k_block(self, dtype) -> int:
        """The longest K that NumPy's OpenBLAS sums as one block at any thread count (GEMM_Q); 0 (no slicing
        needed) when its thread count is never changed, i.e. not ``available``, or for another dtype."""
        blocks = self._blocks
        if blocks is None:
            with self._lock:
                self._scan()
                mine = self._numpy_blas
                q = (0, 0) if mine is None else GEMM_Q.get(mine.corename.lower(), SMALLEST_GEMM_Q)
                self._blocks = blocks = {np.dtype(np.float32): q[0], np.dtype(np.float64): q[1]}
        return blocks.get(dtype, 0)

    def level1(self, dtype) -> tuple | None:
        """(axpy(a, x, y), asum(x)) of NumPy's OpenBLAS for float32/float64 C-contiguous 1-D NumPy arrays (the
        caller checks), or None (not ``available``, another dtype). They run at the count ``set`` gave, i.e. on
        both cores in a 2-thread step: OpenBLAS splits them by entries, so the bits do not depend on it (the
        asum's last bits do, and it only serves the finiteness check)."""
        with self._lock:
            self._scan()
            mine = self._numpy_blas
        return None if mine is None else mine.level1(dtype)

    def _scan(self, again: bool = False) -> None:
        """Find NumPy's OpenBLAS (once), and, when ``again``, pin every other one loaded since to one thread."""
        if self._scanned and not again:
            return
        libs = loaded_openblas()
        numpy_libs = [lib for lib in libs if Path(lib.path).parent.name.lower().startswith("numpy")]
        mine = numpy_libs[0] if len(numpy_libs) == 1 else libs[0] if len(libs) == 1 else None
        if not self._scanned:
            self._scanned, self._numpy_blas = True, mine
            if mine is None:
                self.reason = (f"NumPy's OpenBLAS is not one of the {len(libs)} OpenBLAS libraries found"
                               if libs else "no OpenBLAS library found in this process")
            else:
                self.initial = self.current = mine.num_threads
        for lib in libs if again else ():
            if mine is not None and lib.path != mine.path and lib.num_threads != 1:
                lib.set_num_threads(1)

    def set(self, threads: int) -> None:
        """NumPy's BLAS at ``threads`` threads (a no-op when it already is, or when not ``available``)."""
        if threads == self.current or (threads == 1 and not self._scanned):  # never raised: left as it was
            return
        with self._lock:
            self._scan(again=threads > 1)
            if self._numpy_blas is not None:
                self._numpy_blas.set_num_threads(threads)
                self.current = threads

    def restore(self) -> None:
        """Back to the thread count NumPy's BLAS had before the first ``set``."""
        if self._scanned:
            self.set(self.initial)


_BLAS = BlasThreads()


def blas_threads() -> BlasThreads:
    """The process's one BlasThreads (a BLAS thread count is process-wide)."""
    return _BLAS
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
    """1 or 2 threads, chosen by timing the run's own steps, and checked all along.

    At the start, ``probe_steps`` steps at each count in turn, ``rounds`` times (1, 2, 1, 2); two threads are
    taken when their mean step is below ``margin`` times one thread's. After that, every ``interval`` steps
    at the count in use, ``probe_steps`` steps run at the other count, and their mean (without the first,
    which wakes or parks NumPy's second BLAS thread) is compared with the mean of the last ``window`` steps
    at the count in use, taken just before. Means, not medians: on a busy machine most 2-thread steps are quick
    and a few stall while another process holds the second BLAS thread's core, and the median missed the
    stalls (two CPU-bound processes beside training: 'auto' ran two threads for 774–964 of 1 000 steps and took
    6.6–9.2 s where one thread took 2.4–4.1 s, measured). The two samples are a fraction of a second apart, so a machine
    that gets busy (another process on the second core) is noticed within ~0.2 s and one that gets quiet again
    as soon. A probe step ``hopeless`` times slower than the other count ends its probe there. A probe that
    loses doubles ``interval`` (up to ``max_interval``): a count that stays slower, e.g.
    two threads on a busy machine, then costs at most ``probe_steps`` of every ``max_interval`` steps; a
    switch sets it back to ``min_interval``. Every step, probe or not, is a training step (the results are
    the same bits at either count), so measuring costs only the steps that ran at the slower count.

    Use: ``n = choice.threads()`` before a step, ``choice.record(n, seconds)`` after it.
    """

    def __init__(self, probe_steps: int = 6, rounds: int = 2, margin: float = 0.95, window: int = 24,
                 min_interval: int = 50, max_interval: int = 1600, hopeless: float = 3.0):
        self.probe_steps, self.margin, self.window = probe_steps, margin, window
        # a probe step this many times slower than the other count's steps ends the probe at once: beside two
        # CPU-bound processes a 2-thread step took 8–135 ms against ~3 ms at one thread (measured), so a full
        # probe could cost most of a second
        self.hopeless = hopeless
        self.min_interval, self.max_interval = min_interval, max_interval
        self.interval = min_interval  # steps at the count in use between probes
        self.current = 1
        self.probes = 0  # probes finished (the start counts as one)
        self.switches = 0  # times the count in use changed after the start
        self.last_probe: dict = {}  # {'1': mean s, '2': mean s, 'chose': n} of the latest probe
        self.steps_at = {n: 0 for n in THREAD_CHOICES}  # steps run at each count
        self._recent: deque[float] = deque(maxlen=window)  # the last step times at the count in use
        self._since_probe = 0
        self._start = True
        self._plan = [n for _ in range(rounds) for n in THREAD_CHOICES for _ in range(probe_steps)]
        self._times: dict[int, list[float]] = {n: [] for n in THREAD_CHOICES}

    def threads(self) -> int:
        """The thread count for the next step."""
        return self._plan[0] if self._plan else self.current

    def record(self, threads: int, seconds: float) -> None:
        """The step just run took ``seconds`` at ``threads`` threads."""
        self.steps_at[threads] += 1
        if self._plan:
            first_of_probe = not self._start and len(self._plan) == self.probe_steps
            self._plan.pop(0)
            if not first_of_probe:
                self._times[threads].append(seconds)
                if self._is_hopeless(threads, seconds):
                    self._plan.clear()
            if not self._plan:
                self._decide()
            return
        self._recent.append(seconds)
        self._since_probe += 1
        if self._since_probe >= self.interval:
            self._plan = [3 - self.current] * self.probe_steps
            self._times = {n: [] for n in THREAD_CHOICES}

    def _is_hopeless(self, threads: int, seconds: float) -> bool:
        """This probe step lost by more than ``hopeless`` times against the other count's mean so far."""
        other = self._times[3 - threads] if self._start else self._recent
        return bool(other) and seconds > self.hopeless * statistics.fmean(other)

    def _decide(self) -> None:
        if not self._start:  # the probe's count against the steps at the count in use just before it
            self._times[self.current] = list(self._recent)
        one, two = (statistics.fmean(self._times[n]) for n in THREAD_CHOICES)
        chose = 2 if two < self.margin * one else 1
        if not self._start:
            if chose != self.current:
                self.switches += 1
                self.interval = self.min_interval
                self._recent.clear()
            else:
                self.interval = min(2 * self.interval, self.max_interval)
        self.current, self._start, self._since_probe = chose, False, 0
        self.probes += 1
        self.last_probe = {"1": one, "2": two, "chose": chose}

    def report(self) -> dict:
        """What a run records: the count in use, steps run at each count, the probes and switches, and the
        last probe's mean step seconds at 1 and 2 threads."""
        return {"threads": self.current, "steps_at": {str(n): c for n, c in self.steps_at.items()},
                "probes": self.probes, "switches": self.switches, "last_probe": dict(self.last_probe)}
