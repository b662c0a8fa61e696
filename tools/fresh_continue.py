"""−ELBO of a model saved without optimiser state (default model/vae_gauss.npz) before and after continuing it
with a fresh optimiser, with and without the learning-rate warm-up (issue 23, item 1).

    OPENBLAS_NUM_THREADS=1 python tools/fresh_continue.py [--model F.npz] [--warmups 0 1000] [--steps 100 1000 3000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.checkpoint import load_model  # noqa: E402
from core.data import find_data  # noqa: E402
from core.dataset import frey_dataset  # noqa: E402
from core.evaluate import neg_elbo  # noqa: E402
from core.run import TrainingRun  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="model/vae_gauss.npz")
    p.add_argument("--warmups", type=int, nargs="+", default=[0, 1000])
    p.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 3000])
    args = p.parse_args()
    dataset = frey_dataset(find_data(None))
    base = load_model(args.model)
    view, _ = base.data_view(dataset)
    print(f"{args.model}: step {base.model.step}, lr {base.settings.learning_rate:g}, "
          f"optimiser state {'yes' if base.optimizer_state is not None else 'no'}")
    print(f"before: train −ELBO {neg_elbo(base.model, view.split('train')):.1f}  "
          f"test −ELBO {neg_elbo(base.model, view.split('test')):.1f}")
    for warmup in args.warmups:
        for n in args.steps:
            run = TrainingRun.resume(base.copy(), dataset, {"steps": base.model.step + n, "lr_warmup_steps": warmup},
                                     fresh_optimizer=True)
            logged: list[float] = []
            result = run.run(on_log=lambda stats, out=logged: out.append(stats["total"]))
            print(f"lr warm-up {warmup:4d}, {n:4d} steps: {result.status}; worst logged batch −ELBO "
                  f"{max(logged):.1f}; after: train −ELBO {neg_elbo(run.model, view.split('train')):.1f}  "
                  f"test −ELBO {neg_elbo(run.model, view.split('test')):.1f}", flush=True)


if __name__ == "__main__":
    main()
