"""What every command shares: the one-line error type, the argparse parser class, flag types built on
``core.parsing``, and loading the data and a model file."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import VaeError
from core.parsing import parse_hidden, parse_number

PROG = "main.py"


class CliError(VaeError):
    """A user error: printed as one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's default prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _flag_type(parse: Callable[[str], object], type_name: str) -> Callable[[str], object]:
    """An argparse type whose ValueError message reaches the user (argparse would print only its own)."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = type_name
    return convert


positive_int = _flag_type(lambda t: parse_number(t, int, 0, strict=True), "positive_int")
nonneg_int = _flag_type(lambda t: parse_number(t, int, 0), "nonneg_int")
positive_float = _flag_type(lambda t: parse_number(t, float, 0, strict=True), "positive_float")
nonneg_float = _flag_type(lambda t: parse_number(t, float, 0), "nonneg_float")
hidden_sizes = _flag_type(lambda t: parse_hidden(t, name="sizes"), "hidden_sizes")
seed = _flag_type(lambda t: parse_number(t, int, 0), "seed")  # NumPy's generators take seeds >= 0
MAX_PNG_SCALE = 32  # --scale: a 28×20 face becomes 896×640 pixels (core.images.write_png also caps the whole PNG)


def _png_scale(text: str) -> int:
    value = parse_number(text, int, 0, strict=True)
    if value > MAX_PNG_SCALE:
        raise ValueError(f"must be at most {MAX_PNG_SCALE} (PNG pixels per image pixel), got {value}")
    return value


png_scale = _flag_type(_png_scale, "png_scale")


def add_setting_flags(parser, names, defaults: dict | None = None, suppress: bool = False) -> None:
    """One flag per training setting of core.settings.SETTINGS: its flag name, type (or choices), and help with
    the allowed values and the default. ``defaults`` overrides a default (a command's own, e.g. gradcheck's small
    net); ``suppress``: a flag that is not given stays out of the namespace (train: then TrainConfig's default
    applies to a new model, the model file's value to --resume)."""
    from core.settings import SEGMENT, SETTINGS

    for name in names:
        s = SETTINGS[name]
        default = (defaults or {}).get(name, s.default)
        allowed = [] if s.kind in ("bool", "choice") else [s.describe()]  # argparse lists the choices itself
        shown = "; ".join(allowed + ([] if s.kind == "bool" else [f"default {_default_text(default)}"]))
        resume = " [--resume may change it]" if suppress and s.on_continue == SEGMENT else ""
        kwargs = {"help": f"{s.help}{f' ({shown})' if shown else ''}{resume}",
                  "default": argparse.SUPPRESS if suppress else default}
        if s.kind == "bool":
            kwargs["action"] = "store_true"
        elif s.kind == "choice":
            kwargs.update(choices=list(s.choices), type=s.choice_of)  # argparse names the choices on a bad one
        else:
            kwargs.update(type=_flag_type(s.parse, name), metavar="N" if s.kind == "int" else
                          "X" if s.kind == "float" else "SIZES")
        parser.add_argument(s.flag_name, **kwargs)


def _default_text(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def one_line(text: str) -> str:
    """Error messages are printed as exactly one line."""
    return " ".join(text.split())


def load_data(path, allow_download: bool = True, quiet: bool = False):
    """The Frey faces (1965, 560) from ``path`` / $VAE_DATA / data/, downloading them with a progress line."""
    from core.data import ensure_data, load_frey

    shown = {"progress": False}

    def progress(done, total):
        if not quiet:
            pct = f"{100 * done / total:5.1f}%" if total else f"{done / 1e6:.1f} MB"
            print(f"\rdownloading the Frey faces: {pct}", end="", file=sys.stderr, flush=True)
            shown["progress"] = True

    try:
        found = ensure_data(path, allow_download=allow_download, progress=progress)
    finally:
        if shown["progress"]:  # end the progress line, so a following error message starts on its own line
            print(file=sys.stderr)
    return load_frey(found)


DATA_HELP = ("data set: frey_rawface.mat (default: $VAE_DATA, then data/), F.npy, F.npz[:NAME], F.mat[:VAR], "
             "an IDX file (*-idx3-ubyte[.gz]) or a folder of PNG/JPEG images")


def add_data_args(parser) -> None:
    """--data and --image-shape, the same for every command that reads images."""
    parser.add_argument("--data", default=None, help=DATA_HELP)
    parser.add_argument("--image-shape", default=None, metavar="HxW",
                        help="image size for flat (N, D) arrays; a folder's images are resized to it")
    add_max_data_values(parser)


def add_max_data_values(parser) -> None:
    """The flag that raises the data-set budget (values read, checked from the file's headers before reading)."""
    from core.safe_io import DEFAULT_MAX_VALUES, MAX_VALUES_FLAG

    parser.add_argument(MAX_VALUES_FLAG, type=positive_int, default=DEFAULT_MAX_VALUES, metavar="N",
                        help=f"refuse data sets of more values than this (default {DEFAULT_MAX_VALUES:,}; each "
                             "is a float32 in memory)")


def load_dataset(args, quiet: bool = False):
    """The core.dataset.Dataset of --data/--image-shape: the Frey faces by default (downloaded with a
    progress line), else core.dataset_io.open_dataset; a folder's skipped images are reported on stderr."""
    import warnings

    from core.dataset_io import DEFAULT_MAX_VALUES, open_dataset, parse_image_shape

    shape = parse_image_shape(args.image_shape) if getattr(args, "image_shape", None) else None
    if args.data is None and shape is None:
        from core.dataset import FREY_IMAGE_SHAPE, FREY_NAME, Dataset

        return Dataset(load_data(None, quiet=quiet), FREY_IMAGE_SHAPE, FREY_NAME)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = open_dataset(args.data, shape, max_values=getattr(args, "max_data_values", None)
                               or DEFAULT_MAX_VALUES)
    for w in caught:
        print(f"{PROG}: warning: {one_line(str(w.message))}", file=sys.stderr)
    return dataset


def data_for(loaded, args, quiet: bool = False, dataset=None):
    """(model's view of the data set, the data set) for a loaded model file (the data set of --data, or
    ``dataset``): warnings about other data or the binarisation go to stderr; images of another size are a
    one-line error."""
    dataset = dataset if dataset is not None else load_dataset(args, quiet)
    view, notes = loaded.data_view(dataset)
    for note in notes:
        print(f"{PROG}: warning: {one_line(note)}" if "other data" in note else f"{PROG}: {note}", file=sys.stderr)
    return view, dataset


def model_data(loaded, args, quiet: bool = False, model_alone: bool = True):
    """The model's view of the data for commands that can also work from the model alone (grid), or None.
    --data/--image-shape when given; else the Frey faces for a model trained on them (or with no data record);
    else the data set recorded in the model when it is still found (core.dataset_io.find_recorded_data);
    else None (``model_alone`` False: a one-line error asking for --data). Which one is said in one line on
    stderr (never on stdout: --json stays clean)."""
    from core.dataset_io import find_recorded_data

    record = loaded.data or {}
    if getattr(args, "data", None) is not None or getattr(args, "image_shape", None) or \
            record.get("name") in (None, "frey"):
        return data_for(loaded, args, quiet)[0]
    dataset = find_recorded_data(loaded.data, loaded.provenance.commands, getattr(args, "weights", None),
                                 getattr(args, "max_data_values", None) or _default_max_values())
    if dataset is None and not model_alone:
        raise CliError(f"{args.weights} was trained on {record.get('name')} ({record.get('n')} images), which was "
                       "not found; give the images with --data")
    if dataset is None:
        print(f"{PROG}: the model was trained on {record.get('name')} ({record.get('n')} images), which was not "
              "found (give it with --data): drawing from the model alone", file=sys.stderr)
        return None
    print(f"{PROG}: using the data set the model was trained on: {dataset.source}", file=sys.stderr)
    return data_for(loaded, args, quiet, dataset)[0]


def _default_max_values() -> int:
    from core.safe_io import DEFAULT_MAX_VALUES

    return DEFAULT_MAX_VALUES


def model_shape(loaded) -> tuple[int, int]:
    """(H, W) of a loaded model's images, for PNGs (its record's image_shape)."""
    return loaded.image_shape


def add_max_params(parser) -> None:
    """The flag that raises the parameter limit of a model file to load (a memory-bomb guard)."""
    from core.fields import DEFAULT_MAX_PARAMS

    parser.add_argument("--max-params", type=positive_int, default=DEFAULT_MAX_PARAMS,
                        help=f"refuse model files with more parameters than this (default {DEFAULT_MAX_PARAMS:,})")


def load_weights(path, device: str = "cpu", max_params: int | None = None):
    """A model file (core.checkpoint.LoadedModel)."""
    from core.checkpoint import DEFAULT_MAX_PARAMS, load_model

    return load_model(path, device=device, max_params=max_params or DEFAULT_MAX_PARAMS)


def add_force(parser, what: str) -> None:
    parser.add_argument("--force", action="store_true", default=False,
                        help=f"replace an existing regular file that is not a {what} (never a folder, FIFO or device)")


def check_png_output(path, force: bool) -> None:
    """Refuse a --save path before any work: see core.safe_io.check_output."""
    from core.safe_io import PNG, check_output

    check_output(path, PNG, force, CliError)


def check_writable(out: Path, what: str = "model file") -> None:
    """Refuse an output path that is a folder or lies in a folder we cannot write (CliError)."""
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name such as {out / 'model.npz'}")
    folder = out.parent.resolve()
    while not folder.exists():  # the writers create missing folders: check the first one that exists
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(f"cannot write the {what} {out}: {folder} is not a writable folder")


# ------------------------------------------------------------------ the run ledger (core.ledger)
RUNS_HELP = "the run ledger's folder (default: $VAE_RUNS, else $XDG_DATA_HOME/vae-explorer)"


class _RunsFolder(argparse.Action):
    """--runs DIR: the ledger's folder for everything this command does (it sets $VAE_RUNS, which
    core.ledger.default_dir reads, so the recorder, --run and the GUI all follow)."""

    def __call__(self, parser, namespace, value, option_string=None):
        os.environ["VAE_RUNS"] = str(value)
        setattr(namespace, self.dest, value)


def add_runs_arg(parser) -> None:
    """--runs DIR (see _RunsFolder)."""
    parser.add_argument("--runs", metavar="DIR", action=_RunsFolder, default=None, help=RUNS_HELP)


class RunRef(os.PathLike):
    """--run ID[@STEP]: the model file of a run's snapshot in the ledger, looked up when first used as a
    path (after every flag, --runs included, was read). ID alone: the run's latest snapshot."""

    def __init__(self, spec: str):
        from core.recorder import parse_run_spec

        self.spec = spec
        self.run_id, self.step = parse_run_spec(spec)  # LedgerError (a ValueError) -> argparse's one line
        self._path: str | None = None

    def __fspath__(self) -> str:
        if self._path is None:
            from core.recorder import snapshot_file

            self._path = str(snapshot_file(None, self.spec)[0])
        return self._path

    __str__ = __fspath__

    def __repr__(self) -> str:
        return f"RunRef({self.spec!r})"


def add_weights_args(parser, required: bool = True, help: str = "model file (.npz)") -> None:
    """--weights FILE or --run ID[@STEP] (a run's snapshot from the ledger), both into ``args.weights``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--weights", default=None, help=help)
    group.add_argument("--run", dest="weights", metavar="ID[@STEP]", type=_flag_type(RunRef, "run"),
                       help="a run from the run ledger, at its snapshot of STEP (default: its latest); "
                            "see `main.py runs list`")
    add_runs_arg(parser)
