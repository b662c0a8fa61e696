"""Background work for the GUI: one small job abstraction over QThread (in the manner of superqt's
thread workers; docs/ARCHITECTURE.md says why it is not superqt itself).

    job = start_job(fn, *args, on_result=..., on_error=..., on_yield=..., on_finished=..., owner=widget)

* ``fn`` is a plain function (its return value goes to ``on_result``) or a **generator function**:
  each ``yield value`` goes to ``on_yield(value)`` on the UI thread; between yields the job honours
  ``pause()``/``resume()`` and ``cancel()``. On cancel, ``JobCancelled`` is thrown into the generator at
  its ``yield``: catch it to ``return`` a partial result, or let it end the job quietly.
* Callback-style engine code (``Trainer.run(should_stop=...)``, ``gradcheck(progress=..., cancelled=...)``)
  asks for ``with_control=True`` and receives ``control=JobControl``: ``control.report(value)`` is a yield,
  ``control.checkpoint()`` blocks while paused and returns True once a cancel was asked.

All callbacks run on the UI thread; ``on_error(message, exception)``; ``on_finished()`` always comes last.
When the thread has ended, the runner and the thread are ``deleteLater``'d; the UI thread never waits
for a job (``drain`` is for closing the window: it runs a local event loop, so the window still paints).
Functions run in a job must not touch widgets or the session; they get plain arrays and models.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable

from PyQt6.QtCore import QEventLoop, QObject, QThread, QTimer, pyqtSignal, pyqtSlot


class JobCancelled(Exception):
    """Thrown into a generator job at its ``yield`` (or raised by ``JobControl.raise_if_cancelled``)."""


def error_text(exc: BaseException) -> str:
    """A message for a dialog: the engine's own errors speak for themselves, others get their type."""
    from core.errors import VaeError

    if isinstance(exc, VaeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobControl:
    """Pause and cancel, shared by the UI thread (asks) and the job's thread (obeys)."""

    def __init__(self, emit_yield: Callable[[object], None], emit_paused: Callable[[bool], None]):
        self._cond = threading.Condition()
        self._paused = self._cancelled = False
        self._emit_yield, self._emit_paused = emit_yield, emit_paused

    # ---- from the UI thread
    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def is_paused(self) -> bool:
        return self._paused

    # ---- from the job's thread
    def stop_requested(self) -> bool:
        return self._cancelled

    def report(self, value: object) -> None:
        """Send ``value`` to the job's ``on_yield`` (queued to the UI thread)."""
        self._emit_yield(value)

    def checkpoint(self) -> bool:
        """Between two units of work: wait while paused; True once a cancel was asked."""
        with self._cond:
            if self._paused and not self._cancelled:
                self._emit_paused(True)
                while self._paused and not self._cancelled:
                    self._cond.wait()
                self._emit_paused(False)
            return self._cancelled


class _Runner(QObject):
    """Lives in the job's thread and runs the function there; talks back only by signals."""

    yielded = pyqtSignal(object)
    returned = pyqtSignal(object)
    errored = pyqtSignal(str, object)
    paused_changed = pyqtSignal(bool)
    done = pyqtSignal(bool)  # cancelled? (always the runner's last signal)

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, with_control: bool):
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, dict(kwargs)
        self.control = JobControl(self.yielded.emit, self.paused_changed.emit)
        if with_control:
            self.kwargs["control"] = self.control

    @pyqtSlot()
    def run(self) -> None:
        cancelled = False
        try:
            out = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(out):
                out = self._drive(out)
            self.returned.emit(out)
        except JobCancelled:
            cancelled = True
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI as a message
            self.errored.emit(error_text(exc), exc)
        finally:
            self.done.emit(cancelled)
            QThread.currentThread().quit()

    def _drive(self, gen):
        """Iterate a generator job: yields to the UI, pause and cancel between them."""
        try:
            value = next(gen)
            while True:
                self.yielded.emit(value)
                value = gen.throw(JobCancelled()) if self.control.checkpoint() else next(gen)
        except StopIteration as stop:
            return stop.value


_ACTIVE: set[Job] = set()


class Job(QObject):
    """One function or generator run in its own QThread; lives on the UI thread (so do its signals)."""

    yielded = pyqtSignal(object)
    returned = pyqtSignal(object)
    errored = pyqtSignal(str, object)
    paused_changed = pyqtSignal(bool)
    finished = pyqtSignal()  # always last, after returned / errored / a cancel

    def __init__(self, fn: Callable, *args, with_control: bool = False, **kwargs):
        super().__init__()
        self._runner = _Runner(fn, args, kwargs, with_control)
        self.control = self._runner.control
        self._thread = QThread()
        self._running = False
        self.was_cancelled = False
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        for signal in ("yielded", "returned", "errored", "paused_changed"):
            getattr(self._runner, signal).connect(getattr(self, signal))  # signal to signal: queued
        self._runner.done.connect(self._on_done)
        self._thread.finished.connect(self._on_thread_finished)

    def start(self) -> Job:
        self._running = True
        _ACTIVE.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.control.cancel()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def is_paused(self) -> bool:
        return self.control.is_paused()

    def is_running(self) -> bool:
        return self._running

    @property
    def thread(self) -> QThread | None:
        """The job's thread while it runs (None once it has ended and been deleted)."""
        return self._thread if self._running else None

    def detach(self, *_args) -> None:
        """Drop every connection to the outside and cancel (the owner is going away)."""
        for signal in (self.yielded, self.returned, self.errored, self.paused_changed, self.finished):
            try:
                signal.disconnect()
            except TypeError:  # nothing connected
                pass
        self.cancel()

    @pyqtSlot(bool)
    def _on_done(self, cancelled: bool) -> None:
        self.was_cancelled = cancelled

    @pyqtSlot()
    def _on_thread_finished(self) -> None:
        # run() has returned and quit() was called: the thread is in its last instructions. wait()
        # releases the GIL and returns at once; deleting a QThread that is still finishing would abort.
        self._thread.wait()
        self._runner.deleteLater()
        self._thread.deleteLater()
        self._running = False
        _ACTIVE.discard(self)
        self.finished.emit()


def start_job(fn: Callable, *args, on_result: Callable | None = None, on_error: Callable | None = None,
              on_yield: Callable | None = None, on_finished: Callable | None = None,
              owner: QObject | None = None, with_control: bool = False, **kwargs) -> Job:
    """Run ``fn(*args, **kwargs)`` in a new thread; the callbacks run on the UI thread (see the module
    docstring). When ``owner`` is destroyed first, the callbacks are dropped and the job is cancelled."""
    job = Job(fn, *args, with_control=with_control, **kwargs)
    for signal, slot in ((job.returned, on_result), (job.errored, on_error), (job.yielded, on_yield),
                         (job.finished, on_finished)):
        if slot is not None:
            signal.connect(slot)
    if owner is not None:
        owner.destroyed.connect(job.detach)
    return job.start()


def active_jobs() -> list[Job]:
    """Jobs whose thread has not ended yet."""
    return list(_ACTIVE)


def drain(msecs: int = 30000, detach: bool = True) -> bool:
    """Cancel every job and run a local event loop until all have ended (or ``msecs``): for closing
    the window. With ``detach`` their callbacks are dropped first. True when none is left."""
    for job in active_jobs():
        job.detach() if detach else job.cancel()
    if not _ACTIVE:
        return True
    loop = QEventLoop()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if not _ACTIVE else None)
    poll.start(10)
    timer.start(int(msecs))
    loop.exec()
    poll.stop()
    return not _ACTIVE

