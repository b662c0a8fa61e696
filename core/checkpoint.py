"""Model files: our ``.npz`` format (no pickle anywhere) and import of the assignment's pickles.

An ``.npz`` holds ``param/NAME`` arrays, ``optim/KEY`` arrays and one JSON string ``meta``
(format version, model config, steps trained, optimiser scalars, the noise generator's state,
training settings, metrics). It is written to a temporary file in the same folder and renamed
over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models import ConfigError, Model, ModelConfig
from .optim import Optimizer, optimizer_from_state

FORMAT = "vae-explorer-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be loaded (the message says why); nothing was changed."""


@dataclass
class LoadedModel:
    model: Model
    optimizer_state: dict | None
    meta: dict = field(default_factory=dict)

    def optimizer(self) -> Optimizer | None:
        """The saved optimiser bound to ``model`` (None when the file has no optimiser state)."""
        if self.optimizer_state is None:
            return None
        return optimizer_from_state(self.model, self.optimizer_state)


def save_model(path: str | os.PathLike, model: Model, optimizer: Optimizer | None = None,
               extra: dict | None = None) -> Path:
    """Write ``model`` (and optionally its optimiser) atomically to ``path``.

    Refuses to write non-finite parameters. ``extra`` is merged into the JSON meta
    (training settings, metrics, loss history summaries...).
    """
    path = Path(path)
    params = model.params_numpy()
    bad = [n for n, a in params.items() if not np.all(np.isfinite(a))]
    if bad:
        raise ModelFileError(f"refusing to save non-finite parameters: {', '.join(bad)}")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "step": int(model.step),
        "noise_rng_state": _json_safe(model.noise_rng.bit_generator.state),
        **(extra or {}),
    }
    arrays: dict[str, np.ndarray] = {f"param/{n}": a for n, a in params.items()}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
        meta["optimizer"] = scalars
        arrays.update({f"optim/{k}": v for k, v in state.items() if isinstance(v, np.ndarray)})
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON meta of a model file without building the model."""
    with _open_npz(Path(path)) as npz:
        return _meta_of(npz, Path(path))


def _open_npz(path: Path):
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"model path is a folder: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a VAE Explorer model file (.npz): {exc}") from exc


def _meta_of(npz, path: Path) -> dict:
    if "meta" not in npz.files:
        raise ModelFileError(f"{path} is not a VAE Explorer model file (no 'meta' entry)")
    try:
        meta = json.loads(str(npz["meta"]))
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} has an unreadable 'meta' entry (truncated?): {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{path} is not a VAE Explorer model file (format {found!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer VAE Explorer (format version {version}; "
                             f"this one reads up to {FORMAT_VERSION}); please update the program")
    return meta


def load_model(path: str | os.PathLike, device: str = "cpu") -> LoadedModel:
    """Load a model file, checking every array against the config. Never runs code.

    Raises ModelFileError naming the problem (truncated file, missing arrays, wrong shapes,
    NaN/inf, newer format, not a model file).
    """
    path = Path(path)
    with _open_npz(path) as npz:
        meta = _meta_of(npz, path)
        try:
            config = ModelConfig.from_dict(meta.get("config") or {})
        except (ConfigError, TypeError) as exc:
            raise ModelFileError(f"{path} has an invalid model config: {exc}") from exc
        try:
            params = {k[len("param/"):]: npz[k] for k in npz.files if k.startswith("param/")}
            optim_arrays = {k[len("optim/"):]: npz[k] for k in npz.files if k.startswith("optim/")}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ModelFileError(f"{path} is damaged (truncated?): {exc}") from exc
    model = Model(config, device=device)
    try:
        model.set_params(params)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    bad = [n for n, a in params.items() if not np.all(np.isfinite(a))]
    if bad:
        raise ModelFileError(f"{path} holds NaN or infinite values in: {', '.join(bad)}")
    model.step = int(meta.get("step", 0))
    if "noise_rng_state" in meta:
        try:
            model.noise_rng.bit_generator.state = meta["noise_rng_state"]
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path} has an invalid noise generator state: {exc}") from exc
    optimizer_state = None
    if "optimizer" in meta:
        optimizer_state = {**meta["optimizer"], **optim_arrays}
        try:
            optimizer_from_state(model, optimizer_state)  # validates names and shapes now
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path} has invalid optimiser state: {exc}") from exc
    return LoadedModel(model, optimizer_state, meta)


# ------------------------------------------------------------------------- legacy pickles
LEGACY_AE_NAMES = ("Wi", "Wm", "Wd", "Wo", "Bi", "Bm", "Bd", "Bo")
LEGACY_VAE_NAMES = ("Wi", "Wm", "Wv", "Wd", "Wo", "Bi", "Bm", "Bv", "Bd", "Bo")

# The exact globals NumPy needs to rebuild arrays from a pickle (both module spellings).
# Anything else, e.g. os.system or numpy.load, is refused before it can run.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class LegacyPickleError(ModelFileError):
    """A legacy pickle that is refused or malformed."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise LegacyPickleError(
                f"refused: the pickle asks for {module}.{name}, which is not one of the NumPy array "
                "constructors a weights file needs; nothing was run")
        import numpy._core.multiarray as multiarray
        import numpy._core.numeric as numeric

        if name == "ndarray":
            return np.ndarray
        if name == "dtype":
            return np.dtype
        if name == "_frombuffer":
            return numeric._frombuffer
        return getattr(multiarray, name)


def read_legacy_pickle(path: str | os.PathLike) -> list[np.ndarray]:
    """The arrays of an assignment pickle (a tuple or list of arrays), via the restricted
    unpickler: only NumPy's array-rebuilding globals may be named."""
    path = Path(path)
    if not path.exists():
        raise LegacyPickleError(f"pickle file not found: {path}")
    data = path.read_bytes()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data)).load()
    except LegacyPickleError:
        raise
    except Exception as exc:
        raise LegacyPickleError(f"{path} is not a readable weights pickle: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, (tuple, list)) or not all(isinstance(a, np.ndarray) for a in obj):
        raise LegacyPickleError(f"{path} does not hold a tuple of arrays (found {type(obj).__name__})")
    return list(obj)


def import_legacy(path: str | os.PathLike, kind: str = "ae", likelihood: str = "bernoulli") -> Model:
    """Build a float32 model from an assignment pickle.

    AE: ``Wi, Wm, Wd, Wo, Bi, Bm, Bd, Bo``; VAE: ``Wi, Wm, Wv, Wd, Wo, Bi, Bm, Bv, Bd, Bo``
    (mean head Wm, log-variance head Wv), column-vector convention h = relu(Wi @ x + Bi):
    our batch-major weights are the transposes. The AE keeps the assignment's ReLU code.
    """
    arrays = read_legacy_pickle(path)
    names = LEGACY_AE_NAMES if kind == "ae" else LEGACY_VAE_NAMES
    if kind not in ("ae", "vae"):
        raise LegacyPickleError(f"model kind must be 'ae' or 'vae', not {kind!r}")
    if len(arrays) != len(names):
        raise LegacyPickleError(f"{path} holds {len(arrays)} arrays; the {kind.upper()} layout needs "
                                f"{len(names)} ({', '.join(names)})")
    w = dict(zip(names, arrays, strict=True))
    hidden, d_in = w["Wi"].shape
    latent = w["Wm"].shape[0]
    expected = {"Wi": (hidden, d_in), "Wm": (latent, hidden), "Wv": (latent, hidden), "Wd": (hidden, latent),
                "Wo": (d_in, hidden), "Bi": (hidden, 1), "Bm": (latent, 1), "Bv": (latent, 1),
                "Bd": (hidden, 1), "Bo": (d_in, 1)}
    for name in names:
        if w[name].shape != expected[name]:
            raise LegacyPickleError(f"{path}: array {name} has shape {w[name].shape}, expected {expected[name]} "
                                    f"(from Wi {w['Wi'].shape} and Wm {w['Wm'].shape})")
        if not np.all(np.isfinite(w[name])):
            raise LegacyPickleError(f"{path}: array {name} holds NaN or infinite values")
    config = ModelConfig(kind=kind, hidden=[hidden], latent=latent, likelihood=likelihood,
                         code_activation="relu", input_dim=d_in)
    model = Model(config)
    params = {"enc0.W": w["Wi"].T, "enc0.b": w["Bi"].ravel(), "dec0.W": w["Wd"].T, "dec0.b": w["Bd"].ravel(),
              "out.W": w["Wo"].T, "out.b": w["Bo"].ravel()}
    if kind == "ae":
        params.update({"code.W": w["Wm"].T, "code.b": w["Bm"].ravel()})
    else:
        params.update({"mean.W": w["Wm"].T, "mean.b": w["Bm"].ravel(),
                       "logvar.W": w["Wv"].T, "logvar.b": w["Bv"].ravel()})
    if likelihood == "gaussian-learned":
        raise LegacyPickleError("the assignment's pickles have no decoder variance; import with "
                                "--likelihood bernoulli or gaussian")
    model.set_params(params)
    return model
