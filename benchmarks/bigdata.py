"""Scale with an MNIST-size data set (issue 15): 70 000 synthetic 28×28 images made here, written as an IDX
``.gz`` the way MNIST ships, then

- ``big_load_s``: core.dataset_io.open_dataset on that file (median of a few loads, wall clock);
- ``big_rss_ratio``: a child process's peak RSS growth (VmHWM after a reset, minus the RSS before) for loading
  it and training 200 steps, over the data's float32 size (the target is <= 4);
- ``big_encode_s``: encoding all 70 000 (posterior means, as the latent map does in its background job);
- ``big_train_ratio``: training steps/s on 784-pixel images, ours over PyTorch on the identical VAE 784-256-16
  (alternating repetitions, median of the per-repetition ratios; None without PyTorch).

and the two GUI numbers, on the real Latent map tab (vae_gui/panels/latent_map.py: AtlasExplorer/AtlasPlot) holding
all 70 000 points of that VAE's encoding (PCA view, faces off as the tab opens, 1100×760, offscreen unless a display
is set):

- ``big_hover_p95_ms``: a real mouse-move event onto a point → its image and its reconstruction set in the hover
  boxes, ring and ellipses moved, and everything painted (``processEvents``), 95th percentile of 200 moves
  (``big_hover_cpu_p95_ms``: the UI thread's CPU time for the same);
- ``big_pan_fps``: the view panned and zoomed by small steps, each frame painted synchronously (a paint event of the
  map counted per frame); 1000 / mean frame time (``big_pan_frame_p95_ms`` beside it).
"""

from __future__ import annotations

import gzip
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
N_BIG, SIDE = 70_000, 28
KEYS = ("big_load_s", "big_rss_ratio", "big_encode_s", "big_train_ratio", "big_train_steps_per_s",
        "big_train_torch_steps_per_s", "big_hover_p95_ms", "big_hover_cpu_p95_ms", "big_pan_fps",
        "big_pan_frame_p95_ms", "big_load_avg", "big_core2_speedup", "big_train_ratio_best")
GUI_KEYS = KEYS[6:10]

_CHILD = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from core.config import TrainConfig
from core.run import TrainingRun
from core.dataset_io import open_dataset

def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

# a fork inherits its parent's peak RSS: reset this process's peak (Linux: 5 > clear_refs) before measuring
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status_kb("VmRSS")
ds = open_dataset({path!r})
run = TrainingRun(TrainConfig(hidden=[256], latent=16, steps=200, eval_every=0, log_every=100), ds)
run.run()
print((status_kb("VmHWM") - base) * 1024 / ds.images.nbytes)
"""


def synthetic_idx(folder: Path) -> Path:
    """70 000 smooth-blob 28×28 uint8 images (compressible like real digits) as ``big-images-idx3-ubyte.gz``."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    images = np.empty((N_BIG, SIDE, SIDE), np.uint8)
    for start in range(0, N_BIG, 5000):
        cy, cx, s = (rng.uniform(lo, hi, (5000, 1, 1)).astype(np.float32) for lo, hi in ((8, 20), (8, 20), (2, 6)))
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        images[start:start + 5000] = np.rint(255 * blob)
    path = folder / "big-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(b"\0\0\x08\x03" + struct.pack(">3I", *images.shape) + images.tobytes())
    return path


def load_seconds(path: Path, reps: int) -> tuple[float, object]:
    from core.dataset_io import open_dataset

    times, dataset = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        dataset = open_dataset(str(path))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), dataset


def rss_ratio(path: Path) -> float:
    code = _CHILD.format(root=str(ROOT), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def encode_seconds(dataset, reps: int) -> float:
    from core.evaluate import posterior_means
    from core.models import Model, ModelConfig

    model = Model(ModelConfig(hidden=[256], latent=16, input_dim=dataset.dim), seed=0)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        posterior_means(model, dataset.images)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_ratio(dataset, reps: int, steps: int, with_torch: bool) -> dict:
    """Steps/s of ours and PyTorch on the 784-pixel set (same VAE, batches and Adam as benchmarks/engine)."""
    from benchmarks.engine import BATCH, LR, steps_per_second
    from core.models import Model, ModelConfig
    from core.optim import make_optimizer
    from core.train import Trainer

    X = dataset.images[dataset.train_ids]
    model = Model(ModelConfig(hidden=[256], latent=16, input_dim=dataset.dim), seed=0)
    steppers = {"ours": Trainer(model, make_optimizer("adam", model, lr=LR), X, batch_size=BATCH, log_every=50,
                                eval_every=0).step}
    if with_torch:
        steppers["torch"] = _torch_stepper(model, X)
    for step in steppers.values():
        for _ in range(50):
            step()
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for r in range(reps):
        for name in (list(steppers) if r % 2 == 0 else list(reversed(steppers))):
            rates[name].append(steps_per_second(steppers[name], steps)[0])
    result = {"big_train_steps_per_s": statistics.median(rates["ours"]), "big_train_torch_steps_per_s": None,
              "big_train_ratio": None, "big_train_ratio_best": None}
    if with_torch:
        result["big_train_torch_steps_per_s"] = statistics.median(rates["torch"])
        result["big_train_ratio"] = statistics.median(o / t for o, t in zip(rates["ours"], rates["torch"], strict=True))
        from benchmarks.engine import second_core_speedup

        result["big_core2_speedup"] = second_core_speedup()  # just before the both-cores part
        result.update(_train_ratio_best(X, reps, steps, steppers["torch"]))
    return result


def _train_ratio_best(X: np.ndarray, reps: int, steps: int, torch_step) -> dict:
    """big_train_ratio_best: ours at threads='auto' against PyTorch at the faster of 1 and 2 threads."""
    from benchmarks.engine import LR, best_of_both
    from core.models import Model, ModelConfig
    from core.optim import make_optimizer
    from core.train import Trainer

    model = Model(ModelConfig(hidden=[256], latent=16, input_dim=X.shape[1]), seed=0)
    ours = Trainer(model, make_optimizer("adam", model, lr=LR), X, batch_size=64, log_every=50, eval_every=0,
                   threads="auto").step
    for _ in range(100):
        ours()
    best = best_of_both(ours, torch_step, reps, steps)
    return {"big_train_ratio_best": best["ratio"], "big_train_best_steps_per_s": best["ours_steps_per_s"],
            "big_train_torch_best_steps_per_s": best["torch_steps_per_s"],
            "big_train_torch_best_threads": best["torch_threads"], "big_train_threads": best["ours_threads"]}


def _torch_stepper(model, X: np.ndarray):
    import torch

    from benchmarks.engine import BATCH, LR
    from benchmarks.torch_ref import from_engine
    from core.data import BatchSchedule

    net = from_engine(model.copy())
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    X_t = torch.from_numpy(np.ascontiguousarray(X))
    schedule, gen, state = BatchSchedule(np.arange(len(X)), BATCH, 0), torch.Generator().manual_seed(0), {"step": 0}

    def step():
        s = state["step"]
        xb = X_t[torch.from_numpy(schedule.batch(s))]
        opt.zero_grad(set_to_none=True)
        loss = net.loss(xb, torch.randn(xb.shape[0], model.config.latent, generator=gen))
        loss.backward()
        opt.step()
        state["step"] = s + 1
        return loss.item() if (s + 1) % 50 == 0 else None

    return step


def _map_panel(dataset):
    """The Latent map tab on an untrained VAE 784-256-16 and the 70 000 images, shown, its encoding drawn."""
    import os

    from benchmarks.atlas import _app
    from core.models import Model, ModelConfig
    from vae_gui import style  # noqa: F401 - the program's plot look
    from vae_gui.panels.latent_map import LatentMapPanel
    from vae_gui.state import Session

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = _app()
    session = Session()
    session.set_model(Model(ModelConfig(hidden=[256], latent=16, input_dim=dataset.dim), seed=0))
    session.set_data(dataset)
    panel = LatentMapPanel(session)
    panel.resize(1100, 760)
    panel.show()
    deadline = time.perf_counter() + 120
    while not panel.is_ready():  # the encoding runs in the session's background job
        if time.perf_counter() > deadline:
            raise RuntimeError("the latent map never showed the encoding")
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    if len(panel.atlas.plot.coords) != dataset.n:
        raise RuntimeError(f"{len(panel.atlas.plot.coords)} points on the map, not {dataset.n}")
    return panel


class _PaintCounter:
    """Counts the paint events a widget gets (an event filter)."""

    def __init__(self, widget):
        from PyQt6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, _obj, event):  # noqa: N802 - Qt override
                if event.type() == QEvent.Type.Paint:
                    counter.paints += 1
                return False

        self.paints, self._filter = 0, Filter()
        widget.installEventFilter(self._filter)


def hover_points(panel, moves: int) -> dict:
    """Mouse moves onto random points of the map: ms until the face is set and painted."""
    from PyQt6.QtCore import QEvent, Qt
    from PyQt6.QtGui import QMouseEvent

    from benchmarks.atlas import _app

    app, explorer = _app(), panel.atlas
    plot, vp = explorer.plot, explorer.plot.viewport()
    plot.autoRange()  # every point in view, as the tab shows a new encoding
    app.processEvents()
    ids = np.random.default_rng(1).choice(len(plot.coords), moves + 5, replace=False)
    face_paints = _PaintCounter(explorer.hover_face)
    times, cpu_times, missed = [], [], 0
    for i, index in enumerate(ids):
        time.sleep(0.011)  # a real mouse's spacing: pyqtgraph drops moves closer than 10 ms
        pos = plot.view_to_widget(*plot.coords[index])
        event = QMouseEvent(QEvent.Type.MouseMove, pos, vp.mapToGlobal(pos), Qt.MouseButton.NoButton,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        paints = face_paints.paints
        t0, c0 = time.perf_counter(), time.thread_time()
        app.sendEvent(vp, event)
        app.processEvents()  # the hover boxes and the map repainted
        wall, cpu = 1e3 * (time.perf_counter() - t0), 1e3 * (time.thread_time() - c0)
        hovered = plot.hovered
        shown = hovered is not None and explorer.hover_face.title().startswith(f"#{hovered} ")
        if not shown or face_paints.paints == paints:
            missed += 1  # the move did not land on a point (or its face was not painted): not a hover → face
            continue
        if i >= 5:
            times.append(wall)
            cpu_times.append(cpu)
    if missed > moves // 10 or not times:
        raise RuntimeError(f"{missed} of {len(ids)} moves showed no face")
    return {"big_hover_p95_ms": float(np.percentile(times, 95)),
            "big_hover_cpu_p95_ms": float(np.percentile(cpu_times, 95))}


def pan_frames(panel, frames: int) -> dict:
    """The map panned and zoomed by small steps, one synchronous paint per frame."""
    from benchmarks.atlas import _app, pan_and_zoom_frames

    app, plot = _app(), panel.atlas.plot
    vb = plot.tool_box
    map_paints = _PaintCounter(plot.viewport())
    app.processEvents()
    paints = map_paints.paints
    times, _ = pan_and_zoom_frames(app, vb, frames)
    if map_paints.paints - paints < frames:
        raise RuntimeError(f"{map_paints.paints - paints} paints of the map for {frames} frames")
    return {"big_pan_fps": 1e3 / float(np.mean(times)), "big_pan_frame_p95_ms": float(np.percentile(times, 95))}


def gui_speeds(dataset, quick: bool) -> dict:
    """big_hover_* and big_pan_* on the Latent map tab with every image of ``dataset`` on it."""
    panel = _map_panel(dataset)
    try:
        return {**hover_points(panel, 40 if quick else 200), **pan_frames(panel, 40 if quick else 200)}
    finally:
        panel.close()
        panel.deleteLater()


def run(quick: bool = False, with_torch: bool = True, with_gui: bool = True) -> dict:
    """Every key of KEYS (None where not measured; a GUI failure is said in 'big_gui_error')."""
    import os

    results = dict.fromkeys(KEYS)
    results["big_load_avg"] = os.getloadavg()[0]  # other processes on the 2 shared cores stretch wall times
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_idx(Path(tmp))
        results["big_load_s"], dataset = load_seconds(path, 2 if quick else 5)
        results["big_rss_ratio"] = rss_ratio(path)
    results["big_encode_s"] = encode_seconds(dataset, 1 if quick else 3)
    if with_gui:
        try:
            results.update(gui_speeds(dataset, quick))
        except Exception as exc:  # noqa: BLE001 - Qt missing or a broken widget: the other numbers still count
            results["big_gui_error"] = f"{type(exc).__name__}: {exc}"
    results.update(train_ratio(dataset, 3 if quick else 7, 40 if quick else 300, with_torch))
    return results


if __name__ == "__main__":  # alone: one thread for both sides, as benchmarks/run.py sets by default
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT))
    print(json.dumps(run(quick="--quick" in sys.argv, with_torch="--no-torch" not in sys.argv,
                         with_gui="--no-gui" not in sys.argv)))
