"""Which initialisation seed gives an AE with a ReLU code the most live code units?

A ReLU code unit whose pre-activation is negative for every face never recovers (its gradient is
zero). The Frey faces are all positive and alike, so at initialisation a code unit is typically on
for nearly all faces or for none: about half of the 16 units start dead, and how many depends
on the seed. This prints, for seeds 0…N−1, the number of code units on for more than 5 % of the
training faces at initialisation and the number of dead first-layer units; model/ae.npz uses
the best seed (see model/README.md).

    .venv/bin/python tools/ae_seed_scan.py --seeds 60
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from core.backend import to_numpy  # noqa: E402
from core.data import ensure_data, load_frey, split_indices  # noqa: E402
from core.models import Model, ModelConfig  # noqa: E402


def live_units(seed: int, X: np.ndarray, hidden: int = 256, latent: int = 16) -> tuple[int, int]:
    """(live code units, dead first-layer units) of a freshly initialised AE on faces X (N, 560)."""
    model = Model(ModelConfig(kind="ae", hidden=[hidden], latent=latent, code_activation="relu"), seed=seed)
    code, _ = model.encode(X)
    h, _ = model._encoder_forward(model.asarray(X))
    live = int(((to_numpy(code) > 0).mean(axis=0) > 0.05).sum())
    dead = int(((to_numpy(h) > 0).mean(axis=0) == 0).sum())
    return live, dead


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=60)
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)
    X = load_frey(ensure_data(None))
    train_ids, _ = split_indices()
    rows = sorted(((*live_units(s, X[train_ids]), s) for s in range(args.seeds)), key=lambda r: (-r[0], r[1]))
    print("seed  live code units  dead hidden units")
    for live, dead, seed in rows[: args.top]:
        print(f"{seed:>4}  {live:>15}  {dead:>17}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
