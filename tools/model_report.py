"""Numbers for docs/RESULTS.md: every metric of shipped models, and how the IWAE estimate tightens with k.

    .venv/bin/python tools/model_report.py model/ae.npz model/vae.npz model/vae_gauss.npz \
        --ks 1 10 100 1000 --json /tmp/report.json

For each model file it prints (nats per image; ELBO = −neg_elbo): train and test −ELBO, reconstruction,
KL, active units, dead and rare hidden units per layer (tools/unit_usage.py), the BCE floor (Bernoulli
decoders), all-faces reconstruction (AE), training steps and
seconds from the file's meta, and for a VAE the importance-sampled −log p(x) on the test split for each k
(k = 1 is a one-sample −ELBO estimate; the estimate must not grow with k).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from core.checkpoint import load_model  # noqa: E402
from core.data import ensure_data, load_frey, split_indices  # noqa: E402
from core.evaluate import evaluate, iwae_neg_log_px  # noqa: E402
from tools.unit_usage import format_usage, unit_usage  # noqa: E402


def iwae_curve(model, X: np.ndarray, ks: list[int], seed: int = 1) -> dict[int, float]:
    """{k: mean over X of the k-sample IWAE −log p(x)} (nats per image)."""
    return {k: float(iwae_neg_log_px(model, X, k, seed=seed).mean()) for k in ks}


def report(path: str, X: np.ndarray, ks: list[int]) -> dict:
    loaded = load_model(path)
    model = loaded.model
    train_ids, test_ids = split_indices()
    t0 = time.perf_counter()
    row = {"file": path, "describe": model.config.describe(), "config": model.config.to_dict(),
           "steps": int(model.step), "train_seconds": loaded.provenance.train_seconds,
           "train_settings": loaded.settings.to_meta() if loaded.settings is not None else {},
           "train": evaluate(model, X[train_ids]), "test": evaluate(model, X[test_ids]),
           "units": unit_usage(model, X), "commands": loaded.provenance.commands}
    for split in ("train", "test"):
        row[split].pop("kl_per_dim", None)
    if model.is_vae:
        row["iwae_test"] = iwae_curve(model, X[test_ids], ks)
    else:
        row["all"] = evaluate(model, X)
        row["all"].pop("kl_per_dim", None)
    row["report_seconds"] = time.perf_counter() - t0
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights", nargs="+")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 10, 100, 1000])
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    X = load_frey(ensure_data(args.data))
    rows = []
    for path in args.weights:
        row = report(path, X, args.ks)
        rows.append(row)
        tr, te = row["train"], row["test"]
        print(f"{path}: {row['describe']}, {row['steps']} steps, {row['train_seconds'] or 0:.0f} s of training")
        print(f"  train −ELBO {tr['neg_elbo']:.2f} (rec {tr['rec']:.2f}, KL {tr['kl']:.2f})   "
              f"test −ELBO {te['neg_elbo']:.2f} (rec {te['rec']:.2f}, KL {te['kl']:.2f})   "
              f"active units {te['active_units']}")
        if te["bce_floor"] is not None:
            print(f"  BCE floor: train {tr['bce_floor']:.2f}, test {te['bce_floor']:.2f}; "
                  f"test −ELBO − floor = {te['neg_elbo'] - te['bce_floor']:.2f}")
        if "all" in row:
            print(f"  all 1965 faces: rec {row['all']['rec']:.3f} (floor {row['all']['bce_floor']:.3f})")
        print(f"  hidden units over all faces: {format_usage(row['units'])}")
        if "iwae_test" in row:
            print("  test IWAE −log p(x): " + "  ".join(f"k={k}: {v:.2f}" for k, v in row["iwae_test"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
