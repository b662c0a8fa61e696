"""Array module selection: NumPy on the CPU, CuPy on a CUDA GPU.

Every engine function takes its arrays from ``xp`` (the module returned here), so the same
code runs on both. Only ``to_numpy`` crosses back to the host.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from .errors import BackendError


def cuda_status() -> tuple[bool, str]:
    """Return (available, reason) for the CUDA backend without raising."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or a broken CUDA install
        return False, f"CuPy is not installed ({type(exc).__name__}); pip install cupy-cuda12x"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"CuPy found no usable GPU ({exc})"
    if count < 1:
        return False, "CuPy found no GPU"
    return True, f"{count} CUDA device(s)"


def get_xp(device: str = "cpu") -> ModuleType:
    """Array module for ``device`` ('cpu' or 'cuda'); raises BackendError with a clear reason."""
    if device == "cpu":
        return np
    if device == "cuda":
        ok, why = cuda_status()
        if not ok:
            raise BackendError(f"--device cuda is unavailable: {why}")
        import cupy

        return cupy
    raise BackendError(f"unknown device {device!r}; use 'cpu' or 'cuda'")


def xp_of(array) -> ModuleType:
    """The array module an array belongs to."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np
    import cupy

    return cupy


def to_numpy(array) -> np.ndarray:
    """Host copy of a NumPy or CuPy array (no copy for NumPy)."""
    if isinstance(array, np.ndarray):
        return array
    return array.get()
