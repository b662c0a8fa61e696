"""``main.py gui`` (and ``main.py`` without a subcommand): open the window."""

from __future__ import annotations

from .common import add_weights_args


def add_parser(sub) -> None:
    gui = sub.add_parser("gui", help="open the GUI (same as no subcommand)")
    gui.add_argument("--data", default=None)
    add_weights_args(gui, required=False)
    gui.set_defaults(run=run)


def run(args) -> int:
    import os

    from vae_gui.app import run_gui

    weights = getattr(args, "weights", None)
    # --run ID@STEP is looked up here, so an unknown run is one line before any window opens
    return run_gui(data=getattr(args, "data", None), weights=os.fspath(weights) if weights else None)
