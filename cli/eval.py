"""``main.py eval``: the loss of single images, and original | reconstruction pairs as a PNG."""

from __future__ import annotations

from .common import (
    CliError,
    add_data_args,
    add_force,
    add_max_params,
    add_weights_args,
    check_png_output,
    load_weights,
    model_data,
    seed,
)


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="loss of single images; original | reconstruction side by side")
    add_weights_args(e)
    e.add_argument("--index", type=int, nargs="+", required=True, help="image ids (0…1964 for the Frey faces)")
    e.add_argument("--save", default=None, help="PNG of original | reconstruction rows")
    e.add_argument("--seed", type=seed, default=0)
    add_data_args(e)
    add_force(e, "PNG image")
    add_max_params(e)
    e.set_defaults(run=run)


def check_indices(indices, n: int) -> None:
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise CliError(f"image index {bad[0]} is out of range 0…{n - 1}")


def run(args) -> int:
    import numpy as np

    from core.backend import to_numpy
    from core.evaluate import per_image_losses
    from core.images import mosaic, write_png

    if args.save:
        check_png_output(args.save, args.force)
    loaded = load_weights(args.weights, max_params=args.max_params)
    model = loaded.model
    view = model_data(loaded, args, model_alone=False)
    check_indices(args.index, view.n)
    x = view.images[args.index]
    rec, kl_dims = per_image_losses(model, x, seed=args.seed)
    recon = to_numpy(model.reconstruct(x))
    print(f"{'image':>6} {'split':<6}{'−ELBO':>10}{'rec':>10}{'KL':>8}   (nats; {model.config.describe()})")
    for i, idx in enumerate(args.index):
        kl = kl_dims[i].sum()
        print(f"{idx:>6} {view.split_of(idx):<6}{rec[i] + kl:>10.2f}{rec[i]:>10.2f}{kl:>8.2f}")
    if args.save:
        pairs = np.stack([x, recon], axis=1).reshape(-1, x.shape[1])
        write_png(args.save, mosaic(pairs, ncols=2, image_shape=loaded.image_shape), scale=4, force=args.force)
        print(f"saved {args.save} (each row: original | reconstruction)")
    return 0
