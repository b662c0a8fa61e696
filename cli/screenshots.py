"""``main.py screenshots``: open the GUI offscreen and save one PNG per panel.

Only the parser and the checks live here (cli/ imports core, never vae_gui): ``main.run_window`` takes the
pictures with ``window_args``.
"""

from __future__ import annotations

import argparse

from .common import CliError, add_data_args, add_force, check_png_output, positive_int


def add_parser(sub) -> None:
    sc = sub.add_parser("screenshots", help="open the GUI offscreen and save one PNG per panel")
    sc.add_argument("dir")
    add_data_args(sc)
    sc.add_argument("--steps", type=positive_int, default=300, help="length of the short training run shown")
    sc.add_argument("--size", type=_size, default=(1366, 768), metavar="WxH",
                    help="window size of every picture (default 1366x768)")
    add_force(sc, "PNG image")
    sc.set_defaults(run=None, window="screenshots")


def _size(text: str) -> tuple[int, int]:
    from core.parsing import parse_window_size

    try:
        return parse_window_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def window_args(args, shot_paths) -> dict:
    """The keyword arguments of vae_gui.screenshots.take_screenshots, after refusing (one line, exit 2) an image
    shape or an output path before any window opens; ``shot_paths(dir)`` lists the files it will write."""
    from core.dataset_io import parse_image_shape

    try:
        shape = parse_image_shape(args.image_shape) if args.image_shape else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for path in shot_paths(args.dir):
        check_png_output(path, args.force)
    return {"data": args.data, "steps": args.steps, "size": args.size, "image_shape": shape, "force": args.force}
