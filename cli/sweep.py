"""``main.py sweep``: search training settings with Optuna (core.sweep), on one machine or many.

    main.py sweep --space SPACE.toml --trials N [--jobs J] [--study NAME] [--storage URL] [--prune]
    main.py sweep --study NAME --resume [--trials N]        continue a study with its own space
    main.py sweep --study NAME --show [--json]               its trials and the best one

``--jobs J`` starts J worker processes of this same command (each one BLAS thread); they and any other
``main.py sweep`` on the same --study and --storage (another machine, say) share the study's N trials.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

from .common import PROG, CliError, add_data_args, load_dataset, positive_int, seed

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
MAIN = Path(__file__).resolve().parent.parent / "main.py"


def add_parser(sub) -> None:
    s = sub.add_parser("sweep", help="search training settings with Optuna (many runs, one or many processes)")
    s.add_argument("--space", default=None, metavar="SPACE.toml",
                   help="the search space: [fixed] and [search] tables keyed by train's flags without dashes")
    s.add_argument("--trials", type=positive_int, default=None,
                   help="the study's total number of finished trials, shared by every process on it")
    s.add_argument("--jobs", type=positive_int, default=1, help="trials at once on this machine (processes)")
    s.add_argument("--study", default=None, help="the study's name (default: the space file's name)")
    s.add_argument("--storage", default=None, metavar="URL",
                   help="where the study lives: any URL Optuna accepts, e.g. postgresql://user@host/db "
                        "(default: SQLite sweeps.db beside the run ledger)")
    s.add_argument("--runs", default=None, metavar="DIR", help="the run ledger's folder (default: $VAE_RUNS, "
                   "else $XDG_DATA_HOME/vae-explorer)")
    s.add_argument("--sampler", choices=["tpe", "random", "grid"], default=None, help="Optuna's sampler (default tpe)")
    s.add_argument("--metric", choices=["val", "train"], default=None,
                   help="the objective: validation −ELBO (val, the default) or training −ELBO of the final weights")
    s.add_argument("--prune", action="store_true",
                   help="stop trials whose held-out curve is worse than the median (Optuna's MedianPruner)")
    s.add_argument("--seed", type=seed, default=None, help="the sampler's seed (worker i of --jobs uses SEED+i)")
    s.add_argument("--resume", action="store_true", help="continue the study (its own space; --trials: a new total)")
    s.add_argument("--show", action="store_true", help="print the study's trials and its best one")
    s.add_argument("--json", action="store_true", help="with --show: one JSON object")
    s.add_argument("--heartbeat", type=positive_int, default=10, metavar="S",
                   help="seconds between a trial's heartbeats; a trial silent for 3×S is failed (its process died)")
    s.add_argument("--quiet", action="store_true", help="no line per trial")
    s.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --jobs's processes
    add_data_args(s)
    s.set_defaults(run=run)


def runs_dir(args) -> Path:
    """The run ledger's folder: --runs, else core.ledger.default_dir() ($VAE_RUNS, $XDG_DATA_HOME/vae-explorer)."""
    from core.ledger import default_dir

    return Path(args.runs) if args.runs else default_dir()


def storage_url(args) -> str:
    from core.sweep import default_storage

    return args.storage or default_storage(runs_dir(args))


def study_name(args) -> str:
    if args.study:
        return args.study
    if args.space:
        return Path(args.space).stem
    raise CliError("name the study with --study NAME (or give --space SPACE.toml)")


def show(args) -> int:
    from core import sweep

    optuna = sweep.require_optuna()
    storage = sweep.open_storage(storage_url(args), args.heartbeat)
    name = study_name(args)
    if name not in optuna.study.get_all_study_names(storage):
        raise CliError(f"there is no study {name!r} in {sweep.shown_url(storage.url)}")
    study = optuna.load_study(study_name=name, storage=storage)
    optuna.storages.fail_stale_trials(study)  # a trial whose process died shows as failed
    data = sweep.summary(study)
    if args.json:
        print(json.dumps(data, allow_nan=False))
        return 0
    print(f"study {name}: {len(data['trials'])} trials (total {data['n_trials']}), objective "
          f"{sweep.METRICS.get(data['metric'], data['metric'])}")
    for row in data["trials"]:
        print(trial_line(row))
    if data["best"] is not None:
        print(f"best: trial {data['best']['number']}  {data['best']['value']:.2f}")
    return 0


def trial_line(row: dict) -> str:
    value = f"{row['value']:10.2f}" if row["value"] is not None else f"{'-':>10}"
    params = "  ".join(f"{k}={_short(v)}" for k, v in row["params"].items())
    return f"  #{row['number']:<4} {row['state']:<9} {value}  {params}"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class StopFlag:
    """The first SIGINT/SIGTERM/SIGHUP asks the sweep to stop after the current step (its trial is failed,
    so --resume runs it again); a second one quits at once."""

    def __init__(self):
        self.signum = 0
        self.previous = {}

    def __enter__(self) -> StopFlag:
        self.previous = {n: signal.signal(n, self.handle) for n in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, signal.SIG_IGN if self.signum else handler)

    def handle(self, signum, frame) -> None:
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum

    def __bool__(self) -> bool:
        return bool(self.signum)


def prepare(args):
    """(study, plan, dataset) of this command: the study opened or created, checked against the data."""
    from core import sweep

    sweep.require_optuna()  # first: without Optuna the only message is how to install it
    if args.space is None and not args.resume:
        raise CliError("give the search space with --space SPACE.toml (or --resume / --show a --study)")
    space = sweep.SearchSpace.load(args.space) if args.space else None
    if space is not None and args.trials is None and not args.resume:
        raise CliError("give the study's total number of trials with --trials N")
    dataset = load_dataset(args, quiet=True)
    plan = None if space is None else sweep.StudyPlan(space, args.trials or 0, args.metric or "val",
                                                      args.sampler or "tpe", args.prune, dataset.fingerprint)
    check_grid(plan)  # before a new study is made
    storage = sweep.open_storage(storage_url(args), args.heartbeat)
    study, plan = sweep.open_study(storage, study_name(args), plan, args.resume, args.seed, args.trials)
    check_same_plan(args, plan, study.study_name)
    if plan.data and plan.data != dataset.fingerprint:
        raise CliError(f"study {study.study_name!r} runs on other data (fingerprint {plan.data}, this data set "
                       f"{dataset.fingerprint}): give the same --data")
    check_grid(plan)
    return study, plan, dataset


def check_grid(plan) -> None:
    """A grid study has at most as many trials as grid points (CliError)."""
    if plan is not None and plan.sampler == "grid":
        size = math.prod(len(values) for values in plan.space.grid().values())
        if plan.n_trials > size:
            raise CliError(f"the grid has {size} points: --trials at most {size}")


def check_same_plan(args, plan, name: str) -> None:
    """A study runs as it was started: --sampler, --metric or --prune that differ from it are refused (CliError)."""
    clashes = [f"--{flag} {given}" for flag, given, have in (("sampler", args.sampler, plan.sampler),
                                                            ("metric", args.metric, plan.metric))
               if given is not None and given != have]
    if args.prune and not plan.prune:
        clashes.append("--prune")
    if clashes:
        raise CliError(f"study {name!r} runs with --sampler {plan.sampler} --metric {plan.metric}"
                       f"{' --prune' if plan.prune else ''}: drop {', '.join(clashes)} or give a new --study name")


def run_worker(args, study, plan, dataset) -> int:
    from core import sweep

    def report(outcome) -> None:
        if args.quiet:
            return
        what = sweep.METRICS[plan.metric]
        result = f"{what} {outcome.value:.2f}" if outcome.value is not None else outcome.status
        params = "  ".join(f"{k}={_short(v)}" for k, v in outcome.params.items())
        print(f"trial {outcome.number}: {result} after {outcome.steps} steps ({outcome.seconds:.1f} s)  {params}",
              flush=True)

    with StopFlag() as stop:
        worker = sweep.SweepWorker(study, plan, dataset, should_stop=lambda: bool(stop), on_trial=report,
                                   runs_folder=runs_dir(args), warn=lambda line: print(f"{PROG}: warning: {line}",
                                                                                      file=sys.stderr))
        try:
            worker.run()
        except sweep.SweepInterrupted as exc:
            print(f"{exc}; the trial is marked failed, continue with --resume", file=sys.stderr)
            return 128 + stop.signum
    if stop:
        return 128 + stop.signum
    return 0


def run_jobs(args, study, plan) -> int:
    """--jobs J: J processes of this command, each running trials until the study has its N."""
    argv = list(getattr(args, "argv", None) or [])
    argv = argv[argv.index("sweep") + 1:] if "sweep" in argv else argv
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for i in range(args.jobs):
        extra = ["--jobs", "1", "--worker", "--study", study.study_name]
        if args.seed is not None:
            extra += ["--seed", str(args.seed + i)]
        procs.append(subprocess.Popen([sys.executable, str(MAIN), "sweep", *argv, *extra], env=env))

    def forward(signum, frame):
        # Ctrl-C reaches the workers from the terminal themselves (one process group): forwarding it too
        # would be their second signal, which quits at once instead of failing the trial cleanly
        for p in procs:
            if p.poll() is None and signum != signal.SIGINT:
                p.send_signal(signum)

    previous = {n: signal.signal(n, forward) for n in STOP_SIGNALS}
    try:
        codes = [p.wait() for p in procs]
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return max(codes, key=abs) if any(codes) else 0


def print_best(study) -> None:
    from core import sweep

    data = sweep.summary(study)
    done = sum(r["state"] in sweep.FINISHED for r in data["trials"])
    print(f"study {study.study_name}: {done} of {data['n_trials']} trials finished")
    best = data["best"]
    if best is not None:
        params = "  ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        print(f"best: trial {best['number']}, {sweep.METRICS[data['metric']]} {best['value']:.2f}  {params}")


def run(args) -> int:
    if args.show:
        return show(args)
    if args.json:
        raise CliError("--json goes with --show")
    study, plan, dataset = prepare(args)
    if args.jobs > 1 and not args.worker:
        code = run_jobs(args, study, plan)
    else:
        code = run_worker(args, study, plan, dataset)
    if not args.worker and code == 0 and not args.quiet:
        print_best(study)
    return code
