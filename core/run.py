"""``TrainingRun``: one training run as the CLI and the GUI worker both start it, from a TrainConfig.

It builds the model and optimiser (``TrainingRun(config, dataset)``) or continues a trained model
(``TrainingRun.resume(record, dataset, changes)``: the one continue rule of CLI ``--resume`` and the GUI's
Continue, see ``continue_settings``), makes the Trainer on the data set's split, runs it with the caller's
callbacks, and at the end applies keep-best, measures the final train/test −ELBO and produces the model's
``ModelRecord``. The caller decides how to show progress and when to stop (``should_stop``); nothing here
prints or handles signals.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from . import __version__
from .checkpoint import save_record
from .config import TrainConfig
from .dataset import Dataset
from .dataset_io import evaluation_view
from .errors import ConfigError
from .evaluate import neg_elbo
from .models import Model
from .optim import make_optimizer
from .record import ModelRecord, Provenance, new_run_id
from .settings import CONTINUE_MAY_CHANGE, RUN_CONTROL
from .train import LRSchedule, Trainer, TrainResult

# a trained model continued with a fresh optimiser (its file kept none: shipped, keep-best) gets this
# learning-rate warm-up unless the caller chose one: Adam's first updates move every weight by about lr
FRESH_OPTIMIZER_LR_WARMUP = 1000


def stored_learning_rate(record: ModelRecord) -> float:
    """The learning rate the record's run used last: its optimiser's, else its settings'."""
    state = record.optimizer_state or {}
    if isinstance(state.get("lr"), (int, float)) and not isinstance(state.get("lr"), bool):
        return float(state["lr"])
    return record.train_settings().learning_rate


def continue_settings(record: ModelRecord, changes: dict) -> TrainConfig:
    """The settings to continue ``record``'s run with — the one rule of CLI --resume and GUI Continue.

    Settings that define the model or the data (architecture, optimiser kind, batch size, seed, mirroring,
    validation size, binarisation, input centring) never change: a value in ``changes`` that differs from
    the stored one is a ConfigError naming every clash. Optimiser and objective settings (CONTINUE_MAY_CHANGE:
    lr, β, KL warm-up, weight decay, lr warm-up) take the value in ``changes``, else the stored one. Run
    control (RUN_CONTROL: steps — the target the model's step count trains up to —, evaluation, logging,
    patience, keep-best, checkpoints, device) takes the value in ``changes``, else the default."""
    stored = replace(record.train_settings(), lr=stored_learning_rate(record))
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
    clashes = [f"{name} {value} (the model has {getattr(stored, name)})" for name, value in changes.items()
               if name not in CONTINUE_MAY_CHANGE + RUN_CONTROL and value != getattr(stored, name)]
    if clashes:
        raise ConfigError(f"continuing keeps the settings that define the model and its data; these differ: "
                          f"{'; '.join(clashes)}. Leave them as they are, or train a new model")
    defaults = TrainConfig()
    values = {name: changes.get(name, getattr(defaults, name)) for name in RUN_CONTROL}
    values.update({name: changes[name] for name in CONTINUE_MAY_CHANGE if name in changes})
    return replace(stored, **values).validate()


class TrainingRun:
    """A run of ``config`` on ``dataset``: a new model, or (``record``, with ``resume``) that model continued.
    ``segment_start``: the step the current segment of training began at (its learning-rate schedule counts from it)."""

    def __init__(self, config: TrainConfig, dataset: Dataset, record: ModelRecord | None = None,
                 device: str = "cpu", command: str | None = None, *, fresh_optimizer: bool = False,
                 segment_start: int = 0, segments: list[dict] | None = None):
        self.dataset = dataset
        self.parent = record
        self.config = config = config.validate()
        if record is not None:
            record.check_data(dataset)  # DataError when the model cannot read these images
            self.model = record.model
            self.optimizer = None if fresh_optimizer else record.optimizer()
            if self.optimizer is None:
                if not fresh_optimizer:
                    raise ConfigError(no_optimizer_message(record))
                self.optimizer = make_optimizer(config.optimizer, self.model, config.learning_rate)
            self.optimizer.lr = config.learning_rate
            self.model.config.beta, self.model.config.warmup_steps = config.beta, config.warmup_steps
        else:
            self.model = Model(config.model_config(dataset.dim), seed=config.seed, device=device)
            if config.centre_inputs:  # on the images it trains on (not the validation part)
                self.model.set_input_centre(dataset.images[dataset.train_val_ids(config.val_size)[0]].mean(axis=0))
            self.optimizer = make_optimizer(config.optimizer, self.model, config.learning_rate)
        self.provenance = Provenance(
            program_version=__version__, run_id=new_run_id(),
            parent_run=record.provenance.run_id if record is not None else None,
            commands=(list(record.provenance.commands) if record is not None else []) + ([command] if command else []),
            train_seconds=record.provenance.train_seconds if record is not None else 0.0)
        self.segments = segments if segments is not None else [_segment(config, 0, "new")]
        # static: trains on one fixed draw; dynamic: fresh draws per batch, evaluated on one fixed draw
        self.eval_data, self.eval_note = evaluation_view(dataset, config.binarize, config.seed)
        train_data = self.eval_data if config.binarize == "static" else dataset
        self.trainer = Trainer.from_config(self.model, self.optimizer, train_data, config,
                                           eval_images=self.eval_data.images)
        self.total_steps = config.total_steps(self.trainer.schedule.batches_per_epoch)
        self.trainer.lr_schedule = LRSchedule.of(config, segment_start, self.total_steps)
        self.remaining = self.total_steps - (self.model.step if record is not None else 0)
        self.history = record.history if record is not None else None
        self.final: dict = {}
        self.early_stopping: dict | None = None
        self.kept_best = False
        self.ledger_run: int | None = None  # this run's id in the run ledger (core.recorder), kept in its files
        self._t0 = time.perf_counter()

    @property
    def commands(self) -> list[str]:
        """Every command line that trained this model, oldest first (this run's last, when it has one)."""
        return self.provenance.commands

    @classmethod
    def resume(cls, record: ModelRecord, dataset: Dataset, changes: dict | None = None, *,
               fresh_optimizer: bool = False, device: str = "cpu", command: str | None = None) -> TrainingRun:
        """Continue ``record``'s run (it trains ``record.model`` in place: pass a copy to keep the original).

        ``changes``: {setting: value} the caller asks for (continue_settings says which may change).
        A record without optimiser state (shipped and keep-best files drop it) continues only with
        ``fresh_optimizer``: a new optimiser of the stored kind whose learning rate then warms up over
        FRESH_OPTIMIZER_LR_WARMUP steps unless ``changes`` sets lr_warmup_steps. A continue that changes an
        optimiser/objective setting, or starts a fresh optimiser, begins a new segment of the history."""
        changes = dict(changes or {})
        fresh = record.optimizer_state is None
        if fresh and not fresh_optimizer and record.model.step > 0:
            raise ConfigError(no_optimizer_message(record))
        if fresh and record.model.step > 0:
            changes.setdefault("lr_warmup_steps", FRESH_OPTIMIZER_LR_WARMUP)
        config = continue_settings(record, changes)
        segments = [dict(s) for s in record.segments] or [_segment(record.train_settings(), 0, "new")]
        previous = segments[-1]
        before, now = previous.get("settings", {}), _segment(config, 0, "")["settings"]
        changed = {k: [before.get(k), v] for k, v in now.items() if before.get(k, v) != v}
        if fresh or changed:
            segment = _segment(config, record.model.step, "fresh" if fresh else "kept")
            segment["changed"] = changed
            segments.append(segment)
        return cls(config, dataset, record, device=device, command=command, fresh_optimizer=fresh,
                   segment_start=int(segments[-1]["from_step"]), segments=segments)

    def run(self, on_log: Callable[[dict], None] | None = None,
            on_eval: Callable[[int, float], None] | None = None, should_stop: Callable[[], bool] | None = None,
            on_checkpoint: Callable[[int], None] | None = None) -> TrainResult:
        """Train the remaining steps; see Trainer.run for the callbacks."""
        self._t0 = time.perf_counter()
        return self.trainer.run(max(self.remaining, 0), on_log=on_log, on_eval=on_eval, should_stop=should_stop,
                                on_checkpoint=on_checkpoint, checkpoint_every=self.config.checkpoint_every)

    def finish(self, result: TrainResult) -> dict:
        """After a run that did not diverge: keep-best (the optimiser is dropped then, since its moments
        belong to later steps) and the final {'train_neg_elbo', 'test_neg_elbo'} of the saved weights."""
        if self.config.val_size:
            self.early_stopping = self.trainer.early_stopping_summary(result.patience_stop)
        if self.config.keep_best and self.trainer.restore_best():
            self.kept_best = True
            self.optimizer = None
        ds = self.eval_data
        self.final = {"train_neg_elbo": neg_elbo(self.model, ds.split("train")),
                      "test_neg_elbo": neg_elbo(self.model, ds.split("test"))}
        return self.final

    @property
    def kept_step(self) -> int | None:
        """The step keep-best went back to (None when it did not)."""
        return self.model.step if self.kept_best else None

    def record(self, reason: str, history: dict | None = None) -> ModelRecord:
        """The model as it stands, with everything its file keeps. ``history``: the curves to store (the GUI's
        downsampled ones; default the record's own); cut back to the model's step after keep-best."""
        results = {}
        if self.early_stopping is not None:
            results["early_stopping"] = self.early_stopping
        if self.final:
            results["final"] = self.final
        if self.kept_best:
            results["kept_best_step"] = int(self.model.step)
        results["threads_used"] = self.trainer.thread_report()  # what threads="auto" measured and chose
        provenance = replace(self.provenance, saved_because=reason, ledger_run=self.ledger_run,
                             train_seconds=self.provenance.train_seconds + time.perf_counter() - self._t0)
        record = ModelRecord(model=self.model, optimizer_state=self.optimizer.state_dict() if self.optimizer else None,
                             settings=self.config, data=self.dataset.to_meta(),
                             history=history if history is not None else self.history,
                             segments=[dict(s) for s in self.segments], results=results, provenance=provenance)
        record.cut_to_step()
        return record

    def meta(self, reason: str) -> dict:
        """The model file's meta of ``record(reason)`` (for tests and tools that look at files)."""
        return self.record(reason).to_meta()

    def save(self, path: str | os.PathLike, reason: str, force: bool = False) -> Path:
        """Write the model (with its optimiser unless keep-best dropped it) atomically to ``path``
        (``force``: it may replace a regular file that is not a model file; see save_model)."""
        return save_record(path, self.record(reason), force=force)


def _segment(config: TrainConfig, from_step: int, optimizer: str) -> dict:
    """One stretch of training: the step it starts at, its optimiser/objective settings, and whether it
    started a 'new' model, 'kept' the optimiser state or started a 'fresh' optimiser on trained weights."""
    settings = {k: getattr(config, k) for k in CONTINUE_MAY_CHANGE}
    settings["lr"] = config.learning_rate
    return {"from_step": int(from_step), "settings": settings, "optimizer": optimizer}


def no_optimizer_message(record: ModelRecord) -> str:
    """Why a model without optimiser state does not simply continue, and the deliberate way to do it."""
    return (f"the model (step {record.model.step}) has no optimiser state: it was saved for use (shipped or "
            "kept-best weights). Continuing starts a fresh optimiser, whose first updates can wreck trained weights "
            f"unless its learning rate warms up (by default from a thousandth of it over "
            f"{FRESH_OPTIMIZER_LR_WARMUP} updates). Ask for it explicitly (CLI: --fresh-optimizer; GUI: confirm the "
            "question), or train a new model")
