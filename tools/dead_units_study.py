"""Why first-layer units die: short training runs that change one setting at a time from a baseline.

Each run trains a model on the training split less its last 177 faces (the validation part), and records
after 0 steps and at every ``--at`` step the dead and rare first-layer units over all 1965 faces
(``tools/unit_usage.py``) and the validation −ELBO. The numbers go to docs/RESULTS.md.

    OPENBLAS_NUM_THREADS=1 nice -n 15 .venv/bin/python tools/dead_units_study.py \
        --base '{"kind": "vae", "hidden": [256], "latent": 16}' --at 1000 5000 \
        --vary '{"lr": 3e-4}' '{"init": "torch"}' '{"eps": 1e-4}' --json /tmp/study.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from core.data import ensure_data, load_frey, split_indices
from core.evaluate import neg_elbo
from core.models import Model, ModelConfig
from core.optim import make_optimizer
from core.train import Trainer
from tools.unit_usage import unit_usage

VAL_SIZE = 177
# settings of the run itself; every other key of a setting dict is a ModelConfig field
RUN_KEYS = {"lr": 1e-3, "eps": 1e-8, "batch_size": 64, "weight_decay": 0.0, "seed": 0, "bias_init": "zero",
            "out_bias": "zero", "optimizer": "adam", "centre": False}


class CentredModel(Model):
    """Study only, not in the engine: the first layer sees x − (mean training face), so Adam's steps on its
    weights no longer move a unit's pre-activation alike for every face. ``plain()`` folds the centre into
    enc0.b (b − centre·W): the same function as an ordinary Model."""

    centre: np.ndarray

    def _encoder_forward(self, x, *args, **kwargs):
        return super()._encoder_forward(x - self.asarray(self.centre), *args, **kwargs)

    def plain(self) -> Model:
        folded = self.copy()
        folded.params["enc0.b"][...] -= self.asarray(self.centre) @ self.params["enc0.W"]
        return folded



def init_first_biases(model, X: np.ndarray, how: str) -> None:
    """Set enc0.b so that each unit starts at pre-activation 0 on the median face ('median': median over the
    training faces X of w·x) or on the mid-grey image ('midgrey': w·0.5); 'zero' leaves the zero biases."""
    W = model.params["enc0.W"]
    if how == "median":
        model.params["enc0.b"][...] = -np.median(X @ W, axis=0)
    elif how == "midgrey":
        model.params["enc0.b"][...] = -0.5 * W.sum(axis=0)


def run_one(setting: dict, X: np.ndarray, checkpoints: list[int]) -> dict:
    """Train one setting; {setting, at: [{step, enc0_dead, enc0_rare, dead, val_neg_elbo}], seconds}."""
    run = {k: setting.get(k, v) for k, v in RUN_KEYS.items()}
    model_fields = {k: v for k, v in setting.items() if k not in RUN_KEYS}
    train_ids, test_ids = split_indices()
    fit, val = X[train_ids[:-VAL_SIZE]], X[train_ids[-VAL_SIZE:]]
    model = (CentredModel if run["centre"] else Model)(ModelConfig(**model_fields), seed=run["seed"])
    if run["centre"]:
        model.centre = fit.mean(axis=0)
    init_first_biases(model, fit, run["bias_init"])
    if run["out_bias"] == "mean":  # the decoder starts at the mean face: logit of each pixel's mean
        mean = np.clip(fit.mean(axis=0), 1e-3, 1 - 1e-3)
        model.params["out.b"][...] = np.log(mean / (1 - mean))
    hyper = {"eps": run["eps"]} if run["optimizer"] != "sgd" else {}
    opt = make_optimizer(run["optimizer"], model, run["lr"], **hyper)
    trainer = Trainer(model, opt, fit, batch_size=run["batch_size"], seed=run["seed"], log_every=1000,
                      eval_every=0, weight_decay=run["weight_decay"])
    rows, t0 = [], time.perf_counter()
    for target in [0, *checkpoints]:
        while model.step < target:
            trainer.step()
        plain = model.plain() if run["centre"] else model
        usage = unit_usage(plain, X)
        rows.append({"step": target, "enc0_dead": usage[0]["dead"], "enc0_rare": usage[0]["rare"],
                     "enc0_tiny": usage[0]["tiny_weights"], "usage": usage, "val_neg_elbo": neg_elbo(plain, val),
                     "test_neg_elbo": neg_elbo(plain, X[test_ids])})
        print(f"  step {target:>6}: enc0 {usage[0]['dead']}/{usage[0]['units']} dead, {usage[0]['rare']} rare, "
              f"{usage[0]['tiny_weights']} tiny; val −ELBO {rows[-1]['val_neg_elbo']:.2f} "
              f"(test {rows[-1]['test_neg_elbo']:.2f}); {time.perf_counter() - t0:.0f} s", flush=True)
    return {"setting": setting, "at": rows, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=json.loads, required=True, help="baseline setting (JSON)")
    p.add_argument("--vary", type=json.loads, nargs="*", default=[], help="changes to the baseline (JSON each)")
    p.add_argument("--at", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    X = load_frey(ensure_data(None))
    results = []
    for change in [{}, *args.vary]:
        setting = {**args.base, **change}
        print(json.dumps(change) or "baseline", flush=True)
        results.append(run_one(setting, X, args.at))
        if args.json:  # after every run, so a long study can be read while it goes on
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
