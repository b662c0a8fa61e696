"""Text -> numbers for every form and flag (the CLI's argparse types and the GUI's line edits use these).

Each parser raises ValueError with a message that names the field (when given a ``name``), the
allowed range and the text it got, e.g. "the learning rate must be a number > 0, got '0'".
"""

from __future__ import annotations

import math
import re


def parse_number(text: str, kind: type = float, minimum: float = 0.0, strict: bool = False,
                 name: str = "") -> int | float:
    """``text`` as ``kind`` (int or float), finite and ≥ ``minimum`` (> ``minimum`` when ``strict``)."""
    what = "a whole number" if kind is int else "a number"
    prefix = f"{name} " if name else ""
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise ValueError(f"{prefix}must be {what}, not {text!r}") from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{prefix}must be {what} {relation} {minimum:g}, got {str(text).strip()!r}")
    return value


def parse_hidden(text: str, name: str = "hidden sizes") -> list[int]:
    """'512, 256' or '512 256' -> [512, 256]: whole numbers > 0 separated by commas or spaces."""
    parts = [p for p in re.split(r"[\s,]+", str(text)) if p]
    if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
        raise ValueError(f"{name} must be positive whole numbers separated by commas (e.g. 256 or 512,256), "
                         f"not {text!r}")
    sizes = [int(p) for p in parts]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"{name} must be whole numbers > 0, got {text!r}")
    return sizes


def parse_window_size(text: str) -> tuple[int, int]:
    """'1024x600' -> (1024, 600): a window size between 320x240 and 8192x8192; ValueError naming the form."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be WIDTHxHEIGHT, e.g. 1366x768, not {text!r}") from None
    if not (320 <= w <= 8192 and 240 <= h <= 8192):
        raise ValueError(f"size must be between 320x240 and 8192x8192, got {text!r}")
    return w, h
