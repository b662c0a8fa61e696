"""``main.py grid``: N×N faces over two latent axes, saved as one PNG and/or printed as JSON.

Axes (``--axes``): "pca" (default for more than two latent units) spans the two principal directions of the
posterior means over the data set, the other directions at the data's mean code, each axis over the aggregate
posterior's quantiles 5 %…95 %; "dims" (default for two units, or with ``--dims``) sets two raw units to
Gaussian quantiles 5 %…95 % with the others at 0, as in Kingma & Welling (2013, Fig. 4)."""

from __future__ import annotations

import json

from .common import (
    CliError,
    add_data_args,
    add_force,
    add_max_params,
    add_weights_args,
    check_png_output,
    load_weights,
    model_data,
    model_shape,
    nonneg_int,
    png_scale,
    positive_int,
)
from .walks import add_gif_args, check_gif_args, write_gif_of


def add_parser(sub) -> None:
    gr = sub.add_parser("grid", help="N×N faces over two latent axes (principal directions or units)")
    add_weights_args(gr)
    gr.add_argument("--n", type=positive_int, default=15)
    gr.add_argument("--axes", choices=("pca", "dims"), default=None,
                    help="pca: the posterior means' two principal directions (default for > 2 latent units); "
                         "dims: two latent units at Gaussian quantiles (default for 2 units)")
    gr.add_argument("--dims", type=nonneg_int, nargs=2, default=None,
                    help="the two latent units of --axes dims (default: the two with the largest posterior-mean "
                         "variance, needs data)")
    gr.add_argument("--scale", type=png_scale, default=2)
    add_data_args(gr)
    gr.add_argument("--save", default=None, help="PNG of the grid")
    gr.add_argument("--json", action="store_true",
                    help='print {"z": the grid\'s latent vectors row by row, "axes": how they were built, '
                         '"max_mahalanobis": the farthest point from the posterior means} on stdout')
    add_gif_args(gr, "the grid while a third axis (PC3, or the next most active unit) sweeps its 5 %%…95 %% range "
                     "and back")
    add_force(gr, "PNG image or GIF animation")
    add_max_params(gr)
    gr.set_defaults(run=run)


def grid_axes(args, loaded):
    """(core.explore.GridAxes, posterior means (N, L), logvars (N, L)) for the flags; the means and logvars
    are None when the data was not needed (an AE's logvars always)."""
    from core.evaluate import posterior_means
    from core.explore import default_axes, dims_axes

    model = loaded.model
    latent = model.config.latent
    if latent < 2:
        raise CliError(f"a grid needs at least two latent units (the model has {latent})")
    kind = args.axes or ("dims" if args.dims is not None or latent == 2 else "pca")
    if kind == "pca" and args.dims is not None:
        raise CliError("--dims picks units for --axes dims; leave it out with --axes pca")
    for d in args.dims or ():
        if d >= latent:
            raise CliError(f"latent dim {d} does not exist (the model has {latent})")
    means = logvars = None
    view = model_data(loaded, args, args.json) if args.dims is None or args.json or args.gif else None
    if view is not None:  # default axes, --json's distances, the sweep's axis; None: the model alone
        means, logvars = posterior_means(model, view.images)
    elif args.axes is None:
        kind = "dims"  # no data to take principal directions from: the first two units
    if kind == "dims" and args.dims is not None:
        return dims_axes(latent, args.dims[0], args.dims[1], args.n), means, logvars
    return default_axes(model, means, logvars, args.n, kind), means, logvars


def run(args) -> int:
    from core.backend import to_numpy
    from core.explore import decode_grid, mahalanobis
    from core.images import mosaic, write_png

    if args.save is None and not args.json and args.gif is None:
        raise CliError("nothing to do: give --save GRID.png, --gif OUT.gif and/or --json")
    if args.save is not None:
        check_png_output(args.save, args.force)
    check_gif_args(args)
    loaded = load_weights(args.weights, max_params=args.max_params)
    model = loaded.model
    axes, means, logvars = grid_axes(args, loaded)
    if args.save is not None:
        faces = to_numpy(decode_grid(model, axes))
        write_png(args.save, mosaic(faces.reshape(-1, faces.shape[-1]), ncols=args.n, image_shape=model_shape(loaded)),
                  scale=args.scale, force=args.force)
    if args.gif is not None:
        write_gif_of(args, _sweep_frames(args, loaded, axes, means, logvars))
    if args.json:
        points = axes.points()
        report = {"z": points.tolist(), "axes": axes.to_json()}
        if means is not None:
            report["max_mahalanobis"] = float(mahalanobis(points, means).max())
        print(json.dumps(report))
    elif args.save is not None:
        what = "principal directions of the posterior means" if axes.kind == "pca" else "latent units"
        print(f"saved {args.save}: {args.n}×{args.n} grid, {axes.names[0]} down the rows and {axes.names[1]} across "
              f"the columns ({what})")
    return 0


def _sweep_frames(args, loaded, axes, means, logvars):
    """The grid animation's frames: a third axis swept while the grid's two stay."""
    from core.animation import grid_sweep_frames
    from core.explore import third_axis

    try:
        direction, lo, hi, name = third_axis(axes, means, logvars)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"sweeping {name} from {lo:.2f} to {hi:.2f} and back")
    return grid_sweep_frames(loaded.model, axes, direction, lo, hi, args.frames, model_shape(loaded))
