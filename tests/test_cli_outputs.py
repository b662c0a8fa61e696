"""What `train` writes besides the model: --inspect-log and the lock file. No output may be an input or another
output, the log is appended only to a log of ours (--force is for --out alone; --replace-inspect-log starts
afresh), the lock never follows a link or truncates a file it did not create, and a full disk stops the log,
never the run. See docs/RELIABILITY.md, *Reliability III*."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers.reliability import ROOT, assert_cli_error, run_cli

from core.checkpoint import load_model

TINY = ["--hidden", "4", "--latent", "2", "--batch-size", "8", "--eval-every", "0", "--quiet"]


@pytest.fixture
def data(tmp_path):
    """40 random 6×4 images as a .npy data set."""
    path = tmp_path / "faces.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (40, 6, 4), dtype=np.uint8))
    return path


def _train(capsys, data, out, *flags: str):
    return run_cli(capsys, "train", "--data", data, "--out", out, "--steps", "20", "--log-every", "10", *TINY, *flags)


# ----------------------------------------------------------------------------- outputs against inputs and outputs
def test_an_inspect_log_naming_out_is_refused_before_training(tmp_path, data, capsys):
    out = tmp_path / "m.npz"
    code, _, err = _train(capsys, data, out, "--inspect-log", out)
    assert_cli_error(code, err, "--inspect-log", "--out", "m.npz")
    assert not out.exists()
    code, _, err = _train(capsys, data, out)  # a model there: the log may still not name it, nor a link to it
    assert code == 0, err
    before = out.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(out)
    for log in (out, tmp_path / "link.jsonl"):
        code, _, err = _train(capsys, data, out, "--inspect-log", log, "--resume", "--steps", "30",
                              "--replace-inspect-log")
        assert_cli_error(code, err, "is also")
    assert out.read_bytes() == before


@pytest.mark.parametrize("flag", ["--force", "--replace-inspect-log"])
def test_no_output_may_be_the_data_even_with_force(flag, tmp_path, data, capsys):
    before = data.read_bytes()
    for outputs in (["--out", data], ["--out", tmp_path / "m.npz", "--inspect-log", data]):
        code, _, err = run_cli(capsys, "train", "--data", data, *outputs, "--steps", "10", *TINY, flag)
        assert_cli_error(code, err, "--data", "is also")
    os.link(data, tmp_path / "hard.npy")  # another name of the same file
    code, _, err = run_cli(capsys, "train", "--data", data, "--out", tmp_path / "hard.npy", "--steps", "10", *TINY,
                           "--force")
    assert_cli_error(code, err, "is also")
    assert data.read_bytes() == before and not (tmp_path / "m.npz").exists()


# ----------------------------------------------------------------------------- what counts as a log of ours
def test_a_pretty_printed_settings_json_is_not_taken_for_a_log(tmp_path, data, capsys):
    settings = tmp_path / "settings.json"
    for text in ('{\n  "lr": 0.001,\n  "hidden": [256]\n}\n', '{"lr": 0.001, "step": 5}\n'):  # pretty, one line
        settings.write_text(text)
        for flags in ([], ["--force"]):  # --force is for --out: it does not let the log replace the settings
            code, _, err = _train(capsys, data, tmp_path / "m.npz", "--inspect-log", settings, *flags)
            assert_cli_error(code, err, "not a log of train --inspect-log", "--replace-inspect-log")
            assert settings.read_text() == text
    code, _, err = _train(capsys, data, tmp_path / "m.npz", "--inspect-log", settings, "--replace-inspect-log")
    assert code == 0, err
    assert [json.loads(line)["step"] for line in settings.read_text().splitlines()] == [10, 20]


def test_a_log_of_ours_is_appended_to_and_replaced_only_on_request(tmp_path, data, capsys):
    log, out = tmp_path / "log.jsonl", tmp_path / "m.npz"
    assert _train(capsys, data, out, "--inspect-log", log)[0] == 0
    assert _train(capsys, data, out, "--inspect-log", log, "--resume", "--steps", "40")[0] == 0
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [10, 20, 30, 40]
    assert _train(capsys, data, out, "--inspect-log", log, "--resume", "--steps", "50",
                  "--replace-inspect-log")[0] == 0
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [50]


# ----------------------------------------------------------------------------- the lock file
@pytest.mark.parametrize("text", ["Chapter 1. Years of work.\n", "", "2024\n"], ids=["text", "empty", "a number"])
@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_the_lock_file_never_truncates_another_file(link, text, tmp_path, data, capsys):
    """Even a file that could pass for a lock file of ours (empty, a number) is not written through a link."""
    thesis = tmp_path / "thesis.txt"
    thesis.write_text(text)
    lock = tmp_path / ".m.npz.lock"
    (lock.symlink_to if link == "symbolic" else lambda target: os.link(target, lock))(thesis)
    code, _, err = _train(capsys, data, tmp_path / "m.npz")
    assert_cli_error(code, err, ".m.npz.lock", "not a lock file")
    assert thesis.read_text() == text
    assert not (tmp_path / "m.npz").exists()


def test_a_lock_file_holding_other_data_is_left_alone(tmp_path, data, capsys):
    lock = tmp_path / ".m.npz.lock"
    lock.write_text("my notes\n")
    code, _, err = _train(capsys, data, tmp_path / "m.npz")
    assert_cli_error(code, err, "not a lock file", "holds other data")
    assert lock.read_text() == "my notes\n"


def test_a_stale_lock_of_ours_is_taken_over(tmp_path, data, capsys):
    """A lock file left by a run that died (its process number only) does not block the next run."""
    lock = tmp_path / ".m.npz.lock"
    lock.write_text("999999\n")
    code, _, err = _train(capsys, data, tmp_path / "m.npz")
    assert code == 0, err
    assert not lock.exists()


# ----------------------------------------------------------------------------- a full disk while logging
_FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, {root!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
def test_a_full_disk_stops_the_log_and_keeps_the_run(tmp_path, data):
    """Files may grow to 60 kB (RLIMIT_FSIZE, SIGXFSZ ignored): the model fits, the log of a record per step
    does not. The run warns in one line, trains on, saves; the log ends with a whole record."""
    out, log = tmp_path / "m.npz", tmp_path / "log.jsonl"
    argv = ["train", "--data", str(data), "--out", str(out), "--steps", "200", "--log-every", "1",
            "--inspect-log", str(log), *TINY]
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK.format(root=str(ROOT), limit=60_000), *argv],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if str(log) in line]  # (the run ledger warns of its own)
    assert len(warnings) == 1 and warnings[0].startswith("main.py: warning: could not write the inspect log") \
        and "training goes on" in warnings[0], proc.stderr
    assert load_model(out).model.step == 200
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line whole
    assert log.read_text().endswith("\n") and 0 < len(records) < 200
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))


# ----------------------------------------------------------------------------- screenshots
def test_screenshots_refuse_a_non_png_before_opening_the_window(tmp_path, capsys):
    from vae_gui.screenshots import shot_paths

    notes = shot_paths(tmp_path)[0]
    notes.write_text("my notes\n")
    code, out, err = run_cli(capsys, "screenshots", tmp_path)
    assert_cli_error(code, err, notes.name, "not a PNG image", "--force")
    assert out == "" and notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [notes.name]  # nothing else was written


# ----------------------------------------------------------------------------- --resume on other data
def test_resume_on_other_images_of_the_same_size_warns(tmp_path, data, capsys):
    out = tmp_path / "m.npz"
    assert _train(capsys, data, out)[0] == 0
    other = tmp_path / "other.npy"
    np.save(other, np.random.default_rng(9).integers(0, 256, (40, 6, 4), dtype=np.uint8))
    code, _, err = _train(capsys, other, out, "--resume", "--steps", "30")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("main.py: warning:")]
    assert len(warnings) == 1 and "trained on other data" in warnings[0] and "record the new data" in warnings[0]
    code, _, err = _train(capsys, other, out, "--resume", "--steps", "40")  # now its own data: no warning
    assert code == 0 and "warning" not in err, err
