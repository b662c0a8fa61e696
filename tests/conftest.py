"""Shared fixtures. GUI tests run offscreen; the Frey data is required (never skipped)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One BLAS thread: on this 2-core machine OpenBLAS's spinning threads make small products
# many times slower whenever another process is busy (the suite's subprocesses inherit this;
# threadpoolctl covers a NumPy that was imported before this file).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

from core.data import find_data, load_frey  # noqa: E402


@pytest.fixture(scope="session")
def frey_path() -> Path:
    """The real Frey file; a missing file is a failure, not a skip (.ci/run copies it)."""
    path = find_data(None)
    if not path.exists():
        pytest.fail(f"the Frey data is missing at {path}: copy ../shared/data/frey_rawface.mat into data/ "
                    "or set VAE_DATA")
    return path


@pytest.fixture(scope="session")
def frey(frey_path) -> np.ndarray:
    """The Frey faces (1965, 560) float32 in [0, 1]."""
    return load_frey(frey_path)


REFERENCE_NAME = "seed_ae_weights.pkl"


@pytest.fixture(scope="session")
def reference_pickle() -> Path:
    """The course assignment's trained AE weights (outside the repository): $VAE_REFERENCE (file or
    folder), else ../shared/reference/ beside the repository. Absent on a plain clone: the tests that
    need exactly these weights skip, saying where to get them; the rest use ``legacy_ae_pickle``."""
    env = os.environ.get("VAE_REFERENCE")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "reference"
    path = path / REFERENCE_NAME if path.is_dir() else path
    if not path.is_file():
        pytest.skip(f"needs the assignment's reference weights {REFERENCE_NAME}, which are not part of the "
                    f"repository: put them at ../shared/reference/{REFERENCE_NAME} beside it or set "
                    f"VAE_REFERENCE=PATH (looked at {path})")
    return path


@pytest.fixture(scope="session")
def legacy_ae_pickle(tmp_path_factory) -> Path:
    """A pickle in the assignment's AE layout made here: [Wi (H, 560), Wm (L, H), Wd (H, L), Wo (560, H),
    Bi (H, 1), Bm (L, 1), Bd (H, 1), Bo (560, 1)] float64, H = 32, L = 6, written with protocol 2."""
    import pickle

    rng = np.random.default_rng(7)
    h, latent = 32, 6
    shapes = [(h, 560), (latent, h), (h, latent), (560, h), (h, 1), (latent, 1), (h, 1), (560, 1)]
    arrays = [rng.normal(0, 0.1, shape) for shape in shapes]
    path = tmp_path_factory.mktemp("legacy") / "made_ae_weights.pkl"
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def synthetic_faces(rng) -> np.ndarray:
    """Small synthetic data: 64 smooth 'faces' in [0, 1], float32 (64, 560)."""
    yy, xx = np.mgrid[0:28, 0:20]
    faces = []
    for _ in range(64):
        cy, cx, s = rng.uniform(8, 20), rng.uniform(6, 14), rng.uniform(3, 8)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        faces.append(0.1 + 0.8 * blob + 0.05 * rng.random((28, 20)))
    return np.clip(np.array(faces).reshape(64, 560), 0, 1).astype(np.float32)



@pytest.fixture(autouse=True)
def no_blocking_unsaved_question(monkeypatch):
    """The Save / Discard / Cancel box is modal: a test that reaches it without answering it (the
    ``asked`` fixtures patch it) fails at once instead of hanging the suite."""
    from vae_gui import closing

    def unexpected(_window, title, text):
        raise AssertionError(f"unanswered Save/Discard/Cancel question: {title}: {text}")

    monkeypatch.setattr(closing, "ask_unsaved", unexpected)


@pytest.fixture
def dialogs(monkeypatch) -> list[tuple[str, str]]:
    """Every error dialog the GUI shows (they end in QMessageBox.critical), recorded as (title, text)
    instead of shown: nothing modal opens."""
    from PyQt6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda _parent, title, text, *a, **k: shown.append(
        (title, text))))
    return shown


@pytest.fixture(autouse=True)
def run_ledger_folder(tmp_path_factory, monkeypatch) -> Path:
    """Every test records its training runs into a fresh ledger folder ($VAE_RUNS), never the user's."""
    folder = tmp_path_factory.mktemp("runs")
    monkeypatch.setenv("VAE_RUNS", str(folder))
    return folder

