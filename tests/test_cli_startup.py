"""How the command line starts and talks: a Ctrl-C while main.py is still importing is one line (exit 130),
never a KeyboardInterrupt traceback; warnings reach the user as one plain line each."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers.reliability import ROOT, run_cli
from PIL import Image

# Runs main.py as a script, sending itself SIGINT when the named module is first imported: the signal lands
# inside that import for sure (a timer would land anywhere, or in the interpreter's own start-up).
_INTERRUPT_DURING_IMPORT = """
import builtins, os, runpy, signal, sys
target, main_py = sys.argv[1], sys.argv[2]
real_import = builtins.__import__
sent = []
def interrupting_import(name, *args, **kwargs):
    if name == target and not sent:
        sent.append(name)
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupting_import
sys.argv = [main_py, *sys.argv[3:]]
sys.path.insert(0, os.path.dirname(main_py))
runpy.run_path(main_py, run_name="__main__")
"""


@pytest.mark.parametrize("module", ["cli.common", "cli.parser", "core.errors"])
def test_ctrl_c_during_start_up_is_one_line(module, tmp_path):
    """cli.common and cli.parser are imported at main.py's top, core.errors (NumPy, SciPy) inside main()."""
    argv = ["sample", "--weights", ROOT / "model" / "vae.npz", "--save", tmp_path / "s.png"]
    proc = subprocess.run([sys.executable, "-c", _INTERRUPT_DURING_IMPORT, module, ROOT / "main.py", *argv],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stderr == "main.py: interrupted\n", proc.stderr[-2000:]
    assert proc.returncode == 130
    assert not (tmp_path / "s.png").exists()


def test_a_warning_is_one_plain_line(tmp_path, capsys):
    """train reads a folder with an odd-sized image: the skip is one 'main.py: warning:' line, not Python's
    two-line 'UserWarning' with a source line."""
    for i in range(4):
        Image.fromarray(np.full((28, 20), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "odd.png")
    code, _, err = run_cli(capsys, "train", "--data", tmp_path, "--out", tmp_path / "m.npz", "--steps", "1",
                           "--batch-size", "2", "--hidden", "4", "--latent", "2", "--quiet", "--eval-every", "0")
    assert code == 0, err
    warning_lines = [line for line in err.splitlines() if "odd.png" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("main.py: warning: "), err
    assert "UserWarning" not in err and "warnings.warn" not in err
