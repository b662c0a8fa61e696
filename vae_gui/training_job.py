"""The Training tab's background job: one ``core.run.TrainingRun`` (the CLI's run too), reporting to
the UI thread through ``JobControl.report`` and stopping/pausing at ``JobControl.checkpoint``.

Runs in a worker thread: it touches no widget and no session; it trains a *copy* of the current
model (continue) or a new one and hands back its ``ModelRecord`` (a CPU model) and the ``TrainResult``.
Reports are small dicts: {'log': stats} on log steps, {'eval': (step, value)} after a held-out evaluation,
{'faces': {...}} at most ``FACES_INTERVAL_S`` apart, and {'ledger': line} once when the run ledger
(core.recorder, which records every run) cannot be used.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from core.backend import to_numpy
from core.config import TrainConfig
from core.dataset import Dataset
from core.models import Model
from core.record import ModelRecord
from core.recorder import Recorder
from core.run import TrainingRun
from core.train import TrainResult
from vae_gui.workers import JobControl

TRAINING_NICE = 5  # the training thread's priority below the UI thread's (Linux nice steps; see yield_to_the_ui)
FACES_INTERVAL_S = 0.25  # live faces at most ~4 times a second: decoding 16 faces is cheap, painting is not


@dataclass
class RunRequest:
    """What Start asks for: a new model of ``config``, or (``record``: a copy of the current model) that model
    continued with ``changes`` through core.run.TrainingRun.resume, the rule CLI --resume follows too;
    ``fresh_optimizer``: the user agreed to continue a model that has no optimiser state."""

    config: TrainConfig
    record: ModelRecord | None = None
    changes: dict = field(default_factory=dict)
    fresh_optimizer: bool = False

    def start(self, dataset: Dataset) -> TrainingRun:
        if self.record is None:
            return TrainingRun(self.config, dataset, device=self.config.device)
        return TrainingRun.resume(self.record, dataset, self.changes, fresh_optimizer=self.fresh_optimizer,
                                  device=self.config.device)


def yield_to_the_ui() -> None:
    """Run the calling (training) thread TRAINING_NICE nice steps below the rest of the program, and with it
    the BLAS thread it starts (a new thread inherits its creator's nice): when training holds both cores (two
    threads, core.parallel) the UI thread still gets one as soon as it has work. Linux sets nice per thread;
    elsewhere, or if refused, nothing changes."""
    try:
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(nice + TRAINING_NICE, 19))
    except (AttributeError, OSError):
        pass


def train_job(request: RunRequest, dataset: Dataset, face_ids: np.ndarray | None = None,
              face_z: np.ndarray | None = None, inspect: bool = False,
              *, control: JobControl) -> tuple[ModelRecord, TrainResult]:
    """Train in the calling (worker) thread; see the module docstring. Returns the trained model's record
    (a CPU model; its history is the record's own, the panel adds the curves it drew) and how the run ended."""
    yield_to_the_ui()
    run = request.start(dataset)
    if inspect:
        _attach_inspector(run)
    faces = _FaceReporter(run.model, dataset.images[face_ids] if face_ids is not None else None, face_z, control)
    faces.report(force=True)

    def between_steps() -> bool:
        faces.report()
        return control.checkpoint()

    recorder = _recorder(run, request.record, control)

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
    record = run.record("gui")
    if record.model.device != "cpu":
        record.model = record.model.copy(device="cpu")
    return record, result


def _recorder(run: TrainingRun, continued: ModelRecord | None, control: JobControl) -> Recorder:
    """The run ledger's record of this run (a continued model's run is its parent); ledger trouble is
    reported once as {'ledger': line} and training goes on without it."""
    parent = continued.provenance.ledger_run if continued is not None else None
    recorder = Recorder(source="gui", parent=parent, parent_step=int(run.model.step) if parent else None,
                        warn=lambda line: control.report({"ledger": line}))
    recorder.begin(run)
    return recorder


def _attach_inspector(run: TrainingRun) -> None:
    """The backprop inspector's per-layer numbers ride along in the log stats (issue 16)."""
    try:
        from core.inspection import Inspector
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
