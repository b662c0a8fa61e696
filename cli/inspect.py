"""``main.py inspect``: the backprop inspector's per-layer table for a model file over the data set."""

from __future__ import annotations

import json

from .common import add_data_args, add_max_params, add_weights_args, data_for, load_weights, seed

COLUMNS = (("layer", "name", 10, "s"), ("units", "units", 6, "d"), ("dead", "dead", 6, "d"), ("rare", "rare", 6, "d"),
           ("never on", "never_on", 9, "d"),
           ("act mean", "act_mean", 10, ".4g"), ("act std", "act_std", 10, ".4g"),
           ("|W|", "weight_norm", 10, ".4g"), ("|grad W|", "grad_norm", 10, ".4g"))


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="per-layer activations, dead units, norms and KL per unit of a model")
    add_weights_args(p)
    add_data_args(p)
    p.add_argument("--split", choices=["all", "train", "test"], default="all", help="images to inspect over")
    p.add_argument("--seed", type=seed, default=0, help="seed of the batch the gradient norms are taken on")
    p.add_argument("--json", action="store_true", help="one JSON object: {\"layers\": [...], \"kl_per_unit\": [...]}")
    add_max_params(p)
    p.set_defaults(run=run)


def _cell(value, width: int, fmt: str) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:>{width}{fmt}}"


def print_table(snap: dict, title: str) -> None:
    print(title)
    print("".join(f"{head:>{w}}" if i else f"{head:<{w}}" for i, (head, _, w, _) in enumerate(COLUMNS)))
    for row in snap["layers"]:
        cells = [f"{row['name']:<{COLUMNS[0][2]}}"] + [_cell(row[key], w, f) for _, key, w, f in COLUMNS[1:]]
        print("".join(cells))
    if snap["kl_per_unit"] is not None:
        print(f"KL per latent unit (nats): {' '.join(f'{v:.2f}' for v in snap['kl_per_unit'])}")
        print(f"posterior σ per unit:      {' '.join(f'{v:.2f}' for v in snap['sigma_per_unit'])}")
        print(f"active units: {snap['active_units']} of {len(snap['kl_per_unit'])}")
    for line in snap["diagnoses"]:
        print(f"* {line}")


def run(args) -> int:
    from core.inspection import inspect_model, snapshot_json

    loaded = load_weights(args.weights, max_params=args.max_params)
    model = loaded.model
    view, _ = data_for(loaded, args, quiet=args.json)  # the data set as this model sees it (checked to fit)
    rows = view.split(args.split)
    snap = inspect_model(model, rows, seed=args.seed)
    if args.json:
        print(json.dumps(snapshot_json(snap)))
        return 0
    where = f"all {len(rows)} images" if args.split == "all" else f"the {args.split} split ({len(rows)} images)"
    print_table(snap, f"{model.config.describe()} over {where}; dead: passes no gradient for any image (ReLU: "
                      f"input ≤ 0 for every image), rare: for < 1 % of them, never on: input ≤ 0 for every image; "
                      f"|grad W| on a batch of 128")
    return 0
