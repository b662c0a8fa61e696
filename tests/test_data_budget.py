"""The data-set budget (core.safe_io.DEFAULT_MAX_VALUES, --max-data-values): every reader checks a data set's
size from its headers before reading or decoding it, and odd headers are one clear error. Bombs are opened in
a child process under a memory limit (helpers.reliability.run_limited). See docs/RELIABILITY.md."""

from __future__ import annotations

import gzip
import struct
import zipfile

import numpy as np
import pytest
from helpers.reliability import (
    ROOT,
    assert_cli_error,
    deflated_zeros,
    mat_bytes,
    mat_uint8_element,
    npy_bytes,
    npy_header,
    run_cli,
    run_limited,
    write_zip_members,
)
from PIL import Image

from core.data import DataError
from core.dataset_io import open_dataset
from core.safe_io import DEFAULT_MAX_VALUES, MAX_VALUES_FLAG

RSS_LIMIT_MB = 600
N_BOMB = 20_000  # 20 000 × 20 000 = 400 M values: 1.6 GB as float32
AE = ROOT / "model" / "ae.npz"


def _open_in_child(spec: str, image_shape=None) -> tuple[str, float]:
    return run_limited(f"import core.dataset_io\ncore.dataset_io.open_dataset({spec!r}, {image_shape!r})")


def _assert_budget_refusal(result: str, rss: float) -> None:
    assert result.startswith("DataError") and "400,000,000 values" in result and MAX_VALUES_FLAG in result \
        and "refused before reading" in result, result
    assert rss < RSS_LIMIT_MB, rss


# ----------------------------------------------------------------------------- 400 M values in small files
def test_an_npz_that_inflates_to_400_m_values_is_refused_from_its_header(tmp_path):
    prefix = npy_header((N_BOMB, N_BOMB), "|u1")
    stream, crc = deflated_zeros(N_BOMB * N_BOMB, prefix=prefix)
    path = write_zip_members(tmp_path / "bomb.npz", {}, {"x.npy": (stream, crc, len(prefix) + N_BOMB * N_BOMB)})
    assert path.stat().st_size < 2_000_000
    _assert_budget_refusal(*_open_in_child(str(path)))


def test_a_gzipped_idx_of_400_m_values_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"\0\0\x08\x03" + struct.pack(">3I", 1000, 400, 1000))
        zeros = bytes(16 << 20)
        for _ in range(0, 400_000_000, len(zeros)):
            f.write(zeros)
    assert path.stat().st_size < 2_000_000
    _assert_budget_refusal(*_open_in_child(str(path)))


def test_a_mat_variable_of_400_m_values_is_refused_from_its_shape(tmp_path):
    path = tmp_path / "bomb.mat"
    header = mat_bytes(x=np.zeros(1))[:128]
    path.write_bytes(header + mat_uint8_element(b"faces", (N_BOMB, N_BOMB)))
    assert path.stat().st_size < 2_000_000
    result, rss = _open_in_child(f"{path}:faces", (N_BOMB, 1))
    assert result.startswith("DataError") and "declares shape (20000, 20000)" in result \
        and MAX_VALUES_FLAG in result, result
    assert rss < RSS_LIMIT_MB, rss


def test_an_image_shape_of_20000_square_on_a_folder_is_refused_before_decoding(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((4, 3), 80 * i, np.uint8)).save(tmp_path / f"{i}.png")
    result, rss = _open_in_child(str(tmp_path), (N_BOMB, N_BOMB))
    assert result.startswith("DataError") and "800,000,000 values" in result and MAX_VALUES_FLAG in result, result
    assert rss < RSS_LIMIT_MB, rss


def test_the_budget_is_the_sum_over_a_folders_images(tmp_path):
    for i in range(5):
        Image.fromarray(np.full((4, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(DataError, match=r"\(5, 4, 3\) \(60 values"):
        open_dataset(tmp_path, max_values=59)
    assert open_dataset(tmp_path, max_values=60).n == 5


# ----------------------------------------------------------------------------- the flag that raises it
def test_the_budget_is_a_flag_the_user_can_raise(tmp_path, capsys):
    path = tmp_path / "faces.npy"
    np.save(path, np.zeros((30, 28, 20), np.uint8))  # 16 800 values
    code, _, err = run_cli(capsys, "evaluate", "--weights", AE, "--data", path, "--max-data-values", "16799")
    assert_cli_error(code, err, "16,800 values", "--max-data-values")
    code, _, err = run_cli(capsys, "evaluate", "--weights", AE, "--data", path, "--max-data-values", "16800")
    assert code == 0, err
    assert DEFAULT_MAX_VALUES >= 70_000 * 784  # all of MNIST fits the default


def test_train_has_the_flag_too(tmp_path, capsys):
    path = tmp_path / "faces.npy"
    np.save(path, np.zeros((30, 28, 20), np.uint8))
    code, _, err = run_cli(capsys, "train", "--data", path, "--out", tmp_path / "m.npz", "--steps", "1",
                           "--max-data-values", "1000", "--quiet")
    assert_cli_error(code, err, "--max-data-values")
    assert not (tmp_path / "m.npz").exists()


# ----------------------------------------------------------------------------- odd headers: one clear line
@pytest.mark.parametrize("shape", [(0, 10**30), (10**30, 0), (2, 10**19)], ids=["0x1e30", "1e30x0", "2x1e19"])
def test_an_absurd_npy_shape_is_one_clear_error(shape, tmp_path, capsys):
    path = tmp_path / "absurd.npy"
    path.write_bytes(npy_header(shape, "|u1"))
    with pytest.raises(DataError, match=f"declares shape .*{MAX_VALUES_FLAG}"):
        open_dataset(path, (28, 20))
    inside = write_zip_members(tmp_path / "absurd.npz", {"x.npy": npy_header(shape, "|u1")}, {})
    with pytest.raises(DataError, match="array 'x' of .* declares shape"):
        open_dataset(inside, (28, 20))
    code, _, err = run_cli(capsys, "evaluate", "--weights", AE, "--data", inside, "--image-shape", "28x20")
    assert_cli_error(code, err, "absurd.npz", "declares shape")


def test_an_npz_whose_only_member_is_a_text_file_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "notes.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not an array")
    with pytest.raises(DataError, match="'readme.txt' of .* is not a NumPy array"):
        open_dataset(path, (28, 20))
    write_zip_members(path, {"readme.txt": b"text", "x.npy": npy_bytes(np.zeros((3, 560), np.uint8))}, {})
    code, _, err = run_cli(capsys, "evaluate", "--weights", AE, "--data", f"{path}:readme.txt")
    assert_cli_error(code, err, "readme.txt", "not a NumPy array")
    assert open_dataset(f"{path}:x", (28, 20)).n == 3


# ----------------------------------------------------------------------------- training keeps one copy
def test_training_takes_its_batches_from_the_data_set_without_copying_the_split(tmp_path):
    """20 000 images of 32×32 (82 MB as float32): building and running the trainer adds less than the training
    split's 74 MB (the Trainer indexes batches from the set itself; it used to copy images[train_ids]). Measured:
    31 MB (the 8 MB test split, first-use imports), 102 MB with the copy."""
    path = tmp_path / "set.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (20_000, 32, 32), dtype=np.uint8))
    body = f"""
import numpy as np
from core.config import TrainConfig
from core.dataset_io import open_dataset
from core.run import TrainingRun
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024
data = open_dataset({str(path)!r})
before = rss()
run = TrainingRun(TrainConfig(hidden=[8], latent=2, steps=3, eval_every=0), data)
run.run()
grown = rss() - before
assert grown < 60, f"building and running the trainer added {{grown:.0f}} MB"
"""
    result, _ = run_limited(body)
    assert result == "ok", result
