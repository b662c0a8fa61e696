"""Starting the program as users do: ./run.sh from any folder (paths are the caller's), and the
`vae-explorer` command that `pip install .` gives."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_sh(tmp_path, frey_path):
    """./run.sh with a virtual environment of the test's own that is already set up (a stamp saying so, and a
    python that is this interpreter): run.sh installs nothing and runs as it does for a user."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    for reqs in ("requirements.txt", "requirements-dev.txt"):
        text = b"".join((ROOT / name).read_bytes() for name in ("requirements.txt", reqs, "pyproject.toml"))
        (venv / f".installed-{reqs}").write_text(hashlib.sha256(text).hexdigest()[:16] + "\n")
    env = {**os.environ, "VAE_VENV": str(venv), "VAE_DATA": str(frey_path), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(ROOT)}

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "run.sh"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)

    return run


def test_run_sh_takes_relative_paths_from_the_callers_folder_and_says_where_it_saved(run_sh, tmp_path):
    work = tmp_path / "my work"
    work.mkdir()
    (work / "models").mkdir()
    (work / "models" / "m.npz").write_bytes((ROOT / "model" / "vae.npz").read_bytes())
    result = run_sh("cli", "sample", "--weights", "models/m.npz", "--n", "2", "--save", "pair.png", cwd=work)
    assert result.returncode == 0, result.stderr
    assert (work / "pair.png").is_file() and not (ROOT / "pair.png").exists()
    assert f"saved {work / 'pair.png'}:" in result.stdout  # the absolute path

    face = (np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)
    Image.fromarray(face).save(work / "myface.png")
    result = run_sh("cli", "encode", "myface.png", "--weights", "models/m.npz", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "−ELBO" in result.stdout


def test_run_sh_gui_takes_the_gui_options(run_sh, tmp_path):
    result = run_sh("gui", "--weights", "m.npz", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr and "--weights" not in result.stderr


def test_pip_install_gives_a_vae_explorer_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["vae-explorer"].split(":")
    import importlib

    entry = getattr(importlib.import_module(module), function)
    assert callable(entry)
    result = subprocess.run([sys.executable, "-c", f"import sys; from {module} import {function} as f; "
                             "sys.argv = ['vae-explorer', 'train', '--help']; sys.exit(f())"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: " in result.stdout and "train" in result.stdout
