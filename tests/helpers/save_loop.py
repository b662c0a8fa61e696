"""Child process for the kill-during-save test: saves versions first, first+1, ... of one model
file in a loop, printing ``saved K`` after each save returns. Version K has every parameter and
every optimiser state entry equal to K and ``step == K``, so a reader can tell a complete
version from a torn one.

    python tests/helpers/save_loop.py PATH FIRST_VERSION
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.checkpoint import save_model  # noqa: E402
from core.models import Model, ModelConfig  # noqa: E402
from core.optim import make_optimizer  # noqa: E402

# ~580k parameters: each save writes ~7 MB (weights + Adam's m and v), long enough to be killed inside
HIDDEN = 512


def main() -> None:
    path, version = Path(sys.argv[1]), int(sys.argv[2])
    model = Model(ModelConfig(kind="vae", hidden=[HIDDEN], latent=8))
    optimizer = make_optimizer("adam", model)
    while True:
        model.flat[...] = version
        optimizer.m[...] = version
        optimizer.v[...] = version
        model.step = version
        save_model(path, model, optimizer)
        print(f"saved {version}", flush=True)
        version += 1


if __name__ == "__main__":
    main()
