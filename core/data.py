"""The Frey face data set: find, download (checksum verified), load, split, minibatches.

Image ids everywhere are column indices of the .mat file (0…1964). One face is a row of
560 pixels in [0, 1]; ``face.reshape(28, 20)`` is the upright 28×20 image.
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .errors import DataError

FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
FREY_SHA256 = "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64"
FREY_N = 1965
FREY_SHAPE = (560, FREY_N)  # as stored: one face per column
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = PROJECT_ROOT / "data" / "frey_rawface.mat"
SPLIT_SEED = 0
N_TEST = 197




class DownloadIntegrityError(DataError):
    """A download arrived but is wrong: cut off, or its SHA-256 does not match (the file was deleted).
    Unlike an unreachable server, this is worth interrupting the user for."""


def find_data(path: str | os.PathLike | None = None) -> Path:
    """Where the data should be: ``path``, else $VAE_DATA, else data/frey_rawface.mat.
    The file need not exist yet (see ``ensure_data``)."""
    if path:
        return Path(path)
    env = os.environ.get("VAE_DATA")
    if env:
        return Path(env)
    return DEFAULT_PATH


def load_frey(path: str | os.PathLike) -> np.ndarray:
    """Load the Frey faces as float32 (1965, 560) in [0, 1], one face per row (row-major 28×20).

    Raises DataError naming the problem: missing file, not a .mat, no ``ff`` key, wrong shape,
    wrong dtype or values out of 0…255, truncated file.
    """
    from .safe_io import read_mat_variable

    path = Path(path)
    if path.is_dir():
        raise DataError(f"data path is a folder, not a .mat file: {path}")
    # only 'ff' is read, after its declared shape and class were checked (safe_io: no FIFOs, devices, bombs)
    ff = read_mat_variable(path, "ff", math.prod(FREY_SHAPE), "data file", DataError)
    if ff.shape != FREY_SHAPE:
        raise DataError(f"'ff' in {path} has shape {ff.shape}, expected {FREY_SHAPE} (560 pixels × 1965 faces)")
    if ff.dtype != np.uint8:
        if ff.dtype.kind not in "fiu":  # real numbers only: bool, complex, text, cells and structs are refused
            raise DataError(f"'ff' in {path} has dtype {ff.dtype}, expected uint8 pixels")
        if not np.all(np.isfinite(ff)) or ff.min() < 0 or ff.max() > 255:
            raise DataError(f"'ff' in {path} holds values outside 0…255 (dtype {ff.dtype})")
        if not np.all(ff == np.round(ff)):
            raise DataError(f"'ff' in {path} holds non-integer pixel values (dtype {ff.dtype})")
    return np.ascontiguousarray(ff.T, dtype=np.float32) / np.float32(255.0)


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str = FREY_SHA256,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256.

    The bytes go to ``dest.part`` first; a wrong checksum or a dropped connection deletes it
    and raises DataError, so a bad file is never kept. ``progress(bytes_done, bytes_total)``
    is called as chunks arrive (total None when the server does not say).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise DownloadIntegrityError(f"download of {url} was cut off after {done} of {total} bytes")
        digest = h.hexdigest()
        if digest != sha256:
            raise DownloadIntegrityError(f"download of {url} has SHA-256 {digest[:12]}…, expected {sha256[:12]}…; "
                            "the file was deleted")
        os.replace(part, dest)
    except DataError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from exc
    except Exception as exc:  # http.client.IncompleteRead and friends on a dropped connection
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} failed: {type(exc).__name__}: {exc}") from exc
    return dest


def ensure_data(path: str | os.PathLike | None = None, allow_download: bool = True,
                url: str = FREY_URL, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Path of an existing data file, downloading it to data/ when the default one is missing.

    An explicit ``path`` or $VAE_DATA that does not exist is an error (no download).
    """
    target = find_data(path)
    if target.exists():
        return target
    if path or os.environ.get("VAE_DATA"):
        raise DataError(f"data file not found: {target}")
    if not allow_download:
        raise DataError(f"data file not found: {target} (run with network access to download it from {url}, "
                        "or pass --data PATH / set VAE_DATA)")
    return download(url, target, FREY_SHA256, progress)


def split_indices(n: int = FREY_N, seed: int = SPLIT_SEED, n_test: int = N_TEST) -> tuple[np.ndarray, np.ndarray]:
    """The fixed 90/10 split: perm = default_rng(0).permutation(1965); test = perm[:197],
    train = perm[197:] (1768 faces). Returns (train_ids, test_ids)."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_test:], perm[:n_test]


def split_of(index: int) -> str:
    """'train' or 'test' for one image id."""
    _, test = split_indices()
    return "test" if index in set(test.tolist()) else "train"


class BatchSchedule:
    """Minibatches of ``indices`` that never wrap or repeat within an epoch.

    Epoch e visits a permutation drawn from default_rng([seed, e]); the last batch of an
    epoch may be smaller. The batch for any step is computed from the step alone, so a
    resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, indices: np.ndarray, batch_size: int, seed: int = 0):
        indices = np.asarray(indices)
        if batch_size <= 0:
            raise ValueError(f"batch size must be > 0, got {batch_size}")
        if batch_size > len(indices):
            raise ValueError(f"batch size {batch_size} is larger than the training set ({len(indices)} images)")
        self.indices = indices
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.batches_per_epoch = math.ceil(len(indices) / batch_size)
        self._epoch = -1
        self._perm: np.ndarray | None = None

    def batch(self, step: int) -> np.ndarray:
        epoch, b = divmod(step, self.batches_per_epoch)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))
            self._epoch = epoch
        return self.indices[self._perm[b * self.batch_size : (b + 1) * self.batch_size]]

    def __iter__(self) -> Iterator[np.ndarray]:
        step = 0
        while True:
            yield self.batch(step)
            step += 1
