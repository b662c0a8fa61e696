"""Model files: our ``.npz`` format (no pickle anywhere) and import of the assignment's pickles.

An ``.npz`` holds ``param/NAME`` arrays, ``optim/KEY`` arrays and one JSON string ``meta``
(format version, model config, steps trained, optimiser scalars, the noise generator's state,
training settings, metrics). It is written to a temporary file in the same folder and renamed
over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelFileError
from .fields import DEFAULT_MAX_PARAMS, INPUT_FIELDS, META_FIELDS, OPTIMIZER_FIELDS, check_fields
from .fields import is_int as _is_int
from .models import Model, ModelConfig, param_shapes
from .optim import Optimizer, optimizer_from_state
from .record import ModelRecord
from .safe_io import GB, MB, OutputKind, atomic_write, open_regular, read_capped
from .settings import MODEL, TRAIN, file_fields

FORMAT = "vae-explorer-model"
FORMAT_VERSION = 1
MAX_META_BYTES = 1 * MB  # our meta is a few KB
MAX_MODEL_FILE_BYTES = 64 * GB  # members are read only up to their own checked sizes; this only bounds the file
_NPY_HEADER_ALLOWANCE = 64 * 1024  # a .npy header is < 10 KB (NumPy reads at most 10 000 bytes of one)




def save_record(path: str | os.PathLike, record: ModelRecord, force: bool = False) -> Path:
    """Write a trained model with all it knows (core.record.ModelRecord) atomically to ``path``."""
    return _write(path, record.model, record.optimizer_state, record.to_meta(), force)


def save_model(path: str | os.PathLike, model: Model, optimizer: Optimizer | None = None,
               extra: dict | None = None, force: bool = False) -> Path:
    """Write a bare ``model`` (and optionally its optimiser) atomically to ``path``; ``extra`` is merged into
    the JSON meta. A trained model with its settings and history is saved with ``save_record``.

    Refuses to write non-finite parameters, and to replace anything but a VAE Explorer model file
    (any regular file with ``force``; never a FIFO, device or folder): see ``safe_io.atomic_write``.
    """
    return _write(path, model, optimizer.state_dict() if optimizer is not None else None, extra, force)


def _write(path: str | os.PathLike, model: Model, optimizer_state: dict | None, extra: dict | None,
           force: bool) -> Path:
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
    if optimizer_state is not None:
        state = optimizer_state
        scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
        meta["optimizer"] = scalars
        arrays.update({f"optim/{k}": v for k, v in state.items() if isinstance(v, np.ndarray)})
    arrays["meta"] = np.array(json.dumps(meta))
    return atomic_write(path, MODEL_FILE, lambda f: np.savez(f, allow_pickle=False, **arrays), force=force,
                        error=ModelFileError)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


# ------------------------------------------------------------------------- reading, bounded
def _read_npy(f) -> np.ndarray:
    """One .npy array from an open member; never unpickles (an object array is refused)."""
    return np.lib.format.read_array(f, allow_pickle=False)


class _Archive:
    """A model file's zip members, each read only after its declared size, flags and compression
    method were checked, and never beyond its declared size."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open_regular(path, "model file", MAX_MODEL_FILE_BYTES, ModelFileError)
        try:
            self.zip = self._open_zip()
        except BaseException:
            self.file.close()
            raise
        self.members = {i.filename[:-4]: i for i in self.zip.infolist() if i.filename.endswith(".npy")}

    def _open_zip(self) -> zipfile.ZipFile:
        path, head = self.path, self.file.read(6)
        self.file.seek(0)
        # Name the usual wrong files before anything else (NumPy's message for them suggests unsafe loading).
        if head.startswith(b"\x80"):
            raise ModelFileError(f"{path} is a Python pickle, not a VAE Explorer model file; pickles are never "
                                 "loaded as models (convert the assignment's weight pickles with import-legacy)")
        if head.startswith(b"\x93NUMPY"):
            raise ModelFileError(f"{path} is a single NumPy array (.npy), not a VAE Explorer model file (.npz)")
        if not head.startswith(b"PK"):
            raise ModelFileError(f"{path} is not a VAE Explorer model file (.npz)")
        try:
            return zipfile.ZipFile(self.file)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ModelFileError(f"{path} is damaged or truncated (not a complete .npz archive): {exc}") from exc

    def close(self) -> None:
        self.zip.close()
        self.file.close()

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _member(self, key: str, max_bytes: int) -> zipfile.ZipInfo:
        info = self.members.get(key)
        if info is None:
            raise ModelFileError(f"{self.path} has no array {key}")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{self.path}: array {key} is encrypted; model files are never encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{self.path}: array {key} uses zip compression method {info.compress_type}; "
                                 "only stored (0) and deflated (8) are read")
        if info.file_size > max_bytes:
            raise ModelFileError(f"{self.path}: array {key} declares {info.file_size} bytes, more than the "
                                 f"{max_bytes} it may have; refused before reading it")
        return info

    def _read(self, key: str, max_bytes: int, reader):
        try:
            with self.zip.open(self._member(key, max_bytes)) as f:
                return reader(f)
        except ModelFileError:
            raise
        except ValueError as exc:
            if "allow_pickle" in str(exc):  # NumPy refused an object array: it would have unpickled it
                raise ModelFileError(f"{self.path}: array {key} holds pickled Python objects, which are never "
                                     "loaded (unpickling could run code)") from exc
            raise ModelFileError(f"{self.path} is damaged (truncated?): array {key}: {exc}") from exc
        except (KeyError, zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
                RuntimeError) as exc:  # RuntimeError: zipfile's "encrypted, password required"
            raise ModelFileError(f"{self.path} is damaged (truncated?): array {key}: {exc}") from exc

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """(shape, dtype) of one array from its .npy header (at most 64 KB read)."""

        def read_header(f):
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            return tuple(shape), np.dtype(dtype)

        return self._read(key, MAX_MODEL_FILE_BYTES, read_header)

    def array(self, key: str, nbytes: int) -> np.ndarray:
        """One array whose header was checked; its member may hold at most ``nbytes`` plus a header."""
        return self._read(key, nbytes + _NPY_HEADER_ALLOWANCE, _read_npy)

    def meta(self) -> dict:
        text = self._read("meta", MAX_META_BYTES, _read_npy)
        if text.dtype.kind != "U" or text.ndim != 0:
            raise ModelFileError(f"{self.path} has an unreadable 'meta' entry (dtype {text.dtype}, "
                                 f"shape {text.shape}; expected one JSON string)")
        try:
            return json.loads(str(text))
        except RecursionError:
            raise ModelFileError(f"{self.path}: 'meta' is nested too deeply to be a model's settings") from None
        except ValueError as exc:
            raise ModelFileError(f"{self.path} has an unreadable 'meta' entry (truncated?): {exc}") from exc


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON meta of a model file without building the model (at most 1 MB of it is read)."""
    with _Archive(Path(path)) as archive:
        return _meta_of(archive)


def _is_model_file(path: Path) -> bool:
    try:
        read_meta(path)
    except ModelFileError:
        return False
    return True


MODEL_FILE = OutputKind("VAE Explorer model file", _is_model_file)


def _meta_of(archive: _Archive) -> dict:
    path = archive.path
    if "meta" not in archive.members:
        raise ModelFileError(f"{path} is not a VAE Explorer model file (no 'meta' entry)")
    meta = archive.meta()
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{path} is not a VAE Explorer model file (format {found!r})")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise ModelFileError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer VAE Explorer (format version {version}; "
                             f"this one reads up to {FORMAT_VERSION}); please update the program")
    return meta


def _config_of(meta: dict, path: Path, max_params: int) -> tuple[ModelConfig, dict[str, tuple[int, ...]]]:
    """The validated config and its parameter shapes, refusing more than ``max_params`` parameters."""
    config_dict = meta.get("config")
    if not isinstance(config_dict, dict):
        raise ModelFileError(f"{path} has no model config")
    check_fields(config_dict, {**file_fields(MODEL), **INPUT_FIELDS}, f"{path}: config", ModelFileError)
    try:
        config = ModelConfig.from_dict(config_dict)
    except (ValueError, TypeError, OverflowError) as exc:  # ConfigError is a ValueError
        raise ModelFileError(f"{path} has an invalid model config: {exc}") from exc
    expected = {name: tuple(int(n) for n in shape) for name, shape in param_shapes(config)}
    n_params = sum(math.prod(s) for s in expected.values())
    if n_params > max_params:
        raise ModelFileError(f"{path}: the config ({config.describe()}) has {n_params:,} parameters, more than "
                             f"the limit of {max_params:,}; refused before allocating them (--max-params N raises "
                             "the limit)")
    return config, expected


def _check_headers(archive: _Archive, config: ModelConfig, expected: dict) -> dict[str, int]:
    """Names, shapes and dtypes of every param/ and optim/ array from their headers: {key: nbytes}."""
    path, n_params = archive.path, sum(math.prod(s) for s in expected.values())
    param_keys = [k for k in archive.members if k.startswith("param/")]
    optim_keys = [k for k in archive.members if k.startswith("optim/")]
    names = [k[len("param/"):] for k in param_keys]
    missing = [n for n in expected if n not in names]
    if missing:
        raise ModelFileError(f"{path} is missing parameter arrays: {', '.join(missing)}")
    extra = [n for n in names if n not in expected]
    if extra:
        raise ModelFileError(f"{path} has parameter arrays the config does not know: {', '.join(extra)}")
    sizes = {}
    for key in param_keys + optim_keys:
        shape, dtype = archive.header(key)
        want = expected[key[len("param/"):]] if key.startswith("param/") else (n_params,)
        if shape != want:
            raise ModelFileError(f"{path}: array {key} has shape {shape}, the config "
                                 f"({config.describe()}) needs {want}")
        if dtype.kind not in "fiu":
            raise ModelFileError(f"{path}: array {key} has dtype {dtype}, expected real numbers")
        sizes[key] = math.prod(shape) * dtype.itemsize
    return sizes


def load_model(path: str | os.PathLike, device: str = "cpu", max_params: int = DEFAULT_MAX_PARAMS) -> ModelRecord:
    """Load a model file, checking every array against the config. Never runs code.

    Raises ModelFileError naming the problem (truncated file, missing arrays, wrong shapes,
    NaN/inf, newer format, not a model file, more than ``max_params`` parameters). Every size is
    checked before anything is allocated from it.
    """
    path = Path(path)
    with _Archive(path) as archive:
        meta = _meta_of(archive)
        config, expected = _config_of(meta, path, max_params)
        check_fields(meta, META_FIELDS, str(path), ModelFileError)
        train_settings(meta, path)
        optimizer_meta = meta.get("optimizer")
        if optimizer_meta is not None:
            if not isinstance(optimizer_meta, dict):
                raise ModelFileError(f"{path} has invalid optimiser state (not a mapping)")
            check_fields(optimizer_meta, OPTIMIZER_FIELDS, f"{path}: optimiser", ModelFileError)
        sizes = _check_headers(archive, config, expected)
        arrays = {key: archive.array(key, nbytes) for key, nbytes in sizes.items()}
    params = {k[len("param/"):]: a for k, a in arrays.items() if k.startswith("param/")}
    optim_arrays = {k[len("optim/"):]: a for k, a in arrays.items() if k.startswith("optim/")}
    bad = [n for n, a in {**params, **optim_arrays}.items() if not np.all(np.isfinite(a))]
    if bad:
        raise ModelFileError(f"{path} holds NaN or infinite values in: {', '.join(bad)}")
    return _build(path, meta, config, params, optim_arrays, device)


def _build(path: Path, meta: dict, config: ModelConfig, params: dict, optim_arrays: dict,
           device: str) -> ModelRecord:
    model = Model(config, device=device)
    try:
        model.set_params(params)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    model.step = meta.get("step", 0)
    if "noise_rng_state" in meta:
        try:
            model.noise_rng.bit_generator.state = meta["noise_rng_state"]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise ModelFileError(f"{path} has an invalid noise generator state: {exc}") from exc
    optimizer_state = None
    if "optimizer" in meta:
        optimizer_state = {**meta["optimizer"], **optim_arrays}
        try:
            optimizer_from_state(model, optimizer_state)  # validates names and shapes now
        except (ValueError, KeyError, TypeError, OverflowError, ZeroDivisionError) as exc:
            raise ModelFileError(f"{path} has invalid optimiser state: {exc}") from exc
    return ModelRecord.from_meta(model, optimizer_state, meta)


def train_settings(meta: dict, path: str | os.PathLike) -> dict:
    """The training settings stored in a model file's meta ('train'), each checked against its range."""
    settings = meta.get("train", {})
    if not isinstance(settings, dict):
        raise ModelFileError(f"{path}: the stored training settings are {type(settings).__name__}, not a mapping")
    check_fields(settings, file_fields(TRAIN), f"{path}: stored training setting", ModelFileError)
    return settings


# ------------------------------------------------------------------------- legacy pickles
LEGACY_AE_NAMES = ("Wi", "Wm", "Wd", "Wo", "Bi", "Bm", "Bd", "Bo")
LEGACY_VAE_NAMES = ("Wi", "Wm", "Wv", "Wd", "Wo", "Bi", "Bm", "Bv", "Bd", "Bo")

MAX_PICKLE_BYTES = 256 * MB  # the assignment's pickles are ~1 MB
MAX_LEGACY_ELEMENTS = DEFAULT_MAX_PARAMS  # per array


class LegacyPickleError(ModelFileError):
    """A legacy pickle that is refused or malformed."""


def _refuse(what: str):
    raise LegacyPickleError(f"refused: the pickle {what}; nothing was run")


def _plain_dtype(dtype) -> np.dtype:
    """A dtype of plain real numbers or bools (no objects, records or sub-arrays), else refused."""
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise LegacyPickleError(f"refused: the pickle names an unknown dtype {dtype!r}: {exc}") from None
    if dtype.kind not in "fiub" or dtype.hasobject or dtype.fields is not None or dtype.shape != ():
        _refuse(f"asks for an array of dtype {dtype}, and weights are plain numbers")
    return dtype


def _checked_count(shape) -> int:
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        _refuse(f"gives an invalid array shape {shape!r}")
    count = math.prod(shape)
    if count > MAX_LEGACY_ELEMENTS:
        _refuse(f"asks for an array of shape {shape} ({count:,} elements; the limit is {MAX_LEGACY_ELEMENTS:,})")
    return count


class _LegacyArray(np.ndarray):
    """The array class a restricted pickle gets for ``numpy.ndarray``: its state is checked (plain
    dtype, element count, data length) before NumPy allocates anything from it."""

    def __new__(cls, shape, dtype=float, *args, **kwargs):
        _checked_count(tuple(shape) if isinstance(shape, (list, tuple)) else (shape,))
        return super().__new__(cls, shape, _plain_dtype(dtype), *args, **kwargs)

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            _refuse("gives an array state NumPy never writes")
        version, (shape, dtype, fortran, data) = (state[0] if len(state) == 5 else 1), state[-4:]
        dtype = _plain_dtype(dtype)
        count = _checked_count(shape)
        if isinstance(data, str):  # Python 2's str, read with encoding='latin1' as NumPy documents
            data = data.encode("latin1")
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
            _refuse(f"gives {type(data).__name__} data that does not fill an array of shape {shape}")
        super().__setstate__((version, shape, dtype, bool(fortran), data))


def _pickled_dtype(spec, align=False, copy=False) -> np.dtype:
    """``numpy.dtype('f8', False, True)`` as pickles call it (BUILD then sets its byte order)."""
    if not isinstance(spec, str) or align not in (0, 1) or copy not in (0, 1):
        _refuse(f"builds a dtype from {type(spec).__name__} {spec!r}")
    return np.dtype(_plain_dtype(spec), bool(align), bool(copy))


def _reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct(ndarray, (0,), b'b')``: the empty array that BUILD then fills."""
    if subtype is not _LegacyArray:
        _refuse(f"asks to reconstruct {getattr(subtype, '__name__', subtype)!r}, not a NumPy array")
    _checked_count(shape)
    return np.ndarray.__new__(_LegacyArray, shape, _plain_dtype(dtype))


def _scalar(dtype, data=None):
    from numpy._core.multiarray import scalar

    return scalar(_plain_dtype(dtype), data) if data is not None else scalar(_plain_dtype(dtype))


def _frombuffer(buffer, dtype, shape, order):
    from numpy._core.numeric import _frombuffer as frombuffer

    dtype = _plain_dtype(dtype)
    if len(memoryview(buffer).cast("B")) != _checked_count(tuple(shape)) * dtype.itemsize:
        _refuse(f"gives a buffer that does not fill an array of shape {shape}")
    return frombuffer(buffer, dtype, shape, order)


def _latin1_encode(text, encoding="utf-8"):
    """``_codecs.encode(str, 'latin1')``: how pickle protocols 0-2 store ``bytes`` (an array's data)."""
    if not isinstance(text, str) or encoding != "latin1":
        _refuse(f"calls _codecs.encode with ({type(text).__name__}, {encoding!r}), not the form NumPy's "
                "arrays use")
    return text.encode("latin1")


# The exact globals a NumPy array pickle names (both module spellings), each bound to a checked
# version. Anything else, e.g. os.system or numpy.load, is refused before it can run.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _LegacyArray,
    ("numpy", "dtype"): _pickled_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise LegacyPickleError(
                f"refused: the pickle asks for {module}.{name}, which is not one of the NumPy array "
                "constructors a weights file needs; nothing was run")
        return found


def read_legacy_pickle(path: str | os.PathLike) -> list[np.ndarray]:
    """The arrays of an assignment pickle (a tuple or list of arrays), via the restricted
    unpickler: only NumPy's array-rebuilding globals may be named, each checked. Pickles of
    protocols 0-5 and Python 2 pickles (strings read as latin1, as NumPy documents) load."""
    path = Path(path)
    data = read_capped(path, "pickle file", MAX_PICKLE_BYTES, LegacyPickleError)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except LegacyPickleError as exc:  # the unpickler's refusals do not know the file: name it
        raise LegacyPickleError(f"{path}: {exc}") from None
    except Exception as exc:
        raise LegacyPickleError(f"{path} is not a readable weights pickle: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, (tuple, list)) or not all(isinstance(a, np.ndarray) for a in obj):
        raise LegacyPickleError(f"{path} does not hold a tuple of arrays (found {type(obj).__name__})")
    return [np.asarray(a).view(np.ndarray) for a in obj]


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
