"""Average the weights of snapshots of one training run (stochastic weight averaging, Izmailov et al. 2018).

A Gaussian VAE with learned variance keeps jittering around its optimum under Adam at a constant learning
rate: its validation ELBO moves by ±5 nats between evaluations 500 steps apart. The mean of the weights of
the last snapshots of one run sits nearer the centre of that region than any one of them. The snapshots are
the ends of ``main.py train --resume --steps N`` segments of a single run (so every file is a step of the same
trajectory); the output keeps the last snapshot's meta (its training commands, the input centre; not its
end-of-run numbers) and records the files averaged, their steps and the average's validation −ELBO in
meta["averaged"]. Ship it with ``tools/ship_model.py`` as usual.

    .venv/bin/python tools/average_weights.py /tmp/snap_41000.npz ... /tmp/snap_60000.npz --out /tmp/avg.npz

It prints the validation −ELBO (the last ``val_size`` faces of the training split, as ``--val-size`` holds
out; evaluation seed 0, as in training) of each snapshot and of the average: choose the window on that.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from core.checkpoint import load_model, save_record  # noqa: E402
from core.data import ensure_data, load_frey, split_indices  # noqa: E402
from core.evaluate import neg_elbo  # noqa: E402


def average(paths: list[str]):
    """(ModelRecord of the last file with its flat weights replaced by the mean over ``paths``, steps).

    Refuses files whose configs differ (another architecture, activation or input centre)."""
    loaded = [load_model(p) for p in paths]
    last = loaded[-1]
    want = last.model.config.to_dict()
    for path, other in zip(paths, loaded, strict=True):
        if other.model.config.to_dict() != want:
            raise SystemExit(f"{path}: another model config than {paths[-1]}; only snapshots of one run average")
    mean = np.mean([np.asarray(o.model.flat, dtype=np.float64) for o in loaded], axis=0)
    last.model.flat[...] = mean.astype(last.model.flat.dtype)
    return last, [int(o.model.step) for o in loaded]


def validation_images(record, X: np.ndarray) -> np.ndarray:
    """The held-out validation faces of the run (``--val-size`` of its training settings)."""
    val_size = record.settings.val_size if record.settings is not None else 0
    if not val_size:
        raise SystemExit("the snapshots were trained without --val-size: no validation part to report")
    return X[split_indices()[0][-val_size:]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("snapshots", nargs="+", help="model files of one run, in step order")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    X = load_frey(ensure_data(args.data))
    loaded, steps = average(args.snapshots)
    X_val = validation_images(loaded, X)
    for path in args.snapshots:
        print(f"{Path(path).name}: validation −ELBO {neg_elbo(load_model(path).model, X_val, seed=0):.2f}")
    # the last snapshot's own end-of-run numbers do not describe the average: dropped, the average's kept
    loaded.results = {}
    val_value = neg_elbo(loaded.model, X_val, seed=0)
    command = shlex.join(["tools/average_weights.py", *[Path(s).name for s in args.snapshots],
                          "--out", Path(args.out).name])
    loaded.other["averaged"] = {"files": [Path(s).name for s in args.snapshots], "steps": steps, "command": command,
                                "val_neg_elbo": val_value}
    loaded.provenance.commands = [*loaded.provenance.commands, command]
    loaded.optimizer_state = None  # the average has no optimiser moments of its own
    save_record(args.out, loaded)
    print(f"average of {len(steps)} snapshots (steps {steps[0]}–{steps[-1]}): validation −ELBO "
          f"{val_value:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
