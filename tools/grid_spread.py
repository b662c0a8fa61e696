"""How much the faces of a latent grid differ: issue 25's spread measure, for model files.

Spread of a set of faces = the mean over the pixels of each pixel's standard deviation over the faces
(``core.explore.pixel_spread``). For each model it prints the spread of

* the 1965 Frey faces themselves, and of the model's reconstructions of them (decoded posterior means);
* the 15×15 grid over the two latent units with the largest posterior-mean variance at Gaussian quantiles
  5 %…95 %, other units at 0 (``--axes dims``: the issue's measurement, and Kingma & Welling's Fig. 4a);
* the grid of the default axes (``main.py grid`` without ``--axes``: principal directions for > 2 units),
  with its largest Mahalanobis distance from the posterior means' distribution.

    .venv/bin/python tools/grid_spread.py model/vae_2d.npz model/vae_gauss.npz [--n 15] [--data F]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.backend import to_numpy  # noqa: E402
from core.checkpoint import load_model  # noqa: E402
from core.data import ensure_data, load_frey  # noqa: E402
from core.evaluate import posterior_means  # noqa: E402
from core.explore import decode_grid, default_axes, mahalanobis, pixel_spread  # noqa: E402


def grid_spreads(path: str, X: np.ndarray, n: int = 15) -> dict:
    """The spreads of one model file on the faces X (N, D): faces, reconstructions, dims grid, default grid."""
    model = load_model(path).model
    means, logvars = posterior_means(model, X)
    faces, recon = pixel_spread(X), pixel_spread(to_numpy(model.decode(means)))
    out = {"faces": faces, "recon": recon}
    for kind in ("dims", None):
        axes = default_axes(model, means, logvars, n, kind)
        spread = pixel_spread(to_numpy(decode_grid(model, axes)).reshape(n * n, -1))
        out["dims" if kind else "default"] = {"kind": axes.kind, "spread": spread,
                                             "max_mahalanobis": float(mahalanobis(axes.points(), means).max())}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--n", type=int, default=15)
    p.add_argument("--data", default=None, help="frey_rawface.mat (default: $VAE_DATA, then data/)")
    args = p.parse_args(argv)
    X = load_frey(ensure_data(args.data, allow_download=False)).astype(np.float64)
    for path in args.models:
        s = grid_spreads(path, X, args.n)
        ratio = s["recon"] / s["faces"]
        print(f"{path}: faces {s['faces']:.4f}, reconstructions {s['recon']:.4f} ({ratio:.3f} × faces)")
        for key, what in (("dims", "two most active units, Gaussian quantiles, others 0"), ("default", "default axes")):
            g = s[key]
            print(f"  {args.n}×{args.n} grid, {what} ({g['kind']}): spread {g['spread']:.4f} = "
                  f"{g['spread'] / s['faces']:.3f} × faces, {g['spread'] / s['recon']:.3f} × reconstructions; "
                  f"max Mahalanobis {g['max_mahalanobis']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
