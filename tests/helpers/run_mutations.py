"""Remove each reliability protection in turn and check that its test fails (not part of the suite).

    python tests/helpers/run_mutations.py [NAME ...]

Each mutation is applied to a fresh copy of the tracked files in a temporary folder (the
working tree is never changed), then the tests that cover it run there. A mutation the tests
do not notice ("SURVIVED") means a protection without a working test. Prints one line per
mutation and exits 1 if any survived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
R_DATA, R_MODELS, R_FAULTS, R_GUI = ("tests/test_reliability_data.py", "tests/test_reliability_models.py",
                                     "tests/test_reliability_faults.py", "tests/test_reliability_gui.py")

# name: (file, exact text, replacement, tests to run); a mutation with several edits lists
# further (file, text, replacement) triples after the tests.
MUTATIONS: dict[str, tuple] = {
    "data: no shape check": (
        "core/data.py", "    if ff.shape != FREY_SHAPE:", "    if False:", [R_DATA]),
    "data: no range check": (
        "core/data.py", "or ff.min() < 0 or ff.max() > 255:", "and False:", [R_DATA]),
    "data: no dtype check": (
        "core/data.py", 'if ff.dtype.kind not in "fiu":', "if False:", [R_DATA]),
    "data: bad download kept": (
        "core/data.py", "    except DataError:\n        part.unlink(missing_ok=True)\n        raise",
        "    except DataError:\n        os.replace(part, dest)\n        raise", [R_DATA]),
    "model: no finiteness check on load": (
        "core/checkpoint.py", "for n, a in {**params, **optim_arrays}.items() if not np.all(np.isfinite(a))]",
        "for n, a in {**params, **optim_arrays}.items() if False]", [R_MODELS]),
    "model: no format version check": (
        "core/checkpoint.py", "    if version > FORMAT_VERSION:", "    if False:", [R_MODELS]),
    "model: no header shape check": (
        "core/checkpoint.py", "            if shape != want:", "            if False:", [R_MODELS]),
    "model: no dtype check": (
        "core/checkpoint.py", '            if dtype.kind not in "fiu":', "            if False:", [R_MODELS]),
    "model: numpy's message for non-npz files": (
        "core/checkpoint.py", '    if head.startswith(b"\\x80"):', "    if False:", [R_MODELS]),
    "pickle: unrestricted unpickler": (
        "core/checkpoint.py", "        obj = _RestrictedUnpickler(io.BytesIO(data)).load()",
        "        obj = pickle.Unpickler(io.BytesIO(data)).load()", [R_MODELS]),
    "pickle: no array count check": (
        "core/checkpoint.py", "    if len(arrays) != len(names):", "    if False:", [R_MODELS]),
    "pickle: no 2-D real check": (
        "core/checkpoint.py", '        if w[name].ndim != 2 or w[name].dtype.kind not in "fiu":',
        "        if False:", [R_MODELS]),
    "save: not atomic (writes the target in place)": (
        "core/checkpoint.py",
        "    fd, tmp = tempfile.mkstemp(prefix=f\".{path.name}.\", suffix=\".tmp\", dir=path.parent)",
        "    fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), path", [R_FAULTS]),
    "save: temporary file's 0600 mode kept": (
        "core/checkpoint.py", "        os.fchmod(fd, _file_mode(path))", "        pass", [R_FAULTS]),
    "save: temporary file left after a failed write": (
        "core/checkpoint.py", "    except BaseException:\n        Path(tmp).unlink(missing_ok=True)\n        raise",
        "    except BaseException:\n        raise", [R_FAULTS]),
    "save: non-finite weights written": (
        "core/checkpoint.py", "    bad = [n for n, a in params.items() if not np.all(np.isfinite(a))]\n    if bad:\n"
        "        raise ModelFileError(f\"refusing", "    bad = []\n    if bad:\n"
        "        raise ModelFileError(f\"refusing", [R_FAULTS]),
    "save: optimiser state dropped": (
        "core/checkpoint.py", "    if optimizer is not None:\n        state = optimizer.state_dict()",
        "    if False:\n        state = optimizer.state_dict()", [R_FAULTS]),
    "train: no restore on divergence": (
        "core/train.py", "            what = \"loss\" if", "            self._restore = lambda: None\n"
        "            what = \"loss\" if", [R_FAULTS]),
    "train: no gradient check": (
        "core/train.py", "        if not math.isfinite(grad_sum) or", "        if False or", [R_FAULTS]),
    "train: no final weight check": (
        "core/train.py", "            if not math.isfinite(float(self.model.flat.sum())):\n"
        "                self._restore()\n                raise TrainingDiverged(f\"training diverged by step",
        "            if False:\n"
        "                self._restore()\n                raise TrainingDiverged(f\"training diverged by step",
        [R_FAULTS]),
    "train: NumPy warnings shown": (
        "core/train.py", 'np.errstate(over="ignore", invalid="ignore", divide="ignore")', "np.errstate()", [R_FAULTS]),
    "train: leaks a batch per step": (
        "core/train.py", "        stats = model.forward_backward(xb,",
        "        self.__dict__.setdefault('leak', []).append(xb.copy())\n        stats = model.forward_backward(xb,",
        [R_FAULTS]),
    "cli: Ctrl-C not caught": (
        "cli/train.py", "        previous = signal.signal(signal.SIGINT, self.on_sigint)",
        "        previous = signal.getsignal(signal.SIGINT)", [R_FAULTS]),
    "cli: Ctrl-C outside training gives a traceback": (
        "main.py", "    except KeyboardInterrupt:  # a second", "    except ZeroDivisionError:  # a second",
        [R_FAULTS]),
    "cli: resume ignores the saved batch size": (
        "cli/train.py", 'int(stored.get("batch_size", args.batch_size))', "args.batch_size",
        [R_FAULTS]),
    "cli: no batch-size check": (
        "cli/train.py", '    if settings["batch_size"] > len(fit_ids):', "    if False:", [R_MODELS]),
    "cli: --out not checked before training": (
        "cli/train.py", "    check_writable(out)  # before training, not after it\n", "", [R_MODELS]),
    "cli: --lr accepts 0": (
        "cli/train.py", 't.add_argument("--lr", type=positive_float', 't.add_argument("--lr", type=float', [R_MODELS]),
    "cli: traceback instead of one line": (
        "main.py", "    except (CliError, DataError, ModelFileError, ConfigError, BackendError, OSError, ValueError)",
        "    except (CliError,)", [R_DATA, R_MODELS]),
    "cli: download progress line not ended": (
        "cli/common.py", '        if shown["progress"]:', "        if False:", [R_DATA]),
    "config: negative beta accepted": (
        "core/models.py", "if not np.isfinite(self.beta) or self.beta < 0:", "if False:", [R_MODELS]),
    "gui: two training runs at once (both guards off)": (
        "vae_gui/workers.py", "        if self.is_running():\n            return False",
        "        if False:\n            pass", [R_GUI],
        ("vae_gui/panels/training.py", "        if self.controller.is_running():\n", "        if False:\n")),
    "gui: open/load allowed during training": (
        "vae_gui/app.py", "    def _refuse_while_training(self, what: str) -> bool:\n        if self.state.training:",
        "    def _refuse_while_training(self, what: str) -> bool:\n        if False:", [R_GUI]),
    "gui: load errors not shown": (
        "vae_gui/app.py", "        def on_error(message, _exc):\n            self.show_error(error_title, message)",
        "        def on_error(message, _exc):\n            pass", [R_GUI]),
    "gui: closing does not stop the workers": (
        "vae_gui/app.py", "        self.shutdown_workers()\n        event.accept()", "        event.accept()", [R_GUI]),
    "gui: a paused run ignores stop": (
        "vae_gui/workers.py", "while self._paused and not self._stop:", "while self._paused:", [R_GUI]),
    "gui: gradcheck not cancelled on close": (
        "vae_gui/panels/gradcheck.py", "        self.cancel_check()\n        ok = self._thread.wait(msecs)",
        "        ok = self._thread.wait(msecs)", [R_GUI]),
    "gui: loss curves not downsampled": (
        "vae_gui/panels/training.py", '            item.setDownsampling(auto=True, method="peak")\n', "", [R_GUI]),
    "gui: loss curves antialiased": (
        "vae_gui/panels/training.py", "name=name, antialias=False)", "name=name)", [R_GUI]),
    "gui: divergence not marked on the plot": (
        "vae_gui/panels/training.py", "            self.divergence_lines.append(line)", "            pass", [R_GUI]),
}


def tracked_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / "data").mkdir(exist_ok=True)
    real = ROOT / "data" / "frey_rawface.mat"
    if real.exists():
        (dest / "data" / "frey_rawface.mat").symlink_to(real)


def run(name: str) -> bool:
    """True when the tests caught the mutation."""
    first_file, first_old, first_new, tests, *more = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        tree = Path(tmp)
        tracked_copy(tree)
        for file, old, new in [(first_file, first_old, first_new), *more]:
            text = (tree / file).read_text()
            if text.count(old) != 1:
                print(f"STALE     {name}: the text to mutate is not (uniquely) in {file}")
                return False
            (tree / file).write_text(text.replace(old, new))
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        proc = subprocess.run([PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=tree,
                              capture_output=True, text=True, env=env, timeout=600)
        caught = proc.returncode != 0
        failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
        print(f"{'caught' if caught else 'SURVIVED':<9} {name}: {failed[0] if failed else proc.stdout.strip()[-80:]}",
              flush=True)
        return caught


def main() -> int:
    names = sys.argv[1:] or list(MUTATIONS)
    results = [run(name) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
