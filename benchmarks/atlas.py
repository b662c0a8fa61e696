"""Latent atlas speeds (issue 14), measured in-process on the real widgets (offscreen unless a display is set),
shipped VAE 256/16 on the Frey faces (1965 points), PCA view, map 1100×760:

* hover_decode_p95_ms: a real mouse-move event over empty space → z lifted from the view (other dims at the
  mean of the 8 nearest faces, the costlier rule), decoded, the face set and its view repainted; thumbnails on
  (hover_decode_cpu_p95_ms: the UI thread's CPU time for the same, which other processes do not stretch);
* thumbnails_toggle_ms: the 'faces on the map' box ticked → atlas pixmap built from scratch (as after a new
  encoding) and all 1965 thumbnails painted, median;
* map_pan_fps: thumbnails on, the view panned and zoomed by small steps, each frame painted synchronously;
  1000 / mean frame time (map_pan_cpu_fps from the UI thread's CPU time; map_pan_frame_p95_ms beside it);
* encode_image_ms: a 640×480 JPEG dropped on the window → read (QImage), grey, crop, resample, encode,
  −ELBO (32 draws), marked with its ellipses on the map (faces off, the map's default) and the crop window
  updated, painted; median (encode_image_p95_ms beside it; encode_image_faces_on_ms: the same with every
  thumbnail on the map repainted).

Each step runs the event loop once (``processEvents``), which paints what changed, as benchmarks/gui.py does.
atlas_load_avg: the machine's 1-minute load average when the run started (wall times grow with it).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("hover_decode_p95_ms", "hover_decode_cpu_p95_ms", "thumbnails_toggle_ms", "map_pan_fps", "map_pan_cpu_fps",
        "map_pan_frame_p95_ms", "encode_image_ms", "encode_image_p95_ms", "encode_image_faces_on_ms",
        "atlas_load_avg")


_APP = []  # the QApplication made here must outlive every widget


def _app():
    from PyQt6.QtWidgets import QApplication

    if QApplication.instance() is None:
        _APP.append(QApplication([sys.argv[0]]))
    return QApplication.instance()


def _explorer():
    """An AtlasExplorer on the shipped VAE and the Frey faces (noise faces without the file), shown."""
    from benchmarks.engine import load_faces
    from core import atlas
    from core.checkpoint import load_model
    from core.evaluate import posterior_means
    from vae_gui import style  # noqa: F401 - the program's plot look
    from vae_gui.state import Session
    from vae_gui.widgets.atlas_explorer import AtlasExplorer

    _app()
    session = Session()
    session.set_model(load_model(ROOT / "model" / "vae.npz").model)
    X, _ = load_faces()
    session.set_data(X)
    explorer = AtlasExplorer(session)
    explorer.resize(1100, 760)
    explorer.show()
    means, logvars = posterior_means(session.model, session.X)
    explorer.set_view(means, logvars, atlas.pca_projection(means), session.train_ids, session.test_ids)
    _app().processEvents()
    return explorer


def _empty_spots(explorer, n: int, rng) -> np.ndarray:
    """n view points inside the map, each farther than a thumbnail from every face."""
    lo, hi = explorer.coords.min(axis=0), explorer.coords.max(axis=0)
    cand = lo + rng.random((20 * n, 2)) * (hi - lo)
    px = np.asarray(explorer.plot.tool_box.viewPixelSize())
    w, h = explorer.plot.thumbnails.box()
    dx = np.abs(cand[:, None, :] - explorer.coords[None]) / px
    free = ~np.any((dx[..., 0] <= w / 2) & (dx[..., 1] <= h / 2), axis=1)
    spots = cand[free]
    if len(spots) < 2:
        raise RuntimeError("no empty space on the map to hover")
    return spots[np.arange(n) % len(spots)]


def hover_decode(explorer, moves: int) -> dict:
    from PyQt6.QtCore import QEvent, Qt
    from PyQt6.QtGui import QMouseEvent

    from core.atlas import OTHER_NEAREST

    app = _app()
    explorer.set_thumbnails(True)
    explorer.other_combo.setCurrentIndex(explorer.other_combo.findData(OTHER_NEAREST))
    vp = explorer.plot.viewport()
    times, cpu_times = [], []
    for i, (x, y) in enumerate(_empty_spots(explorer, moves + 5, np.random.default_rng(0))):
        time.sleep(0.011)  # a real mouse's spacing: pyqtgraph drops moves closer than 10 ms
        pos = explorer.plot.view_to_widget(x, y)
        event = QMouseEvent(QEvent.Type.MouseMove, pos, vp.mapToGlobal(pos), Qt.MouseButton.NoButton,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        t0, c0 = time.perf_counter(), time.thread_time()
        app.sendEvent(vp, event)
        app.processEvents()  # the face's repaint (as benchmarks/gui.py's slider latency)
        if i >= 5:
            times.append(1e3 * (time.perf_counter() - t0))
            cpu_times.append(1e3 * (time.thread_time() - c0))  # the UI thread's own work, without waiting for a core
    if not explorer.hover_face.title().startswith("decoded at"):
        raise RuntimeError("hovering empty space did not decode a face")
    return {"hover_decode_p95_ms": float(np.percentile(times, 95)),
            "hover_decode_cpu_p95_ms": float(np.percentile(cpu_times, 95))}


def thumbnails_toggle(explorer, reps: int) -> dict:
    app = _app()
    thumbs = explorer.plot.thumbnails
    times = []
    for _ in range(reps):
        explorer.set_thumbnails(False)
        app.processEvents()
        thumbs._pixmap = None  # as after a new encoding: the atlas is built on the first paint
        paints = thumbs.paints
        t0 = time.perf_counter()
        explorer.faces_check.setChecked(True)
        app.processEvents()  # the map's repaint with every thumbnail
        times.append(1e3 * (time.perf_counter() - t0))
        if thumbs.paints == paints or thumbs._pixmap is None or thumbs.last_drawn != len(explorer.coords):
            raise RuntimeError(f"{thumbs.last_drawn} thumbnails drawn, not {len(explorer.coords)}")
    return {"thumbnails_toggle_ms": statistics.median(times)}


def pan_and_zoom_frames(app, vb, frames: int) -> tuple[list[float], list[float]]:
    """Pan and zoom the view box by small steps, one processEvents (axes, items, one paint) per frame:
    (wall ms, UI-thread CPU ms) of each frame."""
    times, cpu_times = [], []
    for i in range(frames):
        t0, c0 = time.perf_counter(), time.thread_time()
        if i % 20 < 10:
            (x0, x1), _ = vb.viewRange()
            vb.translateBy(x=0.02 * (x1 - x0) * (1 if i % 40 < 20 else -1))
        else:
            s = 0.97 if i % 40 < 20 else 1 / 0.97
            vb.scaleBy((s, s))
        app.processEvents()
        times.append(1e3 * (time.perf_counter() - t0))
        cpu_times.append(1e3 * (time.thread_time() - c0))
    return times, cpu_times


def pan_zoom(explorer, frames: int) -> dict:
    app = _app()
    explorer.set_thumbnails(True)
    vb, thumbs = explorer.plot.tool_box, explorer.plot.thumbnails
    app.processEvents()
    paints = thumbs.paints
    times, cpu_times = pan_and_zoom_frames(app, vb, frames)
    if thumbs.paints - paints != frames:
        raise RuntimeError(f"{thumbs.paints - paints} paints for {frames} frames")
    return {"map_pan_fps": 1e3 / float(np.mean(times)), "map_pan_cpu_fps": 1e3 / float(np.mean(cpu_times)),
            "map_pan_frame_p95_ms": float(np.percentile(times, 95))}


def _photo(path: Path) -> None:
    """A 640×480 colour JPEG: smooth gradients with a bright face-sized ellipse."""
    from PyQt6.QtGui import QImage

    yy, xx = np.mgrid[0:480, 0:640]
    inside = ((xx - 320) / 150.0) ** 2 + ((yy - 240) / 200.0) ** 2 < 1
    rgb = np.stack([(xx * 255 // 640), (yy * 255 // 480), np.where(inside, 230, 60)], axis=2).astype(np.uint8)
    image = QImage(np.ascontiguousarray(rgb).data, 640, 480, 640 * 3, QImage.Format.Format_RGB888)
    if not image.save(str(path), "JPEG", 90):
        raise RuntimeError(f"could not write {path}")


def encode_image(explorer, reps: int, faces: bool) -> list[float]:
    """ms per dropped JPEG → its point marked on the map (and the crop window open), painted; the map with or
    without the faces on it."""
    from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PyQt6.QtGui import QDropEvent
    from PyQt6.QtWidgets import QMainWindow

    from vae_gui.image_import import ImageImporter

    app = _app()
    explorer.set_thumbnails(faces)
    window = QMainWindow()
    window.setAcceptDrops(True)
    importer = ImageImporter(explorer.session, window)
    window.show()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        _photo(path)
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        for _ in range(reps + 2):
            drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                              Qt.KeyboardModifier.NoModifier)
            t0 = time.perf_counter()
            importer.eventFilter(window, drop)  # what the window's filter gets from a real drop
            app.processEvents()  # the marker and ellipses painted, the crop window shown
            times.append(1e3 * (time.perf_counter() - t0))
    if importer.last is None or len(explorer.plot.own_marker.data) != 1:
        raise RuntimeError("the dropped image was not marked on the map")
    if importer.dialog is not None:
        importer.dialog.close()
    window.close()
    return times[2:]


def encode_images(explorer, reps: int) -> dict:
    plain, with_faces = encode_image(explorer, reps, faces=False), encode_image(explorer, reps, faces=True)
    return {"encode_image_ms": statistics.median(plain), "encode_image_p95_ms": float(np.percentile(plain, 95)),
            "encode_image_faces_on_ms": statistics.median(with_faces)}


def run_all(quick: bool = False) -> dict:
    """Every atlas measurement; a failing one gives None for its keys and a note in 'atlas_errors'."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    results: dict = dict.fromkeys(KEYS)
    errors: dict = {}
    try:
        _app()
        explorer = _explorer()
    except Exception as exc:  # noqa: BLE001 - the GUI or the data is missing: every key stays None
        return {**results, "atlas_errors": {"setup": f"{type(exc).__name__}: {exc}"}}
    plan = [
        (KEYS[0:2], lambda: hover_decode(explorer, 40 if quick else 200)),
        (KEYS[2:3], lambda: thumbnails_toggle(explorer, 3 if quick else 15)),
        (KEYS[3:6], lambda: pan_zoom(explorer, 40 if quick else 200)),
        (KEYS[6:9], lambda: encode_images(explorer, 5 if quick else 30)),
    ]
    results["atlas_load_avg"] = os.getloadavg()[0]  # other processes on the machine stretch the wall times
    for keys, measure in plan:
        try:
            results.update(measure())
        except Exception as exc:  # noqa: BLE001 - one broken piece must not hide the other numbers
            errors[keys[0]] = f"{type(exc).__name__}: {exc}"
    explorer.close()
    explorer.deleteLater()
    if errors:
        results["atlas_errors"] = errors
    return results


if __name__ == "__main__":
    import json

    sys.path.insert(0, str(ROOT))
    print(json.dumps(run_all(quick="--quick" in sys.argv), indent=1))
