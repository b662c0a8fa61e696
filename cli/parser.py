"""The argument parser: one subparser per command module, each registering its own ``run``."""

from __future__ import annotations

import argparse

from . import attribute as attribute_cmd
from . import encode, evaluate, gradcheck, grid, gui, import_legacy, runs, sample, screenshots, step, sweep, train
from . import eval as eval_cmd
from . import inspect as inspect_cmd
from . import interpolate as interpolate_cmd
from . import timeline as timeline_cmd
from . import traverse as traverse_cmd
from .common import PROG, Parser

COMMAND_MODULES = (train, runs, gradcheck, eval_cmd, sample, grid, evaluate, inspect_cmd, encode, import_legacy,
                   screenshots, gui, step, sweep, traverse_cmd,
                   interpolate_cmd, attribute_cmd, timeline_cmd)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="VAE Explorer: auto-encoders and VAEs on the Frey faces, "
               "with hand-written back-propagation. Without a subcommand the GUI opens.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p
