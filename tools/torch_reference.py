"""PyTorch reference trainer for the VAE Explorer models (development only; the product never imports torch).

Trains the same architecture as core.models (ReLU MLP encoder/decoder, Gaussian posterior, sigmoid
decoder mean, Bernoulli or learned-variance Gaussian likelihood) on the same fixed train/test split,
with torch's own initialisation, and prints train/test −ELBO and KL (nats per image, one z per image)
every ``--eval-every`` steps, so the engine's numbers in docs/RESULTS.md have an independent baseline.

    .venv/bin/python tools/torch_reference.py --likelihood bernoulli --hidden 256 --latent 16 \
        --batch-size 64 --steps 60000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent

from core.data import ensure_data, load_frey, split_indices  # noqa: E402
from core.evaluate import bce_floor  # noqa: E402

LOG_2PI = float(np.log(2 * np.pi))


class TorchVAE(nn.Module):
    """560 → hidden (ReLU) → (mean, logvar) → hidden (ReLU) → 560 logits (+ 560 log-variances)."""

    def __init__(self, hidden: int, latent: int, likelihood: str):
        super().__init__()
        self.likelihood = likelihood
        self.enc = nn.Linear(560, hidden)
        self.mean = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Linear(latent, hidden)
        self.out = nn.Linear(hidden, 560)
        self.out_logvar = nn.Linear(hidden, 560) if likelihood == "gaussian-learned" else None

    def losses(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rec (N,), KL (N,)) in nats with every constant included."""
        h = torch.relu(self.enc(x))
        mean, logvar = self.mean(h), self.logvar(h)
        z = mean + torch.exp(0.5 * logvar) * eps
        d = torch.relu(self.dec(z))
        logits = self.out(d)
        if self.likelihood == "bernoulli":
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        else:
            out_logvar = self.out_logvar(d)
            diff = torch.sigmoid(logits) - x
            rec = 0.5 * (LOG_2PI + out_logvar + diff * diff * torch.exp(-out_logvar)).sum(1)
        kl = 0.5 * (mean * mean + torch.exp(logvar) - 1.0 - logvar).sum(1)
        return rec, kl


@torch.no_grad()
def evaluate(model: TorchVAE, X: torch.Tensor, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(X.shape[0], model.mean.out_features, generator=gen, dtype=X.dtype)
    rec, kl = model.losses(X, eps)
    return {"neg_elbo": float((rec + kl).mean()), "rec": float(rec.mean()), "kl": float(kl.mean())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian-learned"], default="bernoulli")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0, help="torch.optim.Adam's (L2) weight_decay")
    p.add_argument("--steps", type=int, default=60000)
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the evaluation history here")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    X = load_frey(ensure_data(None))
    train_ids, test_ids = split_indices()
    X_train = torch.tensor(X[train_ids])
    X_test = torch.tensor(X[test_ids])
    model = TorchVAE(args.hidden, args.latent, args.likelihood)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    rng = np.random.default_rng(args.seed)
    n = len(X_train)
    history = []
    if args.likelihood == "bernoulli":
        print(f"BCE floor: train {bce_floor(X[train_ids]):.2f}  test {bce_floor(X[test_ids]):.2f}")
    t0 = time.perf_counter()
    perm, pos = rng.permutation(n), 0
    for step in range(1, args.steps + 1):
        if pos + args.batch_size > n:
            perm, pos = rng.permutation(n), 0
        xb = X_train[perm[pos : pos + args.batch_size]]
        pos += args.batch_size
        rec, kl = model.losses(xb, torch.randn(xb.shape[0], args.latent))
        loss = (rec + kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            tr, te = evaluate(model, X_train), evaluate(model, X_test)
            row = {"step": step, "seconds": time.perf_counter() - t0, "train": tr, "test": te}
            history.append(row)
            print(f"step {step:>6}  train −ELBO {tr['neg_elbo']:9.2f} (KL {tr['kl']:6.2f})  "
                  f"test −ELBO {te['neg_elbo']:9.2f} (KL {te['kl']:6.2f})  {row['seconds']:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "history": history}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
