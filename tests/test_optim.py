"""Optimisers: steps against the textbook (PyTorch) formulas written out by hand, every parameter
updated, and exact state_dict round trips."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

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
    m_true, v_true = opt.moments()
    np.testing.assert_allclose(m_true, m, rtol=1e-12)
    np.testing.assert_allclose(v_true, v, rtol=1e-12)


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


def _adam_reference(theta, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """PyTorch's Adam written out in float64: (theta, m, v) after the gradients in ``grads``."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    return theta, m, v


@pytest.mark.parametrize("b1, b2", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])
def test_adam_matches_the_formula_across_scale_folds(model, rng, b1, b2):
    """300 steps: the stored moments are folded several times (β1 = 0.9 every 66 steps, β1 = 0.5 every
    11, β1 = 0 every step); parameters and the true moments still follow the formula, and half of the
    entries get a zero gradient after step 100, as dead ReLU units do."""
    theta0 = model.flat.copy()
    grads = []
    for t in range(300):
        g = rng.standard_normal(model.n_params)
        if t >= 100:
            g[::2] = 0.0
        grads.append(g)
    opt = make_optimizer("adam", model, lr=1e-3, beta1=b1, beta2=b2)
    folds = 0
    for g in grads:
        set_grad(model, g)
        before = opt.m_scale
        opt.step()
        folds += opt.m_scale != before * b1  # else the scale just decayed
    theta, m, v = _adam_reference(theta0, grads, b1=b1, b2=b2)
    np.testing.assert_allclose(model.flat, theta, rtol=1e-11, atol=1e-14)
    m_true, v_true = opt.moments()
    np.testing.assert_allclose(m_true, m, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(v_true, v, rtol=1e-10, atol=1e-300)
    assert folds >= 300 // 66
    assert 1 / opt.FOLD_AT <= opt.m_scale <= 1 and 1 / opt.FOLD_AT <= opt.v_scale <= 1


def test_adam_flushes_moments_that_decay_below_the_normal_floats(rng):
    """A float32 moment whose gradient stays 0 decays by β1 a step; PyTorch walks it down through the
    (slow) denormal floats, ours sets it to 0 at the next fold once it is below the smallest normal."""
    model = small_model("ae", hidden=(8,), latent=3, dtype="float32")
    opt = make_optimizer("adam", model)
    set_grad(model, rng.standard_normal(model.n_params).astype(np.float32))
    opt.step()
    set_grad(model, np.zeros(model.n_params, np.float32))
    tiny = np.finfo(np.float32).tiny
    for _ in range(1000):  # 0.9**1000 ≈ 2e-46: every true m would be denormal or 0 long before
        opt.step()
        assert not np.any((opt.m != 0) & (np.abs(opt.m) < tiny))
    assert np.all(opt.m == 0) and np.all(opt.moments()[0] == 0)
    assert np.all(opt.v > 0)  # v decays by 0.999 a step: still far above the denormals
    assert np.all(np.isfinite(model.flat))


def test_adam_state_keeps_the_scales_and_older_states_load(model, rng):
    """The scales travel with the state (so a resumed run is bit-identical); a state saved before they
    existed holds true moments and loads with scale 1; a scale outside (0, 1] is refused."""
    opt = make_optimizer("adam", model)
    for _ in range(30):
        set_grad(model, rng.standard_normal(model.n_params))
        opt.step()
    state = opt.state_dict()
    assert state["m_scale"] == pytest.approx(0.9**30) and state["v_scale"] == pytest.approx(0.999**30)
    restored = optimizer_from_state(model.copy(), state)
    assert (restored.m_scale, restored.v_scale) == (opt.m_scale, opt.v_scale)
    old = {k: v for k, v in state.items() if k not in ("m_scale", "v_scale")}
    m_true, v_true = opt.moments()
    old["m"], old["v"] = m_true, v_true
    legacy = optimizer_from_state(model.copy(), old)
    assert legacy.m_scale == legacy.v_scale == 1.0
    np.testing.assert_array_equal(legacy.moments()[0], m_true)
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="m_scale"):
            optimizer_from_state(model.copy(), {**state, "m_scale": bad})
