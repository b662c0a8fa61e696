"""The shape every tab's panel has (in the spirit of Orange's widget base with its concurrent-job mixin).

A panel

* names its tab (``title``) and its screenshot / export file stem (``stem``) as class attributes, so the
  main window registers panels by class (``vae_gui.app.PANELS``) and navigation is typed
  (``session.show_panel.emit(ReconstructionPanel)``);
* declares the Session signals after which what it shows no longer holds (``follows``, by default a new
  model and a new data set): after each it runs ``reset()``, where it forgets everything computed for the
  old pair (texts, plots, selections, chosen ends…) and draws the new one;
* owns ONE background-job slot (``run_job`` / ``cancel_job`` / ``job_running``): starting a job cancels
  the previous one, and a result, progress report or error of a job started before the last switch is
  dropped, so a number computed for a previous model or data set is never shown;
* stops its work in ``shutdown()`` (the window calls it on every panel when it closes; it only asks the
  job to stop, ``workers.drain`` waits for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from PyQt6.QtWidgets import QWidget

from vae_gui.state import Session
from vae_gui.workers import Job, start_job

MODEL_CHANGED, DATA_CHANGED = "model_changed", "data_changed"


class Panel(QWidget):
    """Base of every tab's panel; see the module docstring. Subclasses set ``title`` and ``stem`` and
    override ``reset`` (and ``refresh`` when they draw on demand)."""

    title: ClassVar[str] = ""
    stem: ClassVar[str] = ""
    follows: ClassVar[tuple[str, ...]] = (MODEL_CHANGED, DATA_CHANGED)

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = self.session = session
        self.job: Job | None = None
        self.switches = 0  # model / data switches seen: a job's results are shown only within one
        for name in self.follows:
            getattr(session, name).connect(self._switched)

    # ------------------------------------------------------------------ model and data switches
    def _switched(self, *_args) -> None:
        self.switches += 1
        self.cancel_job()
        self.reset()

    def reset(self) -> None:
        """Forget what was computed for the previous model or data set and show the current ones."""
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the session (cheap work here; long work through ``run_job``)."""

    # ------------------------------------------------------------------ the one job slot
    def run_job(self, fn: Callable, *args, on_result: Callable | None = None, on_error: Callable | None = None,
                on_yield: Callable | None = None, on_finished: Callable | None = None, **kwargs) -> Job:
        """Start ``fn(*args, **kwargs)`` as this panel's job (a running one is cancelled first). Its
        result, reports and error reach the callbacks only while the model and data are those it was
        started for; ``on_finished`` always runs (after the slot is free again)."""
        self.cancel_job()
        started_at = self.switches

        def current(callback: Callable | None) -> Callable | None:
            if callback is None:
                return None
            return lambda *a: callback(*a) if self.switches == started_at else None

        def finished() -> None:
            if self.job is job:
                self.job = None
            if on_finished is not None:
                on_finished()

        job = start_job(fn, *args, on_result=current(on_result), on_error=current(on_error),
                        on_yield=current(on_yield), on_finished=finished, owner=self, **kwargs)
        self.job = job
        return job

    def cancel_job(self) -> None:
        """Ask the running job to stop (it ends after its current unit of work)."""
        if self.job is not None and self.job.is_running():
            self.job.cancel()

    def job_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def shutdown(self) -> None:
        """The window is closing: stop the job (never waits; workers.drain does)."""
        self.cancel_job()
