"""``main.py attribute``: an attribute vector from two groups of faces (mean code of --to minus mean code of
--from), applied to a face: a PNG strip of that face moved −max … +max times the direction, optionally stored
in the model file under a name (``--store NAME``) or read from it (``--use NAME``)."""

from __future__ import annotations

from .common import CliError, add_weights_args, load_weights, model_shape, positive_int
from .walks import Encoded, add_walk_outputs, check_walk_outputs, start_latent, write_gif_of


def add_parser(sub) -> None:
    p = sub.add_parser("attribute", help="attribute vector from two groups of faces (e.g. neutral → smiling), applied "
                       "to a face; PNG strip / GIF, stored in the model file by name")
    add_weights_args(p)
    p.add_argument("--from", dest="from_ids", type=int, nargs="+", default=None, metavar="IDX",
                   help="faces without the attribute")
    p.add_argument("--to", dest="to_ids", type=int, nargs="+", default=None, metavar="IDX",
                   help="faces with the attribute")
    p.add_argument("--use", default=None, metavar="NAME", help="a direction stored in the model file")
    p.add_argument("--store", default=None, metavar="NAME", help="store the new direction in the model file")
    p.add_argument("--apply", dest="index", type=int, default=None, metavar="IDX",
                   help="the data face to move (or --image PHOTO; default z = 0)")
    p.add_argument("--image", default=None, help="move the posterior mean of this PNG/JPEG (your photo) instead")
    p.add_argument("--steps", type=positive_int, default=7, help="faces in the strip (default 7)")
    p.add_argument("--max", dest="max_amount", type=float, default=1.5,
                   help="the strip runs from −max to +max times the direction (default 1.5)")
    add_walk_outputs(p, "the strip", "the face moving −max … +max along the direction and back")
    p.set_defaults(run=run)


def _attribute(args, loaded, encoded):
    from core import attributes

    stored = attributes.from_meta(loaded.other, loaded.model.config.latent)  # meta keys the record keeps as they are
    if args.use is not None:
        if args.from_ids or args.to_ids:
            raise CliError("--use reads a stored direction; leave out --from/--to")
        if args.use not in stored:
            names = ", ".join(sorted(stored)) or "none"
            raise CliError(f"{args.weights} has no direction named {args.use!r} (stored: {names})")
        return stored[args.use], stored
    if not args.from_ids or not args.to_ids:
        raise CliError("give both groups, --from IDX… and --to IDX… (or --use NAME)")
    try:
        return attributes.make_attribute(args.store or "attribute", encoded.means, args.from_ids, args.to_ids), stored
    except ValueError as exc:
        raise CliError(str(exc)) from None


def run(args) -> int:
    import numpy as np

    from core import attributes
    from core.animation import decode_frames, face_frames, sweep
    from core.images import mosaic, write_png

    if args.index is not None and args.image is not None:
        raise CliError("--apply and --image both choose the face to move: give one")
    check_walk_outputs(args, "STRIP", also=args.store or "")
    if args.store is not None:
        try:
            attributes.check_name(args.store)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    loaded = load_weights(args.weights, max_params=args.max_params)
    model, shape = loaded.model, model_shape(loaded)
    encoded = Encoded(loaded, args)
    attribute, stored = _attribute(args, loaded, encoded)
    z0, where = start_latent(args, loaded, encoded)
    along = attributes.project(encoded.means, attribute)
    length = np.linalg.norm(attribute.direction)
    print(f"direction {attribute.name!r}: length {length:.3f}, from {len(attribute.from_ids)} faces to "
          f"{len(attribute.to_ids)}; the data set spans {along.min():.2f} … {along.max():.2f} along it")
    if args.save is not None:
        amounts = np.linspace(-args.max_amount, args.max_amount, args.steps)
        faces = decode_frames(model, attributes.move_along(z0, attribute, amounts)[:, None, :])[:, 0]
        write_png(args.save, mosaic(faces, ncols=args.steps, image_shape=shape), scale=args.scale, force=args.force)
        print(f"saved {args.save}: {where} moved {-args.max_amount:g} … {args.max_amount:g} × {attribute.name!r}")
    if args.gif is not None:
        path = attributes.move_along(z0, attribute, sweep(-args.max_amount, args.max_amount, args.frames))
        write_gif_of(args, face_frames(decode_frames(model, path[:, None, :]), shape, 1))
    if args.store is not None:
        attributes.store(args.weights, {**stored, attribute.name: attribute})
        print(f"stored the direction {attribute.name!r} in {args.weights}")
    return 0
