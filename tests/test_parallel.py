"""Two threads in the engine (core/parallel.py): every split is bit-identical to one thread.

Which results are exact and which within round-off: all of them are exact. The engine splits only by
output columns (the large products) and by independent products (a layer's weight and input gradients);
it never splits a sum, so nothing here is compared with a tolerance.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.layers import affine_backward, affine_forward
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.parallel import SPLIT_MIN_MNK, ThreadChoice, Workers, parse_threads
from core.train import Trainer


@pytest.fixture
def workers():
    w = Workers()
    yield w
    w.close()


def _operands(rng, a_shape, b_shape, ta, tb):
    a = rng.standard_normal(a_shape[::-1] if ta else a_shape, dtype=np.float32)
    b = rng.standard_normal(b_shape[::-1] if tb else b_shape, dtype=np.float32)
    return (a.T if ta else a), (b.T if tb else b)


# the large products of a 560-256-16 step at batch 64 (forward, weight gradients, input gradients), of a
# 784-pixel one, and a float64 one
@pytest.mark.parametrize("a_shape,b_shape,ta,tb,dtype", [
    ((64, 560), (560, 256), False, False, np.float32), ((64, 256), (256, 560), False, False, np.float32),
    ((560, 64), (64, 256), True, False, np.float32), ((256, 64), (64, 560), True, False, np.float32),
    ((64, 560), (560, 256), False, True, np.float32), ((64, 784), (784, 256), False, False, np.float32),
    ((64, 560), (560, 256), False, False, np.float64)])
def test_split_products_are_bit_identical(workers, a_shape, b_shape, ta, tb, dtype):
    a, b = _operands(np.random.default_rng(0), a_shape, b_shape, ta, tb)
    a, b = a.astype(dtype), b.astype(dtype)
    assert a.shape[0] * a.shape[1] * b.shape[1] >= SPLIT_MIN_MNK  # really split
    out = np.empty((a.shape[0], b.shape[1]), dtype=dtype)
    assert workers.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, a @ b)
    np.testing.assert_array_equal(workers.matmul(a, b), a @ b)


def test_small_products_run_whole(workers):
    a, b = _operands(np.random.default_rng(1), (7, 560), (560, 256), False, False)
    calls = []
    workers.run = lambda mine, theirs: calls.append(1)  # would be called for a split
    np.testing.assert_array_equal(workers.matmul(a, b), a @ b)
    assert calls == []


@pytest.mark.parametrize("need_dx", [True, False])
def test_affine_layer_on_two_threads_is_bit_identical(workers, need_dx):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 256), dtype=np.float32)
    W = rng.standard_normal((256, 560), dtype=np.float32)
    b = rng.standard_normal(560, dtype=np.float32)
    out1, cache = affine_forward(x, W, b)
    out2, _ = affine_forward(x, W, b, workers)
    np.testing.assert_array_equal(out1, out2)
    dout = rng.standard_normal((64, 560), dtype=np.float32)
    grads = []
    for w in (None, workers):
        dW, db = np.empty_like(W), np.empty_like(b)
        grads.append(affine_backward(dout, cache, dW, db, need_dx=need_dx, workers=w))
    for one, two in zip(*grads, strict=True):
        if one is None:
            assert two is None
        else:
            np.testing.assert_array_equal(one, two)
    _, _, db = affine_backward(dout, cache, np.empty_like(W), None, need_dx=need_dx, workers=workers)
    np.testing.assert_array_equal(db, grads[0][2])  # a bias gradient without a buffer is returned as well


def _trained(config: ModelConfig, threads, steps: int = 60, batch: int = 64):
    X = np.random.default_rng(5).random((300, config.input_dim), dtype=np.float32)
    model = Model(config, seed=6)
    trainer = Trainer(model, make_optimizer("adam", model), X, batch_size=batch, log_every=20, eval_every=0,
                      threads=threads)
    result = trainer.run(steps)
    trainer.close()
    return model, trainer, result


@pytest.mark.parametrize("config", [
    ModelConfig(kind="vae"), ModelConfig(kind="ae"),
    ModelConfig(kind="vae", hidden=[256, 128], likelihood="gaussian-learned", enc_activation="tanh"),
    ModelConfig(kind="ae", input_dim=784)], ids=["vae", "ae", "vae-2-layers-learned-variance", "ae-784"])
def test_training_on_two_threads_is_bit_identical(config):
    one, _, _ = _trained(config, 1)
    for threads in (2, "auto"):
        other, trainer, result = _trained(config, threads)
        assert result.status == "finished"
        np.testing.assert_array_equal(one.flat, other.flat)
        np.testing.assert_array_equal(one.grad_flat, other.grad_flat)
    assert trainer.thread_report()["setting"] == "auto"
    assert sum(trainer.thread_report()["steps_at"].values()) == 60


def test_two_threads_really_use_the_helper():
    model = Model(ModelConfig(kind="vae"), seed=0)
    X = np.random.default_rng(0).random((200, 560), dtype=np.float32)
    trainer = Trainer(model, make_optimizer("adam", model), X, log_every=10, eval_every=0, threads=2)
    seen = set()
    run = trainer.workers.run

    def spy(mine, theirs):
        def theirs_logged():
            seen.add(threading.current_thread().name)
            theirs()
        run(mine, theirs_logged)

    trainer.workers.run = spy
    stats = [s for s in (trainer.step() for _ in range(10)) if s is not None]
    assert seen == {"vae-helper"}
    assert stats[-1]["threads"] == 2
    trainer.close()


def test_one_thread_trainer_has_no_helper():
    model = Model(ModelConfig(kind="ae"), seed=0)
    before = threading.active_count()
    trainer = Trainer(model, make_optimizer("adam", model), np.zeros((100, 560), np.float32), eval_every=0)
    assert trainer.workers is None and trainer.threads == 1
    assert threading.active_count() == before
    assert trainer.thread_report() == {"setting": 1, "threads": 1}


def test_workers_run_both_and_raise_either_error(workers):
    done = []
    workers.run(lambda: done.append("mine"), lambda: done.append("theirs"))
    assert sorted(done) == ["mine", "theirs"]

    def fail():
        raise ValueError("helper failed")

    with pytest.raises(ValueError, match="helper failed"):
        workers.run(lambda: None, fail)
    with pytest.raises(ZeroDivisionError):
        workers.run(lambda: 1 / 0, lambda: None)
    workers.run(lambda: done.append("again"), lambda: done.append("still"))  # usable after errors
    assert done[-2:] == ["again", "still"] or done[-2:] == ["still", "again"]


def test_nested_or_concurrent_runs_fall_back_to_one_thread(workers):
    order = []
    workers.run(lambda: workers.run(lambda: order.append(1), lambda: order.append(2)), lambda: order.append(3))
    assert sorted(order) == [1, 2, 3]
    workers.close()
    assert not workers.alive
    names = []
    workers.run(lambda: names.append(threading.current_thread().name),
                lambda: names.append(threading.current_thread().name))
    assert names == [threading.current_thread().name] * 2


def test_helper_thread_ends_on_close():
    w = Workers()
    helper = w._thread
    assert helper.is_alive()
    w.close()
    helper.join(timeout=5)
    assert not helper.is_alive()


def _feed(choice: ThreadChoice, seconds: dict, steps: int) -> list[int]:
    used = []
    for _ in range(steps):
        n = choice.threads()
        used.append(n)
        choice.record(n, seconds[n])
    return used


def test_choice_takes_two_threads_when_faster_and_falls_back_when_busy():
    choice = ThreadChoice(probe_steps=3, rounds=2, recheck_s=0.01, margin=0.95)
    used = _feed(choice, {1: 1e-3, 2: 0.7e-3}, 12)  # the first probe: 1,1,1,2,2,2,1,1,1,2,2,2
    assert used == [1] * 3 + [2] * 3 + [1] * 3 + [2] * 3
    assert choice.current == 2 and choice.probes == 1
    assert choice.last_probe == {"1": 1e-3, "2": 0.7e-3, "chose": 2}
    assert _feed(choice, {1: 1e-3, 2: 0.7e-3}, 15) == [2] * 15  # settled, 10 ms of steps
    # the machine got busy: two threads now slower; the next probe (starting with the count in use) goes back
    used = _feed(choice, {1: 1.2e-3, 2: 5e-3}, 12)
    assert used == [2] * 3 + [1] * 3 + [2] * 3 + [1] * 3
    assert choice.current == 1 and choice.probes == 2
    report = choice.report()
    assert report["threads"] == 1 and report["steps_at"] == {"1": 12, "2": 27} and report["probes"] == 2


def test_choice_waits_longer_while_one_thread_stays_faster():
    choice = ThreadChoice(probe_steps=1, rounds=1, recheck_s=1.0, max_recheck_s=3.0)
    busy = {1: 0.125, 2: 0.5}
    waits = []
    for _ in range(4):  # a probe (2 steps), then the steps until the next one
        _feed(choice, busy, 2)
        waits.append(choice.wait_s)
        _feed(choice, busy, round(choice.wait_s / 0.125))
    assert waits == [2.0, 3.0, 3.0, 3.0] and choice.current == 1 and choice.probes == 4
    _feed(choice, {1: 0.125, 2: 0.0625}, 2)  # quiet again: two threads, and back to the short wait
    assert choice.current == 2 and choice.wait_s == 1.0


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


def test_a_run_ends_its_helper_and_the_next_run_starts_one():
    model = Model(ModelConfig(kind="ae"), seed=0)
    X = np.random.default_rng(0).random((200, 560), dtype=np.float32)
    trainer = Trainer(model, make_optimizer("adam", model), X, log_every=10, eval_every=0, threads=2)
    first = trainer.workers
    trainer.run(5)
    first._thread.join(timeout=5)
    assert not first._thread.is_alive() and not first.alive
    result = trainer.run(5)
    assert result.status == "finished" and trainer.workers is not first and not trainer.workers.alive
    assert model.step == 10


def test_a_forked_child_runs_both_parts_itself(workers):
    workers._pid = -1  # what a child process made by fork() sees: the helper thread did not come along
    names = []
    workers.run(lambda: names.append(threading.current_thread().name),
                lambda: names.append(threading.current_thread().name))
    assert names == [threading.current_thread().name] * 2
