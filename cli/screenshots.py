"""``main.py screenshots``: open the GUI offscreen and save one PNG per panel."""

from __future__ import annotations

from .common import positive_int


def add_parser(sub) -> None:
    sc = sub.add_parser("screenshots", help="open the GUI offscreen and save one PNG per panel")
    sc.add_argument("dir")
    sc.add_argument("--data", default=None)
    sc.add_argument("--steps", type=positive_int, default=300, help="length of the short training run shown")
    sc.set_defaults(run=run)


def run(args) -> int:
    from vae_gui.app import take_screenshots

    return take_screenshots(args.dir, data=args.data, steps=args.steps)

