"""``main.py import-legacy``: an assignment weights pickle (AE or VAE layout) to our .npz model file."""

from __future__ import annotations

from pathlib import Path

from .common import CliError, add_force


def add_parser(sub) -> None:
    il = sub.add_parser("import-legacy", help="convert an assignment pickle (AE or VAE layout) to .npz")
    il.add_argument("pickle")
    il.add_argument("--model", choices=["ae", "vae"], default="ae")
    il.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    il.add_argument("--out", required=True)
    add_force(il, "VAE Explorer model file")
    il.set_defaults(run=run)


def run(args) -> int:
    from core.checkpoint import MODEL_FILE, import_legacy, save_model
    from core.safe_io import check_output

    check_output(args.out, MODEL_FILE, args.force, CliError)
    model = import_legacy(args.pickle, kind=args.model, likelihood=args.likelihood)
    save_model(args.out, model, extra={"imported_from": str(Path(args.pickle).name)}, force=args.force)
    print(f"imported {args.pickle} as {model.config.describe()} -> {args.out}")
    return 0
