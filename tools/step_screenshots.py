"""Screenshots of the Step tab into docs/img/: ``python tools/step_screenshots.py [OUT_DIR]``.

The real main window, offscreen, with the Frey faces (data/frey_rawface.mat or $VAE_DATA) and the shipped
Bernoulli VAE (model/vae.npz), face #42, ε seed 0: at 1366×768 the top of the tab (the forward pass); at
1024×600 the tab scrolled to the backward pass at μ and log σ², and to the gradient of dec0.W with one
entry clicked (its central difference beside the backprop value).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shoot(out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    from PyQt6.QtCore import QPointF, Qt
    from PyQt6.QtTest import QTest

    from core.checkpoint import load_model
    from core.data import ensure_data
    from core.dataset import frey_dataset
    from vae_gui.app import MainWindow, application, make_settings, wait_until
    from vae_gui.state import Session

    app = application()
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, name in (((1366, 768), "forward"), ((1024, 600), "backward")):
            session = Session()
            path = ensure_data(None, allow_download=False)
            session.set_data(frey_dataset(path), path)
            loaded = load_model(ROOT / "model/vae.npz")
            session.set_record(loaded, ROOT / "model/vae.npz")
            window = MainWindow(session, settings=make_settings(Path(tmp) / "settings.ini"))
            window.resize(*size)
            window.show()
            panel = window.panel("step")
            window.tabs.setCurrentWidget(panel)
            panel.index_spin.setValue(42)
            wait_until(lambda p=panel: p.is_built() and not p.job_running() and p.opened.index == 42, 120, app)
            wait_until(lambda: False, 0.5, app)
            if name == "backward":
                panel.scroll.verticalScrollBar().setValue(panel.rows["d.z"].y() - 4)
                wait_until(lambda: False, 0.3, app)
                written.append(_save(window, out / f"step_{size[0]}x{size[1]}_backward.png"))
                row = panel.rows["grad.dec0.W"]
                panel.scroll.verticalScrollBar().setValue(row.y() - 4)
                wait_until(lambda: False, 0.3, app)
                pic = row.picture
                pos = pic.mapFromScene(pic.view_box.mapViewToScene(QPointF(120.5, 4.5)))
                QTest.mouseClick(pic.viewport(), Qt.MouseButton.LeftButton, pos=pos)
                wait_until(lambda r=row: "central difference" in r.check_label.text(), 60, app)
                wait_until(lambda: False, 0.3, app)
                written.append(_save(window, out / f"step_{size[0]}x{size[1]}_gradient_check.png"))
            else:
                written.append(_save(window, out / f"step_{size[0]}x{size[1]}_{name}.png"))
            window.close()
            window.deleteLater()
            app.processEvents()
    return written


def _save(window, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(target))
    return target


if __name__ == "__main__":
    for p in shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img"):
        print(f"wrote {p}")
