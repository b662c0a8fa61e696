"""What the latent-walk commands (traverse, interpolate, attribute) share: the start face (a data face, an
encoded photo, or z = 0), the data set's encoding, and the animated-GIF flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import (
    CliError,
    add_data_args,
    add_force,
    add_max_params,
    check_png_output,
    model_data,
    png_scale,
    positive_int,
)

if TYPE_CHECKING:  # NumPy loads only inside the commands: main() pins BLAS to one thread before that
    import numpy as np


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H) in pixels."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--size takes WIDTHxHEIGHT in pixels, e.g. 400x560, not {text!r}") from None
    return w, h


def add_gif_args(parser, what: str) -> None:
    """--gif OUT, --frames N, --frame-ms, --gif-scale, --size: an animated GIF of ``what``."""
    parser.add_argument("--gif", default=None, metavar="OUT.gif", help=f"also write {what} as an animated GIF")
    parser.add_argument("--frames", type=positive_int, default=40, help="frames of the GIF (2 … 1000)")
    parser.add_argument("--frame-ms", type=positive_int, default=80, help="how long each frame shows, ms")
    parser.add_argument("--gif-scale", type=positive_int, default=3, help="each face pixel becomes N×N GIF pixels")
    parser.add_argument("--size", default=None, metavar="WxH", help="the GIF's frame size in pixels (overrides "
                        "--gif-scale; nearest-neighbour)")


def check_gif_args(args) -> None:
    """Refuse bad GIF flags and an output that must not be replaced before any work is done."""
    from core.animation import GIF, MAX_FRAMES
    from core.safe_io import check_output

    if args.gif is None:
        return
    if not 2 <= args.frames <= MAX_FRAMES:
        raise CliError(f"--frames must be 2 … {MAX_FRAMES}, not {args.frames}")
    if args.size is not None:
        parse_size(args.size)
    check_output(args.gif, GIF, args.force, CliError)


def write_gif_of(args, frames: np.ndarray) -> None:
    """Write frames (F, H, W) uint8 to --gif with the user's frame time and size."""
    from core.animation import write_gif

    size = parse_size(args.size) if args.size else None
    try:
        write_gif(args.gif, frames, frame_ms=args.frame_ms, scale=args.gif_scale, size=size, force=args.force)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"saved {args.gif}: {len(frames)} frames, {args.frame_ms} ms each")


def add_start_args(parser) -> None:
    """Where a walk starts: --index I (a data face), --image PHOTO (encoded), or z = 0 (the default)."""
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--index", type=int, default=None, help="start at this data face's posterior mean")
    start.add_argument("--image", default=None, help="start at the posterior mean of this PNG/JPEG (your photo)")


def add_output_args(parser, what: str) -> None:
    parser.add_argument("--save", default=None, metavar="OUT.png", help=f"PNG of {what}")
    parser.add_argument("--scale", type=png_scale, default=2, help="each PNG pixel becomes N×N (at most 32)")
    add_force(parser, "PNG image or GIF animation")


class Encoded:
    """The data set of a loaded model, encoded once: images (N, D), means (N, L), logvars (N, L) or None."""

    def __init__(self, loaded, args):
        from core.evaluate import posterior_means

        view = model_data(loaded, args, quiet=True, model_alone=False)  # a non-Frey model: its recorded data
        self.images = view.images
        self.means, self.logvars = posterior_means(loaded.model, view.images)

    def face(self, index: int) -> np.ndarray:
        n = len(self.means)
        if not 0 <= index < n:
            raise CliError(f"face {index} does not exist (the data set has {n}: 0 … {n - 1})")
        return self.means[index]


def start_latent(args, loaded, encoded: Encoded | None) -> tuple[np.ndarray, str]:
    """(z0 (L,), a few words naming it) for --index / --image / neither (z = 0)."""
    import numpy as np

    model = loaded.model
    if args.image is not None:
        from core.atlas import encode_image_array

        from .encode import read_image

        return encode_image_array(model, read_image(args.image), loaded.image_shape).mean, f"the encoded {args.image}"
    if args.index is not None:
        if encoded is None:
            raise CliError("--index needs the data set")
        return encoded.face(args.index), f"face #{args.index}"
    return np.zeros(model.config.latent), "z = 0"


def add_walk_outputs(parser, png_what: str, gif_what: str) -> None:
    """What every walk command ends its flags with: --save/--scale/--force, the GIF flags, the data set and the
    parameter limit; ``run`` from the command's module."""
    add_output_args(parser, png_what)
    add_gif_args(parser, gif_what)
    add_data_args(parser)
    add_max_params(parser)


def check_walk_outputs(args, png_name: str, also: str = "") -> None:
    """Refuse a walk with nothing to write, and outputs that must not be replaced, before any work."""
    if args.save is None and args.gif is None and not also:
        raise CliError(f"nothing to do: give --save {png_name}.png and/or --gif OUT.gif")
    if args.save is not None:
        check_png_output(args.save, args.force)
    check_gif_args(args)
