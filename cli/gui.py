"""``main.py gui`` (and ``main.py`` without a subcommand): open the window.

Only the parser lives here: cli/ imports core, never vae_gui, so ``main.run_window`` (main.py is the one module
above both) opens the window with these arguments.
"""

from __future__ import annotations

from .common import add_weights_args


def add_parser(sub) -> None:
    gui = sub.add_parser("gui", help="open the GUI (same as no subcommand)")
    gui.add_argument("--data", default=None)
    add_weights_args(gui, required=False)
    gui.set_defaults(run=None, window="gui")


def window_args(args) -> dict:
    """The keyword arguments of vae_gui.app.run_gui for these arguments."""
    import os

    weights = getattr(args, "weights", None)  # --run ID@STEP was looked up by its flag type: one line if unknown
    return {"data": getattr(args, "data", None), "weights": os.fspath(weights) if weights else None}
