"""Screenshots of the latent atlas (issue 14) into docs/img/: ``python tools/atlas_screenshots.py [OUT_DIR]``.

Uses the shipped VAE 256/16 and the Frey faces (data/frey_rawface.mat or $VAE_DATA), offscreen. Pictures:
faces on the map with a hovered face and its ellipses, and zoomed in; empty space decoded and a drawn path; colour by
posterior σ with a lasso selection; your own image marked on the map beside its crop window.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def write_photo(path: Path, face: np.ndarray) -> None:
    """A 300×400 colour picture with an upscaled Frey face in it, on a tinted gradient."""
    from PyQt6.QtGui import QImage

    big = np.kron(face.reshape(28, 20), np.ones((10, 10)))  # 280×200
    grey = np.tile(np.linspace(0.3, 0.8, 400), (300, 1))
    grey[10:290, 100:300] = big
    rgb = np.clip(np.stack([grey * 1.0, grey * 0.9, grey * 0.75], axis=2) * 255, 0, 255).astype(np.uint8)
    image = QImage(np.ascontiguousarray(rgb).data, 400, 300, 1200, QImage.Format.Format_RGB888)
    image.copy().save(str(path))


def open_panel(app):
    """The Latent map tab on the shipped VAE 256/16 and the Frey faces, its encoding shown."""
    from core.checkpoint import load_model
    from core.data import find_data
    from core.dataset import frey_dataset
    from vae_gui.panels.latent_map import LatentMapPanel
    from vae_gui.state import Session

    session = Session()
    session.set_model(load_model(ROOT / "model" / "vae.npz").model)
    session.set_data(frey_dataset(find_data(None)))
    panel = LatentMapPanel(session)
    panel.resize(1280, 860)
    panel.show()
    deadline = time.monotonic() + 60
    while not panel.is_ready() and time.monotonic() < deadline:
        settle(app, 0.05)
    return panel


def shoot_faces(app, panel, out: Path) -> None:
    """Faces on the map, one hovered (in front, enlarged, its 1σ/2σ ellipses); then zoomed in on the crowded
    middle, where the same thumbnails spread apart and stop fading."""
    from core import atlas

    ex = panel.atlas
    ex.set_thumbnails(True)
    lo, hi = ex.coords.min(axis=0), ex.coords.max(axis=0)
    ex.plot.hover_at(*ex.coords[atlas.nearest_ids(ex.coords, lo + [0.3, 0.3] * (hi - lo), 1)[0]])
    settle(app)
    panel.grab().save(str(out / "latent_atlas_faces.png"))
    middle = np.median(ex.coords, axis=0)
    ex.plot.tool_box.setRange(xRange=middle[0] + [-0.4, 0.4], yRange=middle[1] + [-0.3, 0.3], padding=0)
    settle(app)
    panel.grab().save(str(out / "latent_atlas_faces_zoomed.png"))
    ex.plot.autoRange()
    ex.set_thumbnails(False)


def shoot_decode_and_selection(app, panel, out: Path) -> None:
    """Empty space decoded (other dims: mean of the 8 nearest faces) with a drawn path and its strip; then
    colour by posterior σ with a lasso selection, its mean face and decoded mean z."""
    from core import atlas

    ex = panel.atlas
    lo, hi = ex.coords.min(axis=0), ex.coords.max(axis=0)
    ex.other_combo.setCurrentIndex(ex.other_combo.findData(atlas.OTHER_NEAREST))
    ex.show_path(np.array([lo + [0.1, 0.2] * (hi - lo), lo + [0.5, 0.9] * (hi - lo), lo + [0.9, 0.3] * (hi - lo)]))
    xs, ys = np.meshgrid(*(np.linspace(lo[k] + 0.2 * (hi[k] - lo[k]), hi[k] - 0.2 * (hi[k] - lo[k]), 30)
                           for k in (0, 1)))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    gap = grid[np.argmax(((grid[:, None] - ex.coords[None]) ** 2).sum(-1).min(axis=1))]  # the emptiest inner spot
    ex.plot.hover_at(*gap)
    settle(app)
    panel.grab().save(str(out / "latent_atlas_decode_path.png"))
    ex.plot.set_path(None)
    ex.path_strip.setVisible(False)
    ex.colour_combo.setCurrentIndex(1)
    c, r = np.median(ex.coords, axis=0), 0.12 * (hi - lo)
    loop = c + r * np.column_stack([np.cos(np.linspace(0, 6.3, 30)), np.sin(np.linspace(0, 6.3, 30))])
    ex.select_ids(np.flatnonzero(atlas.points_in_polygon(ex.coords, loop)))
    ex.plot.stroke.setData(loop[:, 0], loop[:, 1])  # keep the lasso outline in the picture
    ex.plot.hover_at(*ex.coords[int(np.argmax(atlas.mean_posterior_sigma(ex.logvars)))])
    settle(app)
    panel.grab().save(str(out / "latent_atlas_sigma_lasso.png"))
    ex.colour_combo.setCurrentIndex(0)
    ex.select_ids(np.zeros(0, dtype=int))


def shoot_own_image(app, panel, out: Path) -> None:
    """Your own image marked on the map with its ellipses, and its crop window."""
    from vae_gui.image_import import ImageImporter

    importer = ImageImporter(panel.state, panel)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "my_face.png"
        write_photo(photo, panel.state.X[1500])
        importer.encode_file(photo)
    importer.dialog.resize(760, 420)
    settle(app)
    panel.grab().save(str(out / "latent_atlas_own_image.png"))
    importer.dialog.grab().save(str(out / "latent_atlas_crop_window.png"))


def main(out_dir: str | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out = Path(out_dir or ROOT / "docs" / "img")
    out.mkdir(parents=True, exist_ok=True)
    panel = open_panel(app)
    shoot_faces(app, panel, out)
    shoot_decode_and_selection(app, panel, out)
    shoot_own_image(app, panel, out)
    print(f"saved 6 screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
