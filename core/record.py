"""``ModelRecord``: one trained model with everything a model file keeps about it, typed.

The model, its optimiser state, the settings it was trained with, the record of its data set, its loss
curves, the segments of its training (each continue that changed a setting starts one) and where it came
from (program version, the commands that trained it, the run it continued). ``core.checkpoint`` reads and
writes it (``load_model`` / ``save_record``), ``core.run.TrainingRun`` produces it, the GUI's Session holds
one. This module is the only one that knows the keys of a file's JSON ``meta``: everything else reads the
fields here.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace

import numpy as np

from . import __version__
from .config import TrainConfig
from .dataset import Dataset, check_compatible, model_image_shape
from .dataset_io import evaluation_view
from .errors import ConfigError
from .models import Model
from .optim import Optimizer, optimizer_from_state

# the meta keys this module turns into fields; save_model writes the format keys itself
_FORMAT_KEYS = ("format", "format_version", "config", "step", "noise_rng_state", "optimizer")
_KNOWN_KEYS = ("train", "data", "history", "segments", "commands", "train_seconds", "saved_because",
               "program_version", "run_id", "parent_run", "ledger_run")


@dataclass
class Provenance:
    """Where a model came from: the program that wrote it, every command line that trained it (oldest
    first), its run id and the id of the run it continued (None for a run from scratch)."""

    program_version: str = ""
    commands: list[str] = field(default_factory=list)
    run_id: str | None = None
    parent_run: str | None = None
    saved_because: str = ""
    train_seconds: float = 0.0
    ledger_run: int | None = None  # the run's id in the run ledger (core.recorder)


def new_run_id() -> str:
    """A fresh id for a training run (12 hex digits)."""
    return uuid.uuid4().hex[:12]


@dataclass
class ModelRecord:
    """One trained model. ``settings`` is None when the file's stored settings cannot be read as a
    TrainConfig (``settings_problem`` says why; the model still opens, continuing it is refused).
    ``history`` holds the loss curves {name: list} the GUI draws; ``segments`` one dict per stretch of
    training with its own optimiser/objective settings ({'from_step', 'settings', 'optimizer', 'changed'}).
    ``results``: the last run's 'final' −ELBOs, 'early_stopping' summary and 'kept_best_step' (the step keep-best
    went back to). ``other``: meta keys this
    version does not interpret, written back unchanged."""

    model: Model
    optimizer_state: dict | None = None
    settings: TrainConfig | None = None
    data: dict | None = None
    history: dict | None = None
    segments: list[dict] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    settings_problem: str = ""
    other: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ derived
    def optimizer(self) -> Optimizer | None:
        """The saved optimiser bound to ``model`` (None when there is no optimiser state)."""
        if self.optimizer_state is None:
            return None
        return optimizer_from_state(self.model, self.optimizer_state)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the model's images (its data record, else the Frey shape or the squarest)."""
        return model_image_shape({"data": self.data}, self.model.config.input_dim)

    def check_data(self, dataset: Dataset) -> list[str]:
        """core.dataset.check_compatible for this model: DataError when it cannot read ``dataset``, else
        warnings (other data than it was trained on)."""
        return check_compatible(self.model.config.input_dim, self.data, dataset)

    def train_settings(self) -> TrainConfig:
        """The stored settings with this model's architecture (the defaults for a bare model); ConfigError when
        the file's cannot be used."""
        if self.settings_problem:
            raise ConfigError(self.settings_problem)
        return (self.settings or TrainConfig()).with_model(self.model.config)

    def data_view(self, dataset: Dataset) -> tuple[Dataset, list[str]]:
        """What a command that evaluates the model needs: the view of ``dataset`` it is evaluated on (binarised
        as it was trained: core.dataset_io.evaluation_view) and the lines to tell the user (other data than it
        was trained on; which binarisation). DataError when the model cannot read these images."""
        notes = self.check_data(dataset)
        binarize, seed = (self.settings.binarize, self.settings.seed) if self.settings is not None else ("none", 0)
        view, note = evaluation_view(dataset, binarize, seed)
        if binarize != "none":
            notes.append(note)
        return view, notes

    def copy(self) -> ModelRecord:
        """An independent copy (weights, optimiser arrays, curves): a job may train it while this one is shown."""
        return replace(self, model=self.model.copy(), optimizer_state=copy.deepcopy(self.optimizer_state),
                       history=copy.deepcopy(self.history), segments=copy.deepcopy(self.segments),
                       results=copy.deepcopy(self.results), provenance=copy.deepcopy(self.provenance),
                       other=copy.deepcopy(self.other))

    def cut_to_step(self) -> None:
        """Drop curve points and segments after the model's step (a keep-best model went back to it)."""
        self.history = cut_history(self.history, self.model.step)
        self.segments = [s for s in self.segments if int(s.get("from_step", 0)) <= self.model.step]

    # ------------------------------------------------------------------ the file's meta
    def to_meta(self) -> dict:
        """The JSON meta a model file stores for this record (besides the format keys save_model adds)."""
        meta = dict(self.other)
        if self.settings is not None:
            train = self.settings.to_meta()
            train.update(copy.deepcopy(self.results))
            meta["train"] = train
        if self.data is not None:
            meta["data"] = dict(self.data)
        if self.history:
            meta["history"] = {k: list(v) for k, v in self.history.items()}
        if self.segments:
            meta["segments"] = copy.deepcopy(self.segments)
        p = self.provenance
        meta.update(program_version=p.program_version or __version__, train_seconds=float(p.train_seconds))
        for key, value in (("commands", list(p.commands)), ("run_id", p.run_id), ("parent_run", p.parent_run),
                           ("saved_because", p.saved_because), ("ledger_run", p.ledger_run)):
            if value:
                meta[key] = value
        return meta

    @classmethod
    def from_meta(cls, model: Model, optimizer_state: dict | None, meta: dict) -> ModelRecord:
        """The record of a model file's meta (files of every earlier version: missing keys get defaults)."""
        train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
        settings, problem = None, ""
        try:
            settings = TrainConfig.from_meta({**meta, "config": model.config.to_dict()})
        except (ConfigError, TypeError, ValueError) as exc:
            problem = f"the stored training settings cannot be used: {exc}"
        commands = meta.get("commands") if isinstance(meta.get("commands"), list) else []
        provenance = Provenance(
            program_version=str(meta.get("program_version", "")),
            commands=[str(c) for c in commands if isinstance(c, str)],
            run_id=_str_or_none(meta.get("run_id")), parent_run=_str_or_none(meta.get("parent_run")),
            saved_because=str(meta.get("saved_because", "")), train_seconds=float(meta.get("train_seconds", 0.0)),
            ledger_run=_int_or_none(meta.get("ledger_run")))
        history = meta.get("history") if isinstance(meta.get("history"), dict) else None
        segments = meta.get("segments") if isinstance(meta.get("segments"), list) else []
        record = cls(model=model, optimizer_state=optimizer_state, settings=settings,
                     data=meta.get("data") if isinstance(meta.get("data"), dict) else None,
                     history=history, segments=[s for s in segments if isinstance(s, dict)],
                     results={k: train[k] for k in ("final", "early_stopping", "kept_best_step", "threads_used")
                              if k in train},
                     provenance=provenance, settings_problem=problem,
                     other={k: v for k, v in meta.items() if k not in _FORMAT_KEYS + _KNOWN_KEYS})
        record.history = cut_history(record.history, model.step)
        return record

    @property
    def meta(self) -> dict:
        """The whole JSON meta as a file would hold it, for tests and tools that inspect files. Product code
        reads the typed fields instead."""
        return {"config": self.model.config.to_dict(), "step": int(self.model.step),
                "noise_rng_state": self.model.noise_rng.bit_generator.state, **self.to_meta()}


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None


def cut_history(history: dict | None, step: int) -> dict | None:
    """The curves {name: list} without points after ``step`` (the 'step' list indexes the training curves,
    'test_step' the held-out ones)."""
    if not history:
        return history
    try:
        out = {k: list(v) for k, v in history.items()}
        return _cut(out, step)
    except (TypeError, ValueError):
        return history  # malformed curves are shown as nothing by the plots; nothing to cut


def _cut(out: dict, step: int) -> dict:
    for index_key, prefix in (("step", ""), ("test_step", "test_")):
        steps = np.asarray(out.get(index_key, []), dtype=float)
        if steps.size == 0 or steps.max() <= step:
            continue
        keep = int(np.searchsorted(steps, step, side="right"))
        for key in list(out):
            same_axis = key.startswith("test_") if prefix else not key.startswith("test_")
            if same_axis and len(out[key]) == steps.size:
                out[key] = out[key][:keep]
    return out
