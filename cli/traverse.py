"""``main.py traverse``: a traversal sheet around one face: rows are latent units sorted by KL (or the principal
directions of the posterior means), columns move that face −3σ … +3σ along each (σ: the codes' standard
deviation along the row's direction). PNG, and an animated GIF of all rows moving together."""

from __future__ import annotations

from .common import CliError, add_weights_args, load_weights, model_shape, positive_int
from .walks import Encoded, add_start_args, add_walk_outputs, check_walk_outputs, start_latent, write_gif_of


def add_parser(sub) -> None:
    p = sub.add_parser("traverse", help="traversal sheet: each latent unit (or principal direction) moved −3σ … +3σ "
                       "around a face; PNG and/or animated GIF")
    add_weights_args(p)
    add_start_args(p)
    p.add_argument("--axes", choices=("units", "pca"), default="units",
                   help="rows: latent units sorted by KL (default) or principal directions of the posterior means")
    p.add_argument("--rows", type=positive_int, default=10, help="how many units / directions (default 10)")
    p.add_argument("--cols", type=positive_int, default=9, help="faces per row, −span … +span (default 9)")
    p.add_argument("--span", type=float, default=3.0, help="the walk reaches ±span standard deviations (default 3)")
    add_walk_outputs(p, "the sheet", "the traversal (every row's face moving −span … +span and back)")
    p.set_defaults(run=run)


def run(args) -> int:
    import numpy as np

    from core.animation import decode_frames, face_frames, traversal_path
    from core.backend import to_numpy
    from core.explore import traversal_rows, traversal_sheet
    from core.images import mosaic, write_png

    check_walk_outputs(args, "SHEET")
    if not 0 < args.span <= 10:
        raise CliError(f"--span must be in (0, 10], not {args.span}")
    loaded = load_weights(args.weights, max_params=args.max_params)
    model, shape = loaded.model, model_shape(loaded)
    encoded = Encoded(loaded, args)
    z0, where = start_latent(args, loaded, encoded)
    rows = traversal_rows(encoded.means, encoded.logvars, args.axes, args.rows)
    if args.save is not None:
        z = traversal_sheet(z0, rows, args.cols, args.span)
        faces = to_numpy(model.decode(z.reshape(-1, z.shape[-1])))
        write_png(args.save, mosaic(faces, ncols=args.cols, image_shape=shape), scale=args.scale, force=args.force)
        print(f"saved {args.save}: {len(rows.names)} rows × {args.cols} columns around {where}, −{args.span:g}σ … "
              f"+{args.span:g}σ")
    for name, score, sd in zip(rows.names, rows.scores, rows.sds, strict=True):
        print(f"  {name:>5}  {rows.score_name} {score:9.3f}   σ {sd:.3f}")
    if args.gif is not None:
        path = traversal_path(z0, rows.directions, rows.sds, args.frames, args.span)
        ncols = int(np.ceil(np.sqrt(len(rows.names))))
        write_gif_of(args, face_frames(decode_frames(model, path), shape, ncols))
    return 0
