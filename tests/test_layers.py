"""Each layer's forward/backward pair against central finite differences on small random arrays.

The check: for a random upstream gradient ``dout``, the scalar f = Σ dout·forward(inputs) has
∂f/∂input = backward(dout); its finite difference is computed entry by entry in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from core import layers

H = 1e-6


def numeric_grad(f, array: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. every entry of ``array`` (changed in place, restored)."""
    grad = np.zeros_like(array)
    it = np.nditer(array, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = array[i]
        array[i] = old + H
        fp = f()
        array[i] = old - H
        fm = f()
        array[i] = old
        grad[i] = (fp - fm) / (2 * H)
    return grad


def assert_close(analytic, numeric, rtol=1e-6):
    scale = np.abs(numeric).max() + 1e-12
    assert np.abs(analytic - numeric).max() <= rtol * scale, (analytic, numeric)


def test_affine_forward_matches_formula(rng):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    out, _ = layers.affine_forward(x, W, b)
    np.testing.assert_allclose(out, x @ W + b[None, :], rtol=1e-12)
    assert out.shape == (5, 3)


@pytest.mark.parametrize("use_buffers", [False, True])
def test_affine_backward_matches_finite_differences(rng, use_buffers):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((5, 3))

    def f():
        return float((layers.affine_forward(x, W, b)[0] * dout).sum())

    _, cache = layers.affine_forward(x, W, b)
    if use_buffers:  # the model passes views of its flat gradient vector as output buffers
        dW_buf, db_buf = np.full((4, 3), np.nan), np.full(3, np.nan)
        dx, dW, db = layers.affine_backward(dout, cache, dW=dW_buf, db=db_buf)
        assert dW is dW_buf and db is db_buf
    else:
        dx, dW, db = layers.affine_backward(dout, cache)
    assert_close(dx, numeric_grad(f, x))
    assert_close(dW, numeric_grad(f, W))
    assert_close(db, numeric_grad(f, b))
    none_dx, _, _ = layers.affine_backward(dout, cache, need_dx=False)
    assert none_dx is None


@pytest.mark.parametrize("inplace", [False, True])
def test_relu_forward_backward(rng, inplace):
    # keep inputs away from the kink at 0, where the derivative is undefined
    a = rng.standard_normal((6, 5))
    a[np.abs(a) < 0.05] = 0.5
    a_orig = a.copy()
    dout = rng.standard_normal((6, 5))

    def f():
        return float((layers.relu_forward(a.copy())[0] * dout).sum())

    out, cache = layers.relu_forward(a.copy() if not inplace else a, inplace=inplace)
    np.testing.assert_array_equal(out, np.maximum(a_orig, 0))
    d = layers.relu_backward(dout.copy(), cache, inplace=inplace)
    a[...] = a_orig
    assert_close(d, numeric_grad(f, a))
    assert np.all(d[a_orig < 0] == 0)


@pytest.mark.parametrize("shape", [(64, 256), (3, 5), (300, 300)])  # the last is past ZEROS_CACHED: a row of zeros
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_max_with_zero_bit_for_bit_and_leaves_its_zeros_alone(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    a.flat[:3] = [np.nan, -0.0, np.inf]
    expected = np.maximum(a, 0)
    out, _ = layers.relu_forward(a.copy())
    np.testing.assert_array_equal(out, expected)  # NaN stays NaN
    inplace = a.copy()
    out2, cache = layers.relu_forward(inplace, inplace=True)
    assert out2 is inplace and cache is inplace
    np.testing.assert_array_equal(out2, expected)
    zeros = layers._zeros(np, shape if a.size <= layers.ZEROS_CACHED else shape[-1:], np.dtype(dtype))
    assert not zeros.any()  # the shared zeros were an input, never an output


def test_sigmoid_forward_backward(rng):
    a = rng.standard_normal((4, 7)) * 3
    dout = rng.standard_normal((4, 7))

    def f():
        return float((layers.sigmoid_forward(a)[0] * dout).sum())

    out, cache = layers.sigmoid_forward(a)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-a)), rtol=1e-14, atol=1e-15)
    assert_close(layers.sigmoid_backward(dout, cache), numeric_grad(f, a))


def test_sigmoid_and_softplus_are_stable_at_extremes():
    a = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp overflow would raise here
        s = layers.sigmoid(a)
        sp = layers.softplus(a)
    # absolute accuracy is what a probability needs (the tanh form rounds sigmoid(-50) ~ 2e-22 to 0)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(50.0)), 0.5, 1 / (1 + np.exp(-50.0)), 1.0], rtol=0,
                               atol=1e-15)
    np.testing.assert_allclose(sp, [0.0, np.log1p(np.exp(-50.0)), np.log(2.0), 50.0 + np.log1p(np.exp(-50.0)),
                                    1000.0], rtol=1e-12, atol=1e-300)


def test_softplus_derivative_is_sigmoid(rng):
    a = rng.standard_normal(9) * 4

    def f():
        return float(layers.softplus(a).sum())

    assert_close(layers.sigmoid(a), numeric_grad(f, a))


def test_layers_keep_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    W = rng.standard_normal((4, 2)).astype(np.float32)
    b = np.zeros(2, np.float32)
    out, cache = layers.affine_forward(x, W, b)
    assert out.dtype == np.float32
    dx, dW, db = layers.affine_backward(np.ones_like(out), cache)
    assert dx.dtype == dW.dtype == db.dtype == np.float32
    assert layers.sigmoid(out).dtype == np.float32
