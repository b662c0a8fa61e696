"""``main.py grid``: N×N faces over two latent dims at Gaussian quantiles, saved as one PNG."""

from __future__ import annotations

from .common import (
    CliError,
    add_data_args,
    add_force,
    add_max_params,
    check_png_output,
    data_for,
    load_weights,
    model_shape,
    nonneg_int,
    positive_int,
)


def add_parser(sub) -> None:
    gr = sub.add_parser("grid", help="N×N faces over two latent dims at Gaussian quantiles")
    gr.add_argument("--weights", required=True)
    gr.add_argument("--n", type=positive_int, default=15)
    gr.add_argument("--dims", type=nonneg_int, nargs=2, default=None,
                    help="the two latent dims (default: the two with the largest posterior-mean variance, needs data)")
    gr.add_argument("--scale", type=positive_int, default=2)
    add_data_args(gr)
    gr.add_argument("--save", required=True)
    add_force(gr, "PNG image")
    add_max_params(gr)
    gr.set_defaults(run=run)


def _dims(args, loaded) -> list[int]:
    from core.evaluate import posterior_means
    from core.explore import most_active_dims

    model = loaded.model
    if args.dims is None:
        view, _ = data_for(loaded, args)
        mean, _ = posterior_means(model, view.images)
        dims = most_active_dims(mean, 2)
    else:
        dims = list(args.dims)
    for d in dims:
        if d >= model.config.latent:
            raise CliError(f"latent dim {d} does not exist (the model has {model.config.latent})")
    return dims


def run(args) -> int:
    from core.backend import to_numpy
    from core.explore import latent_grid
    from core.images import mosaic, write_png

    check_png_output(args.save, args.force)
    loaded = load_weights(args.weights, max_params=args.max_params)
    model = loaded.model
    dims = _dims(args, loaded)
    faces = to_numpy(latent_grid(model, dims[0], dims[1], args.n))
    write_png(args.save, mosaic(faces.reshape(-1, faces.shape[-1]), ncols=args.n, image_shape=model_shape(loaded)),
              scale=args.scale, force=args.force)
    print(f"saved {args.save}: {args.n}×{args.n} grid over latent dims {dims[0]} (rows) and {dims[1]} (columns)")
    return 0
