"""Measure the resident memory of a long training run (not part of the test suite).

    OPENBLAS_NUM_THREADS=1 python tests/helpers/measure_memory.py [STEPS] [HIDDEN] [LATENT]

Trains a VAE on the Frey faces exactly as the CLI does (Trainer with logging every 100 steps
and a test −ELBO every 1000) and prints VmRSS from /proc/self/status before training, after a
warm-up and every STEPS/10 steps, plus the peak (VmHWM). Results go in docs/RELIABILITY.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core.data import ensure_data, load_frey, split_indices  # noqa: E402
from core.models import Model, ModelConfig  # noqa: E402
from core.optim import make_optimizer  # noqa: E402
from core.train import Trainer  # noqa: E402

WARMUP = 500


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory of this process in MB (VmRSS now, or VmHWM: the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    latent = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    X = load_frey(ensure_data(None, allow_download=False))
    train_ids, test_ids = split_indices()
    model = Model(ModelConfig(kind="vae", hidden=[hidden], latent=latent))
    trainer = Trainer(model, make_optimizer("adam", model), X[train_ids], X[test_ids],
                      log_every=100, eval_every=1000)
    print(f"VAE 560-{hidden}-{latent}, {steps} steps; RSS before training {rss_mb():.1f} MB", flush=True)
    trainer.run(WARMUP)
    start = rss_mb()
    print(f"after {WARMUP} warm-up steps: RSS {start:.1f} MB", flush=True)
    t0 = time.perf_counter()
    chunk = steps // 10
    for _ in range(10):
        result = trainer.run(chunk)
        print(f"step {model.step:>6}: RSS {rss_mb():.1f} MB  loss {trainer.history['total'][-1]:.1f}  "
              f"status {result.status}  {time.perf_counter() - t0:.0f} s", flush=True)
    end = rss_mb()
    print(f"RSS start {start:.1f} MB, end {end:.1f} MB, growth {end - start:+.1f} MB, "
          f"peak {rss_mb('VmHWM'):.1f} MB, {len(trainer.history['step'])} logged points", flush=True)


if __name__ == "__main__":
    main()
