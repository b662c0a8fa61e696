"""Background work for the GUI: QObject workers moved to QThreads, talking back by signals.

The UI thread never runs a training step, a gradient check, a data download or an
evaluation of the whole data set. Three tools live here:

* ``run_in_thread(fn, *args, on_result=..., on_error=..., on_progress=..., **kwargs) -> Job``
  runs any function in a fresh thread and calls the callbacks **on the UI thread**.
  With ``with_progress=True`` the function also receives ``progress(done, total, text)`` and
  ``cancelled() -> bool`` keyword arguments; ``job.cancel()`` makes ``cancelled()`` true.
  Example (encode the whole data set without freezing the window)::

      from core.evaluate import posterior_means
      self._job = run_in_thread(posterior_means, state.model, state.X,
                                on_result=self._show_codes, on_error=self._show_error)

  The callbacks get (result) and (message: str, exception) respectively. Keep the returned
  Job if you want to cancel or wait; the module keeps it alive until its thread has ended.
  ``wait_for_all_jobs()`` (called when the main window closes) waits for running jobs.
* ``TrainWorker``: trains a *copy* of a model with ``core.train.Trainer`` (pause/resume/stop).
* ``GradcheckWorker``: runs ``core.gradcheck.gradcheck`` with progress and cancel.

Functions run in a worker must not touch widgets or the AppState; they get plain arrays and
models and return results that the UI thread applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from core.backend import to_numpy
from core.gradcheck import GradcheckCancelled, gradcheck
from core.models import Model
from core.optim import make_optimizer, optimizer_from_state
from core.train import Trainer, TrainResult

FACES_INTERVAL_S = 0.25  # live faces at most ~4 times a second: decoding 16 faces is cheap, painting is not


def error_text(exc: BaseException) -> str:
    """A message for a dialog: the engine's own errors speak for themselves, others get their type."""
    from core.backend import BackendError
    from core.checkpoint import ModelFileError
    from core.data import DataError
    from core.models import ConfigError

    if isinstance(exc, (ModelFileError, DataError, ConfigError, BackendError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- generic jobs
class FunctionWorker(QObject):
    """Runs ``fn(*args, **kwargs)`` once in its thread and reports the outcome by signals."""

    result = pyqtSignal(object)
    failed = pyqtSignal(str, object)  # message, exception
    progress = pyqtSignal(int, int, str)  # done, total, what
    ended = pyqtSignal()  # always the last signal

    def __init__(self, fn: Callable, args: tuple = (), kwargs: dict | None = None, with_progress: bool = False):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, dict(kwargs or {})
        self._cancel = threading.Event()
        if with_progress:
            self._kwargs.update(progress=self._report, cancelled=self._cancel.is_set)

    def _report(self, done: int, total: int | None, text: str = "") -> None:
        self.progress.emit(int(done), int(total) if total is not None else -1, str(text))

    def cancel(self) -> None:
        self._cancel.set()

    @pyqtSlot()
    def run(self) -> None:
        try:
            out = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI as a message
            self.failed.emit(error_text(exc), exc)
        else:
            self.result.emit(out)
        finally:
            self.ended.emit()
            # quit() is thread-safe; calling it here (not through a queued signal) lets a UI
            # thread that is blocked in QThread.wait() see the thread end
            QThread.currentThread().quit()


_ACTIVE_JOBS: set[Job] = set()


class Job(QObject):
    """A running FunctionWorker and its thread. Lives on the UI thread, so its slots (and the
    user's callbacks) run there."""

    def __init__(self, worker: FunctionWorker, on_result=None, on_error=None, on_progress=None, on_ended=None):
        super().__init__()
        self.worker = worker
        self.thread = QThread()
        self._on_result, self._on_error, self._on_progress, self._on_ended = on_result, on_error, on_progress, on_ended
        self.done = False
        worker.moveToThread(self.thread)
        worker.result.connect(self._result)
        worker.failed.connect(self._failed)
        worker.progress.connect(self._progress)
        self.thread.started.connect(worker.run)
        self.thread.finished.connect(self._thread_finished)

    def start(self) -> Job:
        _ACTIVE_JOBS.add(self)
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.worker.cancel()

    def detach(self, *_args) -> None:
        """Cancel and drop the callbacks: for an owner that is going away, a result still queued
        for the UI thread must not reach its deleted widgets."""
        self._on_result = self._on_error = self._on_progress = self._on_ended = None
        self.worker.cancel()

    def is_running(self) -> bool:
        return not self.done

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the thread has ended (callbacks queued for the UI thread run later)."""
        return self.thread.wait(msecs)

    @pyqtSlot(object)
    def _result(self, value) -> None:
        if self._on_result is not None:
            self._on_result(value)

    @pyqtSlot(str, object)
    def _failed(self, message: str, exc) -> None:
        if self._on_error is not None:
            self._on_error(message, exc)

    @pyqtSlot(int, int, str)
    def _progress(self, done: int, total: int, text: str) -> None:
        if self._on_progress is not None:
            self._on_progress(done, total, text)

    @pyqtSlot()
    def _thread_finished(self) -> None:
        self.thread.wait()  # see TrainController._thread_finished
        self.done = True
        _ACTIVE_JOBS.discard(self)
        if self._on_ended is not None:
            self._on_ended()


def run_in_thread(fn: Callable, *args, on_result: Callable | None = None, on_error: Callable | None = None,
                  on_progress: Callable | None = None, on_ended: Callable | None = None,
                  with_progress: bool = False, owner: QObject | None = None, **kwargs) -> Job:
    """Run ``fn(*args, **kwargs)`` in a new QThread; the callbacks run on the UI thread.

    on_result(value); on_error(message, exception); on_progress(done, total, text) (total is -1
    when unknown; only with ``with_progress=True``, which passes ``progress=`` and
    ``cancelled=`` to fn); on_ended() after either. When ``owner`` (the widget the callbacks
    update) is destroyed first, the callbacks are dropped.
    """
    worker = FunctionWorker(fn, args, kwargs, with_progress=with_progress)
    job = Job(worker, on_result, on_error, on_progress, on_ended)
    if owner is not None:
        owner.destroyed.connect(job.detach)
    return job.start()


def wait_for_all_jobs(msecs: int = 30000) -> None:
    """Cancel every running job, drop its callbacks and wait for its thread (used when the window
    closes: results still queued must not reach widgets that are about to be deleted)."""
    for job in list(_ACTIVE_JOBS):
        job.detach()
        job.thread.wait(msecs)


# --------------------------------------------------------------------------- training
@dataclass
class TrainSettings:
    steps: int
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 100
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    eval_every: int = 200
    optimizer_state: dict | None = None  # resume this optimiser (same name) instead of a fresh one


@dataclass
class TrainOutcome:
    """What a run hands back to the UI thread: the trained weights (a CPU model) and why it ended."""

    status: str  # 'finished', 'stopped' or 'diverged'
    message: str
    model: Model
    optimizer_state: dict
    result: TrainResult


class TrainWorker(QObject):
    """Trains ``model`` (a copy the caller no longer touches) in its thread.

    ``pause``/``resume``/``stop`` may be called from the UI thread at any time; they take
    effect between two steps (stop keeps the weights of the last finished step). When the run
    ends, ``finished(TrainOutcome)`` carries a CPU copy of the trained model.
    """

    progress = pyqtSignal(int, object)  # step, stats: total, rec, kl, steps_per_s, eta (= eta_s, seconds), done, of…
    test_eval = pyqtSignal(int, float)  # step, test −ELBO
    faces = pyqtSignal(object)  # {'step', 'recons' (8, 560), 'samples' (8, 560)} host arrays
    paused = pyqtSignal(bool)
    diverged = pyqtSignal(str)
    failed = pyqtSignal(str)
    finished = pyqtSignal(object)  # TrainOutcome (also after a divergence or a stop)
    ended = pyqtSignal()  # always the last signal

    def __init__(self, model: Model, X_train: np.ndarray, X_test: np.ndarray | None, settings: TrainSettings,
                 face_images: np.ndarray | None = None, face_z: np.ndarray | None = None,
                 faces_interval_s: float = FACES_INTERVAL_S):
        super().__init__()
        self.model = model
        self.X_train, self.X_test = X_train, X_test
        self.settings = settings
        self.face_images, self.face_z = face_images, face_z
        self.faces_interval_s = faces_interval_s
        self._cond = threading.Condition()
        self._stop = False
        self._paused = False
        self._started = False
        self._last_faces = 0.0

    # ---- control, from any thread
    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        """End the run after the current step; the weights so far are kept."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def is_paused(self) -> bool:
        return self._paused

    # ---- the run, in the worker thread
    @pyqtSlot()
    def run(self) -> None:
        try:
            if self._started:
                raise RuntimeError("this training worker has already run; start a new one")
            self._started = True
            self._train()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI as a message
            self.failed.emit(error_text(exc))
        finally:
            self.ended.emit()
            QThread.currentThread().quit()

    def _train(self) -> None:
        s = self.settings
        model = self.model if s.device == self.model.device else self.model.copy(device=s.device)
        if s.optimizer_state is not None and s.optimizer_state.get("name") == s.optimizer:
            optimizer = optimizer_from_state(model, s.optimizer_state)
            optimizer.lr = float(s.lr)
        else:
            optimizer = make_optimizer(s.optimizer, model, lr=s.lr)
        trainer = Trainer(model, optimizer, self.X_train, self.X_test, batch_size=s.batch_size, seed=s.seed,
                          log_every=s.log_every, eval_every=s.eval_every)
        self._emit_faces(model, force=True)
        def on_log(stats: dict) -> None:
            stats["eta"] = stats["eta_s"]
            self.progress.emit(int(stats["step"]), stats)

        result = trainer.run(s.steps, on_log=on_log,
                             on_eval=lambda step, value: self.test_eval.emit(int(step), float(value)),
                             should_stop=lambda: self._between_steps(model))
        self._emit_faces(model, force=True)
        if result.status == "diverged":
            self.diverged.emit(result.message)
        cpu_model = model if model.device == "cpu" else model.copy(device="cpu")
        self.finished.emit(TrainOutcome(result.status, result.message, cpu_model, optimizer.state_dict(), result))

    def _between_steps(self, model: Model) -> bool:
        """Called by Trainer.run after every step: live faces, pause, stop."""
        self._emit_faces(model)
        with self._cond:
            if self._paused and not self._stop:
                self.paused.emit(True)
                while self._paused and not self._stop:
                    self._cond.wait()
                self.paused.emit(False)
            return self._stop

    def _emit_faces(self, model: Model, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_faces < self.faces_interval_s:
            return
        self._last_faces = now
        out = {"step": int(model.step), "recons": None, "samples": None}
        if self.face_images is not None and len(self.face_images):
            out["recons"] = to_numpy(model.reconstruct(self.face_images)).astype(np.float32)
        if self.face_z is not None and len(self.face_z):
            out["samples"] = to_numpy(model.decode(self.face_z)).astype(np.float32)
        self.faces.emit(out)


class TrainController(QObject):
    """Owns at most one TrainWorker and its thread; refuses a second run while one is going."""

    started = pyqtSignal()
    ended = pyqtSignal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: TrainWorker | None = None
        self.thread: QThread | None = None

    def is_running(self) -> bool:
        return self.thread is not None

    def start(self, worker: TrainWorker) -> bool:
        """Start ``worker`` in a new thread; False (and nothing started) if a run is going."""
        if self.is_running():
            return False
        thread = QThread()
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(self._thread_finished)
        self.worker, self.thread = worker, thread
        thread.start()
        self.started.emit()
        return True

    def pause(self) -> None:
        if self.worker is not None:
            self.worker.pause()

    def resume(self) -> None:
        if self.worker is not None:
            self.worker.resume()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def shutdown(self, msecs: int = 60000) -> bool:
        """Stop the run and wait for the thread to end (used when the window closes)."""
        if self.thread is None:
            return True
        self.stop()
        self.thread.quit()
        ok = self.thread.wait(msecs)
        self._thread_finished()
        return ok

    @pyqtSlot()
    def _thread_finished(self) -> None:
        if self.thread is None:
            return
        # 'finished' is emitted just before the thread ends; wait() releases the GIL and lets it
        # end, so dropping the last reference never has to join a thread that needs the GIL
        if not self.thread.wait(120_000):  # a step that never ends: keep the thread object alive
            return
        self.worker, self.thread = None, None
        self.ended.emit()


# --------------------------------------------------------------------------- gradient check
class GradcheckWorker(QObject):
    """Runs ``gradcheck(model, x, mode, k=…)`` in its thread; ``cancel()`` stops it soon after."""

    progress = pyqtSignal(int, int, str)  # entries done, total, parameter name
    result = pyqtSignal(object)  # GradcheckReport
    cancelled = pyqtSignal()
    failed = pyqtSignal(str)
    ended = pyqtSignal()

    def __init__(self, model: Model, x: np.ndarray, mode: str = "full", k: int = 10, seed: int = 0):
        super().__init__()
        self.model, self.x, self.mode, self.k, self.seed = model, x, mode, k, seed
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @pyqtSlot()
    def run(self) -> None:
        try:
            report = gradcheck(self.model, self.x, mode=self.mode, k=self.k, seed=self.seed,
                               progress=lambda done, total, name: self.progress.emit(int(done), int(total), name),
                               cancelled=self._cancel.is_set)
        except GradcheckCancelled:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(error_text(exc))
        else:
            self.result.emit(report)
        finally:
            self.ended.emit()
            QThread.currentThread().quit()
