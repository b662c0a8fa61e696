"""Reliability under faults: divergence, Ctrl-C, SIGKILL during a save, exact resume, flat memory.
See docs/RELIABILITY.md."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.reliability import ROOT, assert_cli_error, run_cli, small_model

from core.checkpoint import ModelFileError, load_model, read_meta, save_model
from core.data import split_indices
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer

DIVERGED = re.compile(r"training diverged (?:at|by) step (\d+): (non-finite loss|non-finite gradient|"
                      r"the weights overflowed); kept the weights of step (\d+)")
# Child processes use one BLAS thread: on a loaded 2-core machine more threads only fight.
CHILD_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _default_sigint() -> None:
    """Children that get Ctrl-C start with SIGINT at its default, as in a terminal (a background
    job of a non-interactive shell inherits it ignored, and then Python never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _trainer(frey, hidden=16, lr=1e-3, log_every=50, optimizer="adam", seed=0) -> Trainer:
    train_ids, test_ids = split_indices()
    model = Model(ModelConfig(kind="vae", hidden=[hidden], latent=4), seed=seed)
    return Trainer(model, make_optimizer(optimizer, model, lr), frey[train_ids], frey[test_ids],
                   batch_size=32, seed=seed, log_every=log_every, eval_every=0)


def _state(trainer: Trainer) -> dict:
    opt = trainer.optimizer
    return {"flat": trainer.model.flat.copy(), "step": trainer.model.step, "t": opt.t,
            **{k: getattr(opt, k).copy() for k in opt.state_arrays}}


def _assert_state_equal(trainer: Trainer, state: dict) -> None:
    now = _state(trainer)
    assert now["step"] == state["step"] and now["t"] == state["t"]
    for key in ("flat", *trainer.optimizer.state_arrays):
        np.testing.assert_array_equal(now[key], state[key], err_msg=key)


# ----------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("optimizer, good_steps", [("sgd", 100), ("adagrad", 100), ("sgd", 0)])
def test_divergence_stops_and_restores_the_last_good_weights(frey, optimizer, good_steps):
    """Some sane steps, then a learning rate of 10: the run ends at the first non-finite value,
    weights, optimiser state and step are exactly those of the last good step, and the message
    says so. (Not Adam: its steps are bounded by lr, and at lr 10 its ReLUs die instead of overflowing.)"""
    trainer = _trainer(frey, optimizer=optimizer, lr=1e-2)
    if good_steps:
        assert trainer.run(good_steps).status == "finished"
    good = _state(trainer)
    trainer.optimizer.lr = 10.0
    result = trainer.run(500)
    assert result.status == "diverged"
    match = DIVERGED.fullmatch(result.message)
    assert match, result.message
    assert int(match.group(3)) == good_steps
    # caught by the per-step gradient check, before the next logging step would have seen it
    assert match.group(2) == "non-finite gradient" and good_steps < int(match.group(1)) < good_steps + 50
    assert result.steps_done < 500  # stopped at the first non-finite value, not at the end
    _assert_state_equal(trainer, good)
    assert np.isfinite(trainer.model.flat).all()
    # the restored model trains on at a sane rate
    trainer.optimizer.lr = 1e-3
    assert trainer.run(50).status == "finished" and np.isfinite(trainer.model.flat).all()


def test_non_finite_loss_is_reported_as_a_loss(frey, monkeypatch):
    """A NaN objective on a logging step (gradient finite) still stops the run."""
    trainer = _trainer(frey, log_every=10)
    real = trainer.model.forward_backward

    def poisoned(x, **kw):
        stats = real(x, **kw)
        if trainer.model.step == 19 and stats is not None:
            stats["objective"] = float("nan")
        return stats

    trainer.run(10)
    good = _state(trainer)
    monkeypatch.setattr(trainer.model, "forward_backward", poisoned)
    result = trainer.run(50)
    assert result.status == "diverged"
    assert result.message == "training diverged at step 20: non-finite loss; kept the weights of step 10"
    _assert_state_equal(trainer, good)


def test_overflow_on_the_last_step_between_logs_is_caught(frey, monkeypatch):
    """Weights that overflow on a step that is not a logging step, when the run ends right
    there, are still caught: no run ever ends with non-finite weights in the model."""
    trainer = _trainer(frey, log_every=50)
    trainer.run(50)
    good = _state(trainer)
    real_step = trainer.optimizer.step

    def overflowing_step():
        real_step()
        if trainer.model.step == 56:  # the 7th step of the next run: not a logging step
            trainer.model.flat[3] = np.inf

    monkeypatch.setattr(trainer.optimizer, "step", overflowing_step)
    result = trainer.run(7)
    assert result.status == "diverged" and "kept the weights of step 50" in result.message
    _assert_state_equal(trainer, good)


def test_non_finite_weights_are_never_saved(tmp_path):
    path = tmp_path / "model.npz"
    model = small_model()
    save_model(path, model)
    before = path.read_bytes()
    model.params["dec0.W"][0, 0] = np.nan
    with pytest.raises(ModelFileError, match="non-finite"):
        save_model(path, model)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temporary file left


def test_cli_divergence_message_exit_code_and_saved_weights(tmp_path, frey_path):
    """`train --lr 10` (SGD): one plain-words line on stderr (no NumPy warnings), exit 1, and the
    saved file holds the finite weights of the last good step."""
    out = tmp_path / "model.npz"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--data", str(frey_path), "--out", str(out),
                           "--optimizer", "sgd", "--lr", "10", "--hidden", "16", "--latent", "4", "--steps", "500",
                           "--log-every", "10", "--eval-every", "0", "--quiet"],
                          capture_output=True, text=True, timeout=120, env=CHILD_ENV)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr  # no RuntimeWarning: overflow… noise
    match = DIVERGED.match(lines[0])
    assert match and lines[0].endswith(f"; saved them to {out}"), lines[0]
    loaded = load_model(out)
    assert loaded.model.step == int(match.group(3))
    assert np.isfinite(loaded.model.flat).all()
    assert read_meta(out)["saved_because"] == "diverged; last good weights"


# ----------------------------------------------------------------------------- Ctrl-C
def _start_training(frey_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--data", str(frey_path),
                             "--out", str(out), "--hidden", "16", "--latent", "4", "--batch-size", "32",
                             "--log-every", "10", "--eval-every", "0", "--checkpoint-every", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV,
                            preexec_fn=_default_sigint)


def _interrupt_after_progress(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Wait for a progress line on stderr, send SIGINT, and return (exit code, stdout, stderr)."""
    first = proc.stderr.readline()
    while first and not first.startswith("step "):
        first = proc.stderr.readline()
    assert first.startswith("step "), "no progress output before the process ended"
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=120)
    return proc.returncode, out, first + rest


@pytest.mark.timeout(180)
def test_ctrl_c_saves_a_checkpoint_and_exits(tmp_path, frey_path):
    out = tmp_path / "model.npz"
    code, _, err = _interrupt_after_progress(_start_training(frey_path, out, "--steps", "1000000"))
    assert code in (0, 130), err
    match = re.search(r"interrupted at step (\d+): saved (\S+); continue with --resume", err)
    assert match, err
    assert "Traceback" not in err
    loaded = load_model(out)
    assert loaded.model.step == int(match.group(1)) > 0
    assert loaded.optimizer() is not None
    assert read_meta(out)["saved_because"] == "interrupted"


@pytest.mark.timeout(180)
def test_a_second_ctrl_c_quits_without_a_traceback(tmp_path, frey_path):
    """Two Ctrl-C in a row: the second one quits at once (exit 130, a one-line message, no
    traceback); whatever file exists afterwards is a complete model."""
    out = tmp_path / "model.npz"
    proc = _start_training(frey_path, out, "--steps", "1000000")
    line = proc.stderr.readline()
    while line and not line.startswith("step "):
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # 130, or killed by the SIGINT itself (-2; the shell shows 130 too) when the second signal came
    # after the first had already saved and main() returned
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "main.py: interrupted" in err or "interrupted at step" in err, err
    if out.exists():
        assert load_model(out).model.step > 0


# A child that runs `main.py sample` with load_model slowed down: the signal lands while the model file
# is being read, before any handler of ours is installed.
_SLOW_LOAD = """
import sys, time
sys.path.insert(0, {root!r})
import core.checkpoint as checkpoint
real = checkpoint.load_model
def slow(*a, **k):
    print("loading", flush=True)
    time.sleep(60)
    return real(*a, **k)
checkpoint.load_model = slow
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
def test_ctrl_c_while_reading_a_file_quits_with_one_line(tmp_path):
    """Ctrl-C before any handler of ours is installed (here: while a model file is being read):
    one line, exit 130, no traceback, no output file."""
    weights = tmp_path / "model.npz"
    weights.write_bytes(b"PK")
    out = tmp_path / "faces.png"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_LOAD.format(root=str(ROOT)), "sample", "--weights",
                             str(weights), "--save", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=CHILD_ENV, preexec_fn=_default_sigint)
    assert proc.stdout.readline() == "loading\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["main.py: interrupted"], err
    assert not out.exists()


# ----------------------------------------------------------------------------- SIGKILL during a save
@pytest.mark.timeout(300)
def test_sigkill_during_saves_leaves_a_complete_file(tmp_path):
    """A child saves versions of one file in a loop and is SIGKILLed at random moments 20 times;
    after every kill the file loads and is one complete version (every value equal to its step)."""
    path = tmp_path / "model.npz"
    rng = random.Random(0)
    killed_while_saving, strays, rounds_with_strays = 0, [], 0
    for round_ in range(20):
        first = round_ * 1000
        child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "helpers" / "save_loop.py"), str(path),
                                  str(first)], stdout=subprocess.PIPE, text=True, env=CHILD_ENV)
        line = child.stdout.readline()  # its first save is complete
        assert line == f"saved {first}\n", line
        # that save removed the temporaries the previous (killed) child left behind
        assert not [p for p in strays if p.exists()], strays
        time.sleep(rng.uniform(0.0, 0.25))
        child.kill()
        rest = child.stdout.read()
        child.wait(timeout=30)
        finished = [first] + [int(x.split()[1]) for x in rest.splitlines() if x.startswith("saved ")]
        loaded = load_model(path)
        version = loaded.model.step
        # the save under way when the kill came may have completed its rename without printing
        assert version in finished or version == finished[-1] + 1, (version, finished[-3:])
        killed_while_saving += version == finished[-1]
        assert (loaded.model.flat == version).all()
        opt = loaded.optimizer()
        assert opt.m.min() == opt.m.max() == version and opt.v.min() == opt.v.max() == version
        strays = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        rounds_with_strays += bool(strays)
    # the kills did land inside saves (the temporary files they left behind prove it)
    assert rounds_with_strays, "no kill landed during a save; the test proved nothing"


def test_a_save_that_fails_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    """Disk full (or any error) while writing: the previous model file is untouched, the
    temporary file is removed and the error reaches the caller."""
    import errno

    import core.checkpoint as checkpoint

    path = save_model(tmp_path / "model.npz", small_model(seed=1))
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_model(path, small_model(seed=2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_atomic_save_gives_normal_file_permissions(tmp_path):
    """The temporary file of an atomic save is created 0600; the saved model must not stay
    unreadable to the group and others: a new file gets the umask's mode, a replaced file keeps its own."""
    umask = os.umask(0)
    os.umask(umask)
    path = save_model(tmp_path / "model.npz", small_model())
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    save_model(path, small_model())
    assert path.stat().st_mode & 0o777 == 0o640


# ----------------------------------------------------------------------------- resume
def _train_cli(capsys, frey_path, out, *extra):
    code, stdout, err = run_cli(capsys, "train", "--data", frey_path, "--out", out, "--hidden", "16", "--latent",
                                "4", "--batch-size", "32", "--seed", "7", "--log-every", "25", "--eval-every", "100",
                                "--checkpoint-every", "0", "--quiet", *extra)
    assert code == 0, err
    return stdout


def _assert_files_identical(a: Path, b: Path) -> None:
    """Parameters, optimiser state, step and noise generator bit-identical."""
    la, lb = load_model(a), load_model(b)
    assert la.model.step == lb.model.step
    for name, value in la.model.params_numpy().items():
        np.testing.assert_array_equal(value, lb.model.params_numpy()[name], err_msg=name)
    oa, ob = la.optimizer(), lb.optimizer()
    assert oa.t == ob.t
    for key in oa.state_arrays:
        np.testing.assert_array_equal(getattr(oa, key), getattr(ob, key), err_msg=key)
    assert la.model.noise_rng.bit_generator.state == lb.model.noise_rng.bit_generator.state


def test_resume_equals_an_uninterrupted_run(tmp_path, frey_path, capsys):
    """train --steps 300  ≡  train --steps 150, then train --resume --steps 300 (same seed)."""
    whole, split = tmp_path / "whole.npz", tmp_path / "split.npz"
    _train_cli(capsys, frey_path, whole, "--steps", "300")
    _train_cli(capsys, frey_path, split, "--steps", "150")
    assert load_model(split).model.step == 150
    stdout = _train_cli(capsys, frey_path, split, "--steps", "300", "--resume")
    assert "model has 300 steps" in stdout
    _assert_files_identical(whole, split)


def test_resume_refuses_flags_that_contradict_the_file(tmp_path, frey_path, capsys):
    """--resume takes the architecture, optimiser, batch size and seed from the file: flags
    that repeat them are fine (the continuation stays bit-identical), flags that contradict them are refused
    with one line naming each, and the file is untouched."""
    whole, split = tmp_path / "whole.npz", tmp_path / "split.npz"
    _train_cli(capsys, frey_path, whole, "--steps", "200")
    _train_cli(capsys, frey_path, split, "--steps", "100")
    before = split.read_bytes()
    code, _, err = run_cli(capsys, "train", "--data", frey_path, "--out", split, "--resume", "--steps", "200",
                           "--model", "ae", "--hidden", "512", "--optimizer", "sgd", "--batch-size", "64",
                           "--lr", "0.5", "--quiet")
    assert_cli_error(code, err, "--model ae (the model has vae)", "--hidden [512] (the model has [16])",
                     "--optimizer sgd (the model has adam)", "--batch-size 64 (the model has 32)")
    assert "--lr" not in err  # the learning rate may change on a continue (core.run.continue_settings)
    assert split.read_bytes() == before
    _train_cli(capsys, frey_path, split, "--steps", "200", "--resume")  # the same flags as the file: accepted
    _assert_files_identical(whole, split)


@pytest.mark.parametrize("stored, words", [
    ("fast", ["training settings are str"]), ({"batch_size": None}, ["batch_size", "None"]),
    ({"batch_size": float("inf")}, ["batch", "inf"]),
    ({"seed": "7"}, ["seed", "'7'"]), ({"weight_decay": float("nan")}, ["weight_decay", "nan"]),
])
def test_resume_from_malformed_stored_settings_is_one_line(stored, words, tmp_path, frey_path, capsys):
    from helpers.reliability import npz_arrays, write_npz

    path = tmp_path / "m.npz"
    _train_cli(capsys, frey_path, path, "--steps", "20")
    arrays, meta = npz_arrays(path)
    meta["train"] = stored if not isinstance(stored, dict) else {**meta["train"], **stored}
    write_npz(path, arrays, meta)
    code, _, err = run_cli(capsys, "train", "--data", frey_path, "--out", path, "--resume", "--steps", "40",
                           "--quiet")
    assert_cli_error(code, err, *words)


@pytest.mark.timeout(240)
def test_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path, frey_path, capsys):
    total = "2000"
    interrupted = tmp_path / "interrupted.npz"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", "--data", str(frey_path),
                             "--out", str(interrupted), "--hidden", "16", "--latent", "4", "--batch-size", "32",
                             "--seed", "7", "--log-every", "25", "--eval-every", "100", "--checkpoint-every", "0",
                             "--steps", total], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=CHILD_ENV, preexec_fn=_default_sigint)
    code, _, err = _interrupt_after_progress(proc)
    assert code == 130, err  # interrupted, not finished: otherwise this test proves nothing
    step = load_model(interrupted).model.step
    assert 0 < step < int(total)
    _train_cli(capsys, frey_path, interrupted, "--steps", total, "--resume")
    whole = tmp_path / "whole.npz"
    _train_cli(capsys, frey_path, whole, "--steps", total)
    _assert_files_identical(whole, interrupted)


# ----------------------------------------------------------------------------- memory
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_flat_over_a_few_thousand_steps(frey):
    """RSS after 3000 more steps (logging every 10, test −ELBO every 500) grows by < 20 MB.
    The long run (50 000 steps) is measured by tests/helpers/measure_memory.py."""
    trainer = _trainer(frey, log_every=10)
    trainer.eval_every = 500
    trainer.run(300)  # warm-up: BLAS buffers, first evaluation
    start = _rss_mb()
    result = trainer.run(3000)
    growth = _rss_mb() - start
    assert result.status == "finished"
    assert growth < 20, f"RSS grew by {growth:.1f} MB over 3000 steps"
