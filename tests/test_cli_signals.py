"""Late interrupts, SIGTERM/SIGHUP and two runs on one --out. See docs/RELIABILITY.md."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers.reliability import ROOT

from core.checkpoint import load_model, read_meta
from core.safe_io import OutputLock, UnsafeFileError

CHILD_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

# `main.py ARGS` with one core function slowed down: it prints MARKER when entered, then sleeps, so the
# test can send a signal exactly while that part of the command runs.
_SLOWED = """
import sys, time
sys.path.insert(0, {root!r})
import {module} as target
real = target.{name}
def slow(*a, **k):
    print("MARKER", flush=True)
    time.sleep({sleep})
    return real(*a, **k)
target.{name} = slow
import main
sys.exit(main.main(sys.argv[1:]))
"""


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def _train(frey_path, out, *extra, slow: tuple[str, str] | None = None, sleep: float = 2.0) -> subprocess.Popen:
    argv = ["train", "--data", str(frey_path), "--out", str(out), "--hidden", "16", "--latent", "4",
            "--batch-size", "32", "--log-every", "10", "--eval-every", "0", "--checkpoint-every", "0", *extra]
    if slow is None:
        command = [sys.executable, str(ROOT / "main.py"), *argv]
    else:
        code = _SLOWED.format(root=str(ROOT), module=slow[0], name=slow[1], sleep=sleep)
        command = [sys.executable, "-c", code, *argv]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV,
                            preexec_fn=_default_signals)


def _wait_for(stream, prefix: str) -> str:
    line = stream.readline()
    while line and not line.startswith(prefix):
        line = stream.readline()
    assert line.startswith(prefix), f"never saw {prefix!r}"
    return line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", [("core.run", "neg_elbo"), ("core.run", "save_record")])
def test_ctrl_c_during_the_final_evaluation_or_save_still_writes_the_file(where, tmp_path, frey_path):
    """The whole command is covered, through its final save: a Ctrl-C while the final −ELBO is computed
    (or while the file is written) ends with a complete model file of all the steps, never none."""
    out = tmp_path / "model.npz"
    proc = _train(frey_path, out, "--steps", "60", "--quiet", slow=where)
    _wait_for(proc.stdout, "MARKER")
    proc.send_signal(signal.SIGINT)
    stdout, err = proc.communicate(timeout=100)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err, err
    loaded = load_model(out)
    assert loaded.model.step == 60
    if where[1] == "neg_elbo":
        assert proc.returncode == 130 and f"interrupted at step 60: saved {out}" in err, err
        assert read_meta(out)["saved_because"] == "interrupted"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")])
def test_sigterm_and_sighup_save_and_exit_like_ctrl_c(signum, name, tmp_path, frey_path):
    out = tmp_path / "model.npz"
    proc = _train(frey_path, out, "--steps", "1000000")
    _wait_for(proc.stderr, "step ")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=100)
    assert proc.returncode == 128 + signum, err
    match = re.search(rf"{name} at step (\d+): saved (\S+); continue with --resume", err)
    assert match, err
    loaded = load_model(out)
    assert loaded.model.step == int(match.group(1)) > 0 and loaded.optimizer() is not None
    assert read_meta(out)["saved_because"] == "interrupted"


@pytest.mark.timeout(120)
def test_a_signal_while_the_data_loads_quits_at_once(tmp_path, frey_path):
    """Before training there is nothing to save: one line, exit 130, no file."""
    out = tmp_path / "model.npz"
    proc = _train(frey_path, out, "--steps", "50", slow=("cli.train", "load_dataset"), sleep=30)
    _wait_for(proc.stdout, "MARKER")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.splitlines() == ["main.py: interrupted"], err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- one --out, one run
@pytest.mark.timeout(120)
def test_a_second_train_on_the_same_out_is_refused_while_the_first_runs(tmp_path, frey_path):
    out = tmp_path / "model.npz"
    first = _train(frey_path, out, "--steps", "1000000")
    try:
        _wait_for(first.stderr, "step ")
        second = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--data", str(frey_path), "--out",
                                 str(out), "--steps", "5", "--quiet"], capture_output=True, text=True, env=CHILD_ENV,
                                timeout=60)
        assert second.returncode == 2, second.stderr
        assert re.fullmatch(rf"main.py: error: {re.escape(str(out))} is being written by another run \(process "
                            rf"{first.pid}\); wait for it to finish or choose another --out\n", second.stderr), \
            second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=100)
    assert load_model(out).model.step > 0  # the first run saved as usual


@pytest.mark.timeout(60)
def test_a_killed_holder_never_leaves_the_lock_stuck(tmp_path):
    out = tmp_path / "model.npz"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               f"sys.path.insert(0, {str(ROOT)!r})\n"
                               "from core.safe_io import OutputLock\n"
                               f"lock = OutputLock({str(out)!r}).acquire()\n"
                               "print('locked', flush=True)\ntime.sleep(60)\n"],
                              stdout=subprocess.PIPE, text=True, env=CHILD_ENV)
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(UnsafeFileError, match=f"process {holder.pid}"):
        OutputLock(out).acquire()
    holder.kill()
    holder.wait(timeout=30)
    with OutputLock(out) as lock:  # the kernel dropped the dead holder's lock
        assert lock.path.exists()
    assert not lock.path.exists()  # released: the side file is gone


def test_the_lock_is_per_output(tmp_path):
    with OutputLock(tmp_path / "a.npz"), OutputLock(tmp_path / "b.npz"):
        with pytest.raises(UnsafeFileError, match="being written by another run"):
            OutputLock(tmp_path / "a.npz").acquire()
    time.sleep(0)  # both released here
    OutputLock(tmp_path / "a.npz").acquire().release()


_SLOW_EXIT = """
import atexit, sys, time
sys.path.insert(0, {root!r})
atexit.register(lambda: (print("EXITING", flush=True), time.sleep(1.5)))  # a long interpreter shutdown
import main
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
def test_a_second_signal_while_the_process_exits_is_ignored(tmp_path, frey_path):
    """After the first stop signal was handled the command only returns and exits: a second one then
    must not become a traceback from the interpreter's shutdown ("Exception ignored … KeyboardInterrupt")."""
    out = tmp_path / "model.npz"
    argv = ["train", "--data", str(frey_path), "--out", str(out), "--hidden", "16", "--latent", "4", "--batch-size",
            "32", "--log-every", "10", "--eval-every", "0", "--checkpoint-every", "0", "--steps", "1000000"]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_EXIT.format(root=str(ROOT)), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=CHILD_ENV, preexec_fn=_default_signals)
    _wait_for(proc.stderr, "step ")
    proc.send_signal(signal.SIGINT)
    _wait_for(proc.stdout, "EXITING")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Exception ignored" not in err, err
    assert load_model(out).model.step > 0
