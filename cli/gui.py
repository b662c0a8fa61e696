"""``main.py gui`` (and ``main.py`` without a subcommand): open the window."""

from __future__ import annotations


def add_parser(sub) -> None:
    gui = sub.add_parser("gui", help="open the GUI (same as no subcommand)")
    gui.add_argument("--data", default=None)
    gui.add_argument("--weights", default=None)
    gui.set_defaults(run=run)


def run(args) -> int:
    from vae_gui.app import run_gui

    return run_gui(data=getattr(args, "data", None), weights=getattr(args, "weights", None))
