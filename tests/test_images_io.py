"""Reading image files (core.images.open_picture / read_picture): what `encode`, the GUI's Encode an image…
and folder data sets accept. Only PNG and JPEG, only regular files, never an external program, never a
decompression bomb; 16-bit greys scaled by 1/65535. See docs/RELIABILITY.md, *Reliability III*."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.reliability import ROOT, assert_cli_error, deflated_zeros, run_cli, run_limited
from PIL import Image

from core.data import DataError
from core.dataset_io import open_dataset
from core.images import MAX_DECODED_PIXELS, PictureError, open_picture, picture_grey, read_picture

RSS_LIMIT_MB = 600
WEIGHTS = ROOT / "model" / "vae.npz"
# A PostScript program that prints, then loops forever: run by Ghostscript it would hang its reader
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 20\n(ghostscript ran this) print flush\n{} loop\n"


# ----------------------------------------------------------------------------- a PostScript file named .png
@pytest.fixture
def fake_gs(tmp_path):
    """A folder holding a `gs` that records every call in calls.txt (and answers --version as Ghostscript does)."""
    folder = tmp_path / "fakebin"
    folder.mkdir()
    calls = tmp_path / "calls.txt"
    gs = folder / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = "--version" ] && echo 10.0 && exit 0\nexit 1\n')
    gs.chmod(0o755)
    return folder, calls


def _in_child(fake_gs, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child with the fake `gs` first on PATH (a real one would run the PostScript)."""
    folder, _ = fake_gs
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_the_postscript_case_is_live(fake_gs, tmp_path):
    """Control: Pillow left to guess the format hands this `.png` to Ghostscript (the fake one records it)."""
    path = tmp_path / "a.png"
    path.write_bytes(POSTSCRIPT)
    _in_child(fake_gs, f"""
        from PIL import Image
        try:
            Image.open({str(path)!r}).load()
        except Exception:
            pass
    """)
    assert fake_gs[1].exists(), "Pillow did not try Ghostscript: the test below would prove nothing"


def test_a_postscript_file_named_png_never_starts_ghostscript(fake_gs, tmp_path):
    path = tmp_path / "faces" / "a.png"
    path.parent.mkdir()
    path.write_bytes(POSTSCRIPT)
    Image.fromarray(np.full((20, 28), 100, np.uint8)).save(path.parent / "b.png")
    Image.fromarray(np.full((20, 28), 200, np.uint8)).save(path.parent / "c.png")
    encode = _in_child(fake_gs, f"""
        import sys, main
        sys.exit(main.main(["encode", {str(path)!r}, "--weights", {str(WEIGHTS)!r}, "--json"]))
    """)
    assert encode.returncode == 2 and encode.stdout == "", (encode.returncode, encode.stdout, encode.stderr)
    assert encode.stderr.count("\n") == 1 and "a.png is not a PNG or JPEG image" in encode.stderr, encode.stderr
    folder = _in_child(fake_gs, f"""
        import warnings
        from core.dataset_io import open_dataset
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = open_dataset({str(path.parent)!r})
        print(data.n, caught[0].message)
    """)
    assert folder.returncode == 0, folder.stderr
    assert folder.stdout.startswith("2 ") and "a.png (unreadable" in folder.stdout, folder.stdout
    gui = _in_child(fake_gs, f"""
        from vae_gui.image_import import read_image
        try:
            read_image({str(path)!r})
        except ValueError as exc:
            print(exc)
    """)
    assert "not a PNG or JPEG" in gui.stdout, gui.stdout + gui.stderr
    assert "ghostscript ran this" not in encode.stdout + folder.stdout + gui.stdout
    assert not fake_gs[1].exists(), f"gs was started: {fake_gs[1].read_text()}"


@pytest.mark.parametrize("content", [b"BM" + bytes(60), b"GIF89a" + bytes(40), b"II*\x00" + bytes(40)],
                         ids=["bmp", "gif", "tiff"])
def test_formats_other_than_png_and_jpeg_are_refused(content, tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(PictureError, match="not a PNG or JPEG image"):
        read_picture(path, 64)


# ----------------------------------------------------------------------------- FIFOs and other non-files
@pytest.mark.timeout(60)
def test_encode_on_a_fifo_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    code, out, err = run_cli(capsys, "encode", fifo, "--weights", WEIGHTS)
    assert_cli_error(code, err, "pipe.png", "FIFO")
    with pytest.raises(PictureError, match="FIFO"):
        read_picture(fifo, 64)
    assert time.monotonic() - start < 30  # not a timing benchmark: a blocked open never returns at all


@pytest.mark.timeout(60)
def test_a_fifo_in_an_image_folder_is_skipped_without_blocking(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((4, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    os.mkfifo(tmp_path / "z.png")
    assert open_dataset(tmp_path).n == 2  # only regular files are listed: the FIFO is never opened


# ----------------------------------------------------------------------------- 16-bit greys
def test_16_bit_greys_are_scaled_by_1_over_65535(tmp_path):
    values = np.array([[0, 1000, 30000], [40000, 65535, 257]], np.uint16)
    for i in range(2):
        Image.fromarray(values).save(tmp_path / f"{i}.png")
    with Image.open(tmp_path / "0.png") as check:
        assert check.mode.startswith("I"), check.mode  # really written as 16 bits
    data = open_dataset(tmp_path)
    np.testing.assert_allclose(data.images[0], values.ravel() / 65535.0, atol=1e-7)
    assert "16-bit images scaled by 1/65535" in data.note
    grey = read_picture(tmp_path / "0.png", 64)
    assert grey.dtype == np.uint16
    np.testing.assert_array_equal(grey, values)


def test_8_bit_images_keep_1_over_255(tmp_path):
    values = np.array([[0, 17, 255], [128, 3, 250]], np.uint8)
    Image.fromarray(values).save(tmp_path / "a.png")
    with open_picture(tmp_path / "a.png") as image:
        grey = picture_grey(image)
    np.testing.assert_array_equal(grey, values.astype(np.float32) / np.float32(255))


# ----------------------------------------------------------------------------- bombs, under a memory limit
def _png_of_zeros(path: Path, width: int, height: int, colour_type: int = 6) -> Path:
    """A valid PNG of width×height zero pixels (RGBA by default) written without holding it: ~0.1 % of its size."""
    import struct
    import zlib

    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    stream, adler = deflated_zeros(height * (width * channels + 1), checksum=zlib.adler32)
    zlib_stream = b"\x78\x01" + stream + struct.pack(">I", adler)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib_stream) + chunk(b"IEND", b""))
    return path


def test_encode_refuses_a_13000_square_rgba_png_before_decoding_it(tmp_path):
    path = _png_of_zeros(tmp_path / "big.png", 13_000, 13_000)
    assert path.stat().st_size < 4_000_000
    result, rss = run_limited(f"import cli.encode\ncli.encode.read_image({str(path)!r})")
    assert result.startswith("CliError") and "13000×13000 pixels" in result and "refused before decoding" in result
    assert rss < RSS_LIMIT_MB, rss


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path):
    """9000×6000 = 54 M pixels (over the 40 M decode limit) in JPEG: drafted to 1/8, it reads in little memory."""
    path = tmp_path / "photo.jpg"
    image = Image.new("L", (9000, 6000), 90)
    image.save(path, quality=50)
    del image
    assert 9000 * 6000 > MAX_DECODED_PIXELS
    result, rss = run_limited(f"import core.images\nx = core.images.read_picture({str(path)!r}, 1024)\n"
                              "assert x.shape == (683, 1024, 4), x.shape")
    assert result == "ok", result
    assert rss < 300, rss
    with pytest.raises(PictureError, match="9000×6000 pixels"):  # without the draft it is refused, not decoded
        with open_picture(path):
            pass


def test_a_folder_of_hard_linked_9000_square_pngs_is_refused_image_by_image(tmp_path):
    folder = tmp_path / "links"
    folder.mkdir()
    first = _png_of_zeros(folder / "0.png", 9000, 9000, colour_type=0)
    for i in range(1, 10):
        os.link(first, folder / f"{i}.png")
    result, rss = run_limited(f"import core.dataset_io\ncore.dataset_io.open_dataset({str(folder)!r})")
    assert result.startswith("DataError") and "0 usable image(s)" in result, result
    assert rss < RSS_LIMIT_MB, rss


def test_a_large_jpeg_in_a_folder_is_read_when_it_will_be_resized(tmp_path):
    """With --image-shape, a 9000×6000 JPEG (over the decode limit at full size) is decoded at 1/8 and resized."""
    Image.new("L", (9000, 6000), 90).save(tmp_path / "big.jpg", quality=50)
    Image.new("L", (30, 20), 200).save(tmp_path / "small.png")
    data = open_dataset(tmp_path, (20, 30))
    assert data.n == 2 and data.images[0].mean() == pytest.approx(90 / 255, abs=0.02)
    with pytest.warns(UserWarning, match=r"big.jpg \(unreadable: .*9000×6000 pixels"):
        with pytest.raises(DataError, match="1 usable image"):
            open_dataset(tmp_path)  # at full size it is refused, not decoded
