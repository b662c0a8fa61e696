"""``main.py train``: train a model with a progress line, checkpoints, and a save on Ctrl-C."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

from .common import (
    CliError,
    check_writable,
    hidden_sizes,
    load_data,
    load_weights,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a model (progress bar, checkpoints, Ctrl-C saves)")
    t.add_argument("--model", choices=["ae", "vae"], default="vae")
    t.add_argument("--hidden", type=hidden_sizes, default=[256], help="hidden sizes, e.g. 256 or 512,256")
    t.add_argument("--latent", type=positive_int, default=16)
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], default="bernoulli")
    t.add_argument("--code-activation", choices=["relu", "linear"], default="relu", help="AE code activation")
    t.add_argument("--beta", type=nonneg_float, default=1.0, help="KL weight β (VAE)")
    t.add_argument("--warmup-steps", type=nonneg_int, default=0, help="linear KL warm-up over N steps")
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--optimizer", choices=["adam", "adagrad", "sgd"], default="adam")
    t.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: 1e-3 Adam, 1e-2 others)")
    steps = t.add_mutually_exclusive_group()
    steps.add_argument("--steps", type=positive_int, default=None,
                       help="total optimiser steps (with --resume: train on until the model has this many)")
    steps.add_argument("--epochs", type=positive_int, default=None, help="passes over the training split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument("--mirror", action="store_true", help="add left-right mirrored faces to the training data")
    t.add_argument("--weight-decay", type=nonneg_float, default=0.0, help="L2 weight decay added to the gradient")
    t.add_argument("--val-size", type=nonneg_int, default=0,
                   help="hold out the last N faces of the training split as a validation set: --eval-every then "
                        "reports validation −ELBO instead of test −ELBO (the test split stays untouched)")
    t.add_argument("--keep-best", action="store_true",
                   help="early stopping: save the weights with the best validation −ELBO (needs --val-size)")
    t.add_argument("--patience", type=nonneg_int, default=0,
                   help="stop after N evaluations without a better validation −ELBO (0: never; needs --val-size)")
    t.add_argument("--data", default=None, help="path of frey_rawface.mat (default: $VAE_DATA, then data/)")
    t.add_argument("--out", required=True, help="model file to write, e.g. model/my_vae.npz")
    t.add_argument("--resume", action="store_true", help="continue training the model in --out")
    t.add_argument("--log-every", type=positive_int, default=100)
    t.add_argument("--eval-every", type=nonneg_int, default=1000, help="test −ELBO every N steps (0: never)")
    t.add_argument("--checkpoint-every", type=nonneg_int, default=5000, help="save every N steps (0: only at the end)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=run)


def progress_line(stats: dict, width: int = 24) -> str:
    done, of = stats["done"], stats["of"]
    filled = int(width * done / max(of, 1))
    bar = "#" * filled + "." * (width - filled)
    eta = stats["eta_s"]
    return (f"step {stats['step']:>7} [{bar}] −ELBO {stats['total']:8.2f}  rec {stats['rec']:8.2f}  "
            f"KL {stats['kl']:6.2f}  {stats['steps_per_s']:6.0f} steps/s  ETA {eta:5.0f}s")


def _resumed(args, out: Path):
    """(model, optimizer, settings, meta) from the file being resumed; its stored settings win."""
    loaded = load_weights(out, device=args.device)
    optimizer = loaded.optimizer()
    if optimizer is None:
        raise CliError(f"{out} has no optimiser state to resume from")
    stored = loaded.meta.get("train", {})
    settings = {"batch_size": int(stored.get("batch_size", args.batch_size)),
                "seed": int(stored.get("seed", args.seed)),
                "mirror": bool(stored.get("mirror", args.mirror)),
                "weight_decay": float(stored.get("weight_decay", args.weight_decay)),
                "val_size": int(stored.get("val_size", args.val_size))}
    return loaded.model, optimizer, settings, loaded.meta


def _fresh(args):
    """(model, optimizer, settings, meta) of a new model built from the flags."""
    from core.models import Model, ModelConfig
    from core.optim import make_optimizer

    config = ModelConfig(kind=args.model, hidden=args.hidden, latent=args.latent, likelihood=args.likelihood,
                         code_activation=args.code_activation, beta=args.beta, warmup_steps=args.warmup_steps,
                         dtype=args.dtype)
    model = Model(config, seed=args.seed, device=args.device)
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    settings = {"batch_size": args.batch_size, "seed": args.seed, "mirror": args.mirror,
                "weight_decay": args.weight_decay, "val_size": args.val_size}
    return model, make_optimizer(args.optimizer, model, lr), settings, {}


def _split(args, settings: dict):
    """(fit_ids, val_ids or None, train_ids, test_ids), checking the flags that depend on the split."""
    from core.data import split_indices

    train_ids, test_ids = split_indices()
    val_size = settings["val_size"]
    if (args.keep_best or args.patience) and not val_size:
        raise CliError("--keep-best and --patience need a validation set: give --val-size N")
    if val_size and not args.eval_every:
        raise CliError("--val-size needs --eval-every > 0 to measure the validation −ELBO")
    if val_size >= len(train_ids):
        raise CliError(f"--val-size {val_size} leaves no training faces (the training split has {len(train_ids)})")
    # the training split is already a random permutation, so its last N faces are a random validation set
    fit_ids, val_ids = (train_ids[:-val_size], train_ids[-val_size:]) if val_size else (train_ids, None)
    if settings["batch_size"] > len(fit_ids):
        raise CliError(f"batch size {settings['batch_size']} is larger than the training split "
                       f"({len(fit_ids)} images)")
    return fit_ids, val_ids, train_ids, test_ids


def _target_steps(args, batches_per_epoch: int) -> int:
    if args.epochs is not None:
        return args.epochs * batches_per_epoch
    return args.steps if args.steps is not None else 10000


class TrainRun:
    """One ``train`` invocation's mutable state: the Ctrl-C flag, the best validation result, saving."""

    def __init__(self, args, out: Path, model, optimizer, settings: dict, meta: dict):
        self.args, self.out, self.model, self.optimizer = args, out, model, optimizer
        self.settings, self.seconds_before = settings, float(meta.get("train_seconds", 0.0))
        self.t0 = time.perf_counter()
        self.interrupted = False
        self.tty = sys.stderr.isatty()
        self.best = {"value": math.inf, "step": model.step, "flat": None, "evals_since": 0}

    def save(self, reason: str) -> None:
        from core.checkpoint import save_model

        save_model(self.out, self.model, self.optimizer,
                   extra={"train": self.settings, "saved_because": reason,
                          "train_seconds": self.seconds_before + time.perf_counter() - self.t0})

    def on_sigint(self, signum, frame) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def on_log(self, stats: dict) -> None:
        if not self.args.quiet:
            print(("\r" if self.tty else "") + progress_line(stats), end="" if self.tty else "\n",
                  file=sys.stderr, flush=True)

    def on_eval(self, step: int, value: float) -> None:
        best = self.best
        if value < best["value"]:
            flat = self.model.flat.copy() if self.args.keep_best else None
            best.update(value=value, step=step, evals_since=0, flat=flat)
        else:
            best["evals_since"] += 1
        if not self.args.quiet:
            what = "validation" if self.settings["val_size"] else "test"
            print(("\n" if self.tty else "") + f"step {step}: {what} −ELBO {value:.2f} nats/image", file=sys.stderr)

    def should_stop(self) -> bool:
        patience = self.args.patience
        return self.interrupted or bool(patience and self.best["evals_since"] >= patience)

    def train(self, trainer, n_steps: int):
        previous = signal.signal(signal.SIGINT, self.on_sigint)
        try:
            return trainer.run(n_steps, on_log=self.on_log, on_eval=self.on_eval, should_stop=self.should_stop,
                               on_checkpoint=lambda s: self.save(f"checkpoint at step {s}"),
                               checkpoint_every=self.args.checkpoint_every)
        finally:
            signal.signal(signal.SIGINT, previous)

    def keep_best(self, result) -> None:
        """Record the early-stopping outcome; with --keep-best put the best weights back."""
        best, settings = self.best, self.settings
        if settings["val_size"]:
            settings["early_stopping"] = {"best_val_neg_elbo": best["value"], "best_step": best["step"],
                                          "last_step": self.model.step,
                                          "patience_stop": not self.interrupted and result.status == "stopped"}
        if self.args.keep_best and best["flat"] is not None and best["step"] != self.model.step:
            self.model.flat[...] = best["flat"]
            self.model.step = best["step"]
            self.optimizer = None  # its moments belong to later steps: the file cannot be resumed
            print(f"kept the weights of step {best['step']} (validation −ELBO {best['value']:.2f})")

    def finish(self, result, X, train_ids, test_ids) -> int:
        from core.evaluate import neg_elbo

        if self.tty and not self.args.quiet:
            print(file=sys.stderr)
        if result.status == "diverged":
            self.save("diverged; last good weights")
            print(f"{result.message}; saved them to {self.out}", file=sys.stderr)
            return 1
        self.keep_best(result)
        train_elbo, test_elbo = neg_elbo(self.model, X[train_ids]), neg_elbo(self.model, X[test_ids])
        self.settings["final"] = {"train_neg_elbo": train_elbo, "test_neg_elbo": test_elbo}
        if result.status == "stopped" and self.interrupted:
            self.save("interrupted")
            print(f"interrupted at step {self.model.step}: saved {self.out}; continue with --resume", file=sys.stderr)
            return 130
        self.save("finished")
        print(f"trained {result.steps_done} steps in {result.seconds:.1f} s "
              f"({result.steps_done / max(result.seconds, 1e-9):.0f} steps/s); model has {self.model.step} steps")
        print(f"train −ELBO {train_elbo:.2f} nats/image   test −ELBO {test_elbo:.2f} nats/image")
        print(f"saved {self.out}")
        return 0


def run(args) -> int:
    from core.train import Trainer

    out = Path(args.out)
    check_writable(out)  # before training, not after it
    X = load_data(args.data, quiet=args.quiet)
    model, optimizer, settings, meta = _resumed(args, out) if args.resume else _fresh(args)
    fit_ids, val_ids, train_ids, test_ids = _split(args, settings)
    trainer = Trainer(model, optimizer, X[fit_ids], X[val_ids] if val_ids is not None else X[test_ids],
                      batch_size=settings["batch_size"], seed=settings["seed"], log_every=args.log_every,
                      eval_every=args.eval_every, mirror=settings["mirror"], weight_decay=settings["weight_decay"])
    remaining = _target_steps(args, trainer.schedule.batches_per_epoch) - (model.step if args.resume else 0)
    if remaining <= 0:
        print(f"{out} already has {model.step} steps (target {remaining + model.step}); nothing to do",
              file=sys.stderr)
        return 0
    settings.update(optimizer=optimizer.name, lr=optimizer.lr, split_seed=0)
    run_state = TrainRun(args, out, model, optimizer, settings, meta)
    result = run_state.train(trainer, remaining)
    return run_state.finish(result, X, train_ids, test_ids)
