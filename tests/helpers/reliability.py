"""Shared helpers for the reliability tests: run the CLI in-process, check its one-line errors,
build a small model file and damaged variants of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import main as cli
from core.checkpoint import save_model
from core.models import Model, ModelConfig
from core.optim import make_optimizer

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``main.py ARGV`` run in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_error(code: int, err: str, *words: str) -> str:
    """Exit status 2 and exactly one stderr line that starts like an error and names ``words``."""
    lines = err.splitlines()
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.startswith("main.py") and "error:" in line, line
    assert "Traceback" not in err
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    return line


def small_model(kind: str = "vae", hidden=(8,), latent: int = 2, seed: int = 0) -> Model:
    return Model(ModelConfig(kind=kind, hidden=list(hidden), latent=latent), seed=seed)


def save_small_model(path: Path, kind: str = "vae") -> Path:
    """A valid model file with Adam state (560-8-2)."""
    model = small_model(kind)
    optimizer = make_optimizer("adam", model)
    return save_model(path, model, optimizer, extra={"train": {"batch_size": 8, "seed": 0}})


def npz_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays without 'meta', meta dict) of a model file."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    return arrays, meta


def write_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict | None) -> Path:
    """Write arrays (+ meta as JSON when given) as an uncompressed .npz, the way save_model does."""
    payload = dict(arrays)
    if meta is not None:
        payload["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **payload)
    return path
