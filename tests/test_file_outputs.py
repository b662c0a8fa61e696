"""Every file the program writes: never over another kind of file or a non-regular one, always atomic,
no temporary left behind. See docs/RELIABILITY.md."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys

import numpy as np
import pytest
from helpers.reliability import ROOT, assert_cli_error, run_cli, save_small_model, small_model

from core.checkpoint import ModelFileError, load_model, save_model
from core.images import read_png_gray, write_png
from core.safe_io import CSV, PNG, UnsafeFileError, atomic_write

WEIGHTS = ROOT / "model" / "ae.npz"


def _train(capsys, frey_path, out, *extra):
    """Three steps with a progress line each: a refusal after training would show them (one line is allowed)."""
    return run_cli(capsys, "train", "--data", frey_path, "--out", out, "--hidden", "8", "--latent", "2",
                   "--steps", "3", "--eval-every", "0", "--log-every", "1", *extra)


# ----------------------------------------------------------------------------- train --out
def test_train_never_overwrites_its_own_data_file(tmp_path, frey_path, capsys):
    data = tmp_path / "frey_rawface.mat"
    data.write_bytes(frey_path.read_bytes())
    before = data.read_bytes()
    code, _, err = _train(capsys, data, data)
    # not even with --force
    assert_cli_error(code, err, f"--out {data} is also --data", "an output may not be an input")
    assert data.read_bytes() == before


def test_train_over_a_text_file_needs_force(tmp_path, frey_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    code, _, err = _train(capsys, frey_path, out)
    assert_cli_error(code, err, "refusing to overwrite", "--force")
    assert out.read_text() == "my notes\n"
    code, _, err = _train(capsys, frey_path, out, "--force")
    assert code == 0, err
    assert load_model(out).model.step == 3


def test_train_over_a_model_file_is_allowed(tmp_path, frey_path, capsys):
    out = save_small_model(tmp_path / "m.npz")
    code, _, err = _train(capsys, frey_path, out)
    assert code == 0, err
    assert load_model(out).model.config.hidden == [8]


@pytest.mark.timeout(60)
def test_a_fifo_is_never_replaced_even_with_force(tmp_path, frey_path, capsys):
    fifo = tmp_path / "out.npz"
    os.mkfifo(fifo)
    for extra in ((), ("--force",)):
        code, _, err = _train(capsys, frey_path, fifo, *extra)
        assert_cli_error(code, err, "FIFO", "never replaced")
    code, _, err = run_cli(capsys, "sample", "--weights", WEIGHTS, "--save", fifo, "--force")
    assert_cli_error(code, err, "FIFO", "never replaced")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ModelFileError, match="FIFO"):
        save_model(fifo, small_model(), force=True)


def test_import_legacy_never_overwrites_its_pickle(tmp_path, capsys):
    path = tmp_path / "weights.pkl"
    rng = np.random.default_rng(0)
    shapes = [(8, 560), (2, 8), (8, 2), (560, 8), (8, 1), (2, 1), (8, 1), (560, 1)]
    path.write_bytes(pickle.dumps(tuple(rng.standard_normal(s) for s in shapes)))
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "import-legacy", path, "--out", path)
    assert_cli_error(code, err, "refusing to overwrite", "not a VAE Explorer model file")
    assert path.read_bytes() == before


# ----------------------------------------------------------------------------- PNGs
def test_a_png_replaces_a_png_but_not_another_kind_of_file(tmp_path, capsys):
    png, text, model = tmp_path / "s.png", tmp_path / "s.txt", save_small_model(tmp_path / "m.npz")
    write_png(png, np.zeros((2, 2), np.uint8))
    text.write_text("keep me")
    model_bytes = model.read_bytes()
    code, _, err = run_cli(capsys, "sample", "--weights", WEIGHTS, "--save", png, "--n", "2")
    assert code == 0, err
    assert read_png_gray(png).shape != (2, 2)
    for target in (text, model):
        code, _, err = run_cli(capsys, "sample", "--weights", WEIGHTS, "--save", target, "--n", "2")
        assert_cli_error(code, err, "refusing to overwrite", "not a PNG image", "--force")
    assert text.read_text() == "keep me" and model.read_bytes() == model_bytes
    with pytest.raises(ModelFileError, match="not a VAE Explorer model file"):
        save_model(png, small_model())  # and a model never replaces a PNG
    code, _, err = run_cli(capsys, "sample", "--weights", WEIGHTS, "--save", text, "--n", "2", "--force")
    assert code == 0 and text.read_bytes().startswith(b"\x89PNG"), err


def test_a_symlinked_output_is_written_through_the_link(tmp_path):
    target = write_png(tmp_path / "real.png", np.zeros((2, 2), np.uint8))
    link = tmp_path / "link.png"
    link.symlink_to(target)
    write_png(link, np.full((3, 3), 7, np.uint8))
    assert link.is_symlink() and read_png_gray(target).shape == (3, 3)


_FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, {root!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.timeout(60)
def test_a_full_disk_keeps_the_old_png_and_leaves_no_temporary(tmp_path):
    png = write_png(tmp_path / "s.png", np.zeros((4, 4), np.uint8))
    before = png.read_bytes()
    result = subprocess.run([sys.executable, "-c", _FULL_DISK.format(root=str(ROOT)), "sample", "--weights",
                             str(WEIGHTS), "--save", str(png), "--n", "64"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"main.py: error: could not write {png}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert png.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]


def test_stray_temporaries_of_ours_are_removed_by_the_next_save(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    ours_dead = tmp_path / f".s.png.{dead.pid}-0123abcd.tmp"
    ours_live = tmp_path / f".s.png.{os.getppid()}-0123abcd.tmp"  # a write under way in a live process
    foreign = tmp_path / ".s.png.tmp"
    for p in (ours_dead, ours_live, foreign):
        p.write_bytes(b"partial")
    write_png(tmp_path / "s.png", np.zeros((2, 2), np.uint8))
    assert not ours_dead.exists()
    assert ours_live.exists() and foreign.exists()


def test_a_failed_write_removes_its_temporary_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")

    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=f"could not write {path}: No space left on device"):
        atomic_write(path, CSV, fail)
    assert path.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_csv_replaces_a_csv_only(tmp_path):
    csv, binary, named = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.txt"
    csv.write_text("step,loss\n1,2\n")
    binary.write_bytes(b"\x00\x01binary")
    named.write_text("text, but not named .csv")
    atomic_write(csv, CSV, lambda f: f.write(b"step,loss\n"))
    for other in (binary, named):
        with pytest.raises(UnsafeFileError, match="not a CSV table"):
            atomic_write(other, CSV, lambda f: f.write(b"x"))
    with pytest.raises(UnsafeFileError, match="not a PNG image"):
        atomic_write(csv, PNG, lambda f: f.write(b"x"))
    assert csv.read_text() == "step,loss\n"


@pytest.mark.timeout(60)
def test_the_inspect_log_is_only_appended_to_a_json_lines_file(tmp_path, frey_path, capsys):
    data = tmp_path / "faces.mat"
    data.write_bytes(frey_path.read_bytes())
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    for log, words in ((data, ["refusing to overwrite", "not a log of train --inspect-log"]), (fifo, ["FIFO"])):
        code, _, err = _train(capsys, frey_path, tmp_path / "m.npz", "--inspect-log", log)
        assert_cli_error(code, err, *words)
    assert data.read_bytes() == frey_path.read_bytes() and not (tmp_path / "m.npz").exists()
    log = tmp_path / "ok.jsonl"
    for _ in range(2):  # a log of ours is appended to
        code, _, err = _train(capsys, frey_path, tmp_path / "m.npz", "--inspect-log", log)
        assert code == 0, err
    assert len(log.read_text().splitlines()) == 6
