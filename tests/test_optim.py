"""Optimisers: steps against the textbook (PyTorch) formulas written out by hand, every parameter
updated, and exact state_dict round trips."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small_model

from core.optim import OPTIMIZERS, make_optimizer, optimizer_from_state


def set_grad(model, g):
    model.grad_flat[...] = g


@pytest.fixture
def model():
    return small_model("vae", hidden=(8,), latent=3)


def two_gradients(model, rng):
    n = model.n_params
    return rng.standard_normal(n), rng.standard_normal(n) * 0.5


def test_sgd_momentum_two_steps(model, rng):
    theta0 = model.flat.copy()
    g1, g2 = two_gradients(model, rng)
    opt = make_optimizer("sgd", model, lr=0.1, momentum=0.9)
    set_grad(model, g1)
    opt.step()
    buf = g1
    np.testing.assert_allclose(model.flat, theta0 - 0.1 * buf, rtol=1e-13, atol=1e-15)
    set_grad(model, g2)
    opt.step()
    buf = 0.9 * buf + g2
    np.testing.assert_allclose(model.flat, theta0 - 0.1 * g1 - 0.1 * buf, rtol=1e-13, atol=1e-15)
    assert opt.t == 2


def test_sgd_without_momentum(model, rng):
    theta0 = model.flat.copy()
    g1, g2 = two_gradients(model, rng)
    opt = make_optimizer("sgd", model, lr=0.05, momentum=0.0)
    for g in (g1, g2):
        set_grad(model, g)
        opt.step()
    np.testing.assert_allclose(model.flat, theta0 - 0.05 * (g1 + g2), rtol=1e-13, atol=1e-15)


def test_adagrad_two_steps(model, rng):
    theta0 = model.flat.copy()
    g1, g2 = two_gradients(model, rng)
    opt = make_optimizer("adagrad", model, lr=0.01, eps=1e-10)
    set_grad(model, g1)
    opt.step()
    theta1 = theta0 - 0.01 * g1 / (np.sqrt(g1**2) + 1e-10)
    np.testing.assert_allclose(model.flat, theta1, rtol=1e-12, atol=1e-15)
    set_grad(model, g2)
    opt.step()
    theta2 = theta1 - 0.01 * g2 / (np.sqrt(g1**2 + g2**2) + 1e-10)
    np.testing.assert_allclose(model.flat, theta2, rtol=1e-12, atol=1e-15)


def test_adam_three_steps_match_pytorch_formula(model, rng):
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    theta = model.flat.copy()
    opt = make_optimizer("adam", model, lr=lr, beta1=b1, beta2=b2, eps=eps)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, 4):
        g = rng.standard_normal(theta.size) * 10.0**-t  # shrinking gradients make eps matter
        set_grad(model, g)
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(model.flat, theta, rtol=1e-12, atol=1e-15)
    assert opt.t == 3
    np.testing.assert_allclose(opt.m, m, rtol=1e-12)
    np.testing.assert_allclose(opt.v, v, rtol=1e-12)


def test_adam_first_step_moves_every_entry_by_lr(model, rng):
    """The bias-corrected first Adam step is lr·sign(g) (for |g| ≫ eps)."""
    theta0 = model.flat.copy()
    g = rng.standard_normal(model.n_params)
    g += 0.1 * np.sign(g)  # |g| ≥ 0.1, far above eps
    set_grad(model, g)
    make_optimizer("adam", model, lr=0.01).step()
    np.testing.assert_allclose(theta0 - model.flat, 0.01 * np.sign(g), rtol=1e-5)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_parameter_including_biases_is_updated(name, synthetic_faces):
    model = small_model("vae", hidden=(8,), latent=3)
    for p_name, p in model.params.items():  # generic biases so no unit is dead
        if p_name.endswith(".b"):
            p[...] = 0.1
    before = model.params_numpy()
    opt = make_optimizer(name, model, lr=1e-2)
    model.forward_backward(model.asarray(synthetic_faces[:16]), np.ones((16, 3)) * 0.3)
    grads = {k: g.copy() for k, g in model.grads.items()}
    opt.step()
    after = model.params_numpy()
    for p_name in before:
        changed = after[p_name] != before[p_name]
        assert changed.any(), f"{name} left {p_name} unchanged"
        # wherever the gradient is non-zero the entry moved
        assert np.all(changed[grads[p_name] != 0]), p_name


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_gives_identical_next_steps(name, model, rng):
    opt = make_optimizer(name, model, lr=0.02)
    for _ in range(3):
        set_grad(model, rng.standard_normal(model.n_params))
        opt.step()
    state = opt.state_dict()
    assert state["name"] == name and state["t"] == 3
    assert all(isinstance(state[k], np.ndarray) for k in opt.state_arrays)
    clone = model.copy()
    restored = optimizer_from_state(clone, state)
    assert type(restored) is type(opt) and restored.hyper() == opt.hyper()
    state[opt.state_arrays[0]][...] = 123.0  # state_dict must hand out copies
    assert not np.any(getattr(opt, opt.state_arrays[0]) == 123.0)
    for _ in range(2):
        g = rng.standard_normal(model.n_params)
        set_grad(model, g)
        set_grad(clone, g)
        opt.step()
        restored.step()
    np.testing.assert_array_equal(clone.flat, model.flat)
    assert restored.t == opt.t == 5


def test_load_state_dict_refuses_wrong_optimizer_or_shape(model):
    adam = make_optimizer("adam", model)
    with pytest.raises(ValueError, match="adam"):
        make_optimizer("sgd", model).load_state_dict(adam.state_dict())
    other = small_model("vae", hidden=(4,), latent=2)
    with pytest.raises(ValueError, match="shape"):
        make_optimizer("adam", other).load_state_dict(adam.state_dict())


@pytest.mark.parametrize("lr", [0, -1.0, float("nan"), float("inf")])
def test_bad_learning_rates_are_refused(model, lr):
    with pytest.raises(ValueError, match="learning rate"):
        make_optimizer("adam", model, lr=lr)


def test_unknown_optimizer_is_refused(model):
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", model)


def test_float32_optimizer_keeps_float32(rng):
    model = small_model("ae", hidden=(8,), latent=3, dtype="float32")
    opt = make_optimizer("adam", model)
    set_grad(model, rng.standard_normal(model.n_params).astype(np.float32))
    opt.step()
    assert model.flat.dtype == np.float32 and opt.m.dtype == np.float32
