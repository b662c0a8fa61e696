"""Reading a data set from a file or folder into a ``Dataset``: NumPy .npy/.npz, MATLAB .mat, IDX (MNIST's
format, also gzipped) and folders of PNG/JPEG images (Pillow), plus value-range handling and binarisation.

``open_dataset(spec, image_shape=None)`` is what every command and the GUI's File → Open data set… call:
``spec`` is a path, optionally with ``:NAME`` for the array of an .npz or the variable of a .mat
(``faces.npz:train``, ``frey_rawface.mat:ff``); None means the Frey faces (downloaded when missing). Every
problem is a DataError with one line naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .data import DataError, ensure_data
from .dataset import FREY_IMAGE_SHAPE, Dataset, frey_dataset
from .images import SIXTEEN_BIT_MODES, picture_grey
from .safe_io import DEFAULT_MAX_VALUES, MAX_VALUES_FLAG

MAX_FILE_BYTES = 2 << 30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BINARIZE = ("none", "static", "dynamic")


def parse_image_shape(text: str) -> tuple[int, int]:
    """'28x20' (or 28×20, 28,20) -> (28, 20); ValueError naming the expected form."""
    match = re.fullmatch(r"\s*(\d+)\s*[x×X,]\s*(\d+)\s*", str(text))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"image shape must be HxW with whole numbers >= 1, e.g. 28x20; got {text!r}")
    return int(match.group(1)), int(match.group(2))


def split_spec(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """'PATH.npz:NAME' -> (PATH.npz, NAME); a path without a ':NAME' after its suffix -> (path, None)."""
    text = os.fspath(spec)
    match = re.fullmatch(r"(.+\.(?:npz|mat)):([^/\\]+)", text, flags=re.IGNORECASE)
    if match and not Path(text).exists():
        return Path(match.group(1)), match.group(2)
    return Path(text), None


# ------------------------------------------------------------------ values
def to_unit_range(arr: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """Pixel values as float32 in [0, 1] and a note saying how they were read.

    uint8 (and any integers within 0…255) are divided by 255; integers with a larger maximum by the
    data's maximum; booleans and floats already in [0, 1] are kept. Negative, non-finite or complex
    values, and floats outside [0, 1], are a DataError."""
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise DataError(f"{where} holds {arr.dtype} values; expected numbers (pixel intensities)")
    if arr.size == 0:
        raise DataError(f"{where} holds no values")
    if kind == "b":
        return arr.astype(np.float32), "booleans read as 0/1"
    lo, hi = arr.min(), arr.max()
    if kind == "f":
        if not np.isfinite(lo) or not np.isfinite(hi):
            raise DataError(f"{where} holds NaN or infinite values")
        if lo < 0 or hi > 1:
            raise DataError(f"{where} holds floats in {lo:g}…{hi:g}; floats must already be in [0, 1] "
                            "(store 0…255 pixels as integers, e.g. uint8)")
        return arr.astype(np.float32, copy=False), f"{arr.dtype} values in [0, 1] kept as they are"
    if lo < 0:
        raise DataError(f"{where} holds negative values ({lo}); expected pixel intensities >= 0")
    if arr.dtype == np.uint8 or hi <= 255:
        scale, note = 255, f"{arr.dtype} 0…255 scaled by 1/255"
    else:
        scale, note = hi, f"{arr.dtype} 0…{hi} scaled by the data's maximum 1/{hi}"
    # one pass straight into the float32 result (astype then divide took two: 0.7 s for 70 000 MNIST-size images)
    out = np.divide(arr, np.float32(scale), out=np.empty(arr.shape, np.float32), dtype=np.float32)
    return out, note


def binarized(dataset: Dataset, seed: int = 0) -> Dataset:
    """Static binarisation: one Bernoulli draw of every pixel (probability = its grey value) from
    default_rng(seed), fixed for the whole run (as in the binarised-MNIST literature)."""
    rng = np.random.default_rng(seed)
    draw = (rng.random(dataset.images.shape, dtype=np.float32) < dataset.images).astype(np.float32)
    return Dataset(draw, dataset.image_shape, dataset.name, source=dataset.source,
                   note=f"{dataset.note}; statically binarised (one Bernoulli draw, seed {seed})")


def evaluation_view(dataset: Dataset, binarize: str = "none", seed: int = 0) -> tuple[Dataset, str]:
    """The images a model is evaluated on and a note saying which: a model trained with --binarize
    static is evaluated on the same fixed draw it trained on (its ``seed``), one trained with dynamic
    binarisation on one fixed draw (seed 0), the usual stochastically binarised test set."""
    mode = binarize
    if mode == "static":
        seed = int(seed)
        return binarized(dataset, seed), f"binarize static: the training run's fixed draw (seed {seed})"
    if mode == "dynamic":
        return binarized(dataset, 0), "binarize dynamic: evaluated on one fixed Bernoulli draw (seed 0)"
    return dataset, "binarize none: grey values"


# ------------------------------------------------------------------ arrays to images
def _rows(arr: np.ndarray, image_shape: tuple[int, int] | None, where: str) -> tuple[np.ndarray, tuple[int, int], str]:
    """An array of images -> (N, D) rows, (H, W) and a note on the layout that was assumed."""
    if arr.ndim == 3:
        n, h, w = arr.shape
        if image_shape is not None and image_shape != (h, w):
            raise DataError(f"{where} holds {h}×{w} images, not the {image_shape[0]}×{image_shape[1]} "
                            "of --image-shape")
        return arr.reshape(n, h * w), (h, w), f"(N, H, W) = {arr.shape}"
    if arr.ndim != 2:
        raise DataError(f"{where} has shape {arr.shape}; expected (N, H, W) images, or (N, D) with --image-shape HxW")
    if image_shape is None:
        raise DataError(f"{where} has shape {arr.shape}: flat images need their size, give --image-shape HxW")
    d = image_shape[0] * image_shape[1]
    if arr.shape[1] == d:
        return arr, image_shape, f"one image per row ({arr.shape[0]} rows of {d} pixels)"
    if arr.shape[0] == d:
        return arr.T, image_shape, f"one image per column ({arr.shape[1]} columns of {d} pixels)"
    raise DataError(f"{where} has shape {arr.shape}: neither its rows nor its columns have "
                    f"{image_shape[0]}×{image_shape[1]} = {d} pixels")


def _dataset(arr: np.ndarray, image_shape, where: str, name: str, source: str, layout_hint: str = "",
             values_note: str = "") -> Dataset:
    rows, shape, layout = _rows(arr, image_shape, where)
    if len(rows) < 2:
        raise DataError(f"{where} holds {len(rows)} image(s); a data set needs at least 2")
    images, values = to_unit_range(rows, where)
    note = "; ".join(p for p in (layout_hint or layout, values_note or values) if p)
    return Dataset(images, shape, name, source=source, note=note)


def check_budget(shape: tuple[int, ...], where: str, max_values: int) -> None:
    """Refuse a data set whose declared ``shape`` holds more than ``max_values`` values (each becomes a float32),
    or any one axis longer than that (a header such as (0, 10**30) holds no values yet overflows NumPy)."""
    count = math.prod(int(n) for n in shape)
    if count > max_values or any(int(n) > max_values for n in shape):
        size = f"{count:,} values, {count * 4 / (1 << 30):.1f} GB as float32" if count else f"an axis of {max(shape):,}"
        raise DataError(f"{where} declares shape {tuple(shape)} ({size}), more than the {max_values:,} values a data "
                        f"set may have; refused before reading it (raise the limit with {MAX_VALUES_FLAG} N)")


# ------------------------------------------------------------------ formats
def _npy_header(f, where: str, max_values: int) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the .npy header at f's position, checked before any data is read: object arrays
    (pickles) and more than ``max_values`` values are refused."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    except (ValueError, OSError, EOFError, OverflowError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{where} is not a readable NumPy array (truncated or another format): {exc}") from exc
    if dtype.hasobject:
        raise DataError(f"{where} holds Python objects; only arrays of numbers are read (never unpickled)")
    check_budget(shape, where, max_values)
    return tuple(shape), dtype


def _npz_member(npz, name: str, where: str, max_values: int) -> np.ndarray:
    """One member of an open .npz, read only after its zip entry and .npy header were checked: a member that
    is not a .npy array (a text file), encrypted or unknown compression refused, and a member that inflates
    past its header's size (a zip bomb) too."""
    if name + ".npy" not in npz.zip.namelist():
        raise DataError(f"{where} is not a NumPy array (.npy) but a file of another kind; an .npz data set holds "
                        "NumPy arrays")
    info = npz.zip.getinfo(name + ".npy")
    if info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DataError(f"{where} is encrypted or compressed with an unknown method; refused")
    with npz.zip.open(info) as member:
        shape, dtype = _npy_header(member, where, max_values)
    if info.file_size > math.prod(shape) * dtype.itemsize + 65536:
        raise DataError(f"{where} inflates to {info.file_size:,} bytes, more than its {shape} {dtype} values need; "
                        "refused")
    try:
        return npz[name]
    except (ValueError, OSError, EOFError, OverflowError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{where} is damaged (truncated?): {exc}") from exc


def read_numpy(path: Path, name: str | None, image_shape, max_values: int = DEFAULT_MAX_VALUES) -> Dataset:
    """A .npy array, or the array ``name`` of an .npz (the only one when it holds one). Opened as a regular
    file only (never a FIFO or device), headers checked before data is read, never unpickled."""
    from .safe_io import open_regular

    where = f"{path}"
    with open_regular(path, "data file", MAX_FILE_BYTES, DataError) as f:
        is_npz = f.read(2) == b"PK"
        f.seek(0)
        if not is_npz:
            if name is not None:
                raise DataError(f"{path} is a single array (.npy); ':{name}' picks arrays of .npz files only")
            _npy_header(f, where, max_values)
            f.seek(0)
        try:
            loaded = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, OverflowError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{path} is not a readable NumPy file (truncated, another format, or object arrays): "
                            f"{exc}") from exc
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                names = list(loaded.files)
                if name is None and len(names) != 1:
                    raise DataError(f"{path} holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                                    f"pick one with {path}:NAME")
                name = name or names[0]
                if name not in names:
                    raise DataError(f"{path} has no array {name!r}; its arrays: {', '.join(names) or 'none'}")
                where = f"array {name!r} of {path}"
                arr = _npz_member(loaded, name, where, max_values)
        else:
            arr = loaded
    return _dataset(arr, image_shape, where, path.stem if name is None else f"{path.stem}:{name}", str(path))


def read_mat(path: Path, name: str | None, image_shape, max_values: int = DEFAULT_MAX_VALUES) -> Dataset:
    """The variable ``name`` of a MATLAB .mat file (the only numeric one when ``name`` is None). Images as
    rows or columns: the layout whose length is H·W (columns first for a 560-pixel 'ff', the Frey layout)."""
    import scipy.io

    from .safe_io import open_regular, read_mat_variable

    if name is None:
        with open_regular(path, "data file", MAX_FILE_BYTES, DataError) as f:
            try:
                found = [v[0] for v in scipy.io.whosmat(f) if not v[0].startswith("__")]
            except Exception as exc:  # noqa: BLE001 - scipy raises assorted errors on garbage input
                raise DataError(f"{path} is not a readable MATLAB .mat file: {type(exc).__name__}: {exc}") from exc
        if len(found) != 1:
            raise DataError(f"{path} holds {len(found)} variables ({', '.join(found) or 'none'}); "
                            f"pick one with {path}:VAR")
        name = found[0]
    arr = read_mat_variable(path, name, max_values, "data file", DataError, limit_hint=MAX_VALUES_FLAG)
    where = f"variable {name!r} of {path}"
    if image_shape is None and arr.ndim == 2 and arr.shape[0] == 560 and arr.shape[0] != arr.shape[1]:
        image_shape = FREY_IMAGE_SHAPE  # the Frey layout: 560-pixel columns of 28×20 faces
    return _dataset(arr, image_shape, where, f"{path.stem}:{name}", str(path))


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, image_shape, max_values: int = DEFAULT_MAX_VALUES) -> Dataset:
    """An IDX file as MNIST and Fashion-MNIST ship them (``*-images-idx3-ubyte``, also ``.gz``)."""
    from .safe_io import open_regular

    with open_regular(path, "data file", MAX_FILE_BYTES, DataError) as raw:
        f = gzip.GzipFile(fileobj=raw) if path.suffix.lower() == ".gz" else raw
        try:
            header = f.read(4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in _IDX_TYPES or not 1 <= header[3] <= 4:
                raise DataError(f"{path} is not an IDX file (its first bytes are {header.hex() or 'missing'})")
            dims = struct.unpack(f">{header[3]}I", f.read(4 * header[3]))
            dtype = np.dtype(_IDX_TYPES[header[2]])
            count = math.prod(dims)
            check_budget(dims, str(path), max_values)
            data = f.read(count * dtype.itemsize + 1)
        except (OSError, EOFError, struct.error, zlib.error) as exc:
            raise DataError(f"{path} is not a readable IDX file (truncated or damaged): {exc}") from exc
    if len(data) != count * dtype.itemsize:
        raise DataError(f"{path} is truncated or has trailing bytes: its header promises {dims} values "
                        f"({count * dtype.itemsize} bytes), the file holds {len(data)}")
    arr = np.frombuffer(data, dtype=dtype).reshape(dims)
    if arr.ndim == 1:
        raise DataError(f"{path} holds a 1-D IDX array {dims} (labels?); expected images (N, H, W)")
    return _dataset(arr.astype(dtype.newbyteorder("="), copy=False), image_shape, str(path), path.name, str(path))


def read_folder(path: Path, image_shape, max_values: int = DEFAULT_MAX_VALUES) -> Dataset:
    """Every PNG/JPEG in a folder (sorted by name) as greyscale (8-bit scaled by 1/255, 16-bit by 1/65535), read
    through core.images.open_picture (PNG and JPEG only, regular files only, no decompression bombs). With
    ``image_shape`` each is resized to it (a JPEG decoded at a reduced scale first); without, all must share one
    size: images of another size and unreadable files are skipped with a warning naming them (one bad file should
    not cost the set). The headers are read first and the set's size checked against ``max_values`` before any
    image is decoded; the images are then decoded one at a time into the one float32 array the set keeps."""
    from .images import PictureError, open_picture

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"the folder {path} holds no .png, .jpg or .jpeg images")
    usable, skipped, (h, w) = _folder_headers(files, image_shape)
    check_budget((len(usable), h, w), f"the folder {path}", max_values)
    images = np.empty((len(usable), h, w), np.float32)
    sixteen_bit, kept = 0, 0
    for file in usable:
        try:
            with open_picture(file, draft_size=(w, h) if image_shape else None) as img:
                sixteen_bit += img.mode in SIXTEEN_BIT_MODES
                images[kept] = picture_grey(img, (w, h) if image_shape else None, file)
        except (PictureError, ValueError) as exc:  # changed since its header was read, or damaged past it
            skipped.append(f"{file.name} (unreadable: {exc})")
            continue
        kept += 1
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} of {len(files)} images: {', '.join(skipped[:5])}"
                      f"{' …' if len(skipped) > 5 else ''}; give --image-shape HxW to resize odd-sized ones",
                      stacklevel=2)
    if kept < 2:
        raise DataError(f"the folder {path} has {kept} usable image(s); a data set needs at least 2")
    hint = f"{kept} greyscale images from a folder" + (f", resized to {h}×{w}" if image_shape else "")
    values = ("8-bit grey scaled by 1/255" if not sixteen_bit else
              f"{sixteen_bit} 16-bit images scaled by 1/65535, {kept - sixteen_bit} 8-bit ones by 1/255")
    return _dataset(images[:kept], None, str(path), path.name, str(path), layout_hint=hint, values_note=values)


def _folder_headers(files: list[Path], image_shape) -> tuple[list[Path], list[str], tuple[int, int]]:
    """(files to decode, skipped files with the reason, the (H, W) every image will have), from the headers
    alone: ``image_shape`` when given, else the size of the first readable image (others of another size are
    skipped)."""
    from .images import PictureError, open_picture

    usable, skipped, size = [], [], image_shape
    draft = (image_shape[1], image_shape[0]) if image_shape else None  # a big JPEG that will be reduced is fine
    for file in files:
        try:
            with open_picture(file, draft_size=draft) as img:
                shape = (img.size[1], img.size[0])
        except PictureError as exc:
            skipped.append(f"{file.name} (unreadable: {exc})")
            continue
        size = size or shape
        if image_shape is None and shape != size:
            skipped.append(f"{file.name} ({shape[0]}×{shape[1]}, not {size[0]}×{size[1]})")
            continue
        usable.append(file)
    return usable, skipped, size or (0, 0)


# ------------------------------------------------------------------ the entry point
def open_dataset(spec: str | os.PathLike | None = None, image_shape: tuple[int, int] | None = None,
                 allow_download: bool = True, progress=None, max_values: int = DEFAULT_MAX_VALUES) -> Dataset:
    """The data set ``spec`` names (see the module docstring); None, $VAE_DATA or a Frey .mat file give
    the Frey faces exactly as before. ``progress(done, total)`` reports a Frey download. A set of more than
    ``max_values`` values is refused from its headers, before anything is read (see DEFAULT_MAX_VALUES)."""
    if spec is None:
        return frey_dataset(ensure_data(None, allow_download=allow_download, progress=progress))
    path, name = split_spec(spec)
    if path.suffix.lower() == ".mat" and name is None and image_shape is None:
        return _frey_or_hint(path)  # a .mat without :VAR or --image-shape is read as Frey's file, as always
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        return read_folder(path, image_shape, max_values)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] in ([".npy"], [".npz"]):
        return read_numpy(path, name, image_shape, max_values)
    if suffixes[-1:] == [".mat"]:
        return read_mat(path, name, image_shape, max_values)
    if "idx" in path.name.lower() or (suffixes[-1:] == [".gz"] and "ubyte" in path.name.lower()):
        return read_idx(path, image_shape, max_values)
    raise DataError(f"{path}: unknown data format; use .npy, .npz[:NAME], .mat[:VAR], an IDX file "
                    "(*-idx3-ubyte[.gz]) or a folder of PNG/JPEG images")


def _frey_or_hint(path: Path) -> Dataset:
    """The Frey faces of ``path``; when it is not Frey's file, the error also says how to read other data."""
    try:
        return frey_dataset(ensure_data(path, allow_download=False))
    except DataError as exc:
        if "no variable 'ff'" not in str(exc):
            raise
        raise DataError(f"{exc} (for other images pick one: {path}:VAR, with --image-shape HxW for flat "
                        "rows)") from None


# ------------------------------------------------------------------ the data set a model was trained on
def recorded_data_specs(data_record: dict | None, commands: list[str],
                        model_path: str | os.PathLike | None = None) -> list[tuple[str, str | None]]:
    """Where the data set a model was trained on may be (its record's ``data`` and ``provenance.commands``):
    [(spec, image shape text or None)], most likely first: the data record's ``source`` when it has one, then the
    ``--data`` of each recorded training command (newest first), each as written and relative to the model file's
    folder."""
    import shlex

    found: list[tuple[str, str | None]] = []
    source = (data_record or {}).get("source")
    if isinstance(source, str) and source:
        found.append((source, None))
    for command in reversed([c for c in commands if isinstance(c, str)]):
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        flags = dict(_flag_values(words))
        if flags.get("--data"):
            found.append((flags["--data"], flags.get("--image-shape")))
    folder = Path(model_path).parent if model_path is not None else None
    with_folder = [(str(folder / spec), shape) for spec, shape in found
                   if folder is not None and not Path(spec).is_absolute()]
    return list(dict.fromkeys(found + with_folder))


def _flag_values(words: list[str]):
    """(flag, value) pairs of a command line's words: '--data X' and '--data=X' alike."""
    for i, word in enumerate(words):
        if "=" in word and word.startswith("--"):
            yield tuple(word.split("=", 1))
        elif word.startswith("--") and i + 1 < len(words):
            yield word, words[i + 1]


def find_recorded_data(data_record: dict | None, commands: list[str], model_path: str | os.PathLike | None = None,
                       max_values: int = DEFAULT_MAX_VALUES) -> Dataset | None:
    """The data set a model file was trained on, when one of ``recorded_data_specs`` still holds it: the
    same images (the record's fingerprint), so a moved or changed file is never taken for it. None if none does
    (or the record names no data set)."""
    record = data_record or {}
    if not record.get("fingerprint"):
        return None
    for spec, shape in recorded_data_specs(record, commands, model_path):
        try:
            if not split_spec(spec)[0].exists():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the user did not ask for this file: its skips are not news
                dataset = open_dataset(spec, parse_image_shape(shape) if shape else None, allow_download=False,
                                       max_values=max_values)
        except (DataError, ValueError, OSError):
            continue
        if dataset.fingerprint == record["fingerprint"]:
            return dataset
    return None
