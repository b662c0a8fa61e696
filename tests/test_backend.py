"""The array-module switch: NumPy by default; --device cuda says clearly why it cannot run here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import backend
from core.backend import BackendError, get_xp, to_numpy, xp_of
from core.models import Model, ModelConfig

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_is_numpy_and_round_trips():
    assert get_xp("cpu") is np
    a = np.arange(3.0)
    assert xp_of(a) is np and to_numpy(a) is a


def test_unknown_device_is_refused():
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        get_xp("tpu")


def test_cuda_without_cupy_or_gpu_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "cuda_status", lambda: (False, "CuPy is not installed (ImportError)"))
    with pytest.raises(BackendError, match="--device cuda is unavailable: CuPy is not installed"):
        get_xp("cuda")
    with pytest.raises(BackendError):
        Model(ModelConfig(kind="vae", hidden=[8], latent=2), device="cuda")


@pytest.mark.skipif(backend.cuda_status()[0], reason="this machine has a usable GPU")
def test_cli_train_on_cuda_without_gpu_exits_2_with_one_line(frey_path, tmp_path):
    out = tmp_path / "m.npz"
    proc = subprocess.run([sys.executable, "main.py", "train", "--device", "cuda", "--hidden", "8", "--latent", "2",
                           "--steps", "10", "--data", str(frey_path), "--out", str(out), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device cuda is unavailable" in lines[0], proc.stderr
    assert not out.exists()
