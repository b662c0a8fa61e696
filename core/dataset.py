"""``Dataset``: the images every command and panel works on, with their shape, name, split and fingerprint.

One image is a row of ``images`` (N, D) float32 in [0, 1]; ``image.reshape(image_shape)`` is the upright
picture (row 0 at the top). The split rule is the same for every data set: a permutation drawn from
default_rng(SPLIT_SEED), its first ceil(N/10) ids are the test split, the rest the training split
(for the Frey faces: 197 test, 1768 train, exactly the ids the project has always used).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .data import SPLIT_SEED, load_frey, split_indices
from .errors import DataError

FREY_NAME = "frey"
FREY_IMAGE_SHAPE = (28, 20)


def n_test_of(n: int) -> int:
    """Test-split size for n images: 10 %, rounded up (197 of the 1965 Frey faces), at least 1 when n > 1."""
    return min(max(1, math.ceil(n / 10)), n - 1) if n > 1 else 0


@dataclass(eq=False)
class Dataset:
    """Images (N, D) float32 in [0, 1] with image_shape (H, W), H·W = D.

    ``name`` says what they are ('frey' or a file name), ``source`` where they came from, ``note``
    how the pixel values were read (e.g. 'uint8 0…255 scaled by 1/255')."""

    images: np.ndarray
    image_shape: tuple[int, int]
    name: str
    source: str = ""
    note: str = ""
    split_seed: int = SPLIT_SEED
    _split: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self):
        images = np.asarray(self.images)
        if images.ndim != 2 or len(images) < 2:
            raise ValueError(f"a data set needs at least 2 images as rows (N, D); got shape {images.shape}")
        h, w = (int(s) for s in self.image_shape)
        if h * w != images.shape[1]:
            raise ValueError(f"image shape {h}x{w} does not match {images.shape[1]} pixels per image")
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.image_shape = (h, w)

    # ------------------------------------------------------------------ sizes and split
    @property
    def n(self) -> int:
        return int(len(self.images))

    def __len__(self) -> int:
        return self.n

    @property
    def dim(self) -> int:
        """Pixels per image, D = H·W."""
        return int(self.images.shape[1])

    @property
    def ids(self) -> np.ndarray:
        """Every image id, 0…N−1."""
        return np.arange(self.n)

    def _ids(self) -> tuple[np.ndarray, np.ndarray]:
        if self._split is None:
            self._split = split_indices(self.n, seed=self.split_seed, n_test=n_test_of(self.n))
        return self._split

    @property
    def train_ids(self) -> np.ndarray:
        return self._ids()[0]

    @property
    def test_ids(self) -> np.ndarray:
        return self._ids()[1]

    @cached_property
    def _test_set(self) -> frozenset:
        return frozenset(self.test_ids.tolist())

    def split_of(self, index: int) -> str:
        """'train' or 'test' for one image id."""
        return "test" if int(index) in self._test_set else "train"

    def split(self, which: str) -> np.ndarray:
        """The images of 'train', 'test' or 'all'."""
        if which == "all":
            return self.images
        if which not in ("train", "test"):
            raise ValueError(f"split must be train, test or all, not {which!r}")
        return self.images[self.train_ids if which == "train" else self.test_ids]

    def train_val_ids(self, val_size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(fit ids, validation ids or None): the last ``val_size`` ids of the training split are held out.
        The training split is already a random permutation, so they are a random validation set."""
        train = self.train_ids
        if not val_size:
            return train, None
        if val_size >= len(train):
            raise ValueError(f"val_size {val_size} leaves no training images (the training split has {len(train)})")
        return train[:-val_size], train[-val_size:]

    # ------------------------------------------------------------------ identity
    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the shape and the pixels quantised to 1/255 steps: the same
        images give the same fingerprint whatever file format they came in."""
        h = hashlib.sha256(f"{self.n}x{self.image_shape[0]}x{self.image_shape[1]}".encode())
        h.update(np.rint(self.images * 255.0).astype(np.uint8).tobytes())
        return h.hexdigest()[:16]

    def to_meta(self) -> dict:
        """What a model file records about the data it was trained on."""
        return {"name": self.name, "n": self.n, "image_shape": list(self.image_shape),
                "fingerprint": self.fingerprint}

    def describe(self) -> str:
        """One line such as 'frey: 1965 images of 28×20 (1768 train, 197 test)'."""
        h, w = self.image_shape
        return f"{self.name}: {self.n} images of {h}×{w} ({len(self.train_ids)} train, {len(self.test_ids)} test)"


def frey_dataset(path: str | os.PathLike) -> Dataset:
    """The Frey faces of a frey_rawface.mat file as a Dataset (1965 images of 28×20)."""
    return Dataset(load_frey(path), FREY_IMAGE_SHAPE, FREY_NAME, source=str(Path(path)),
                   note="uint8 0…255 scaled by 1/255")


def check_compatible(input_dim: int, data_record: dict | None, dataset: Dataset) -> list[str]:
    """The one rule for a model (reading ``input_dim`` pixels per image, trained on the data its file records
    in ``data_record``: meta['data'], None for files that predate it) and a data set, used by every command and
    panel that puts the two together. Raises DataError when the model cannot read these images (another pixel
    count, or the same count in another H×W); returns warnings (one line each) when the images fit but are other
    data than the model was trained on."""
    if int(input_dim) != dataset.dim:
        raise DataError(f"the model reads {input_dim} pixels per image, but these images have {dataset.dim} "
                        f"pixels ({dataset.describe()}); it cannot be used with this data")
    if not isinstance(data_record, dict):
        return []
    shape = data_record.get("image_shape")
    if shape is not None and tuple(shape) != dataset.image_shape:
        raise DataError(f"the model was trained on {shape[0]}×{shape[1]} images, these are "
                        f"{dataset.image_shape[0]}×{dataset.image_shape[1]} ({dataset.name})")
    if data_record.get("fingerprint") not in (None, dataset.fingerprint):
        return [f"the model was trained on other data ({data_record.get('name')}, {data_record.get('n')} images) "
                f"than {dataset.describe()}; numbers are not comparable with its training report"]
    return []


def model_image_shape(meta: dict | None, input_dim: int) -> tuple[int, int]:
    """The (H, W) a model's images have: its file's data record, else 28×20 for the 560-pixel Frey models
    saved before the record existed, else the squarest H×W with H·W = input_dim (H >= W, upright)."""
    record = (meta or {}).get("data")
    if isinstance(record, dict) and isinstance(record.get("image_shape"), list) and len(record["image_shape"]) == 2:
        h, w = (int(v) for v in record["image_shape"])
        if h * w == input_dim:
            return h, w
    if input_dim == FREY_IMAGE_SHAPE[0] * FREY_IMAGE_SHAPE[1]:
        return FREY_IMAGE_SHAPE
    w = max(d for d in range(1, int(math.isqrt(input_dim)) + 1) if input_dim % d == 0)
    return input_dim // w, w
