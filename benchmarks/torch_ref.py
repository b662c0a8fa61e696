"""The same AE/VAE written in PyTorch (autograd), for the throughput comparison only.

Benchmark-only: the product never imports torch. The networks copy their weights from one of
our models, so both sides start from identical parameters and compute the identical objective:
mean over the batch of Bernoulli NLL from logits (+ KL for the VAE).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class TorchAutoencoder(nn.Module):
    """560-H-L-H-560 ReLU net; ``kind`` 'vae' has mean/logvar heads, 'ae' a ReLU code layer."""

    def __init__(self, kind: str, input_dim: int, hidden: int, latent: int):
        super().__init__()
        self.kind = kind
        self.enc = nn.Linear(input_dim, hidden)
        if kind == "vae":
            self.mean = nn.Linear(hidden, latent)
            self.logvar = nn.Linear(hidden, latent)
        else:
            self.code = nn.Linear(hidden, latent)
        self.dec = nn.Linear(latent, hidden)
        self.out = nn.Linear(hidden, input_dim)

    def loss(self, x: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
        """Batch mean of the negative ELBO (VAE) or of the Bernoulli NLL (AE)."""
        h = F.relu(self.enc(x))
        if self.kind == "vae":
            mean, logvar = self.mean(h), self.logvar(h)
            z = mean + torch.exp(0.5 * logvar) * eps
            kl = 0.5 * (mean * mean + logvar.exp() - 1.0 - logvar).sum()
        else:
            z, kl = F.relu(self.code(h)), 0.0
        logits = self.out(F.relu(self.dec(z)))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        return (rec + kl) / x.shape[0]


def from_engine(model) -> TorchAutoencoder:
    """A float32 torch copy of one of our one-hidden-layer Bernoulli models (W transposed: torch is (out, in))."""
    cfg = model.config
    net = TorchAutoencoder(cfg.kind, cfg.input_dim, cfg.hidden[0], cfg.latent)
    names = {"enc": "enc0", "dec": "dec0", "out": "out", "mean": "mean", "logvar": "logvar", "code": "code"}
    with torch.no_grad():
        for module_name, module in net.named_children():
            ours = names[module_name]
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(model.params[f"{ours}.W"].T, dtype=np.float32)))
            module.bias.copy_(torch.from_numpy(np.asarray(model.params[f"{ours}.b"], dtype=np.float32)))
    return net
