"""Optimisers over a model's flat parameter vector (every parameter, biases included).

Each update is a handful of whole-array in-place operations on ``model.flat`` using
``model.grad_flat``; state arrays have the same length. The update rules follow PyTorch's
(SGD with momentum, dampening 0; Adagrad; Adam) so trajectories can be cross-checked.
``state_dict`` returns host arrays and scalars that checkpoints save, so resuming is exact.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .backend import to_numpy
from .parallel import blas_threads

OPTIMIZERS = ("sgd", "adagrad", "adam")


@cache
def blas_routine(name: str, dtype) -> object:
    """SciPy's BLAS routine ('axpy', 'asum', ...) for a float32/float64 dtype, else None. Imported on first
    use: scipy.linalg adds ~0.13 s to the GUI's cold start (python -X importtime)."""
    from scipy.linalg import blas

    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
    return getattr(blas, letter + name) if letter else None


@cache
def host_level1(dtype) -> tuple | None:
    """(axpy(a, x, y), asum(x)) for contiguous NumPy arrays of a float32/float64 dtype, or None: NumPy's own
    OpenBLAS (core.parallel: at two threads in a 2-thread step, 300k float32 axpy 20 µs against 33 µs at one,
    measured), else SciPy's BLAS (one thread)."""
    level1 = blas_threads().level1(dtype)
    if level1 is not None:
        return level1
    axpy_routine, asum_routine = blas_routine("axpy", dtype), blas_routine("asum", dtype)
    if axpy_routine is None:
        return None
    return (lambda a, x, y: axpy_routine(x, y, a=a)), (lambda x: float(asum_routine(x)))


def axpy(a: float, x, y) -> None:
    """y += a·x in place; x, y: same shape and dtype. NumPy arrays go through one BLAS pass (on 300k
    float32 entries 33 µs against 106 µs for a multiply into a temporary and an add, measured), others
    (CuPy) through one temporary."""
    level1 = host_level1(y.dtype) if isinstance(y, np.ndarray) else None
    if (level1 is not None and isinstance(x, np.ndarray) and x.dtype == y.dtype and x.size == y.size
            and x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        level1[0](a, x, y)  # the BLAS writes into y's own memory
    else:
        y += a * x


class Optimizer:
    name = ""
    state_arrays: tuple[str, ...] = ()  # the per-parameter state, each an array like model.flat
    state_scalars: tuple[str, ...] = ()  # scalar state besides the step count t

    def __init__(self, model, lr: float):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a number > 0, got {lr}")
        self.model = model
        self.lr = float(lr)
        self.t = 0  # updates done
        xp, n, dtype = model.xp, model.flat.size, model.dtype
        for key in self.state_arrays:
            setattr(self, key, xp.zeros(n, dtype=dtype))
        self._tmp = xp.empty(n, dtype=dtype)

    def step(self) -> None:
        raise NotImplementedError

    def hyper(self) -> dict:
        return {"lr": self.lr}

    def state_dict(self) -> dict:
        """{'name', 't', hyper-parameters..., the state scalars, and each state array as a host copy}."""
        state = {"name": self.name, "t": self.t, **self.hyper()}
        state.update({key: float(getattr(self, key)) for key in self.state_scalars})
        for key in self.state_arrays:
            state[key] = to_numpy(getattr(self, key)).copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"optimiser state is for {state.get('name')!r}, not {self.name!r}")
        self.t = int(state["t"])
        for key in self.state_scalars:  # files written before a scalar existed lack it: keep the default
            value = float(state.get(key, getattr(self, key)))
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"optimiser state {key} must be in (0, 1], got {value}")
            setattr(self, key, value)
        for key in self.state_arrays:
            arr = np.asarray(state[key])
            target = getattr(self, key)
            if arr.shape != target.shape:
                raise ValueError(f"optimiser state {key} has shape {arr.shape}, expected {target.shape}")
            target[...] = self.model.xp.asarray(arr, dtype=self.model.dtype)


class SGD(Optimizer):
    """buf = momentum·buf + g;  θ −= lr·buf."""

    name = "sgd"
    state_arrays = ("buf",)

    def __init__(self, model, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(model, lr)
        self.momentum = float(momentum)

    def hyper(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum}

    def step(self) -> None:
        g = self.model.grad_flat
        if self.momentum:
            self.buf *= self.momentum
            self.buf += g
            g = self.buf
        xp = self.model.xp
        xp.multiply(g, self.lr, out=self._tmp)
        self.model.flat -= self._tmp
        self.t += 1


class Adagrad(Optimizer):
    """sum += g²;  θ −= lr·g / (√sum + eps)."""

    name = "adagrad"
    state_arrays = ("sum",)

    def __init__(self, model, lr: float = 0.01, eps: float = 1e-10):
        super().__init__(model, lr)
        self.eps = float(eps)

    def hyper(self) -> dict:
        return {"lr": self.lr, "eps": self.eps}

    def step(self) -> None:
        xp, g, tmp = self.model.xp, self.model.grad_flat, self._tmp
        xp.multiply(g, g, out=tmp)
        self.sum += tmp
        xp.sqrt(self.sum, out=tmp)
        tmp += self.eps
        xp.divide(g, tmp, out=tmp)
        tmp *= self.lr
        self.model.flat -= tmp
        self.t += 1


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's update rule:
    m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  θ −= lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps).

    The moments are stored scaled: the true moments are ``m_scale·m`` and ``v_scale·v`` (``moments()``).
    The β decay goes into the two scalars, so a step makes no scaling pass over m and v, and a moment
    whose gradient is zero stays put instead of decaying through the slow denormal floats (a third of
    m was denormal after 1000 AE steps, which doubled the divide's time). When a scale falls below
    1/FOLD_AT it is folded into its array, and entries below the dtype's smallest normal float become
    0 (PyTorch lets them decay to 0 over ~150 more steps, each worth < 1e-30 of an update). Folds
    depend on the step count only, so a resumed run stays bit-identical to an uninterrupted one.
    """

    name = "adam"
    state_arrays = ("m", "v")
    state_scalars = ("m_scale", "v_scale")
    FOLD_AT = 1024.0  # largest 1/scale before folding: the stored moments grow by at most this factor

    def __init__(self, model, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(model, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m_scale = self.v_scale = 1.0

    def hyper(self) -> dict:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def moments(self) -> tuple:
        """The true first and second moments (PyTorch's exp_avg, exp_avg_sq), as new arrays."""
        return self.m * self.m_scale, self.v * self.v_scale

    @staticmethod
    def _fold(arr, scale: float) -> None:
        arr *= scale
        arr[abs(arr) < np.finfo(arr.dtype).tiny] = 0  # also rewrites the exact zeros: harmless

    def step(self) -> None:
        xp, g, tmp, m, v = self.model.xp, self.model.grad_flat, self._tmp, self.m, self.v
        self.t += 1
        bc1 = 1.0 - self.beta1**self.t
        bc2_sqrt = math.sqrt(1.0 - self.beta2**self.t)
        # m ← β1·m + (1−β1)·g as m_scale ← β1·m_scale and one axpy of (1−β1)/m_scale·g into m; v alike
        m_scale, v_scale = self.beta1 * self.m_scale, self.beta2 * self.v_scale
        if m_scale * self.FOLD_AT < 1.0:  # also β1 = 0
            self._fold(m, m_scale)
            m_scale = 1.0
        if v_scale * self.FOLD_AT < 1.0:
            self._fold(v, v_scale)
            v_scale = 1.0
        self.m_scale, self.v_scale = m_scale, v_scale
        # θ −= lr·√(1−β2ᵗ)/(1−β1ᵗ) · m_true / (√v_true + eps·√(1−β2ᵗ)), the true moments written as scale × stored
        v_root = math.sqrt(v_scale)
        coef = ((1.0 - self.beta1) / m_scale, (1.0 - self.beta2) / v_scale, self.eps * bc2_sqrt / v_root,
                -self.lr * bc2_sqrt / bc1 * m_scale / v_root)
        # whole arrays: 7 calls per step. Running them per 65 536-entry stretch, so each stretch stayed in the
        # core's cache between passes, lost on this machine (1 MB L2 per core: 300k entries 311 against 277 µs
        # warm, 432 against 349 µs after the rest of a step, measured; another machine had measured it winning)
        self._update(xp, g, m, v, self.model.flat, tmp, *coef)

    @staticmethod
    def _update(xp, g, m, v, theta, tmp, a_m: float, a_v: float, eps: float, a_theta: float) -> None:
        """The step's seven passes over the whole arrays (all the same length, 1-D)."""
        axpy(a_m, g, m)
        xp.square(g, out=tmp)  # bitwise g·g, 26 vs 30 µs on 300k float32 (measured)
        axpy(a_v, tmp, v)
        xp.sqrt(v, out=tmp)
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        axpy(a_theta, tmp, theta)


OPTIMIZER_CLASSES = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}


def make_optimizer(name: str, model, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimiser by name ('sgd', 'adagrad', 'adam'); lr defaults to the class default."""
    if name not in OPTIMIZER_CLASSES:
        raise ValueError(f"optimiser must be one of {OPTIMIZERS}, not {name!r}")
    if lr is None:
        return OPTIMIZER_CLASSES[name](model, **kwargs)
    return OPTIMIZER_CLASSES[name](model, lr=lr, **kwargs)


def optimizer_from_state(model, state: dict) -> Optimizer:
    """Rebuild an optimiser from a ``state_dict``."""
    scalars = OPTIMIZER_CLASSES[state["name"]].state_scalars if state.get("name") in OPTIMIZER_CLASSES else ()
    hyper = {k: v for k, v in state.items()
             if k not in ("name", "t", *scalars) and not isinstance(v, np.ndarray)}
    opt = make_optimizer(state["name"], model, **hyper)
    opt.load_state_dict(state)
    return opt
