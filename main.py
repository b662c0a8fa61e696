"""VAE Explorer: `python main.py` opens the GUI; `python main.py SUBCOMMAND --help` for the CLI.

The commands live in the ``cli`` package (one module per command); this file only parses, pins BLAS
to one thread, runs the command and turns every expected error into one line on stderr."""

from __future__ import annotations

import os
import signal
import sys
import warnings


def quit_at_once(signum, frame) -> None:
    """Ctrl-C during start-up (the imports take up to ~0.3 s): nothing to save yet, so one line and exit 130
    at once, never a KeyboardInterrupt traceback from inside an import."""
    os.write(2, b"main.py: interrupted\n")
    os._exit(130)


if __name__ == "__main__":  # installed before the heavy imports below; run_command hands over to the command
    signal.signal(signal.SIGINT, quit_at_once)

from cli.common import PROG, CliError, one_line  # noqa: E402 - after the start-up Ctrl-C handler
from cli.parser import build_parser  # noqa: E402

__all__ = ["CliError", "build_parser", "limit_blas_threads", "main"]


def limit_blas_threads() -> None:
    """One OpenBLAS thread unless OPENBLAS_NUM_THREADS is set: read once when NumPy loads, so this runs first.

    The matrices here are small (64×560×256): on the 2-core test machine `train` ran at 49 steps/s with
    OpenBLAS's default of a thread per core and 568 with one, because its spinning threads wait for each
    other whenever anything else wants a core; in the GUI they would also compete with the UI thread."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


OUTPUT_OPTIONS = ("save", "gif", "save_html", "out", "csv")  # the options that name a file a command writes


def absolute_outputs(args) -> None:
    """Paths are the user's: relative ones are taken from the working directory the command was started in
    (run.sh keeps it), and the files a command writes are named absolutely, so every 'saved …' line says
    exactly where the file is."""
    for name in OUTPUT_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            setattr(args, name, os.path.abspath(os.path.expanduser(value)))


def main(argv: list[str] | None = None) -> int:
    limit_blas_threads()  # before the parser: train's flags come from core.settings, which loads NumPy
    args = build_parser().parse_args(argv)
    absolute_outputs(args)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # the command line a model file records
    from core.errors import VaeError

    command = run_window if args.command is None or getattr(args, "window", None) else args.run
    try:
        return run_command(command, args)
    except (VaeError, OSError, ValueError) as exc:  # VaeError: every error written for the user; CliError is one
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C (the first one saves and stops), or one before training
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:  # e.g. --hidden 100000000
        print(f"{PROG}: error: not enough memory for this model or data set ({one_line(str(exc))})", file=sys.stderr)
        return 2



def run_command(command, args) -> int:
    """Run a command with warnings as one plain line each, and Ctrl-C raising KeyboardInterrupt again (main()
    reports it; ``train`` installs its own handler) instead of the start-up handler's immediate exit."""
    if signal.getsignal(signal.SIGINT) is quit_at_once:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with warnings.catch_warnings():
        warnings.showwarning = show_warning_line
        return command(args)


def show_warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as the user reads it: one plain line ``main.py: warning: …`` on stderr (Python's own format
    takes two lines and names our source file and class)."""
    print(f"{PROG}: warning: {one_line(str(message))}", file=file or sys.stderr)


def run_window(args) -> int:
    """``main.py``, ``main.py gui`` and ``main.py screenshots``: the commands that open the Qt program. main.py
    is the one module above both cli/ (which imports only core) and vae_gui/; cli/gui.py and cli/screenshots.py
    hold their parsers and checks."""
    from cli import gui, screenshots

    if getattr(args, "window", None) == "screenshots":
        from vae_gui.screenshots import shot_paths, take_screenshots

        return take_screenshots(args.dir, **screenshots.window_args(args, shot_paths))
    from vae_gui.app import run_gui

    return run_gui(**gui.window_args(args))


if __name__ == "__main__":
    sys.exit(main())
