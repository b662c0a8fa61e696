"""``main.py screenshots``: open the GUI offscreen and save one PNG per panel."""

from __future__ import annotations

from .common import CliError, add_data_args, add_force, check_png_output, positive_int


def add_parser(sub) -> None:
    sc = sub.add_parser("screenshots", help="open the GUI offscreen and save one PNG per panel")
    sc.add_argument("dir")
    add_data_args(sc)
    sc.add_argument("--steps", type=positive_int, default=300, help="length of the short training run shown")
    sc.add_argument("--size", type=_size, default=(1366, 768), metavar="WxH",
                    help="window size of every picture (default 1366x768)")
    add_force(sc, "PNG image")
    sc.set_defaults(run=run)


def _size(text: str) -> tuple[int, int]:
    import argparse

    from vae_gui.screenshots import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args) -> int:
    from core.dataset_io import parse_image_shape
    from vae_gui.screenshots import shot_paths, take_screenshots

    try:
        shape = parse_image_shape(args.image_shape) if args.image_shape else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for path in shot_paths(args.dir):  # refused before the window opens, one line on stderr, exit 2
        check_png_output(path, args.force)
    return take_screenshots(args.dir, data=args.data, steps=args.steps, size=args.size, image_shape=shape,
                            force=args.force)

