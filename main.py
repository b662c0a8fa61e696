"""VAE Explorer: `python main.py` opens the GUI; `python main.py SUBCOMMAND --help` for the CLI."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

PROG = "main.py"


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's default prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _number(kind: type, allow_zero: bool):
    """An argparse type: text -> ``kind`` that is finite and > 0 (>= 0 when ``allow_zero``)."""
    what = "a whole number" if kind is int else "a number"
    bound = ">= 0" if allow_zero else "> 0"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"must be {what} {bound}, got {text}")
        return value

    return parse


_positive_int = _number(int, allow_zero=False)
_nonneg_int = _number(int, allow_zero=True)
_positive_float = _number(float, allow_zero=False)
_nonneg_float = _number(float, allow_zero=True)


def _hidden_sizes(text: str) -> list[int]:
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise argparse.ArgumentTypeError("give at least one hidden size, e.g. 256 or 512,256")
    return [_positive_int(p) for p in parts]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="VAE Explorer: auto-encoders and VAEs on the Frey faces, "
               "with hand-written back-propagation. Without a subcommand the GUI opens.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    t = sub.add_parser("train", help="train a model (progress bar, checkpoints, Ctrl-C saves)")
    t.add_argument("--model", choices=["ae", "vae"], default="vae")
    t.add_argument("--hidden", type=_hidden_sizes, default=[256], help="hidden sizes, e.g. 256 or 512,256")
    t.add_argument("--latent", type=_positive_int, default=16)
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], default="bernoulli")
    t.add_argument("--code-activation", choices=["relu", "linear"], default="relu", help="AE code activation")
    t.add_argument("--beta", type=_nonneg_float, default=1.0, help="KL weight β (VAE)")
    t.add_argument("--warmup-steps", type=_nonneg_int, default=0, help="linear KL warm-up over N steps")
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--optimizer", choices=["adam", "adagrad", "sgd"], default="adam")
    t.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: 1e-3 Adam, 1e-2 others)")
    steps = t.add_mutually_exclusive_group()
    steps.add_argument("--steps", type=_positive_int, default=None,
                       help="total optimiser steps (with --resume: train on until the model has this many)")
    steps.add_argument("--epochs", type=_positive_int, default=None, help="passes over the training split")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument("--mirror", action="store_true", help="add left-right mirrored faces to the training data")
    t.add_argument("--weight-decay", type=_nonneg_float, default=0.0, help="L2 weight decay added to the gradient")
    t.add_argument("--val-size", type=_nonneg_int, default=0,
                   help="hold out the last N faces of the training split as a validation set: --eval-every then "
                        "reports validation −ELBO instead of test −ELBO (the test split stays untouched)")
    t.add_argument("--keep-best", action="store_true",
                   help="early stopping: save the weights with the best validation −ELBO (needs --val-size)")
    t.add_argument("--patience", type=_nonneg_int, default=0,
                   help="stop after N evaluations without a better validation −ELBO (0: never; needs --val-size)")
    t.add_argument("--data", default=None, help="path of frey_rawface.mat (default: $VAE_DATA, then data/)")
    t.add_argument("--out", required=True, help="model file to write, e.g. model/my_vae.npz")
    t.add_argument("--resume", action="store_true", help="continue training the model in --out")
    t.add_argument("--log-every", type=_positive_int, default=100)
    t.add_argument("--eval-every", type=_nonneg_int, default=1000, help="test −ELBO every N steps (0: never)")
    t.add_argument("--checkpoint-every", type=_nonneg_int, default=5000, help="save every N steps (0: only at the end)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("gradcheck", help="check every gradient against central finite differences")
    g.add_argument("--model", choices=["ae", "vae"], default="vae")
    g.add_argument("--weights", default=None, help="check this model file instead of a fresh small net")
    g.add_argument("--hidden", type=_hidden_sizes, default=[16])
    g.add_argument("--latent", type=_positive_int, default=4)
    g.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], default="bernoulli")
    g.add_argument("--code-activation", choices=["relu", "linear"], default="relu")
    g.add_argument("--batch-size", type=_positive_int, default=8)
    g.add_argument("--mode", choices=["full", "sample", "direction"], default="full")
    g.add_argument("--k", type=_positive_int, default=10, help="entries per parameter in sample mode")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--data", default=None,
                   help="faces to check on (default: the Frey data if present, else random pixels)")
    g.add_argument("--json", action="store_true", help="print one JSON object")

    e = sub.add_parser("eval", help="loss of single images; original | reconstruction side by side")
    e.add_argument("--weights", required=True)
    e.add_argument("--index", type=int, nargs="+", required=True, help="image ids 0…1964")
    e.add_argument("--save", default=None, help="PNG of original | reconstruction rows")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--data", default=None)

    s = sub.add_parser("sample", help="faces decoded from z ~ N(0, I)")
    s.add_argument("--weights", required=True)
    s.add_argument("--n", type=_positive_int, default=16)
    s.add_argument("--ncols", type=_positive_int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--scale", type=_positive_int, default=3, help="PNG pixels per face pixel")
    s.add_argument("--save", required=True)

    gr = sub.add_parser("grid", help="N×N faces over two latent dims at Gaussian quantiles")
    gr.add_argument("--weights", required=True)
    gr.add_argument("--n", type=_positive_int, default=15)
    gr.add_argument("--dims", type=_nonneg_int, nargs=2, default=None,
                    help="the two latent dims (default: the two with the largest posterior-mean variance, needs data)")
    gr.add_argument("--scale", type=_positive_int, default=2)
    gr.add_argument("--data", default=None)
    gr.add_argument("--save", required=True)

    ev = sub.add_parser("evaluate", help="−ELBO, reconstruction, KL, IWAE, active units, BCE floor")
    ev.add_argument("--weights", required=True)
    ev.add_argument("--split", choices=["train", "test", "all"], default="test")
    ev.add_argument("--iwae-k", type=_nonneg_int, default=1000, help="samples for the IWAE −log p(x) (0: skip)")
    ev.add_argument("--seed", type=int, default=0, help="evaluation seed for the VAE's z")
    ev.add_argument("--data", default=None)
    ev.add_argument("--json", action="store_true")

    il = sub.add_parser("import-legacy", help="convert an assignment pickle (AE or VAE layout) to .npz")
    il.add_argument("pickle")
    il.add_argument("--model", choices=["ae", "vae"], default="ae")
    il.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    il.add_argument("--out", required=True)

    sc = sub.add_parser("screenshots", help="open the GUI offscreen and save one PNG per panel")
    sc.add_argument("dir")
    sc.add_argument("--data", default=None)
    sc.add_argument("--steps", type=_positive_int, default=300, help="length of the short training run shown")

    gui = sub.add_parser("gui", help="open the GUI (same as no subcommand)")
    gui.add_argument("--data", default=None)
    gui.add_argument("--weights", default=None)
    return p


# ---------------------------------------------------------------------------- helpers
def _load_data(path, allow_download: bool = True, quiet: bool = False):
    from core.data import ensure_data, load_frey

    shown = {"progress": False}

    def progress(done, total):
        if not quiet:
            pct = f"{100 * done / total:5.1f}%" if total else f"{done / 1e6:.1f} MB"
            print(f"\rdownloading the Frey faces: {pct}", end="", file=sys.stderr, flush=True)
            shown["progress"] = True

    try:
        found = ensure_data(path, allow_download=allow_download, progress=progress)
    finally:
        if shown["progress"]:  # end the progress line, so a following error message starts on its own line
            print(file=sys.stderr)
    return load_frey(found)


def _load_weights(path, device: str = "cpu"):
    from core.checkpoint import load_model

    return load_model(path, device=device)


def _progress_line(stats: dict, width: int = 24) -> str:
    done, of = stats["done"], stats["of"]
    filled = int(width * done / max(of, 1))
    bar = "#" * filled + "." * (width - filled)
    eta = stats["eta_s"]
    return (f"step {stats['step']:>7} [{bar}] −ELBO {stats['total']:8.2f}  rec {stats['rec']:8.2f}  "
            f"KL {stats['kl']:6.2f}  {stats['steps_per_s']:6.0f} steps/s  ETA {eta:5.0f}s")


def _check_writable(out: Path) -> None:
    """Refuse an --out that is a folder or lies in a folder we cannot write (CliError)."""
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name such as {out / 'model.npz'}")
    folder = out.parent.resolve()
    while not folder.exists():  # save_model creates missing folders: check the first one that exists
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"cannot write the model file {out}: {folder} is not a writable folder")


# ---------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from core.checkpoint import save_model
    from core.data import split_indices
    from core.evaluate import neg_elbo
    from core.models import Model, ModelConfig
    from core.optim import make_optimizer
    from core.train import Trainer

    _check_writable(Path(args.out))  # before training, not after it
    X = _load_data(args.data, quiet=args.quiet)
    train_ids, test_ids = split_indices()
    out = Path(args.out)
    if args.resume:
        loaded = _load_weights(out, device=args.device)
        model = loaded.model
        optimizer = loaded.optimizer()
        if optimizer is None:
            raise CliError(f"{out} has no optimiser state to resume from")
        settings = loaded.meta.get("train", {})
        batch_size = int(settings.get("batch_size", args.batch_size))
        seed = int(settings.get("seed", args.seed))
        mirror = bool(settings.get("mirror", args.mirror))
        weight_decay = float(settings.get("weight_decay", args.weight_decay))
        val_size = int(settings.get("val_size", args.val_size))
    else:
        config = ModelConfig(kind=args.model, hidden=args.hidden, latent=args.latent, likelihood=args.likelihood,
                             code_activation=args.code_activation, beta=args.beta, warmup_steps=args.warmup_steps,
                             dtype=args.dtype)
        model = Model(config, seed=args.seed, device=args.device)
        lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
        optimizer = make_optimizer(args.optimizer, model, lr)
        batch_size, seed, mirror = args.batch_size, args.seed, args.mirror
        weight_decay, val_size = args.weight_decay, args.val_size
    if (args.keep_best or args.patience) and not val_size:
        raise CliError("--keep-best and --patience need a validation set: give --val-size N")
    if val_size and not args.eval_every:
        raise CliError("--val-size needs --eval-every > 0 to measure the validation −ELBO")
    if val_size >= len(train_ids):
        raise CliError(f"--val-size {val_size} leaves no training faces (the training split has {len(train_ids)})")
    # the training split is already a random permutation, so its last N faces are a random validation set
    fit_ids, val_ids = (train_ids[:-val_size], train_ids[-val_size:]) if val_size else (train_ids, None)
    if batch_size > len(fit_ids):
        raise CliError(f"batch size {batch_size} is larger than the training split ({len(fit_ids)} images)")
    trainer = Trainer(model, optimizer, X[fit_ids], X[val_ids] if val_size else X[test_ids], batch_size=batch_size,
                      seed=seed, log_every=args.log_every, eval_every=args.eval_every, mirror=mirror,
                      weight_decay=weight_decay)
    if args.epochs is not None:
        total_steps = args.epochs * trainer.schedule.batches_per_epoch
    else:
        total_steps = args.steps if args.steps is not None else 10000
    if args.resume:
        remaining = total_steps - model.step
        if remaining <= 0:
            print(f"{out} already has {model.step} steps (target {total_steps}); nothing to do", file=sys.stderr)
            return 0
    else:
        remaining = total_steps
    settings = {"batch_size": batch_size, "seed": seed, "mirror": mirror, "optimizer": optimizer.name,
                "lr": optimizer.lr, "split_seed": 0, "weight_decay": weight_decay, "val_size": val_size}
    seconds_before = float(loaded.meta.get("train_seconds", 0.0)) if args.resume else 0.0
    t0 = time.perf_counter()

    def save(reason: str) -> None:
        save_model(out, model, optimizer, extra={"train": settings, "saved_because": reason,
                                                 "train_seconds": seconds_before + time.perf_counter() - t0})

    interrupted = {"flag": False}

    def on_sigint(signum, frame):
        if interrupted["flag"]:
            raise KeyboardInterrupt
        interrupted["flag"] = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    tty = sys.stderr.isatty()

    def on_log(stats):
        if args.quiet:
            return
        print(("\r" if tty else "") + _progress_line(stats), end="" if tty else "\n", file=sys.stderr, flush=True)

    best = {"value": math.inf, "step": model.step, "flat": None, "evals_since": 0}

    def on_eval(step, value):
        if value < best["value"]:
            best.update(value=value, step=step, evals_since=0, flat=model.flat.copy() if args.keep_best else None)
        else:
            best["evals_since"] += 1
        if not args.quiet:
            what = "validation" if val_size else "test"
            print(("\n" if tty else "") + f"step {step}: {what} −ELBO {value:.2f} nats/image", file=sys.stderr)

    def should_stop() -> bool:
        return interrupted["flag"] or bool(args.patience and best["evals_since"] >= args.patience)

    try:
        result = trainer.run(remaining, on_log=on_log, on_eval=on_eval, should_stop=should_stop,
                             on_checkpoint=lambda s: save(f"checkpoint at step {s}"),
                             checkpoint_every=args.checkpoint_every)
    finally:
        signal.signal(signal.SIGINT, previous)
    if tty and not args.quiet:
        print(file=sys.stderr)
    if result.status == "diverged":
        save("diverged; last good weights")
        print(f"{result.message}; saved them to {out}", file=sys.stderr)
        return 1
    if val_size:
        settings["early_stopping"] = {"best_val_neg_elbo": best["value"], "best_step": best["step"],
                                      "last_step": model.step, "patience_stop": not interrupted["flag"]
                                      and result.status == "stopped"}
    if args.keep_best and best["flat"] is not None and best["step"] != model.step:
        model.flat[...] = best["flat"]
        model.step = best["step"]
        optimizer = None  # its moments belong to later steps: the file cannot be resumed
        print(f"kept the weights of step {best['step']} (validation −ELBO {best['value']:.2f})")
    train_elbo = neg_elbo(model, X[train_ids])
    test_elbo = neg_elbo(model, X[test_ids])
    settings["final"] = {"train_neg_elbo": train_elbo, "test_neg_elbo": test_elbo}
    if result.status == "stopped" and interrupted["flag"]:
        save("interrupted")
        print(f"interrupted at step {model.step}: saved {out}; continue with --resume", file=sys.stderr)
        return 130
    save("finished")
    print(f"trained {result.steps_done} steps in {result.seconds:.1f} s "
          f"({result.steps_done / max(result.seconds, 1e-9):.0f} steps/s); model has {model.step} steps")
    print(f"train −ELBO {train_elbo:.2f} nats/image   test −ELBO {test_elbo:.2f} nats/image")
    print(f"saved {out}")
    return 0


def cmd_gradcheck(args) -> int:
    import numpy as np

    from core.data import find_data, load_frey
    from core.gradcheck import PASS_THRESHOLD, WARN_THRESHOLD, gradcheck
    from core.models import Model, ModelConfig

    if args.weights:
        model = _load_weights(args.weights).model
    else:
        model = Model(ModelConfig(kind=args.model, hidden=args.hidden, latent=args.latent,
                                  likelihood=args.likelihood, code_activation=args.code_activation,
                                  dtype="float64"), seed=args.seed)
        # Small random biases: with the all-zero initial biases a dead ReLU layer feeds exactly 0 to the
        # next one, so the finite difference straddles the ReLU's kink and flags a correct gradient.
        bias_rng = np.random.default_rng(args.seed + 1)
        for name, p in model.params.items():
            if name.endswith(".b"):
                p[...] = 0.1 * bias_rng.standard_normal(p.shape)
    rng = np.random.default_rng(args.seed)
    path = find_data(args.data)
    if path.exists():
        X = load_frey(path)
        x = X[rng.choice(len(X), args.batch_size, replace=False)]
        source = f"{args.batch_size} Frey faces"
    elif args.data:
        raise CliError(f"data file not found: {path}")
    else:
        x = rng.random((args.batch_size, model.config.input_dim))
        source = f"{args.batch_size} random images (no Frey data found)"
    report = gradcheck(model, x, mode=args.mode, k=args.k, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"gradient check of {model.config.describe()} on {source}, mode {args.mode}, "
              f"h = 1e-6, float64; pass: max rel. error ≤ {PASS_THRESHOLD:g}, warning > {WARN_THRESHOLD:g}")
        print(f"{'parameter':<14}{'shape':<14}{'checked':>9}{'max rel':>11}{'mean rel':>11}{'norm rel':>11}"
              f"{'warn':>6}  result")
        for pc in report.params:
            print(f"{pc.name:<14}{str(tuple(pc.shape)):<14}{pc.checked:>9}{pc.max_rel_error:>11.2e}"
                  f"{pc.mean_rel_error:>11.2e}{pc.norm_rel_error:>11.2e}{pc.warnings:>6}  "
                  f"{'pass' if pc.passed else 'FAIL'}")
        if report.overall is not None:
            o = report.overall
            print(f"all parameters, one direction: analytic {o['analytic']:.10g} numeric {o['numeric']:.10g} "
                  f"rel. error {o['rel_error']:.2e} {'pass' if o['passed'] else 'FAIL'}")
        print(f"{'PASSED' if report.passed else 'FAILED'} in {report.seconds:.2f} s")
    return 0 if report.passed else 1


def _check_indices(indices, n):
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise CliError(f"image index {bad[0]} is out of range 0…{n - 1}")


def cmd_eval(args) -> int:
    import numpy as np

    from core.backend import to_numpy
    from core.data import split_of
    from core.images import mosaic, write_png

    model = _load_weights(args.weights).model
    X = _load_data(args.data)
    _check_indices(args.index, len(X))
    from core.evaluate import per_image_losses

    x = X[args.index]
    rec, kl_dims = per_image_losses(model, x, seed=args.seed)
    recon = to_numpy(model.reconstruct(x))
    print(f"{'image':>6} {'split':<6}{'−ELBO':>10}{'rec':>10}{'KL':>8}   (nats; {model.config.describe()})")
    for i, idx in enumerate(args.index):
        kl = kl_dims[i].sum()
        print(f"{idx:>6} {split_of(idx):<6}{rec[i] + kl:>10.2f}{rec[i]:>10.2f}{kl:>8.2f}")
    if args.save:
        pairs = np.stack([x, recon], axis=1).reshape(-1, x.shape[1])
        write_png(args.save, mosaic(pairs, ncols=2), scale=4)
        print(f"saved {args.save} (each row: original | reconstruction)")
    return 0


def cmd_sample(args) -> int:
    from core.images import mosaic, write_png
    from core.train import sample_faces

    model = _load_weights(args.weights).model
    faces = sample_faces(model, args.n, seed=args.seed)
    write_png(args.save, mosaic(faces, ncols=min(args.ncols, args.n)), scale=args.scale)
    print(f"saved {args.save}: {args.n} faces decoded from z ~ N(0, I), seed {args.seed}")
    return 0


def cmd_grid(args) -> int:
    import numpy as np

    from core.backend import to_numpy
    from core.evaluate import posterior_means
    from core.explore import latent_grid
    from core.images import mosaic, write_png

    model = _load_weights(args.weights).model
    L = model.config.latent
    if args.dims is None:
        X = _load_data(args.data)
        mean, _ = posterior_means(model, X)
        dims = [int(d) for d in np.argsort(mean.var(axis=0))[::-1][:2]]
    else:
        dims = list(args.dims)
    for d in dims:
        if d >= L:
            raise CliError(f"latent dim {d} does not exist (the model has {L})")
    faces = to_numpy(latent_grid(model, dims[0], dims[1], args.n))
    write_png(args.save, mosaic(faces.reshape(-1, faces.shape[-1]), ncols=args.n), scale=args.scale)
    print(f"saved {args.save}: {args.n}×{args.n} grid over latent dims {dims[0]} (rows) and {dims[1]} (columns)")
    return 0


def cmd_evaluate(args) -> int:
    from core.data import split_indices
    from core.evaluate import evaluate

    model = _load_weights(args.weights).model
    X = _load_data(args.data)
    train_ids, test_ids = split_indices()
    rows = {"train": X[train_ids], "test": X[test_ids], "all": X}[args.split]
    result = evaluate(model, rows, iwae_k=args.iwae_k if model.is_vae else 0, seed=args.seed)
    keys = ["neg_elbo", "rec", "kl", "iwae_neg_log_px", "active_units", "bce_floor", "n"]
    if args.json:
        print(json.dumps({k: result[k] for k in keys}))
    else:
        print(f"{model.config.describe()} on the {args.split} split ({result['n']} images), nats per image:")
        for k in keys[:-1]:
            v = result[k]
            print(f"  {k:<16} {'—' if v is None else (f'{v:.3f}' if isinstance(v, float) else v)}")
    return 0


def cmd_import_legacy(args) -> int:
    from core.checkpoint import import_legacy, save_model

    model = import_legacy(args.pickle, kind=args.model, likelihood=args.likelihood)
    save_model(args.out, model, extra={"imported_from": str(Path(args.pickle).name)})
    print(f"imported {args.pickle} as {model.config.describe()} -> {args.out}")
    return 0


def cmd_screenshots(args) -> int:
    from vae_gui.app import take_screenshots

    return take_screenshots(args.dir, data=args.data, steps=args.steps)


def cmd_gui(args) -> int:
    from vae_gui.app import run_gui

    return run_gui(data=getattr(args, "data", None), weights=getattr(args, "weights", None))


COMMANDS = {"train": cmd_train, "gradcheck": cmd_gradcheck, "eval": cmd_eval, "sample": cmd_sample,
            "grid": cmd_grid, "evaluate": cmd_evaluate, "import-legacy": cmd_import_legacy,
            "screenshots": cmd_screenshots, "gui": cmd_gui}


def limit_blas_threads() -> None:
    """One OpenBLAS thread unless OPENBLAS_NUM_THREADS is set: read once when NumPy loads, so this runs first.

    The matrices here are small (64×560×256): on the 2-core test machine `train` ran at 49 steps/s with
    OpenBLAS's default of a thread per core and 568 with one, because its spinning threads wait for each
    other whenever anything else wants a core; in the GUI they would also compete with the UI thread."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limit_blas_threads()
    from core.backend import BackendError
    from core.checkpoint import ModelFileError
    from core.data import DataError
    from core.models import ConfigError

    command = COMMANDS[args.command] if args.command else cmd_gui
    try:
        return command(args)
    except (CliError, DataError, ModelFileError, ConfigError, BackendError, OSError, ValueError) as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C (the first one saves and stops), or one before training
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:  # e.g. --hidden 100000000
        print(f"{PROG}: error: not enough memory for this model or data set ({_one_line(str(exc))})", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    """Error messages are printed as exactly one line."""
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
