"""``main.py sample``: faces decoded from z ~ N(0, I), saved as one PNG."""

from __future__ import annotations

from .common import (
    add_force,
    add_max_params,
    add_weights_args,
    check_png_output,
    load_weights,
    model_shape,
    png_scale,
    positive_int,
    seed,
)


def add_parser(sub) -> None:
    s = sub.add_parser("sample", help="faces decoded from z ~ N(0, I)")
    add_weights_args(s)
    s.add_argument("--n", type=positive_int, default=16)
    s.add_argument("--ncols", type=positive_int, default=8)
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--scale", type=png_scale, default=3, help="PNG pixels per face pixel (at most 32)")
    s.add_argument("--save", required=True)
    add_force(s, "PNG image")
    add_max_params(s)
    s.set_defaults(run=run)


def run(args) -> int:
    from core.images import mosaic, write_png
    from core.train import sample_faces

    check_png_output(args.save, args.force)
    loaded = load_weights(args.weights, max_params=args.max_params)
    faces = sample_faces(loaded.model, args.n, seed=args.seed)
    picture = mosaic(faces, ncols=min(args.ncols, args.n), image_shape=model_shape(loaded))
    write_png(args.save, picture, scale=args.scale, force=args.force)
    print(f"saved {args.save}: {args.n} faces decoded from z ~ N(0, I), seed {args.seed}")
    return 0
