"""``main.py gradcheck``: every gradient against central finite differences."""

from __future__ import annotations

import json

from .common import CliError, hidden_sizes, load_weights, positive_int


def add_parser(sub) -> None:
    g = sub.add_parser("gradcheck", help="check every gradient against central finite differences")
    g.add_argument("--model", choices=["ae", "vae"], default="vae")
    g.add_argument("--weights", default=None, help="check this model file instead of a fresh small net")
    g.add_argument("--hidden", type=hidden_sizes, default=[16])
    g.add_argument("--latent", type=positive_int, default=4)
    g.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], default="bernoulli")
    g.add_argument("--code-activation", choices=["relu", "linear"], default="relu")
    g.add_argument("--batch-size", type=positive_int, default=8)
    g.add_argument("--mode", choices=["full", "sample", "direction"], default="full")
    g.add_argument("--k", type=positive_int, default=10, help="entries per parameter in sample mode")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--data", default=None,
                   help="faces to check on (default: the Frey data if present, else random pixels)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(run=run)


def _model(args):
    import numpy as np

    from core.models import Model, ModelConfig

    if args.weights:
        return load_weights(args.weights).model
    model = Model(ModelConfig(kind=args.model, hidden=args.hidden, latent=args.latent,
                              likelihood=args.likelihood, code_activation=args.code_activation,
                              dtype="float64"), seed=args.seed)
    # Small random biases: with the all-zero initial biases a dead ReLU layer feeds exactly 0 to the
    # next one, so the finite difference straddles the ReLU's kink and flags a correct gradient.
    bias_rng = np.random.default_rng(args.seed + 1)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = 0.1 * bias_rng.standard_normal(p.shape)
    return model


def _faces(args, model):
    import numpy as np

    from core.data import find_data, load_frey

    rng = np.random.default_rng(args.seed)
    path = find_data(args.data)
    if path.exists():
        X = load_frey(path)
        return X[rng.choice(len(X), args.batch_size, replace=False)], f"{args.batch_size} Frey faces"
    if args.data:
        raise CliError(f"data file not found: {path}")
    x = rng.random((args.batch_size, model.config.input_dim))
    return x, f"{args.batch_size} random images (no Frey data found)"


def _print_table(report, model, source: str, mode: str) -> None:
    from core.gradcheck import PASS_THRESHOLD, WARN_THRESHOLD

    print(f"gradient check of {model.config.describe()} on {source}, mode {mode}, "
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


def run(args) -> int:
    from core.gradcheck import gradcheck

    model = _model(args)
    x, source = _faces(args, model)
    report = gradcheck(model, x, mode=args.mode, k=args.k, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_table(report, model, source, args.mode)
    return 0 if report.passed else 1
