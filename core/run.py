"""``TrainingRun``: one training run as the CLI and the GUI worker both start it, from a TrainConfig.

It builds the model and optimiser (or takes them from a loaded model file to continue its run), makes
the Trainer on the data set's split, runs it with the caller's callbacks, and at the end applies
keep-best, measures the final train/test −ELBO and writes the model file's meta. The caller decides how
to show progress and when to stop (``should_stop``); nothing here prints or handles signals.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from .checkpoint import LoadedModel, save_model
from .config import TrainConfig
from .dataset import Dataset, check_compatible
from .dataset_io import evaluation_view
from .evaluate import neg_elbo
from .models import ConfigError, Model
from .optim import make_optimizer
from .train import Trainer, TrainResult


class TrainingRun:
    """A run of ``config`` on ``dataset``; with ``loaded`` it continues that model's run (its file's
    architecture, batch size, seed, mirror, weight decay, validation size and optimiser state)."""

    def __init__(self, config: TrainConfig, dataset: Dataset, loaded: LoadedModel | None = None,
                 device: str = "cpu", command: str | None = None):
        self.dataset = dataset
        self.seconds_before = 0.0
        # every command line that trained this model, oldest first (a resumed run appends its own)
        previous = loaded.meta.get("commands", []) if loaded is not None else []
        self.commands = [str(c) for c in previous if isinstance(c, str)] + ([command] if command else [])
        if loaded is not None:
            config = config.resumed_from(loaded.meta)
            check_compatible(loaded.model.config.input_dim, loaded.meta.get("data"), dataset)
            self.model, self.optimizer = loaded.model, loaded.optimizer()
            if self.optimizer is None:
                raise ConfigError("the model file has no optimiser state to resume from (it was saved for use, "
                                  "e.g. shipped or kept-best weights; train a copy from scratch instead)")
            self.seconds_before = float(loaded.meta.get("train_seconds", 0.0))
        else:
            self.model = Model(config.model_config(dataset.dim), seed=config.seed, device=device)
            if config.centre_inputs:  # on the images it trains on (not the validation part)
                self.model.set_input_centre(dataset.images[dataset.train_val_ids(config.val_size)[0]].mean(axis=0))
            self.optimizer = make_optimizer(config.optimizer, self.model, config.learning_rate)
        self.config = config
        # static: trains on one fixed draw; dynamic: fresh draws per batch, evaluated on one fixed draw
        self.eval_data, self.eval_note = evaluation_view(dataset, config.to_meta())
        train_data = self.eval_data if config.binarize == "static" else dataset
        self.trainer = Trainer.from_config(self.model, self.optimizer, train_data, config,
                                           eval_images=self.eval_data.images)
        self.total_steps = config.total_steps(self.trainer.schedule.batches_per_epoch)
        self.remaining = self.total_steps - (self.model.step if loaded is not None else 0)
        self.final: dict = {}
        self.early_stopping: dict | None = None
        self.kept_best = False
        self.ledger_run: int | None = None  # this run's id in the run ledger (core.recorder), kept in its files
        self._t0 = time.perf_counter()

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

    def meta(self, reason: str) -> dict:
        """The model file's extra meta: settings, data record, why it was saved, training time."""
        train = self.config.to_meta()
        if self.early_stopping is not None:
            train["early_stopping"] = self.early_stopping
        if self.final:
            train["final"] = self.final
        meta = {"train": train, "data": self.dataset.to_meta(), "saved_because": reason,
                "train_seconds": self.seconds_before + time.perf_counter() - self._t0}
        if self.commands:
            meta["commands"] = list(self.commands)
        if self.ledger_run is not None:
            meta["ledger_run"] = self.ledger_run
        return meta

    def save(self, path: str | os.PathLike, reason: str, force: bool = False) -> Path:
        """Write the model (with its optimiser unless keep-best dropped it) atomically to ``path``
        (``force``: it may replace a regular file that is not a model file; see save_model)."""
        return save_model(path, self.model, self.optimizer, extra=self.meta(reason), force=force)
