"""Layers as forward/backward pairs (batch-major: x has shape (N, D), W has shape (D, H)).

Each ``*_forward`` returns ``(out, cache)``; each ``*_backward(dout, cache)`` returns the
gradients. Arrays may be NumPy or CuPy: only operators and array methods both support are used.
Gradient buffers may be passed in (``dW=``, ``db=``) so a model writes straight into its flat
gradient vector without temporaries.
"""

from __future__ import annotations

from functools import lru_cache, partial

from .backend import xp_of
from .parallel import matmul


@lru_cache(maxsize=16)
def _ones(xp, n: int, dtype) -> object:
    """A read-only-by-convention vector of n ones: bias gradients as ones @ dout."""
    return xp.ones(n, dtype=dtype)


ZEROS_CACHED = 1 << 16  # entries: larger arrays get a row of zeros, so the cache stays a few MB at most


@lru_cache(maxsize=16)
def _zeros(xp, shape: tuple[int, ...], dtype) -> object:
    """A read-only-by-convention array of zeros: ReLU as maximum(a, zeros). NumPy's maximum against the scalar
    0 (or a.clip(0, None)) takes a slow loop: a 64×256 float32 7.0 and 7.3 µs against 1.7 µs for zeros of its
    shape and 3.8 µs for a broadcast row of zeros (measured)."""
    return xp.zeros(shape, dtype=dtype)


def affine_forward(x, W, b):
    """out = x @ W + b.  x: (N, D), W: (D, H), b: (H,) -> out: (N, H). The product is core.parallel.matmul:
    the same bits at one BLAS thread and at two."""
    out = matmul(x, W)
    out += b
    return out, (x, W)


def affine_backward(dout, cache, dW=None, db=None, need_dx: bool = True):
    """Gradients of affine_forward.  dout: (N, H) -> (dx: (N, D) or None, dW: (D, H), db: (H,))."""
    x, W = cache
    xp = xp_of(dout)
    dW = matmul(x.T, dout, out=dW)
    # the bias gradient (column sums) as a BLAS matrix-vector product: 2.4 vs 5.3 µs for a 64×560 float32
    # dout against dout.sum(axis=0) (measured)
    ones = _ones(xp, dout.shape[0], dout.dtype)
    if db is None:
        db = ones @ dout
    else:
        xp.matmul(ones, dout, out=db)
    dx = matmul(dout, W.T) if need_dx else None
    return dx, dW, db


def relu_forward(a, inplace: bool = False):
    """max(a, 0).  The cache is the output itself: its positive entries are the open gates."""
    xp = xp_of(a)
    zeros = _zeros(xp, a.shape if a.size <= ZEROS_CACHED else a.shape[-1:], a.dtype)
    out = xp.maximum(a, zeros, out=a if inplace else None)
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


# ---------------------------------------------------------------- hidden-layer activations
# Each pair works in place when asked (the model's hidden pre-activations are its own temporaries) and
# keeps only what its backward needs in the cache. Every derivative is written in terms of the output,
# so no pair needs a copy of its input.
ACTIVATIONS = ("relu", "leaky_relu", "elu", "softplus", "tanh")
# activations with a kink (a jump in the first derivative) at pre-activation 0; elu (α = 1) is C¹ there
KINKED_ACTIVATIONS = ("relu", "leaky_relu")
DEFAULT_LEAKY_SLOPE = 0.01


def leaky_relu_forward(a, slope: float = DEFAULT_LEAKY_SLOPE, inplace: bool = False):
    """a where a > 0, slope·a elsewhere (0 ≤ slope < 1, so max(a, slope·a)). Cache: (out, slope);
    out > 0 exactly where a > 0."""
    xp = xp_of(a)
    out = xp.maximum(a, slope * a, out=a if inplace else None)
    return out, (out, slope)


def leaky_relu_backward(dout, cache, inplace: bool = False):
    """dout where a > 0, slope·dout elsewhere."""
    out, slope = cache
    xp = xp_of(dout)
    scale = xp.where(out > 0, 1.0, slope).astype(dout.dtype, copy=False)
    if inplace:
        dout *= scale
        return dout
    return dout * scale


def elu_forward(a, inplace: bool = False):
    """a where a > 0, exp(a) − 1 elsewhere (α = 1). Cache: the derivative exp(min(a, 0)) itself (out + 1
    would round to 0 below a ≈ −37 and lose all digits of exp(a) well before that)."""
    xp = xp_of(a)
    negative = xp.minimum(a, 0)
    derivative = xp.exp(negative)
    out = xp.where(a > 0, a, xp.expm1(negative))
    if inplace:
        a[...] = out
        out = a
    return out, derivative


def elu_backward(dout, cache, inplace: bool = False):
    """dout · (1 where a > 0, else exp(a)): the cache."""
    scale = cache
    if inplace:
        dout *= scale
        return dout
    return dout * scale


def softplus_forward(a, inplace: bool = False):
    """log(1 + exp(a)) (overflow-free). Cache: the output, since sigmoid(a) = 1 − exp(−out)."""
    out = softplus(a)
    if inplace:
        a[...] = out
        out = a
    return out, out


def softplus_backward(dout, cache, inplace: bool = False):
    """dout · sigmoid(a), written −expm1(−out): accurate also where out is tiny (a ≪ 0)."""
    scale = -xp_of(dout).expm1(-cache)
    if inplace:
        dout *= scale
        return dout
    return dout * scale


def tanh_forward(a, inplace: bool = False):
    """tanh(a). Cache: the output (the derivative is 1 − out²)."""
    out = xp_of(a).tanh(a, out=a if inplace else None)
    return out, out


def tanh_backward(dout, cache, inplace: bool = False):
    """dout · (1 − out²)."""
    scale = 1.0 - cache * cache
    if inplace:
        dout *= scale
        return dout
    return dout * scale


def activation_layer(name: str, slope: float = DEFAULT_LEAKY_SLOPE):
    """(forward(a, inplace=False) -> (out, cache), backward(dout, cache, inplace=False)) of a named
    activation; ``slope`` is leaky_relu's negative-side slope (ignored by the others)."""
    if name == "leaky_relu":
        return partial(leaky_relu_forward, slope=slope), leaky_relu_backward
    pairs = {"relu": (relu_forward, relu_backward), "elu": (elu_forward, elu_backward),
             "softplus": (softplus_forward, softplus_backward), "tanh": (tanh_forward, tanh_backward)}
    if name not in pairs:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")
    return pairs[name]
