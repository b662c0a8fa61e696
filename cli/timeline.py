"""``main.py timeline --run ID --gif OUT``: a training run from the run ledger as an animated GIF: chosen faces
(top row) and their reconstructions by each of the run's weight snapshots (bottom row), from the first snapshot
to the last."""

from __future__ import annotations

from .common import CliError, add_data_args, add_runs_arg, data_for, positive_int
from .walks import add_gif_args, check_gif_args, write_gif_of


def add_parser(sub) -> None:
    p = sub.add_parser("timeline", help="a run's reconstructions over its weight snapshots (run ledger) as a GIF")
    p.add_argument("--run", dest="run_id", type=positive_int, required=True, metavar="ID",
                   help="a run from the run ledger (`main.py runs list`)")
    p.add_argument("--index", type=int, nargs="+", default=[0, 500, 1000, 1500], metavar="IDX",
                   help="the data faces shown (default 0 500 1000 1500)")
    add_gif_args(p, "the timeline")
    p.add_argument("--force", action="store_true", help="replace an existing regular file that is not a GIF")
    add_runs_arg(p)
    add_data_args(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from core.animation import timeline_frames
    from core.checkpoint import load_model
    from core.ledger import Ledger

    if args.gif is None:
        raise CliError("nothing to do: give --gif OUT.gif")
    check_gif_args(args)
    with Ledger() as ledger:
        steps = ledger.run(args.run_id).snapshots
        if not steps:
            raise CliError(f"run {args.run_id} has no weight snapshots")
        paths = [ledger.snapshot_path(args.run_id, step)[1] for step in steps]
    records = [load_model(path) for path in paths]
    view, _ = data_for(records[-1], args, quiet=True)
    n = len(view.images)
    bad = [i for i in args.index if not 0 <= i < n]
    if bad:
        raise CliError(f"face {bad[0]} does not exist (the data set has {n}: 0 … {n - 1})")
    frames = timeline_frames([r.model for r in records], view.images[args.index], records[-1].image_shape,
                             args.frames)
    print(f"run {args.run_id}: {len(steps)} snapshots, steps {steps[0]} … {steps[-1]}")
    write_gif_of(args, frames)
    return 0
