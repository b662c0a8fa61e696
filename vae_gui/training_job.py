"""The Training tab's background job: one ``core.run.TrainingRun`` (the CLI's run too), reporting to
the UI thread through ``JobControl.report`` and stopping/pausing at ``JobControl.checkpoint``.

Runs in a worker thread: it touches no widget and no session; it trains a *copy* of the current
model (continue) or a new one and hands back a ``TrainOutcome`` with a CPU model. Reports are small
dicts: {'log': stats} on log steps, {'eval': (step, value)} after a held-out evaluation,
{'faces': {...}} at most ``FACES_INTERVAL_S`` apart, and {'ledger': line} once when the run ledger
(core.recorder, which records every run) cannot be used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from core.backend import to_numpy
from core.checkpoint import LoadedModel
from core.config import TrainConfig
from core.dataset import Dataset
from core.models import Model
from core.optim import make_optimizer
from core.recorder import Recorder
from core.run import TrainingRun
from core.train import TrainResult
from vae_gui.workers import JobControl

FACES_INTERVAL_S = 0.25  # live faces at most ~4 times a second: decoding 16 faces is cheap, painting is not


@dataclass
class TrainOutcome:
    """What a run hands back: the trained weights (a CPU model), why it ended and the file meta."""

    status: str  # 'finished', 'stopped' or 'diverged'
    message: str
    model: Model
    optimizer_state: dict | None
    result: TrainResult
    meta: dict  # meta['train'] (TrainConfig), meta['data'], … for the model file


@dataclass
class Continuation:
    """The current model to continue: a copy of its weights, its optimiser state (None: a fresh one)
    and its file meta (training settings)."""

    model: Model
    optimizer_state: dict | None
    meta: dict


def continuation_of(model: Model, optimizer_state: dict | None, meta: dict, config: TrainConfig) -> LoadedModel:
    """A LoadedModel for TrainingRun; without a saved optimiser state a fresh one of the form's kind."""
    if optimizer_state is None:
        optimizer_state = make_optimizer(config.optimizer, model, config.learning_rate).state_dict()
    # β and the warm-up are the form's (an objective setting, not the architecture)
    model.config.beta, model.config.warmup_steps = config.beta, config.warmup_steps
    meta = dict(meta)
    meta["config"] = model.config.to_dict()
    meta["optimizer"] = {"name": optimizer_state.get("name", config.optimizer)}
    return LoadedModel(model, optimizer_state, meta)


def train_job(config: TrainConfig, dataset: Dataset, continuation: Continuation | None = None,
              face_ids: np.ndarray | None = None, face_z: np.ndarray | None = None, inspect: bool = False,
              *, control: JobControl) -> TrainOutcome:
    """Train in the calling (worker) thread; see the module docstring."""
    loaded = None
    if continuation is not None:
        loaded = continuation_of(continuation.model, continuation.optimizer_state, continuation.meta, config)
    run = TrainingRun(config, dataset, loaded, device=config.device)
    if continuation is not None and continuation.optimizer_state is not None:
        run.optimizer.lr = config.learning_rate  # the form's learning rate applies to the next steps
    if inspect:
        _attach_inspector(run)
    faces = _FaceReporter(run.model, dataset.images[face_ids] if face_ids is not None else None, face_z, control)
    faces.report(force=True)

    def between_steps() -> bool:
        faces.report()
        return control.checkpoint()

    recorder = _recorder(run, continuation, control)

    def on_log(stats: dict) -> None:
        control.report({"log": stats})
        recorder.on_log(stats)

    def on_eval(step: int, value: float) -> None:
        control.report({"eval": (int(step), float(value))})
        recorder.on_eval(step, value)

    try:
        result = run.run(on_log=on_log, on_eval=on_eval, should_stop=between_steps)
        faces.report(force=True)
        if result.status != "diverged":
            run.finish(result)
    except BaseException as exc:
        recorder.end(run, "crashed", f"{type(exc).__name__}: {exc}", measure=False)
        raise
    recorder.end(run, result.status, result.message)
    model = run.model if run.model.device == "cpu" else run.model.copy(device="cpu")
    optimizer_state = run.optimizer.state_dict() if run.optimizer is not None else None
    return TrainOutcome(result.status, result.message, model, optimizer_state, result, run.meta("gui"))


def _recorder(run: TrainingRun, continuation: Continuation | None, control: JobControl) -> Recorder:
    """The run ledger's record of this run (a continued model's run is its parent); ledger trouble is
    reported once as {'ledger': line} and training goes on without it."""
    parent = continuation.meta.get("ledger_run") if continuation is not None else None
    parent = parent if isinstance(parent, int) and not isinstance(parent, bool) else None
    recorder = Recorder(source="gui", parent=parent, parent_step=int(run.model.step) if parent else None,
                        warn=lambda line: control.report({"ledger": line}))
    recorder.begin(run)
    return recorder


def _attach_inspector(run: TrainingRun) -> None:
    """The backprop inspector's per-layer numbers ride along in the log stats (issue 16)."""
    try:
        from core.inspect import Inspector
    except ImportError:  # the inspector is not part of this checkout
        return
    run.trainer.inspector = Inspector(keep_weights=True)


class _FaceReporter:
    """Reconstructions of a few fixed faces and decodings of fixed z, sent at most 4 times a second."""

    def __init__(self, model: Model, images: np.ndarray | None, z: np.ndarray | None, control: JobControl):
        self.model, self.images, self.z, self.control = model, images, z, control
        self._last = 0.0

    def report(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < FACES_INTERVAL_S:
            return
        self._last = now
        out = {"step": int(self.model.step), "recons": None, "samples": None}
        if self.images is not None and len(self.images):
            out["recons"] = to_numpy(self.model.reconstruct(self.images)).astype(np.float32)
        if self.z is not None and len(self.z):
            out["samples"] = to_numpy(self.model.decode(self.z)).astype(np.float32)
        self.control.report({"faces": out})
