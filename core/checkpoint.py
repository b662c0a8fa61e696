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
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models import ConfigError, Model, ModelConfig, param_shapes
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
        os.fchmod(fd, _file_mode(path))  # mkstemp makes 0600 files; a saved model gets the usual mode
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


def _file_mode(path: Path) -> int:
    """Permission bits for a model file written at ``path``: those of the file it replaces, else
    what the umask gives a new file (0644 with the common umask 022)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


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
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    # Name the usual wrong files before NumPy does (its message for them suggests unsafe loading).
    if head.startswith(b"\x80"):
        raise ModelFileError(f"{path} is a Python pickle, not a VAE Explorer model file; pickles are never loaded "
                             "as models (convert the assignment's weight pickles with import-legacy)")
    if not head.startswith((b"PK", b"\x93NUMPY")):
        raise ModelFileError(f"{path} is not a VAE Explorer model file (.npz)")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is damaged or truncated (not a complete .npz archive): {exc}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):  # a single .npy array
        raise ModelFileError(f"{path} is a single NumPy array (.npy), not a VAE Explorer model file (.npz)")
    return npz


def _header_of(npz, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one array of an open .npz, read from its .npy header only."""
    try:
        with npz.zip.open(key + ".npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (KeyError, zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as exc:
        raise ModelFileError(f"{path} is damaged (truncated?): array {key}: {exc}") from exc
    return tuple(shape), np.dtype(dtype)


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
        config_dict = meta.get("config")
        if not isinstance(config_dict, dict):
            raise ModelFileError(f"{path} has no model config")
        try:
            config = ModelConfig.from_dict(config_dict)
        except (ValueError, TypeError) as exc:  # ConfigError is a ValueError; int('a') raises one too
            raise ModelFileError(f"{path} has an invalid model config: {exc}") from exc
        expected = dict(param_shapes(config))
        n_params = sum(int(np.prod(s)) for s in expected.values())
        # Shapes and dtypes come from the array headers, so a file whose arrays contradict the
        # config is refused before any array (or the model) is allocated.
        param_keys = [k for k in npz.files if k.startswith("param/")]
        optim_keys = [k for k in npz.files if k.startswith("optim/")]
        names = [k[len("param/"):] for k in param_keys]
        missing = [n for n in expected if n not in names]
        if missing:
            raise ModelFileError(f"{path} is missing parameter arrays: {', '.join(missing)}")
        extra = [n for n in names if n not in expected]
        if extra:
            raise ModelFileError(f"{path} has parameter arrays the config does not know: {', '.join(extra)}")
        for key in param_keys + optim_keys:
            shape, dtype = _header_of(npz, key, path)
            want = expected[key[len("param/"):]] if key.startswith("param/") else (n_params,)
            if shape != want:
                raise ModelFileError(f"{path}: array {key} has shape {shape}, the config "
                                     f"({config.describe()}) needs {want}")
            if dtype.kind not in "fiu":
                raise ModelFileError(f"{path}: array {key} has dtype {dtype}, expected real numbers")
        try:
            params = {k[len("param/"):]: npz[k] for k in param_keys}
            optim_arrays = {k[len("optim/"):]: npz[k] for k in optim_keys}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, MemoryError, zlib.error) as exc:
            raise ModelFileError(f"{path} is damaged (truncated?): {exc}") from exc
    bad = [n for n, a in {**params, **optim_arrays}.items() if not np.all(np.isfinite(a))]
    if bad:
        raise ModelFileError(f"{path} holds NaN or infinite values in: {', '.join(bad)}")
    step = meta.get("step", 0)
    if not isinstance(step, int) or step < 0:
        raise ModelFileError(f"{path} has an invalid step count {step!r}")
    model = Model(config, device=device)
    try:
        model.set_params(params)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    model.step = step
    if "noise_rng_state" in meta:
        try:
            model.noise_rng.bit_generator.state = meta["noise_rng_state"]
        except (TypeError, ValueError, KeyError) as exc:
            raise ModelFileError(f"{path} has an invalid noise generator state: {exc}") from exc
    optimizer_state = None
    if "optimizer" in meta:
        if not isinstance(meta["optimizer"], dict):
            raise ModelFileError(f"{path} has invalid optimiser state (not a mapping)")
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


def import_legacy(path: str | os.PathLike, kind: str = "ae", likelihood: str = "bernoulli",
                  dtype: str = "float32") -> Model:
    """Build a model (``dtype`` 'float32' or 'float64') from an assignment pickle.

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
    for name in names:  # the shape arithmetic below needs 2-D real arrays
        if w[name].ndim != 2 or w[name].dtype.kind not in "fiu":
            raise LegacyPickleError(f"{path}: array {name} has shape {w[name].shape} and dtype {w[name].dtype}; "
                                    "expected a 2-D array of real numbers")
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
                         code_activation="relu", input_dim=d_in, dtype=dtype)
    try:
        model = Model(config)
    except ConfigError as exc:  # e.g. zero-sized layers
        raise LegacyPickleError(f"{path} does not describe a usable network: {exc}") from exc
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
