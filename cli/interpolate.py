"""``main.py interpolate``: decoded faces on the path from face A's posterior mean to face B's (straight line, or
the great-circle arc with --slerp): a PNG strip and/or an animated GIF of the morph."""

from __future__ import annotations

from .common import CliError, add_weights_args, load_weights, model_shape, positive_int
from .walks import Encoded, add_walk_outputs, check_walk_outputs, write_gif_of


def add_parser(sub) -> None:
    p = sub.add_parser("interpolate", help="faces on the path between two faces' codes; PNG strip and/or GIF")
    add_weights_args(p)
    p.add_argument("--from", dest="a", type=int, required=True, metavar="A", help="data face at the start")
    p.add_argument("--to", dest="b", type=int, required=True, metavar="B", help="data face at the end")
    p.add_argument("--steps", type=positive_int, default=10, help="faces in the PNG strip, both ends included")
    p.add_argument("--slerp", action="store_true", help="the great-circle arc instead of the straight line")
    add_walk_outputs(p, "the strip", "the morph from A to B")
    p.set_defaults(run=run)


def run(args) -> int:
    from core.animation import decode_frames, face_frames, interpolation_path
    from core.images import mosaic, write_png

    check_walk_outputs(args, "STRIP")
    if args.steps < 2:
        raise CliError("--steps must be at least 2 (both ends)")
    loaded = load_weights(args.weights, max_params=args.max_params)
    model, shape = loaded.model, model_shape(loaded)
    encoded = Encoded(loaded, args)
    z_a, z_b = encoded.face(args.a), encoded.face(args.b)
    how = "great-circle arc" if args.slerp else "straight line"
    if args.save is not None:
        faces = decode_frames(model, interpolation_path(z_a, z_b, args.steps, args.slerp))[:, 0]
        write_png(args.save, mosaic(faces, ncols=args.steps, image_shape=shape), scale=args.scale, force=args.force)
        print(f"saved {args.save}: {args.steps} faces on the {how} from face #{args.a} to face #{args.b}")
    if args.gif is not None:
        path = interpolation_path(z_a, z_b, args.frames, args.slerp)
        write_gif_of(args, face_frames(decode_frames(model, path), shape, 1))
    return 0
