"""Copy a trained model file without its optimiser state, for shipping under model/.

Adam's two moment vectors triple a file's size (a 256/16 VAE: 3.6 MB → 1.2 MB); a shipped model
is for exploring, not for resuming. A model trained with ``--centre-inputs`` is shipped with the centre
folded into the first layer's bias (``core.models.folded``): the same function in the plain layout.
The meta (config, steps, training settings and seconds) is kept, and ``--command`` (repeatable, in
order) records the exact training command(s) as meta["commands"] when the file does not hold them.

    .venv/bin/python tools/ship_model.py /tmp/vae.npz model/vae.npz --command "main.py train ... --out /tmp/vae.npz"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from core.checkpoint import load_model, save_record  # noqa: E402
from core.models import folded  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--command", action="append", default=[], help="a training command, as typed (repeatable)")
    args = p.parse_args(argv)
    loaded = load_model(args.source)
    state = loaded.optimizer_state or {}
    optimizer = {k: v for k, v in state.items() if not hasattr(v, "shape")} if state else None
    centred = loaded.model.config.input_centre is not None
    loaded.other["shipped_from"] = {"file": Path(args.source).name, "optimizer": optimizer,
                                    "input_centre_folded_into_enc0_b": centred}
    if args.command and not loaded.provenance.commands:
        loaded.provenance.commands = list(args.command)
    steps = loaded.model.step
    loaded.model, loaded.optimizer_state = folded(loaded.model), None  # shipped for use: no optimiser state
    path = save_record(args.dest, loaded)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {loaded.model.config.describe()}, {steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
