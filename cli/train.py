"""``main.py train``: train a model with a progress line, checkpoints, and a save on Ctrl-C."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import sys
from pathlib import Path

from .common import (
    PROG,
    CliError,
    add_force,
    add_max_data_values,
    add_max_params,
    add_runs_arg,
    add_setting_flags,
    check_writable,
    load_data,
    load_weights,
    one_line,
)


def add_parser(sub) -> None:
    # a training setting's flag that is not given stays out of the namespace (argparse.SUPPRESS): TrainConfig's
    # default applies to a new model, the model file's setting to --resume (core.run.continue_settings)
    t = sub.add_parser("train", help="train a model (progress bar, checkpoints, Ctrl-C saves)",
                       argument_default=argparse.SUPPRESS)
    _setting_flags(t)
    _file_flags(t)
    t.set_defaults(run=run)


# the schema's groups, in the order --help shows them
SETTING_GROUPS = (("model", "the network (kept by --resume)"),
                  ("objective", "the objective (--resume may change it: a new segment)"),
                  ("optimiser", "the optimiser (--resume may change all but --optimizer: a new segment)"),
                  ("data", "the data the run sees (kept by --resume)"),
                  ("run", "this run"))


def _setting_flags(t) -> None:
    """Every training setting's flag, from core.settings.SETTINGS (its type, range, default and help)."""
    from core.settings import SETTINGS

    for key, title in SETTING_GROUPS:
        group = t.add_argument_group(title)
        names = [n for n, s in SETTINGS.items() if s.group == key and s.flag is not None]
        if key == "model":
            group.add_argument("--activation", choices=list(SETTINGS["enc_activation"].choices),
                               help="the hidden activation of encoder and decoder (default relu)")
        if key == "run":  # one of them: a run's length in steps or in passes over the data
            add_setting_flags(group.add_mutually_exclusive_group(), ("steps", "epochs"), suppress=True)
            names = [n for n in names if n not in ("steps", "epochs")]
        add_setting_flags(group, names, suppress=True)


def _file_flags(t) -> None:
    t.add_argument("--data", default=None,
                   help="data set: frey_rawface.mat (default: $VAE_DATA, then data/), F.npy, F.npz[:NAME], "
                        "F.mat[:VAR], an IDX file (*-idx3-ubyte[.gz]) or a folder of PNG/JPEG images")
    t.add_argument("--image-shape", default=None, metavar="HxW",
                   help="image size for flat (N, D) arrays; a folder's images are resized to it")
    t.add_argument("--out", required=True, help="model file to write, e.g. model/my_vae.npz")
    t.add_argument("--resume", action="store_true", default=False,
                   help="continue training the model in --out: the settings that define the model and its data stay "
                        "the file's; the objective's and the optimiser's may change (a new segment of its history)")
    t.add_argument("--fresh-optimizer", action="store_true", default=False,
                   help="with --resume, for a model file without optimiser state (shipped or kept-best weights): "
                        "start a fresh optimiser whose learning rate warms up (default over 1000 steps)")
    t.add_argument("--quiet", action="store_true", default=False, help="no progress bar")
    t.add_argument("--inspect-log", default=None, metavar="F.jsonl",
                   help="append each log step's per-layer statistics (core.inspection) to this JSON-lines file")
    t.add_argument("--replace-inspect-log", action="store_true", default=False,
                   help="start --inspect-log afresh, replacing whatever regular file it names (--force does not)")
    add_force(t, "VAE Explorer model file")
    add_max_params(t)
    add_max_data_values(t)
    _ledger_flags(t)


def _ledger_flags(t) -> None:
    t.add_argument("--tag", action="append", default=[], metavar="T",
                   help="a tag for this run in the run ledger (repeat for several); see `main.py runs list --tag`")
    t.add_argument("--note", default="", help="a note kept with this run in the run ledger")
    t.add_argument("--branch", default=None, metavar="ID[@STEP]",
                   help="continue run ID's snapshot at STEP (default: its latest) into the new --out, with the "
                        "optimiser/objective flags given: recorded as a child run of ID")
    add_runs_arg(t)


# what a signal does once training has started: stop after the current step, save, exit 128 + N
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def progress_line(stats: dict, width: int = 24) -> str:
    done, of = stats["done"], stats["of"]
    filled = int(width * done / max(of, 1))
    bar = "#" * filled + "." * (width - filled)
    eta = stats["eta_s"]
    threads = stats.get("threads", 1)
    return (f"step {stats['step']:>7} [{bar}] −ELBO {stats['total']:8.2f}  rec {stats['rec']:8.2f}  "
            f"KL {stats['kl']:6.2f}  {stats['steps_per_s']:6.0f} steps/s  {threads} thread{'s' * (threads > 1)}  "
            f"ETA {eta:5.0f}s")


class TrainCli:
    """What ``train`` adds around a core.run.TrainingRun: the progress line, Ctrl-C, the --inspect-log
    file and the messages. The run itself (model, optimiser, split, early stopping, keep-best, the
    model file's meta) is core's, the same one the GUI's Training tab runs."""

    def __init__(self, args, out: Path, run):
        self.args, self.out, self.run = args, out, run
        self.interrupted = 0  # the number of the first stop signal received (see StopSignals)
        self.tty = sys.stderr.isatty()
        self.inspect_log = None
        self.recorder = None  # core.recorder.Recorder: the run ledger's copy of this run (see record())

    def record(self, parent: int | None) -> None:
        """Start this run's record in the run ledger; trouble with the ledger is one warning, and training
        goes on without it."""
        from core.recorder import Recorder

        self.recorder = Recorder(tags=self.args.tag, note=self.args.note, source="cli", command=self.run.commands[-1],
                                 parent=parent, parent_step=self.run.model.step if parent else None,
                                 warn=lambda line: print(f"{PROG}: warning: {one_line(line)}", file=sys.stderr))
        self.recorder.begin(self.run)

    def on_log(self, stats: dict) -> None:
        self.recorder.on_log(stats)
        if self.inspect_log is not None and "inspect" in stats:
            from core.inspection import snapshot_json

            if not self.inspect_log.write(json.dumps(snapshot_json(stats["inspect"]))):  # a full disk: go on
                print(f"{PROG}: warning: {self.inspect_log.failure}; the log stops here, training goes on",
                      file=sys.stderr)
                self.inspect_log = None
        if not self.args.quiet:
            print(("\r" if self.tty else "") + progress_line(stats), end="" if self.tty else "\n",
                  file=sys.stderr, flush=True)

    def on_eval(self, step: int, value: float) -> None:
        self.recorder.on_eval(step, value)
        if not self.args.quiet:
            what = "validation" if self.run.config.val_size else "test"
            print(("\n" if self.tty else "") + f"step {step}: {what} −ELBO {value:.2f} nats/image", file=sys.stderr)

    def checkpoint(self, step: int) -> None:
        self.run.save(self.out, f"checkpoint at step {step}", self.args.force)

    def train(self):
        """Run to the end, a stop signal (see StopSignals) or divergence."""
        try:
            if self.args.inspect_log:
                from core.inspection import Inspector
                from core.safe_io import AppendLog

                self.run.trainer.inspector = Inspector()
                self.inspect_log = AppendLog(self.args.inspect_log, "inspect log", self.args.replace_inspect_log)
            return self.run.run(on_log=self.on_log, on_eval=self.on_eval, should_stop=lambda: bool(self.interrupted),
                                on_checkpoint=self.checkpoint)
        finally:
            if self.inspect_log is not None:
                self.inspect_log.close()
            if self.tty and not self.args.quiet:
                print(file=sys.stderr)

    def finish(self, result) -> int:
        run, out = self.run, self.out
        if result.status == "diverged":
            self.recorder.end(run, "diverged", result.message)
            run.save(out, "diverged; last good weights", self.args.force)
            print(f"{result.message}; saved them to {out}", file=sys.stderr)
            return 1
        final = run.finish(result)
        if run.kept_best:
            best = run.trainer.best
            print(f"kept the weights of step {best.step} (validation −ELBO {best.value:.2f})")
        if self.interrupted:  # during the run, or during the final evaluation: either way the file is written
            self.recorder.end(run, "interrupted", measure=False)
            run.save(out, "interrupted", self.args.force)
            what = "interrupted" if self.interrupted == signal.SIGINT else signal.Signals(self.interrupted).name
            print(f"{what} at step {run.model.step}: saved {out}; continue with --resume", file=sys.stderr)
            return 128 + self.interrupted
        self.recorder.end(run, result.status)  # finished, or stopped by --patience
        run.save(out, "finished", self.args.force)
        print(f"trained {result.steps_done} steps in {result.seconds:.1f} s "
              f"({result.steps_done / max(result.seconds, 1e-9):.0f} steps/s); model has {run.model.step} steps")
        print(f"train −ELBO {final['train_neg_elbo']:.2f} nats/image   "
              f"test −ELBO {final['test_neg_elbo']:.2f} nats/image")
        print(f"saved {out}")
        return 0


def flag_names(message: str) -> str:
    """A TrainConfig message in the CLI's words: field names become their flags (val_size -> --val-size)."""
    from core.settings import SETTINGS

    for name in sorted(SETTINGS, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){name}(?![\w-])", SETTINGS[name].flag_name, message)
    return message


def load_dataset(spec, image_shape, quiet: bool = False, max_values: int | None = None):
    """The data set of --data/--image-shape (at most --max-data-values values); the Frey faces by default (with
    the download progress line)."""
    from core.dataset_io import open_dataset, parse_image_shape

    shape = parse_image_shape(image_shape) if image_shape else None
    if spec is None and shape is None:
        from core.dataset import FREY_IMAGE_SHAPE, FREY_NAME, Dataset

        return Dataset(load_data(None, quiet=quiet), FREY_IMAGE_SHAPE, FREY_NAME)
    return open_dataset(spec, shape, **({"max_values": max_values} if max_values else {}))


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP for the whole of ``train``, through its final save: before training
    starts one quits at once (KeyboardInterrupt: nothing to save yet); once ``cli`` is set the first one
    asks the run to stop after the current step and save, a second one quits at once."""

    def __init__(self):
        self.cli: TrainCli | None = None
        self.previous = {}

    def __enter__(self) -> StopSignals:
        self.previous = {n: signal.signal(n, self.handle) for n in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        # After a stop signal the command only returns and the process exits: a further one then would land
        # in the interpreter's shutdown ("Exception ignored … KeyboardInterrupt"), so they are ignored from here.
        stopped = self.cli is not None and self.cli.interrupted
        for number, handler in self.previous.items():
            signal.signal(number, signal.SIG_IGN if stopped else handler)

    def handle(self, signum, frame) -> None:
        if self.cli is None or self.cli.interrupted:
            raise KeyboardInterrupt
        self.cli.interrupted = signum


def given_settings(args) -> dict:
    """{TrainConfig field: value} of the training flags given on the command line (--model is ``kind``;
    --activation sets both activations unless --enc-/--dec-activation is given)."""
    from core.settings import SETTINGS

    dests = {name: s.flag_name[2:].replace("-", "_") for name, s in SETTINGS.items() if s.flag_name}
    given = {name: getattr(args, dest) for name, dest in dests.items() if hasattr(args, dest)}
    if getattr(args, "activation", None) is not None:
        given.setdefault("enc_activation", args.activation)
        given.setdefault("dec_activation", args.activation)
    return given


def prepare(args, out: Path, dataset):
    """The TrainingRun of this command: a new model, or the one in --out continued (ConfigError -> CliError)."""
    from core.config import TrainConfig
    from core.errors import ConfigError
    from core.run import TrainingRun

    given, device = given_settings(args), getattr(args, "device", "cpu")
    command = shlex.join(["main.py", *map(str, getattr(args, "argv", None) or [])])
    try:
        if args.resume:
            record = load_weights(out, device=device, max_params=args.max_params)
            warn_other_data(record, dataset)
            return TrainingRun.resume(record, dataset, given, fresh_optimizer=args.fresh_optimizer, device=device,
                                      command=command)
        if args.fresh_optimizer:
            raise CliError("--fresh-optimizer continues a model file: it needs --resume")
        return TrainingRun(TrainConfig.from_form(given), dataset, device=device, command=command)
    except ConfigError as exc:
        raise CliError(flag_names(str(exc))) from None


def warn_other_data(loaded, dataset) -> None:
    """--resume on other images of the same size is allowed (the file's data record then names them), but said,
    as the GUI says it: one warning line."""

    for note in loaded.check_data(dataset):
        print(f"{PROG}: warning: {note}; the model file will record the new data", file=sys.stderr)


def check_inputs_and_outputs(args, out: Path) -> None:
    """Before any work: no output is an input or another output (--inspect-log naming --out would put the log
    in the model file), and the log is appended only to a log of ours (--force is for --out alone)."""
    from core.dataset_io import split_spec
    from core.safe_io import INSPECT_LOG, check_distinct, check_output

    data = None if args.data is None else split_spec(args.data)[0]
    check_distinct({"--out": out, "--inspect-log": args.inspect_log}, {"--data": data}, CliError)
    if args.inspect_log:  # appended to: never a FIFO, and another kind of file only with its own flag
        check_output(args.inspect_log, INSPECT_LOG, args.replace_inspect_log, CliError, "--replace-inspect-log")


def run(args) -> int:
    from core.checkpoint import MODEL_FILE
    from core.safe_io import OutputLock, check_output

    out = Path(args.out)
    check_writable(out)  # before training, not after it
    check_inputs_and_outputs(args, out)
    # never over the data, a text file, a FIFO... (--resume: only the non-regular check; loading names the rest)
    check_output(out, MODEL_FILE, args.force or args.resume, CliError)
    with StopSignals() as signals, OutputLock(out, CliError):
        if args.branch:
            branch_into(args.branch, out, args.force)
            args.resume = True
        dataset = load_dataset(args.data, args.image_shape, quiet=args.quiet, max_values=args.max_data_values)
        run = prepare(args, out, dataset)
        if run.remaining <= 0:
            print(f"{out} already has {run.model.step} steps (target {run.total_steps}); nothing to do",
                  file=sys.stderr)
            return 0
        signals.cli = cli = TrainCli(args, out, run)
        cli.record(parent=run.parent.provenance.ledger_run if run.parent is not None else None)
        return cli.finish(cli.train())


def branch_into(spec: str, out: Path, force: bool) -> None:
    """--branch ID[@STEP]: copy that snapshot of the run ledger to --out, which is then resumed (a child run
    of ID, from STEP, with the flags given)."""
    import shutil

    from core.checkpoint import MODEL_FILE
    from core.recorder import snapshot_file
    from core.safe_io import atomic_write

    if out.exists() and not force:
        raise CliError(f"--branch writes a new model file, and {out} exists; give another --out (or --force)")
    source = snapshot_file(None, spec)[0]
    with open(source, "rb") as src:
        atomic_write(out, MODEL_FILE, lambda f: shutil.copyfileobj(src, f), force=True, error=CliError)
