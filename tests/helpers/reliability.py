"""Shared helpers for the reliability tests: run the CLI in-process, check its one-line errors,
build a small model file and damaged variants of it."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import main as cli
from core.checkpoint import save_model
from core.models import Model, ModelConfig
from core.optim import make_optimizer

ROOT = Path(__file__).resolve().parents[2]


def local_http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A pytest fixture body: serve ``handler`` on 127.0.0.1 (a free port) in a thread; yields its base URL
    'http://127.0.0.1:PORT', shut down and joined afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


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


# ----------------------------------------------------------------------------- memory bombs
CHILD_AS_LIMIT_MB = 700  # address-space limit of a bomb test's child: a regression fails the test, not the machine

_LIMITED_CHILD = """
import json, resource, sys
limit = {limit} * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, {root!r})
try:
{body}
    result = "ok"
except BaseException as exc:
    result = f"{{type(exc).__name__}}: {{exc}}"
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a big parent (the whole suite) would count
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"result": result, "rss_mb": hwm_kb / 1024}}))
"""


def run_limited(body: str, limit_mb: int = CHILD_AS_LIMIT_MB, timeout: float = 60) -> tuple[str, float]:
    """Run ``body`` (Python statements) in a child whose address space is capped at ``limit_mb``:
    (its outcome, "ok" or "ExceptionType: message", and its peak RSS in MB)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = _LIMITED_CHILD.format(limit=limit_mb, root=str(ROOT), body=textwrap.indent(body.strip(), "    "))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"child failed ({proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(lines[-1])
    return report["result"], report["rss_mb"]


def deflated_zeros(n_bytes: int, prefix: bytes = b"", chunk: int = 16 << 20, checksum=None) -> tuple[bytes, int]:
    """(raw deflate stream, its CRC-32, or ``checksum`` such as zlib.adler32) of ``prefix`` followed by ``n_bytes``
    zero bytes. One ``chunk`` of zeros is compressed once and its bytes repeated: after a full flush the compressor
    starts afresh, so each chunk compresses to the same bytes (a 1 GB bomb takes ~0.3 s, mostly the checksum)."""
    import zlib

    checksum = checksum or zlib.crc32

    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(chunk)
    whole, rest = divmod(n_bytes, chunk)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH) if whole else b""
    tail = deflate.compress(bytes(rest)) + deflate.flush()
    crc = checksum(prefix)
    for _ in range(whole):
        crc = checksum(zeros, crc)
    return head + block * whole + tail, checksum(bytes(rest), crc)


def write_zip_members(path: Path, members: dict[str, bytes], deflated: dict[str, tuple[bytes, int, int]]) -> Path:
    """A zip with stored ``members`` plus pre-deflated ones {name: (stream, crc, uncompressed size)},
    written without ever holding an uncompressed bomb in memory."""
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, (stream, crc, size) in deflated.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.CRC, info.compress_size, info.file_size = crc, len(stream), size
            z.fp.seek(z.start_dir)
            info.header_offset = z.start_dir
            info.flag_bits = 0
            z.fp.write(info.FileHeader(zip64=size > 0xFFFFFFFF))
            z.fp.write(stream)
            z.start_dir = z.fp.tell()
            z.filelist.append(info)
            z.NameToInfo[name] = info
            z._didModify = True
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """The .npy header (magic, version 1.0) of an array of ``shape`` and ``dtype``."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def patch_zip_member(path: Path, name: str, flag_bits: int | None = None, method: int | None = None) -> Path:
    """Set a member's general-purpose flags and/or compression method in both of its zip headers."""
    import struct
    import zipfile

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo(name).header_offset
    encoded = name.encode()
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46: central + 46 + name_len]) == encoded:
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central >= 0, name
    for base, flag_at, method_at in ((offset, 6, 8), (central, 8, 10)):
        if flag_bits is not None:
            struct.pack_into("<H", data, base + flag_at, flag_bits)
        if method is not None:
            struct.pack_into("<H", data, base + method_at, method)
    path.write_bytes(bytes(data))
    return path


def mat_bytes(**variables) -> bytes:
    """A compressed v5 .mat file of ``variables``, as bytes."""
    import io

    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, do_compression=True)
    return buffer.getvalue()


def mat_uint8_element(name: bytes, shape: tuple[int, int], n_data: int | None = None,
                      compress: bool = True) -> bytes:
    """One v5 .mat top-level element: a uint8 matrix ``name`` of ``shape`` whose data are zeros
    (``n_data`` bytes of them, default the whole shape); compressed in chunks, so a 1 GB one costs
    ~2 s and little memory."""
    import struct
    import zlib

    n = shape[0] * shape[1] if n_data is None else n_data
    name_part = struct.pack("<II", 1, len(name)) + name + bytes(-len(name) % 8)
    head = (struct.pack("<II", 6, 8) + struct.pack("<II", 9, 0)  # array flags: mxUINT8_CLASS
            + struct.pack("<II", 5, 8) + struct.pack("<ii", *shape) + name_part
            + struct.pack("<II", 2, n))  # miUINT8 data
    body_len = len(head) + n + (-n % 8)
    matrix_tag = struct.pack("<II", 14, body_len)
    if not compress:
        return matrix_tag + head + bytes(n + (-n % 8))
    raw, adler = deflated_zeros(n + (-n % 8), prefix=matrix_tag + head, checksum=zlib.adler32)
    stream = b"\x78\x01" + raw + struct.pack(">I", adler)  # a zlib stream: header, deflate, Adler-32
    return struct.pack("<II", 15, len(stream)) + stream


# ----------------------------------------------------------------------------- Python 2 pickles
def _py2_string(data: bytes, protocol: int) -> bytes:
    """A Python 2 ``str`` as pickle opcodes: STRING (protocol 0) or SHORT_BINSTRING / BINSTRING."""
    import struct

    if protocol == 0:
        return b"S" + repr(data)[1:].encode("ascii") + b"\n"
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _py2_int(value: int, protocol: int) -> bytes:
    import struct

    return f"I{value}\n".encode() if protocol == 0 else b"J" + struct.pack("<i", value)


def _py2_tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def py2_array_pickle(arrays: list[np.ndarray], protocol: int) -> bytes:
    """The bytes Python 2's cPickle writes for a tuple of little-endian NumPy arrays (protocol 0 or 2):
    py2 ``str`` opcodes for the dtype codes and the raw data, which Python 3 reads with encoding='latin1'."""
    assert protocol in (0, 2)
    s = lambda b: _py2_string(b, protocol)  # noqa: E731
    i = lambda v: _py2_int(v, protocol)  # noqa: E731
    false = b"I00\n" if protocol == 0 else b"\x89"
    out = [b"\x80\x02" if protocol == 2 else b"", b"("]
    for a in arrays:
        a = np.ascontiguousarray(a)
        dtype = (b"cnumpy\ndtype\n" + _py2_tuple([s(a.dtype.str[1:].encode()), i(0), i(1)]) + b"R"
                 + _py2_tuple([i(3), s(b"<"), b"N", b"N", b"N", i(-1), i(-1), i(0)]) + b"b")
        empty = (b"cnumpy.core.multiarray\n_reconstruct\n"
                 + _py2_tuple([b"cnumpy\nndarray\n", _py2_tuple([i(0)]), s(b"b")]) + b"R")
        state = _py2_tuple([i(1), _py2_tuple([i(n) for n in a.shape]), dtype, false, s(a.tobytes())])
        out.append(empty + state + b"b")
    out.append(b"t.")
    return b"".join(out)
