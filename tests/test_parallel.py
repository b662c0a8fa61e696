"""Both cores in training (core/parallel.py): NumPy's BLAS at two threads during a step, the same bits as one.

Which results are exact and which within round-off: every result of training is exact, at any thread count
(one thread, two, or 'auto' switching between them). The products whose summed dimension K is longer than
OpenBLAS's K block (core.parallel.BlasThreads.k_block) are summed slice by slice, which is within float32
round-off of one whole BLAS call (test_sliced_product_is_the_product_within_round_off) and the same bits at one
BLAS thread and at two (a whole 64×560 @ 560×256 call was not, on this machine's OpenBLAS); shorter ones are one
call, equal at both counts.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg.blas  # noqa: F401 - SciPy's own OpenBLAS loaded, as in the program (which must keep it at one)
from threadpoolctl import ThreadpoolController, threadpool_info

from core.layers import affine_backward, affine_forward
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.parallel import (
    GEMM_Q,
    SMALLEST_GEMM_Q,
    BlasThreads,
    ThreadChoice,
    blas_threads,
    data_address,
    k_slices,
    matmul,
    parse_threads,
)
from core.train import Trainer


def _blas_counts() -> dict[str, int]:
    """{'numpy': threads, 'scipy': threads} of the two wheels' OpenBLAS libraries."""
    counts = {}
    for lib in threadpool_info():
        if lib["user_api"] == "blas":
            for owner in ("numpy", "scipy"):
                if f"{owner}.libs" in lib["filepath"] or f"/{owner}/" in lib["filepath"]:
                    counts[owner] = lib["num_threads"]
    return counts


@pytest.fixture
def blas():
    b = blas_threads()
    assert b.available, b.reason
    yield b
    b.restore()


@pytest.mark.parametrize("k,block", [(560, 384), (784, 384), (1000, 256), (384, 384), (385, 384), (17, 384),
                                     (4096, 256)])
def test_k_slices_cover_k_in_order_within_the_block(k, block):
    slices = k_slices(k, block)
    assert slices[0].start == 0 and slices[-1].stop == k
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:], strict=False))
    assert all(0 < s.stop - s.start <= block and s.start % 16 == 0 for s in slices)
    assert len(slices) == -(-k // block)  # the fewest slices


def _operands(rng, m, k, n, dtype, ta=False, tb=False):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return (a.T if ta else a), (b.T if tb else b)


# every large product of a 560-256-16 step at batch 64 (forward, output layer, weight and input gradients),
# a 784-pixel first layer, a batch of 1000 (K = batch in the weight gradients), float64
@pytest.mark.parametrize("m,k,n,dtype,ta,tb", [
    (64, 560, 256, np.float32, False, False), (64, 256, 560, np.float32, False, False),
    (560, 64, 256, np.float32, True, False), (64, 560, 256, np.float32, False, True),
    (64, 784, 256, np.float32, False, False), (560, 1000, 256, np.float32, True, False),
    (64, 560, 256, np.float64, False, False), (64, 1000, 400, np.float64, False, True)])
def test_products_are_bit_identical_at_one_and_two_blas_threads(blas, m, k, n, dtype, ta, tb):
    a, b = _operands(np.random.default_rng(0), m, k, n, dtype, ta, tb)
    blas.set(1)
    one = matmul(a, b)
    blas.set(2)
    assert _blas_counts()["numpy"] == 2
    two = matmul(a, b)
    out = np.empty_like(one)
    assert matmul(a, b, out=out) is out
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, out)


@pytest.mark.parametrize("need_dx", [True, False])
def test_affine_layer_is_bit_identical_at_one_and_two_blas_threads(blas, need_dx):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 560), dtype=np.float32)  # K = 560 forward, 64 for dW, 256 for dx
    W = rng.standard_normal((560, 256), dtype=np.float32)
    b = rng.standard_normal(256, dtype=np.float32)
    dout = rng.standard_normal((64, 256), dtype=np.float32)
    results = []
    for threads in (1, 2):
        blas.set(threads)
        out, cache = affine_forward(x, W, b)
        results.append((out, *affine_backward(dout, cache, np.empty_like(W), np.empty_like(b), need_dx=need_dx)))
    for one, two in zip(*results, strict=True):
        if one is None:
            assert two is None
        else:
            np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sliced_product_is_the_product_within_round_off(dtype):
    a, b = _operands(np.random.default_rng(1), 64, 3 * blas_threads().k_block(np.dtype(dtype)) + 5, 100, dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(matmul(a, b), exact, rtol=tol, atol=tol * np.abs(exact).max())
    short = a[:, :10], b[:10]
    np.testing.assert_array_equal(matmul(*short), short[0] @ short[1])  # a short K is one plain product


def test_two_threads_raise_numpys_blas_alone_and_restore_puts_it_back(blas):
    before = _blas_counts()
    scipy_blas = [lib["filepath"] for lib in threadpool_info() if "scipy" in lib["filepath"]]
    ThreadpoolController().select(filepath=scipy_blas).limit(limits=2)  # as OPENBLAS_NUM_THREADS=2 would
    blas.set(2)
    assert _blas_counts() == {"numpy": 2, "scipy": 1}  # two pools spinning at once took 24 ms per step
    blas.restore()
    assert _blas_counts()["numpy"] == before["numpy"] == blas.initial


def test_the_k_block_is_the_kernels_own(monkeypatch):
    blas = blas_threads()
    assert blas.available  # also the scan that finds NumPy's OpenBLAS, whichever test of the worker runs first
    core = blas._numpy_blas.corename
    assert core  # OpenBLAS names the kernel it chose, e.g. 'SkylakeX'
    want = GEMM_Q.get(core.lower(), SMALLEST_GEMM_Q)
    assert (blas.k_block(np.dtype(np.float32)), blas.k_block(np.dtype(np.float64))) == want
    assert blas.k_block(np.dtype(np.int64)) == 0
    monkeypatch.setattr("core.parallel.loaded_openblas", lambda: [])
    assert BlasThreads().k_block(np.dtype(np.float32)) == 0  # threads never change: nothing to slice


def test_without_numpys_openblas_two_threads_are_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr("core.parallel.loaded_openblas", lambda: [])  # e.g. NumPy built on another BLAS
    missing = BlasThreads()
    assert not missing.available and "no OpenBLAS" in missing.reason
    missing.set(2)  # a no-op, no error
    assert missing.current is None


def _trained(config: ModelConfig, threads, steps: int = 60, batch: int = 64):
    X = np.random.default_rng(5).random((max(300, batch), config.input_dim), dtype=np.float32)
    model = Model(config, seed=6)
    trainer = Trainer(model, make_optimizer("adam", model), X, batch_size=batch, log_every=20, eval_every=0,
                      threads=threads)
    result = trainer.run(steps)
    trainer.close()
    return model, trainer, result


@pytest.mark.parametrize("config,batch", [
    (ModelConfig(kind="vae"), 64), (ModelConfig(kind="ae"), 64),
    (ModelConfig(kind="vae", hidden=[256, 128], likelihood="gaussian-learned", enc_activation="tanh"), 64),
    (ModelConfig(kind="ae", input_dim=784), 64), (ModelConfig(kind="vae", dtype="float64"), 64),
    (ModelConfig(kind="vae", hidden=[512]), 448)],
    ids=["vae", "ae", "vae-2-layers-learned-variance", "ae-784", "vae-float64", "vae-batch-448"])
def test_training_on_two_threads_is_bit_identical(config, batch):
    one, _, _ = _trained(config, 1, batch=batch)
    for threads in (2, "auto"):
        other, trainer, result = _trained(config, threads, batch=batch)
        assert result.status == "finished"
        np.testing.assert_array_equal(one.flat, other.flat)
        np.testing.assert_array_equal(one.grad_flat, other.grad_flat)
    assert trainer.thread_report()["setting"] == "auto"
    assert sum(trainer.thread_report()["steps_at"].values()) == 60
    assert _blas_counts()["numpy"] == blas_threads().initial  # run() gave the BLAS count back


def test_two_thread_steps_run_numpys_blas_on_two_threads(monkeypatch):
    model = Model(ModelConfig(kind="vae"), seed=0)
    X = np.random.default_rng(0).random((200, 560), dtype=np.float32)
    trainer = Trainer(model, make_optimizer("adam", model), X, log_every=10, eval_every=0, threads=2)
    seen = []
    original = model.forward_backward
    monkeypatch.setattr(model, "forward_backward", lambda *a, **k: (seen.append(_blas_counts()), original(*a, **k))[1])
    stats = [s for s in (trainer.step() for _ in range(10)) if s is not None]
    assert seen and all(counts == {"numpy": 2, "scipy": 1} for counts in seen)
    assert stats[-1]["threads"] == 2
    trainer.close()
    assert _blas_counts()["numpy"] == blas_threads().initial


def test_one_thread_trainer_leaves_blas_alone():
    model = Model(ModelConfig(kind="ae"), seed=0)
    trainer = Trainer(model, make_optimizer("adam", model), np.zeros((100, 560), np.float32), eval_every=0)
    before = _blas_counts()
    trainer.run(3)
    assert trainer.threads == 1 and _blas_counts() == before
    assert trainer.thread_report() == {"setting": 1, "threads": 1}


def test_a_trainer_that_cannot_use_two_threads_says_why(monkeypatch):
    monkeypatch.setattr("core.parallel.loaded_openblas", lambda: [])
    monkeypatch.setattr("core.parallel._BLAS", BlasThreads())
    model = Model(ModelConfig(kind="ae"), seed=0)
    trainer = Trainer(model, make_optimizer("adam", model), np.zeros((100, 560), np.float32), eval_every=0,
                      threads="auto")
    trainer.run(3)
    report = trainer.thread_report()
    assert report["threads"] == 1 and "no OpenBLAS" in report["why_one"]


def _feed(choice: ThreadChoice, seconds: dict, steps: int) -> list[int]:
    used = []
    for _ in range(steps):
        n = choice.threads()
        used.append(n)
        choice.record(n, seconds[n])
    return used


def test_choice_takes_two_threads_when_faster_and_falls_back_when_busy():
    choice = ThreadChoice(probe_steps=3, rounds=2, margin=0.95, window=4, min_interval=5, max_interval=20)
    used = _feed(choice, {1: 1e-3, 2: 0.7e-3}, 12)  # the start: 1,1,1,2,2,2,1,1,1,2,2,2
    assert used == [1] * 3 + [2] * 3 + [1] * 3 + [2] * 3
    assert choice.current == 2 and choice.probes == 1
    assert choice.last_probe == {"1": 1e-3, "2": 0.7e-3, "chose": 2}
    # settled: 5 steps at two threads, a probe of 3 at one (still slower), so twice as long until the next
    assert _feed(choice, {1: 1e-3, 2: 0.7e-3}, 8) == [2] * 5 + [1] * 3
    assert choice.current == 2 and choice.interval == 10 and choice.switches == 0
    # the machine got busy: two threads now slower; the next probe (one thread) is noticed at once
    assert _feed(choice, {1: 1.2e-3, 2: 5e-3}, 13) == [2] * 10 + [1] * 3
    assert choice.current == 1 and choice.switches == 1 and choice.interval == 5
    assert choice.last_probe == {"1": 1.2e-3, "2": 5e-3, "chose": 1}
    report = choice.report()
    assert report["threads"] == 1 and report["steps_at"] == {"1": 12, "2": 21} and report["probes"] == 3


def test_a_probes_first_step_is_not_counted():
    """The first step after a switch wakes (or parks) NumPy's second BLAS thread: left out of the probe."""
    choice = ThreadChoice(probe_steps=3, rounds=1, window=4, min_interval=4)
    _feed(choice, {1: 2e-3, 2: 1e-3}, 6)  # start: two threads
    for _ in range(4):
        choice.record(choice.threads(), 1e-3)
    assert choice.threads() == 1
    for seconds in (0.1e-3, 5e-3, 5e-3):  # a fast first step, then the real one-thread speed
        choice.record(choice.threads(), seconds)
    assert choice.current == 2 and choice.last_probe["1"] == 5e-3


def test_choice_probes_less_often_while_one_thread_stays_faster():
    choice = ThreadChoice(probe_steps=2, rounds=1, window=8, min_interval=8, max_interval=32)
    busy = {1: 1e-3, 2: 4e-3}
    _feed(choice, busy, 4)
    assert choice.current == 1
    intervals, at_two = [], []
    for _ in range(4):  # the steps until a probe, then the probe
        before = choice.steps_at[2]
        _feed(choice, busy, choice.interval + 2)
        intervals.append(choice.interval)
        at_two.append(choice.steps_at[2] - before)
    assert intervals == [16, 32, 32, 32] and at_two == [2, 2, 2, 2] and choice.current == 1
    _feed(choice, {1: 1e-3, 2: 0.5e-3}, 32 + 2)  # quiet again: two threads, and probes as often as at first
    assert choice.current == 2 and choice.interval == 8 and choice.switches == 1


def test_choice_stays_at_one_thread_for_a_small_gain():
    choice = ThreadChoice(probe_steps=2, rounds=1)
    _feed(choice, {1: 1e-3, 2: 0.97e-3}, 4)
    assert choice.current == 1


@pytest.mark.parametrize("value,expected", [("auto", "auto"), ("AUTO", "auto"), ("1", 1), ("2", 2), (1, 1), (2, 2)])
def test_parse_threads(value, expected):
    assert parse_threads(value) == expected


@pytest.mark.parametrize("value", ["3", "0", "two", "", 3, True, 1.5, None])
def test_parse_threads_rejects(value):
    with pytest.raises(ValueError, match="threads must be auto, 1 or 2"):
        parse_threads(value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_numpys_level1_calls_match_scipys_bit_for_bit(blas, dtype, threads):
    """Adam's axpy through NumPy's OpenBLAS (split over its threads) writes the bits SciPy's one-thread axpy
    writes; its asum is Σ|x| and carries a NaN or an inf through (the trainer's finiteness check)."""
    blas.set(threads)
    axpy, asum = blas.level1(dtype)
    rng = np.random.default_rng(3)
    x, y = (rng.standard_normal(300_001).astype(dtype) for _ in range(2))
    want = y.copy()
    getattr(scipy.linalg.blas, ("s" if dtype == np.float32 else "d") + "axpy")(x, want, a=-0.37)
    axpy(-0.37, x, y)
    np.testing.assert_array_equal(y, want)
    assert asum(x) == pytest.approx(float(np.abs(x.astype(np.float64)).sum()), rel=1e-5)
    for bad in (np.nan, np.inf):
        x[123_456] = bad
        assert not np.isfinite(asum(x))
    assert blas.level1(np.int64) is None


def test_adam_writes_the_same_bits_without_numpys_blas(monkeypatch):
    """Where NumPy's OpenBLAS is not found (another BLAS), Adam's axpys fall back to SciPy's: same bits."""
    from core import optim

    def trained():
        optim.host_level1.cache_clear()
        model = Model(ModelConfig(kind="vae"), seed=2)
        X = np.random.default_rng(4).random((200, model.config.input_dim), dtype=np.float32)
        Trainer(model, make_optimizer("adam", model), X, batch_size=32, log_every=10, eval_every=0).run(40)
        return model.flat.copy()

    numpys = trained()
    monkeypatch.setattr(BlasThreads, "level1", lambda self, dtype: None)
    assert optim.host_level1.__wrapped__(np.float32) is not None  # SciPy's pair, not None
    try:
        np.testing.assert_array_equal(trained(), numpys)
    finally:
        optim.host_level1.cache_clear()


def test_data_address_is_the_arrays_own_also_after_its_id_is_reused():
    for _ in range(200):  # fresh arrays often reuse a dead one's id: the weak reference tells them apart
        x = np.arange(7, dtype=np.float32)
        assert data_address(x) == x.ctypes.data
        assert data_address(x[2:]) == x.ctypes.data + 8
        del x
    views = [np.zeros(4)[1:] for _ in range(100)]  # more live arrays than the memo keeps
    assert all(data_address(v) == v.ctypes.data for v in views)


def test_axpy_never_hands_mismatched_arrays_to_the_blas():
    """The BLAS call takes y's length on trust: arrays of another length, dtype or layout take NumPy's path."""
    from core.optim import axpy

    y = np.zeros(10, np.float32)
    with pytest.raises(ValueError):
        axpy(1.0, np.ones(5, np.float32), y)  # NumPy refuses the broadcast; no read past x's end
    axpy(2.0, np.ones(20, np.float32)[::2], y)  # a strided view
    np.testing.assert_array_equal(y, np.full(10, 2.0, np.float32))
    axpy(1.0, np.ones(10, np.float64), y)
    np.testing.assert_array_equal(y, np.full(10, 3.0, np.float32))
    y.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        axpy(1.0, np.ones(10, np.float32), y)  # NumPy's refusal, not a BLAS write into read-only memory
    np.testing.assert_array_equal(y, np.full(10, 3.0, np.float32))


def test_a_hopeless_probe_ends_at_its_first_counted_step():
    """Beside busy programs a 2-thread step can take ~10× a 1-thread one: the probe stops as soon as one step
    shows it, at the start and later, and the choice stays one thread."""
    choice = ThreadChoice(probe_steps=6, rounds=2, window=8, min_interval=8)
    busy = {1: 1e-3, 2: 10e-3}
    assert _feed(choice, busy, 8) == [1] * 6 + [2] + [1]  # the start: one 2-thread step was enough
    assert choice.current == 1 and choice.probes == 1 and choice.last_probe["2"] == 10e-3
    used = _feed(choice, busy, 7 + 2)  # 8 steps since the start, then a probe: its uncounted step and one more
    assert used[-2:] == [2, 2] and choice.threads() == 1 and choice.probes == 2
    assert choice.steps_at[2] == 3
    slow_but_not_hopeless = ThreadChoice(probe_steps=3, rounds=1)
    assert _feed(slow_but_not_hopeless, {1: 1e-3, 2: 2.5e-3}, 6) == [1, 1, 1, 2, 2, 2]  # probed to the end


def test_a_probe_counts_the_stalls_between_quick_steps():
    """Beside busy programs most 2-thread steps are quick and some stall for the second core: the mean of the
    probe sees that two threads lose, where its median (the quick steps) said they win."""
    choice = ThreadChoice(probe_steps=6, rounds=1, window=8, min_interval=8, hopeless=100.0)
    _feed(choice, {1: 2e-3, 2: 3e-3}, 12)  # the start: one thread
    assert choice.current == 1
    _feed(choice, {1: 2e-3}, 8)  # 8 steps at one thread, then a probe
    assert choice.threads() == 2  # the probe begins
    for seconds in (1e-3, 1e-3, 1e-3, 9e-3, 1e-3, 1e-3):  # its first step uncounted; one stall among quick steps
        choice.record(choice.threads(), seconds)
    assert choice.last_probe["2"] == pytest.approx(2.6e-3) and choice.current == 1
