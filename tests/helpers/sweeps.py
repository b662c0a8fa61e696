"""Tiny sweeps for tests: a synthetic 4×4 data set, a space whose trials take a fraction of a second,
``main.py sweep`` in a subprocess, and the study read back through Optuna."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

TINY_SPACE = """
[fixed]
model = "vae"
hidden = [8]
latent = 2
steps = {steps}
eval-every = {eval_every}
log-every = 10
batch-size = 16
[search]
lr = {{ low = 1e-4, high = 3e-2, log = true }}
beta = {{ choices = [0.5, 1.0, 2.0] }}
"""


def tiny_data(folder: Path, n: int = 120) -> Path:
    """n smooth-ish 4×4 images in [0, 1] as an .npy file (a VAE learns them within a few dozen steps)."""
    rng = np.random.default_rng(0)
    base = rng.random((3, 16))
    images = np.clip(base[rng.integers(0, 3, n)] + 0.1 * rng.standard_normal((n, 16)), 0, 1).astype(np.float32)
    path = folder / "tiny.npy"
    np.save(path, images)
    return path


def tiny_space(folder: Path, steps: int = 40, eval_every: int = 10, name: str = "space.toml") -> Path:
    path = folder / name
    path.write_text(TINY_SPACE.format(steps=steps, eval_every=eval_every), encoding="utf-8")
    return path


def sweep_env() -> dict:
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def sweep_args(folder: Path, data: Path, *args) -> list[str]:
    """argv of ``main.py sweep`` on the tiny data with the ledger (and default storage) in ``folder``."""
    return [sys.executable, str(ROOT / "main.py"), "sweep", "--runs", str(folder / "runs"), "--data", str(data),
            "--image-shape", "4x4", *map(str, args)]


def sweep_main(capsys, folder: Path, data: Path, *args) -> tuple[int, str, str]:
    """``main.py sweep`` in this process (no interpreter start-up): (exit status, stdout, stderr)."""
    from main import main

    code = main(sweep_args(folder, data, *args)[2:])
    out, err = capsys.readouterr()
    return code, out, err


def run_sweep(folder: Path, data: Path, *args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_args(folder, data, *args), cwd=ROOT, env=sweep_env(), capture_output=True,
                          text=True, timeout=timeout)


def start_sweep(folder: Path, data: Path, *args) -> subprocess.Popen:
    return subprocess.Popen(sweep_args(folder, data, *args), cwd=ROOT, env=sweep_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def shown(folder: Path, data: Path, study: str, *args) -> dict:
    """``--show --json`` of a study."""
    result = run_sweep(folder, data, "--study", study, "--show", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trial_numbers(stdout: str) -> list[int]:
    """The trial numbers a sweep process reported ('trial 3: …' lines)."""
    return [int(line.split()[1].rstrip(":")) for line in stdout.splitlines() if line.startswith("trial ")]


def assert_one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    """(exit status, stdout, stderr) of sweep_main: exit 2 and one line on stderr naming the problem."""
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
