"""Screenshots of the Runs tab into docs/img/: ``python tools/runs_screenshots.py [OUT_DIR] [--steps N]``.

Three real runs on the Frey faces (data/frey_rawface.mat or $VAE_DATA) with `main.py train`, in a temporary
ledger (never yours): a VAE 200/8 at β 0.5, 1 and 2 (--steps N, default 6000), then a branch of the β = 1
run from its middle snapshot with a 3× smaller learning rate (a child run). The real main window, offscreen
at 1366×768, shows the Runs tab with the four runs selected: their curves overlaid (runs_compare.png),
their faces side by side (runs_faces.png) and their settings with the differences on top, highlighted
(runs_settings.png).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BETAS = ("0.5", "1", "2")


def train_runs(tmp: Path, steps: int) -> None:
    from main import main

    common = ["--hidden", "200", "--latent", "8", "--steps", str(steps), "--eval-every", "500", "--quiet",
              "--tag", "beta-study"]
    for beta in BETAS:
        assert main(["train", "--out", str(tmp / f"beta{beta}.npz"), "--beta", beta, *common]) == 0
    assert main(["train", "--out", str(tmp / "branch.npz"), "--branch", f"2@{steps // 2}", "--steps",
                 str(steps), "--eval-every", "500", "--lr", "3e-4", "--quiet", "--note", "branch of run 2"]) == 0


def shoot(out: Path, steps: int) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VAE_RUNS"] = str(Path(tmp) / "runs")
        train_runs(Path(tmp), steps)
        from core.data import ensure_data
        from core.dataset import frey_dataset
        from vae_gui.app import MainWindow, application, make_settings, wait_until
        from vae_gui.state import Session

        app = application()
        session = Session()
        path = ensure_data(None, allow_download=False)
        session.set_data(frey_dataset(path), path)
        window = MainWindow(session, settings=make_settings(Path(tmp) / "settings.ini"))
        window.resize(1366, 768)
        window.show()
        panel = window.panel("runs")
        window.tabs.setCurrentWidget(window.panel(type(panel)))
        wait_until(lambda: panel.table.rowCount() == 4, 60, app)
        panel.select_runs([1, 2, 3, 4])
        wait_until(lambda: panel.faces_shown == [1, 2, 3, 4] and not panel.job_running(), 120, app)
        for index, name in ((0, "compare"), (1, "faces"), (2, "settings")):
            panel.views.setCurrentIndex(index)
            wait_until(lambda: False, 0.5, app)
            target = out / f"runs_{name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(target))
            written.append(target)
        window.close()
        window.deleteLater()
        app.processEvents()
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--steps", type=int, default=6000)
    args = parser.parse_args()
    for p in shoot(Path(args.out), args.steps):
        print(f"wrote {p}")
