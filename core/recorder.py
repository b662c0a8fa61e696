"""``Recorder``: what puts one training run into the run ledger (core.ledger), for the CLI's ``train``
and the GUI's training job alike.

The caller makes one, calls ``begin(run)`` before training, passes every log step and evaluation on
(``on_log`` / ``on_eval``, the same callbacks core.run.TrainingRun.run takes), and ``end(run, status)``
afterwards. Losses are committed on every log step (so a killed process leaves everything up to its last
log step); weights are saved as model files every ``snapshot_every`` steps and at the end.

The ledger never stops training: when it cannot be opened or written, ``warn`` gets one line and the
recorder turns itself off (``error`` keeps that line, ``run_id`` is None).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .ledger import MAX_SNAPSHOTS, Ledger, LedgerError, snapshot_every

IWAE_K = 50  # importance samples for the final IWAE bound (on the test split)
# settings that steer a run but not what it learns: not reported as a continuation's changes
RUN_CONTROL = ("steps", "epochs", "eval_every", "log_every", "patience", "keep_best", "checkpoint_every", "device")


class Recorder:
    """Records one run; see the module docstring. ``folder``: the ledger's (None: core.ledger.default_dir);
    ``parent``/``parent_step``: the run and step this one continues (a resume or a branch); ``segments``:
    the settings changed at ``parent_step`` ({'step', 'changes'} dicts); ``every``: the snapshot interval
    (None: MAX_SNAPSHOTS over the run's steps)."""

    def __init__(self, folder=None, *, tags: Iterable[str] = (), note: str = "", source: str = "",
                 command: str = "", parent: int | None = None, parent_step: int | None = None,
                 segments: list | None = None, every: int | None = None,
                 warn: Callable[[str], None] | None = None):
        self.folder, self.tags, self.note, self.source, self.command = folder, list(tags), note, source, command
        self.parent, self.parent_step, self.segments, self.every = parent, parent_step, segments, every
        self.warn = warn
        self.ledger: Ledger | None = None
        self.run_id: int | None = None
        self.error: str | None = None
        self._t0 = time.perf_counter()
        self._next_snapshot = 0
        self._run = None

    # ------------------------------------------------------------------ the run's life
    def begin(self, run) -> int | None:
        """Open the ledger (in the calling thread) and record ``run`` (core.run.TrainingRun) as running;
        returns its id, or None when the ledger is off."""
        self._run = run
        try:
            self.ledger = Ledger(self.folder)
            if self.parent is not None and self.segments is None:
                self.segments = self._changes_from_parent(run)
            self.run_id = self.ledger.start_run(
                run.config.as_form(), run.dataset.to_meta(), parent=self.parent, parent_step=self.parent_step,
                tags=self.tags, note=self.note, source=self.source, command=self.command, segments=self.segments,
                step=int(run.model.step))
        except LedgerError as exc:
            self._fail(exc)
            return None
        run.ledger_run = self.run_id
        self._t0 = time.perf_counter()
        start = int(run.model.step)
        self.every = self.every or snapshot_every(max(run.total_steps - start, 1), run.config.log_every)
        self._next_snapshot = start + self.every
        return self.run_id

    def _changes_from_parent(self, run) -> list:
        """[{'step', 'changed': {setting: [parent's, this run's]}}]: the settings this continuation changed
        (run control such as steps and logging left out); [] when the parent is not in the ledger."""
        try:
            before = self.ledger.run(self.parent).settings
        except LedgerError:
            return []
        after = run.config.as_form()
        changed = {k: [before.get(k), v] for k, v in after.items()
                   if k not in RUN_CONTROL and k in before and before[k] != v}
        return [{"step": int(run.model.step), "changed": changed}] if changed else []

    def on_log(self, stats: dict) -> None:
        """A log step's losses (Trainer.run's on_log dict), committed at once; a snapshot when one is due."""
        if self.run_id is None:
            return
        row = {"step": int(stats["step"]), "wall": self.wall(), **{k: stats.get(k) for k in
                                                                  ("total", "rec", "kl", "objective", "kl_weight")}}
        self._guard(self.ledger.log, self.run_id, [row])
        if row["step"] >= self._next_snapshot:
            self.snapshot()
            self._next_snapshot = row["step"] + self.every

    def on_eval(self, step: int, value: float) -> None:
        """A held-out −ELBO (test, or validation with a validation set)."""
        if self.run_id is not None:
            self._guard(self.ledger.log, self.run_id, [], [(int(step), self.wall(), value)])

    def snapshot(self) -> None:
        """Save the run's weights now (with the optimiser state, so a branch can continue them)."""
        run = self._run
        if self.run_id is None or run is None:
            return
        step = int(run.model.step)

        def save() -> None:
            from .checkpoint import save_record

            path = self.ledger.snapshot_dir(self.run_id) / f"step-{step:09d}.npz"
            save_record(path, run.record(f"run {self.run_id} at step {step}"), force=True)
            self.ledger.add_snapshot(self.run_id, step, path, MAX_SNAPSHOTS)

        self._guard(save)

    def end(self, run, status: str, message: str = "", measure: bool = True) -> None:
        """Close the run: a final snapshot, its metrics (``measure``: also IWAE, active and dead units on
        the test split) and ``status``."""
        if self.run_id is None:
            return
        self._run = run
        self.snapshot()
        metrics = dict(run.final)
        if measure and run.final:
            metrics.update(self._guard(final_metrics, run) or {})
        self._guard(self.ledger.finish, self.run_id, status, metrics, message, int(run.model.step))
        self.close()

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    # ------------------------------------------------------------------ helpers
    def wall(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self._t0

    def _guard(self, fn, *args):
        """Call ``fn``; a ledger or disk failure turns the recorder off with one warning."""
        if self.run_id is None:
            return None
        try:
            return fn(*args)
        except (LedgerError, OSError, ValueError) as exc:
            self._fail(exc)
            return None

    def _fail(self, exc: Exception) -> None:
        self.error = f"run ledger off, training goes on without it: {exc}"
        self.run_id = None
        if self.warn is not None:
            self.warn(self.error)
        self.close()


def final_metrics(run) -> dict:
    """IWAE −log p(x) (VAE), active latent units and dead hidden units of ``run``'s model on its test split."""
    from .evaluate import active_units, iwae_neg_log_px
    from .inspection import inspect_model

    model, X = run.model, run.eval_data.split("test")
    out: dict = {"active_units": active_units(model, X)}
    if model.is_vae:
        out["test_iwae"] = float(iwae_neg_log_px(model, X, IWAE_K).mean())
    dead = [row["dead"] for row in inspect_model(model, X)["layers"] if row.get("dead") is not None]
    out["dead_units"] = int(sum(dead))
    return out


def snapshot_file(folder, spec: str) -> tuple[Path, int, int]:
    """The model file of ``ID[@STEP]`` in the ledger at ``folder``: (path, run id, step). ``@STEP``
    absent: the run's latest snapshot. LedgerError for a malformed spec, an unknown run or step."""
    run_id, step = parse_run_spec(spec)
    with Ledger(folder) as ledger:
        found_step, path = ledger.snapshot_path(run_id, step)
    return path, run_id, found_step


def parse_run_spec(spec: str) -> tuple[int, int | None]:
    """'12' -> (12, None); '12@5000' -> (12, 5000); else LedgerError."""
    head, _, tail = str(spec).strip().partition("@")
    try:
        run_id = int(head)
        step = int(tail) if tail else None
    except ValueError:
        raise LedgerError(f"--run takes ID or ID@STEP, e.g. 12 or 12@5000; got {spec!r}") from None
    if run_id < 1 or (step is not None and step < 0):
        raise LedgerError(f"--run takes a run id >= 1 and a step >= 0; got {spec!r}")
    return run_id, step
