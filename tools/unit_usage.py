"""How many hidden units a model uses: dead and rarely-active units per hidden layer, over a set of faces.

A unit is **dead** when its activation passes (almost) no gradient for any face: its derivative is below
1e-3 (of the largest, 1) for every face, so no face can change its incoming weights and it outputs the
same for every face. For ReLU this is the issue's definition, pre-activation ≤ 0 for every face; leaky_relu
(slope ≥ 1e-3) cannot die; elu and softplus die below a pre-activation of ln(1e-3) ≈ −6.9, tanh beyond
|a| ≈ 4.1. A unit is **rare** when it passes gradient for fewer than 1 % of the faces but is not dead.
``never_on`` counts the units whose pre-activation is ≤ 0 for every face whatever the activation (for ReLU
the same as dead; an elu or leaky unit there still passes gradient and carries information). The decoder's
layers are fed the posterior means (VAE) or the codes (AE) of the same faces.

    .venv/bin/python tools/unit_usage.py model/*.npz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from core.layers import activation_layer

RARE_SHARE = 0.01  # passes gradient for fewer than this share of the faces: rare
DEAD_DERIVATIVE = 1e-3  # an activation derivative below this passes no useful gradient
TINY_NORM = 1e-6  # a unit whose incoming weights have a smaller norm has been decayed away


def _stack(model, stack: str, h: np.ndarray) -> list[dict]:
    """Per-layer counts of one hidden stack ('enc' or 'dec') fed with h (N, fan_in)."""
    cfg = model.config
    forward, backward = activation_layer(getattr(cfg, f"{stack}_activation"), cfg.leaky_slope)
    params, rows = model.params_numpy(), []
    for i in range(len(cfg.hidden)):
        W = np.asarray(params[f"{stack}{i}.W"], dtype=np.float64)
        pre = h @ W + np.asarray(params[f"{stack}{i}.b"], dtype=np.float64)
        h, cache = forward(pre)
        live_share = (backward(np.ones_like(pre), cache) >= DEAD_DERIVATIVE).mean(axis=0)
        rows.append({"layer": f"{stack}{i}", "units": int(W.shape[1]),
                     "dead": int((live_share == 0).sum()),
                     "rare": int(((live_share > 0) & (live_share < RARE_SHARE)).sum()),
                     "never_on": int(((pre > 0).sum(axis=0) == 0).sum()),
                     "tiny_weights": int((np.linalg.norm(W, axis=0) < TINY_NORM).sum())})
    return rows


def unit_usage(model, X: np.ndarray) -> list[dict]:
    """[{layer, units, dead, rare, never_on, tiny_weights}] for enc0…, dec0… over the faces X (N, 560), in float64."""
    X = np.asarray(X, dtype=np.float64)
    centre = model.config.input_centre  # a centred model's first layer sees x − centre
    rows = _stack(model, "enc", X if centre is None else X - np.asarray(centre))
    code, _ = model.encode(X)  # posterior mean (VAE) or code (AE): what the decoder sees at its most typical
    return rows + _stack(model, "dec", np.asarray(code, dtype=np.float64))


def format_usage(rows: list[dict]) -> str:
    """'enc0 3/256 dead, 5 rare; dec0 0/256 dead, 1 rare (4 never on)'."""
    return "; ".join(f"{r['layer']} {r['dead']}/{r['units']} dead, {r['rare']} rare"
                     + (f" ({r['never_on']} never on)" if r["never_on"] != r["dead"] else "") for r in rows)


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
