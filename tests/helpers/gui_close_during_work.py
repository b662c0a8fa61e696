"""Child process for the GUI close tests: open the real main window offscreen, start some work,
close the window mid-way and let the process end normally.

    python tests/helpers/gui_close_during_work.py MODE DATA_PATH SETTINGS_INI

MODE: ``train`` (close during training), ``paused`` (close while training is paused),
``gradcheck`` (close during a long gradient check), ``load`` (close while a model file loads).
Prints ``closed`` after window.close() returns, then ``threads-running N`` and ``model-finite B
step S`` so the parent can check that nothing outlived the window and the weights are usable;
then exits with status 0. Qt prints "QThread: Destroyed while thread is still running" and aborts
if a thread outlives its QThread object: the parent checks stderr and the exit status for that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from core.checkpoint import save_model  # noqa: E402
from core.data import load_frey  # noqa: E402
from core.models import Model, ModelConfig  # noqa: E402
from vae_gui import workers  # noqa: E402
from vae_gui.app import MainWindow, make_settings, wait_until  # noqa: E402
from vae_gui.state import Session  # noqa: E402

TIMEOUT_S = 90


def fail(message: str) -> None:
    print(f"helper-failed {message}", flush=True)
    sys.exit(3)


def main() -> None:
    mode, data_path, settings_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    app = QApplication(sys.argv[:1])
    window = MainWindow(Session(), settings=make_settings(settings_path))
    state = window.state
    # every dialog goes through QMessageBox.critical: print it instead of blocking on a modal box
    QMessageBox.critical = staticmethod(lambda _parent, title, text, *a, **k: print(f"dialog {title}: {text}",
                                                                                  flush=True))
    state.set_data(load_frey(data_path), data_path)
    state.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4), seed=0))
    window.show()
    app.processEvents()
    training = window.panels["training"]
    if mode in ("train", "paused"):
        training.form.new_radio.setChecked(True)
        training.form.model_form.hidden_edit.setText("16")
        training.form.model_form.latent_spin.setValue(4)
        training.form.batch_spin.setValue(32)
        training.form.steps_spin.setValue(10_000_000)
        training.form.eval_spin.setValue(0)
        if not training.start_training():
            fail("training did not start")
        if not wait_until(lambda: training.plots.series["step"].n >= 3, TIMEOUT_S, app):
            fail("no training progress")
        if mode == "paused":
            training.pause_training()
            if not wait_until(lambda: training.is_paused(), TIMEOUT_S, app):
                fail("did not pause")
    elif mode == "gradcheck":
        panel = window.panels["gradcheck"]
        panel.hidden_edit.setText("2048")  # a full check of a 560-2048-… net takes far longer than any wait
        if not panel.run_check():
            fail("gradcheck did not start")
        if not wait_until(lambda: panel.progress_bar.value() > 0, TIMEOUT_S, app):
            fail("no gradcheck progress")
    elif mode == "load":
        big = settings_path.parent / "big.npz"
        save_model(big, Model(ModelConfig(kind="vae", hidden=[2048, 1024], latent=64)))
        window.files.open_model_path(big)
    else:
        fail(f"unknown mode {mode}")
    window.close()
    print("closed", flush=True)
    running = sum(t.isRunning() for t in _threads(window))
    print(f"threads-running {running}", flush=True)
    app.processEvents()
    model = state.model
    print(f"model-finite {bool(np.isfinite(model.flat).all())} step {model.step}", flush=True)
    window.deleteLater()
    app.processEvents()
    sys.exit(0)


def _threads(window: MainWindow) -> list:
    """Every QThread the window's panels and jobs still hold."""
    threads = [job.thread for job in workers.active_jobs()]
    gradcheck = window.panels["gradcheck"]
    if getattr(gradcheck, "_thread", None) is not None:
        threads.append(gradcheck._thread)
    return threads


if __name__ == "__main__":
    main()
