"""``main.py gradcheck``: every gradient against central finite differences."""

from __future__ import annotations

import json

from .common import (
    CliError,
    add_data_args,
    add_setting_flags,
    add_weights_args,
    data_for,
    load_dataset,
    load_weights,
    positive_int,
)


def add_parser(sub) -> None:
    g = sub.add_parser("gradcheck", help="check every gradient against central finite differences")
    add_weights_args(g, required=False, help="check this model file instead of a fresh small net")
    # the fresh net's settings: train's flags (core.settings), with a small net's defaults
    add_setting_flags(g, ("kind", "hidden", "latent", "likelihood", "code_activation", "batch_size", "seed"),
                      defaults={"hidden": [16], "latent": 4, "batch_size": 8})
    g.add_argument("--mode", choices=["full", "sample", "direction"], default="full")
    g.add_argument("--k", type=positive_int, default=10, help="entries per parameter in sample mode")
    add_data_args(g)  # default: the Frey data if present, else random pixels
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    g.set_defaults(run=run)


def _model(args, dataset=None):
    """The model to check: --weights (checked against --data's image size), else a fresh small float64 net
    for the data set's images (560 pixels without --data)."""
    import numpy as np

    from core.models import INPUT_DIM, Model, ModelConfig

    if args.weights:
        loaded = load_weights(args.weights)
        if dataset is not None:
            data_for(loaded, args, quiet=True)  # a model of another image size: one-line error, exit 2
        return loaded.model
    model = Model(ModelConfig(kind=args.model, hidden=args.hidden, latent=args.latent,
                              likelihood=args.likelihood, code_activation=args.code_activation,
                              dtype="float64", input_dim=dataset.dim if dataset is not None else INPUT_DIM),
                  seed=args.seed)
    # Small random biases: with the all-zero initial biases a dead ReLU layer feeds exactly 0 to the
    # next one, so the finite difference straddles the ReLU's kink and flags a correct gradient.
    bias_rng = np.random.default_rng(args.seed + 1)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = 0.1 * bias_rng.standard_normal(p.shape)
    return model


def _faces(args, model, dataset=None):
    import numpy as np

    from core.data import find_data, load_frey

    rng = np.random.default_rng(args.seed)
    if dataset is not None:
        if args.batch_size > len(dataset.train_ids):
            raise CliError(f"--batch-size {args.batch_size} is more than the {len(dataset.train_ids)} training "
                           f"images of {dataset.name}")
        ids = rng.choice(dataset.train_ids, args.batch_size, replace=False)
        h, w = dataset.image_shape
        return dataset.images[ids].astype(np.float64), f"{args.batch_size} {h}×{w} images of {dataset.name}"
    path = find_data(args.data)
    if path.exists():
        X = load_frey(path)
        return X[rng.choice(len(X), args.batch_size, replace=False)], f"{args.batch_size} Frey faces"
    if args.data:
        raise CliError(f"data file not found: {path}")
    x = rng.random((args.batch_size, model.config.input_dim))
    return x, f"{args.batch_size} random images (no Frey data found)"


def _other_data(args):
    """The data set of --data/--image-shape when it is not the Frey default (None: Frey or random, as before)."""
    from pathlib import Path

    if args.image_shape is None and (args.data is None or Path(args.data).suffix.lower() == ".mat"):
        return None
    return load_dataset(args, quiet=True)


def _print_table(report, model, source: str, mode: str) -> None:
    from core.gradcheck import KINK_EXPLANATION, MAX_KINK_SHARE, PASS_THRESHOLD, STEP, WARN_THRESHOLD

    print(f"gradient check of {model.config.describe()} on {source}, mode {mode}, h = {STEP:g}, float64; "
          f"pass: max rel. error ≤ {PASS_THRESHOLD:g} over the non-kink entries, warning > {WARN_THRESHOLD:g}; "
          f"round-off of the differences ≤ {report.roundoff:.1e}")
    print(f"{'parameter':<14}{'shape':<14}{'checked':>9}{'kinks':>7}{'max rel':>11}{'mean rel':>11}{'norm rel':>11}"
          f"{'warn':>6}  result")
    for pc in report.params:
        print(f"{pc.name:<14}{str(tuple(pc.shape)):<14}{pc.checked:>9}{pc.kinks:>7}{pc.max_rel_error:>11.2e}"
              f"{pc.mean_rel_error:>11.2e}{pc.norm_rel_error:>11.2e}{pc.warnings:>6}  "
              f"{'pass' if pc.passed else 'FAIL'}{'  (' + pc.note + ')' if pc.note else ''}")
    if report.overall is not None:
        o = report.overall
        print(f"all parameters, one direction: analytic {o['analytic']:.10g} numeric {o['numeric']:.10g} "
              f"rel. error {o['rel_error']:.2e} {'kink' if o['kink'] else 'pass' if o['passed'] else 'FAIL'}"
              f"{'  (' + o['note'] + ')' if o['note'] else ''}")
    for pc in report.params:
        if not pc.passed:
            print(f"worst entries of {pc.name}: " + "; ".join(
                f"{tuple(w['index'])} analytic {w['analytic']:.6g} numeric {w['numeric']:.6g} rel {w['rel_error']:.1e}"
                for w in pc.worst if not w["kink"])[:3 * 90])
    if report.kinks_total:
        too_many = report.kink_share > MAX_KINK_SHARE
        print(f"{report.kinks_total:,} kink entries ({100 * report.kink_share:.1f} % of those checked; the check "
              f"fails above {100 * MAX_KINK_SHARE:g} %{': it does' if too_many else ''}). {KINK_EXPLANATION}")
    print(f"{'PASSED' if report.passed else 'FAILED'} in {report.seconds:.2f} s")


def progress_line(p) -> str:
    """'gradcheck 41 % (140,200 / 343,540 entries, enc0.W), 3 s, about 4 s to go'."""
    pct = 100 * p.done / max(p.total, 1)
    eta = f", about {p.eta_s:.0f} s to go" if p.eta_s is not None else ""
    return f"gradcheck {pct:3.0f} % ({p.done:,} / {p.total:,} entries, {p.name}), {p.elapsed_s:.0f} s{eta}"


def _run_check(model, x, args):
    """check_steps with progress on stderr: redrawn in place on a terminal, else one line every 5 s."""
    import sys
    import time

    from core.gradcheck import check_steps

    steps = check_steps(model, x, mode=args.mode, k=args.k, seed=args.seed)
    tty, last = sys.stderr.isatty(), time.perf_counter()
    try:
        while True:
            p = next(steps)
            now = time.perf_counter()
            if not args.quiet and now - last > (0.2 if tty else 5.0):
                print(("\r" if tty else "") + progress_line(p), end="" if tty else "\n", file=sys.stderr, flush=True)
                last = now
    except StopIteration as stop:
        if tty and not args.quiet:
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr, flush=True)
        return stop.value


def run(args) -> int:
    dataset = _other_data(args)
    model = _model(args, dataset)
    x, source = _faces(args, model, dataset)
    report = _run_check(model, x, args)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_table(report, model, source, args.mode)
    return 0 if report.passed else 1
