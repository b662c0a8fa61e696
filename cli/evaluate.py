"""``main.py evaluate``: −ELBO, reconstruction, KL, IWAE, active units and the BCE floor of a split."""

from __future__ import annotations

import json

from .common import add_data_args, add_max_params, add_weights_args, data_for, load_weights, nonneg_int, seed

KEYS = ["neg_elbo", "rec", "kl", "iwae_neg_log_px", "active_units", "bce_floor", "n"]


def add_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="−ELBO, reconstruction, KL, IWAE, active units, BCE floor")
    add_weights_args(ev)
    ev.add_argument("--split", choices=["train", "test", "all"], default="test")
    ev.add_argument("--iwae-k", type=nonneg_int, default=1000, help="samples for the IWAE −log p(x) (0: skip)")
    ev.add_argument("--seed", type=seed, default=0, help="evaluation seed for the VAE's z")
    add_data_args(ev)
    ev.add_argument("--json", action="store_true")
    add_max_params(ev)
    ev.set_defaults(run=run)


def run(args) -> int:
    from core.evaluate import evaluate

    loaded = load_weights(args.weights, max_params=args.max_params)
    model = loaded.model
    view, _ = data_for(loaded, args, quiet=args.json)
    rows = view.split(args.split)
    result = evaluate(model, rows, iwae_k=args.iwae_k if model.is_vae else 0, seed=args.seed)
    if args.json:
        print(json.dumps({k: result[k] for k in KEYS}))
        return 0
    print(f"{model.config.describe()} on the {args.split} split ({result['n']} images), nats per image:")
    for k in KEYS[:-1]:
        v = result[k]
        print(f"  {k:<16} {'—' if v is None else (f'{v:.3f}' if isinstance(v, float) else v)}")
    return 0
