"""The one boundary every file passes on its way in or out of the program.

Reading: ``open_regular`` / ``read_capped`` refuse anything that is not a regular file (a FIFO
would block forever, ``/dev/zero`` would read until memory runs out) and files over a size cap,
and never block while finding out (the path is opened with O_NONBLOCK and checked with fstat).

Writing: ``atomic_write`` writes a temporary file in the target's folder, fsyncs it and renames it
over the target, so a full disk or a kill leaves the previous file intact. It refuses to replace
anything that is not a regular file, and a regular file of another kind unless ``force`` (a
``--train --out`` that names the data set, a PNG written over a text file...). Temporaries are
named ``.NAME.PID-RANDOM.tmp``; a successful write removes the ones whose process is gone.

``OutputLock`` keeps two programs from writing one output at once (``fcntl.flock``: the kernel
drops it when its process dies, so a killed run never leaves it stuck).
"""

from __future__ import annotations

import errno
import math
import os
import re
import secrets
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import UnsafeFileError

MB = 1 << 20
GB = 1 << 30
# The data-set budget: values, each a float32 once read (400 MB); 70 000 MNIST images are 55 M values. Every data
# reader (core.dataset_io) checks it from the file's headers (.npy/.npz headers, IDX dimensions, .mat variable
# shapes, image headers summed) before reading or decoding anything; the flag raises it and is named in the refusal.
# Here, not in dataset_io, so that the CLI's parser can name it without importing NumPy.
DEFAULT_MAX_VALUES = 100_000_000
MAX_VALUES_FLAG = "--max-data-values"




# ------------------------------------------------------------------------------------------ reading
def _kind_of_mode(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, what: str, max_bytes: int,
                 error: type[Exception] = UnsafeFileError) -> BinaryIO:
    """``path`` opened for reading in binary mode, once it is known to be a regular file of at most
    ``max_bytes``; raises ``error`` naming ``what`` and the path otherwise (missing, folder, FIFO,
    device, too large, unreadable). The open never blocks, even on a FIFO."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} path is a folder: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} path {path} is {_kind_of_mode(info.st_mode)}, not a regular file; refused")
        if info.st_size > max_bytes:
            raise error(f"{what} {path} is {info.st_size / MB:.0f} MB, more than the {max_bytes / MB:.0f} MB "
                        f"a {what} may have; refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: str | os.PathLike, what: str, max_bytes: int,
                error: type[Exception] = UnsafeFileError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see ``open_regular``)."""
    with open_regular(path, what, max_bytes, error) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read it
        raise error(f"{what} {path} is larger than {max_bytes / MB:.0f} MB; refused")
    return data


# ------------------------------------------------------------------------------------------ writing
@dataclass(frozen=True)
class OutputKind:
    """What a written file is: ``recognise(path)`` says whether an existing regular file is one,
    so it may be replaced without ``force``. ``recognise`` must read at most a few bytes."""

    name: str  # e.g. "model file", "PNG image"
    recognise: Callable[[Path], bool]


def _head(path: Path, n: int) -> bytes:
    with open_regular(path, "file", 1 << 62) as f:
        return f.read(n)


def _is_png(path: Path) -> bool:
    return _head(path, 8) == b"\x89PNG\r\n\x1a\n"


def _is_csv(path: Path) -> bool:
    """Text without NUL bytes in its first 4 KB (UTF-8), in a file named .csv."""
    head = _head(path, 4096)
    if path.suffix.lower() != ".csv" or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at 4096 is still text
        return exc.start >= len(head) - 3
    return True


def json_lines_kind(name: str, keys: tuple[str, ...]) -> OutputKind:
    """A JSON-lines log recognised by its own first record: a JSON object on one line (at most 1 MB) holding
    every one of ``keys``. A pretty-printed settings.json, which also starts with '{', is not one."""

    def recognise(path: Path) -> bool:
        import json

        first = _head(path, MB + 1).split(b"\n", 1)[0]
        try:
            record = json.loads(first)
        except ValueError:
            return False
        return isinstance(record, dict) and all(key in record for key in keys)

    return OutputKind(name, recognise)


PNG = OutputKind("PNG image", _is_png)
CSV = OutputKind("CSV table", _is_csv)
INSPECT_LOG = json_lines_kind("log of train --inspect-log",
                              ("step", "source", "images", "layers"))


def check_distinct(outputs: dict[str, str | os.PathLike | None], inputs: dict[str, str | os.PathLike | None],
                   error: type[Exception] = UnsafeFileError) -> None:
    """Refuse, before any work, a command whose output would be one of its inputs or another of its outputs:
    ``outputs`` and ``inputs`` map a flag (``--out``) to its path (None: not given). Links count: two names of
    one file (symbolic or hard links) are the same file."""
    seen: list[tuple[str, str | os.PathLike]] = []
    for role, named in (("output", outputs), ("input", inputs)):
        for flag, path in named.items():
            if path is None:
                continue
            for other_flag, other in seen:
                if _same_file(path, other):
                    raise error(f"{other_flag} {other} is also {flag} {path}: an output may not be "
                                f"{'another output' if role == 'output' else 'an input'}; choose another file")
            if role == "output":
                seen.append((flag, path))


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): the same path then, once links are resolved
        return os.path.realpath(a) == os.path.realpath(b)


class AppendLog:
    """A JSON-lines log appended to one whole record at a time (``replace``: emptied first). A record that
    cannot be written whole (a full disk) is cut off again, so the file ends with a complete line, and the log
    stops: ``write`` returns False and ``failure`` says why, naming the file; the caller goes on without it."""

    def __init__(self, path: str | os.PathLike, what: str, replace: bool = False):
        self.path, self.what, self.failure = Path(path), what, ""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(self.path, flags | (os.O_TRUNC if replace else 0), 0o644)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):  # it was checked before, but may have changed since
            self.close()
            raise UnsafeFileError(f"{what} {path} is not a regular file; refused")

    def write(self, line: str) -> bool:
        """Append ``line`` and a newline; False (and nothing of it in the file) when that fails or failed before."""
        if self._fd is None:
            return False
        start = os.lseek(self._fd, 0, os.SEEK_END)
        data = memoryview((line.rstrip("\n") + "\n").encode("utf-8"))
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, start)  # shrinking needs no space: the torn record goes
            except OSError:
                pass
            self.failure = f"could not write the {self.what} {self.path}: {exc.strerror or exc}"
            self.close()
            return False
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

_TEMP_NAME = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")


def temp_name(target: Path) -> Path:
    """The temporary file of one write to ``target``: ``.NAME.PID-RANDOM.tmp`` in the same folder."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def check_output(path: str | os.PathLike, kind: OutputKind, force: bool = False,
                 error: type[Exception] = UnsafeFileError, force_flag: str = "--force") -> Path:
    """The file a write to ``path`` would replace (symbolic links followed), once replacing it is
    allowed: it is missing, empty, or a regular file of ``kind`` (any regular file with ``force``).
    Raises ``error`` otherwise; call it before long work so nothing is computed in vain."""
    target = Path(os.path.realpath(path))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise error(f"cannot write the {kind.name} {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise error(f"refusing to write the {kind.name} {path}: it exists and is {_kind_of_mode(info.st_mode)}, "
                    "which is never replaced")
    if force or info.st_size == 0:
        return target
    try:
        ours = kind.recognise(target)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise error(f"refusing to overwrite {path}: it exists and is not a {kind.name} "
                    f"(choose another name, or {force_flag} to replace it)")
    return target


def _file_mode(path: Path) -> int:
    """Permission bits for a file written at ``path``: those of the file it replaces, else what
    the umask gives a new file (0644 with the common umask 022)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # our own temporaries belong to writes under way in other threads
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: the process exists
        return True
    return True


def remove_stray_temporaries(folder: Path) -> list[Path]:
    """Delete temporaries of our naming in ``folder`` whose writing process no longer exists."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _pid_alive(int(match.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def atomic_write(path: str | os.PathLike, kind: OutputKind, write: Callable[[BinaryIO], None],
                 force: bool = False, error: type[Exception] = UnsafeFileError) -> Path:
    """Write a file through ``write(binary_file)`` so that ``path`` is either its old self or the new
    complete file, never a torn one; see ``check_output`` for what may be replaced. A failed write
    removes its temporary file and raises (OSError naming the path, or what ``write`` raised)."""
    target = check_output(path, kind, force, error)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        os.fchmod(fd, _file_mode(target))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        check_output(path, kind, force, error)  # it may have become something else meanwhile
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:  # e.g. ENOSPC from write(): name the file
            named = OSError(f"could not write {path}: {exc.strerror or os.strerror(exc.errno)}")
            named.errno = exc.errno
            raise named from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    remove_stray_temporaries(target.parent)
    return target


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ------------------------------------------------------------------------------------------ locking
class OutputLock:
    """An exclusive lock on an output path, held while a program writes it repeatedly (``train --out``).

    The lock is ``fcntl.flock`` on the side file ``.NAME.lock``: the kernel releases it when the
    process ends in any way, so a killed run never leaves it stuck. The side file is removed on
    release; a run that finds it already replaced by a newer one retries, so two runs never both hold it.
    """

    def __init__(self, path: str | os.PathLike, error: type[Exception] = UnsafeFileError):
        target = Path(os.path.realpath(path))
        self.path = target.with_name(f".{target.name}.lock")
        self.output = Path(path)
        self.error = error
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = self._open_side_file()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                raise self.error(f"{self.output} is being written by another run (process {holder or '?'}); "
                                 "wait for it to finish or choose another --out") from None
            try:  # the holder before us may have removed the side file after we opened it: start again
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fd = fd
                return self
            os.close(fd)
        raise self.error(f"could not lock {self.output}: its lock file {self.path} keeps changing")

    def _open_side_file(self) -> int:
        """The side file, created (O_EXCL) or, when one exists, opened only if it is a lock file of ours: never
        through a symbolic link (O_NOFOLLOW), never another file's second name (a hard link), never a file
        holding anything but a process number, so the PID written into it never truncates someone's file."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        refused = (f"cannot lock {self.output}: its lock file {self.path} exists and is not a lock file of this "
                   "program ({}); refused. Remove it if no run is writing " + str(self.output))
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:  # removed meanwhile by its holder: create it after all
            return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:  # ELOOP: a symbolic link
            raise self.error(refused.format("a symbolic link" if exc.errno == errno.ELOOP else exc.strerror)) from None
        info = os.fstat(fd)
        why = ("not a regular file" if not stat.S_ISREG(info.st_mode) else "a second name of another file"
               if info.st_nlink > 1 else "" if re.fullmatch(rb"\d*\n?", os.pread(fd, 64, 0)) else "it holds other data")
        if why:
            os.close(fd)
            raise self.error(refused.format(why))
        return fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding it: a waiting run then sees a new file (above)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ------------------------------------------------------------------------------------------ .mat files
MAX_MAT_BYTES = 256 * MB  # the Frey file is 1.1 MB
_MAT_COMPRESSED = 15  # miCOMPRESSED: a zlib stream holding one variable
_MAT_DENSE_CLASSES = ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                      "logical", "char")


def read_mat_variable(path: str | os.PathLike, name: str, max_elements: int, what: str = "data file",
                      error: type[Exception] = UnsafeFileError, limit_hint: str = ""):
    """One variable of a MATLAB .mat file, read alone after its declared shape and class were checked:
    a sparse or non-numeric variable, or one of more than ``max_elements`` values, is refused before
    its data is read, and a compressed one whose stream inflates past its declared size is refused
    while inflating (a zip bomb). Other variables are skipped, never decompressed."""
    import scipy.io

    path = Path(path)
    with open_regular(path, what, MAX_MAT_BYTES, error) as f:
        variables = _mat_variables(f, path, error)
        names = [v[0] for v in variables]
        if name not in names:
            keys = ", ".join(n for n in names if not n.startswith("__")) or "none"
            raise error(f"{path} has no variable {name!r}; its variables: {keys}")
        index = names.index(name)
        _, shape, mclass = variables[index]
        if mclass == "sparse":
            raise error(f"{name!r} in {path} is a sparse matrix; expected a dense array of pixel values")
        if mclass not in _MAT_DENSE_CLASSES:
            raise error(f"{name!r} in {path} is a MATLAB {mclass}, not an array of numbers")
        count = math.prod(int(n) for n in shape)
        if count > max_elements:
            raise error(f"{name!r} in {path} declares shape {tuple(shape)} ({count:,} values), more than the "
                        f"{max_elements:,} it may have; refused before reading it"
                        + (f" (raise the limit with {limit_hint} N)" if limit_hint else ""))
        _check_inflated_size(f, index, count * 8 + 64 * 1024, f"{name!r} in {path}", error)
        f.seek(0)
        try:
            return scipy.io.loadmat(f, variable_names=[name])[name]
        except (ValueError, TypeError, OSError, EOFError, MemoryError, zlib.error) as exc:
            raise error(f"{path} is not a readable MATLAB .mat file (truncated or another format): {exc}") from exc


def _mat_variables(f, path: Path, error) -> list:
    import scipy.io

    try:
        return scipy.io.whosmat(f)
    except NotImplementedError as exc:  # v7.3 files are HDF5
        raise error(f"{path} is a MATLAB v7.3 (HDF5) file, which is not read; save it with -v7: {exc}") from exc
    except (ValueError, TypeError, OSError, EOFError, MemoryError, zlib.error, struct.error) as exc:
        raise error(f"{path} is not a readable MATLAB .mat file (truncated or another format): {exc}") from exc
    except Exception as exc:  # scipy raises assorted errors on garbage input
        raise error(f"{path} is not a readable MATLAB .mat file: {type(exc).__name__}: {exc}") from exc


def _check_inflated_size(f, index: int, limit: int, what: str, error) -> None:
    """Inflate the ``index``-th element of a v5 .mat file, if compressed, counting (not keeping) its
    bytes: more than ``limit`` is refused. Other versions and uncompressed elements are bounded by the file."""
    f.seek(0)
    header = f.read(128)
    order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
    if len(header) < 128 or order is None:
        return
    position = 128
    for _ in range(index + 1):
        f.seek(position)
        tag = f.read(8)
        if len(tag) < 8:
            return
        mdtype, nbytes = struct.unpack(order + "II", tag)
        position += 8 + nbytes
    if mdtype != _MAT_COMPRESSED:
        return
    inflater, left, total = zlib.decompressobj(), nbytes, 0
    while left > 0:
        chunk = f.read(min(1 << 16, left))
        if not chunk:
            return
        left -= len(chunk)
        while chunk:
            try:
                total += len(inflater.decompress(chunk, 1 << 20))
            except zlib.error:
                return  # loadmat reports the damage in its own words
            if total > limit:
                raise error(f"{what} inflates to more than {limit:,} bytes, more than its declared shape needs "
                            "(a compression bomb?); refused")
            chunk = inflater.unconsumed_tail
