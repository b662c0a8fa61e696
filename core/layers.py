"""Layers as forward/backward pairs (batch-major: x has shape (N, D), W has shape (D, H)).

Each ``*_forward`` returns ``(out, cache)``; each ``*_backward(dout, cache)`` returns the
gradients. Arrays may be NumPy or CuPy: only operators and array methods both support are used.
Gradient buffers may be passed in (``dW=``, ``db=``) so a model writes straight into its flat
gradient vector without temporaries.
"""

from __future__ import annotations

from functools import lru_cache

from .backend import xp_of


@lru_cache(maxsize=16)
def _ones(xp, n: int, dtype) -> object:
    """A read-only-by-convention vector of n ones: bias gradients as ones @ dout."""
    return xp.ones(n, dtype=dtype)


def affine_forward(x, W, b):
    """out = x @ W + b.  x: (N, D), W: (D, H), b: (H,) -> out: (N, H)."""
    out = x @ W
    out += b
    return out, (x, W)


def affine_backward(dout, cache, dW=None, db=None, need_dx: bool = True):
    """Gradients of affine_forward.  dout: (N, H) -> (dx: (N, D) or None, dW: (D, H), db: (H,))."""
    x, W = cache
    xp = xp_of(dout)
    if dW is None:
        dW = x.T @ dout
    else:
        xp.matmul(x.T, dout, out=dW)
    # the bias gradient (column sums) as a BLAS matrix-vector product: 2.4 vs 5.3 µs for a 64×560 float32
    # dout against dout.sum(axis=0) (measured)
    ones = _ones(xp, dout.shape[0], dout.dtype)
    if db is None:
        db = ones @ dout
    else:
        xp.matmul(ones, dout, out=db)
    dx = dout @ W.T if need_dx else None
    return dx, dW, db


def relu_forward(a, inplace: bool = False):
    """max(a, 0).  The cache is the output itself: its positive entries are the open gates."""
    if inplace:
        a.clip(0, None, out=a)
        return a, a
    out = a.clip(0, None)
    return out, out


def relu_backward(dout, cache, inplace: bool = False):
    """dout · [a > 0], with a the ReLU's input (the cache holds its output, > 0 exactly there)."""
    if inplace:
        dout *= cache > 0
        return dout
    return dout * (cache > 0)


def sigmoid(a):
    """Logistic function, stable for every float: 0.5 + 0.5·tanh(a/2) never overflows
    and costs one transcendental pass (an exp(-|a|) form needs a branch and two)."""
    return 0.5 + 0.5 * xp_of(a).tanh(0.5 * a)


def sigmoid_forward(a):
    """sigmoid(a); the cache is the output, since its derivative is out·(1 − out)."""
    out = sigmoid(a)
    return out, out


def sigmoid_backward(dout, cache):
    """dout · s · (1 − s) with s = sigmoid(a)."""
    return dout * cache * (1.0 - cache)


def softplus(a):
    """log(1 + exp(a)) without overflow: max(a, 0) + log1p(exp(−|a|))."""
    xp = xp_of(a)
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))
