"""How many hidden units a model uses: dead and rarely-active units per hidden layer, over a set of faces.

A unit is **dead** when its pre-activation is ≤ 0 for every face (for ReLU it then outputs 0 and passes no
gradient for any face, so training can never revive it); **rare** when it is > 0 for fewer than 1 % of the
faces but not dead. The decoder's layers are fed the posterior means (VAE) or the codes (AE) of the same
faces. For leaky_relu, elu, softplus and tanh the same counts say how many units never leave their
negative side; such units still pass gradient (and, except for ReLU, still carry information).

    .venv/bin/python tools/unit_usage.py model/*.npz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from core.layers import activation_layer

RARE_SHARE = 0.01  # active for fewer than this share of the faces: rare
TINY_NORM = 1e-6  # a unit whose incoming weights have a smaller norm has been decayed away


def _stack(model, stack: str, h: np.ndarray) -> list[dict]:
    """Per-layer counts of one hidden stack ('enc' or 'dec') fed with h (N, fan_in)."""
    cfg = model.config
    forward, _ = activation_layer(getattr(cfg, f"{stack}_activation"), cfg.leaky_slope)
    rows = []
    for i in range(len(cfg.hidden)):
        W = np.asarray(model.params_numpy()[f"{stack}{i}.W"], dtype=np.float64)
        b = np.asarray(model.params_numpy()[f"{stack}{i}.b"], dtype=np.float64)
        pre = h @ W + b
        active_share = (pre > 0).mean(axis=0)
        rows.append({"layer": f"{stack}{i}", "units": int(W.shape[1]),
                     "dead": int((active_share == 0).sum()),
                     "rare": int(((active_share > 0) & (active_share < RARE_SHARE)).sum()),
                     "tiny_weights": int((np.linalg.norm(W, axis=0) < TINY_NORM).sum())})
        h, _ = forward(pre)
    return rows


def unit_usage(model, X: np.ndarray) -> list[dict]:
    """[{layer, units, dead, rare, tiny_weights}] for enc0…, dec0… over the faces X (N, 560), in float64."""
    X = np.asarray(X, dtype=np.float64)
    rows = _stack(model, "enc", X)
    code, _ = model.encode(X)  # posterior mean (VAE) or code (AE): what the decoder sees at its most typical
    return rows + _stack(model, "dec", np.asarray(code, dtype=np.float64))


def format_usage(rows: list[dict]) -> str:
    """'enc0 3/256 dead, 5 rare; dec0 0/256 dead, 1 rare'."""
    return "; ".join(f"{r['layer']} {r['dead']}/{r['units']} dead, {r['rare']} rare" for r in rows)


def main(argv: list[str] | None = None) -> int:
    from core.checkpoint import load_model
    from core.data import ensure_data, load_frey

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    X = load_frey(ensure_data(args.data))
    for path in args.weights:
        rows = unit_usage(load_model(path).model, X)
        print(f"{path}: {format_usage(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
