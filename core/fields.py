"""The allowed range of every number a model file stores, checked where the file is read.

JSON lets a file hold ``Infinity``, ``NaN``, 2²⁰⁰ or ``"abc"`` where a size or a step count
belongs; each would surface much later as an OverflowError, a ZeroDivisionError or a NumPy
broadcast error. ``check_fields`` turns them into one message naming the field and its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_MAX_PARAMS = 50_000_000  # 200 MB of float32 weights (600 MB with Adam's state); --max-params raises it
INT31 = 2**31 - 1  # sizes and step counts the training loop can hold in any integer type it uses
INT62 = 2**62


def is_int(value) -> bool:
    """A JSON whole number (bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite JSON number (bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


@dataclass(frozen=True)
class Field:
    """One value's allowed range — the one vocabulary of ranges (core.settings builds each setting's on it):
    ``kind`` 'int', 'number', 'bool', 'choice' (one of ``choices``) or 'int_list' within [low, high] (an end
    excluded when its ``*_open`` flag is set); ``optional``: None is allowed too."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    max_len: int = 64
    choices: tuple = ()
    optional: bool = False

    def _in_range(self, v) -> bool:
        above = v > self.low if self.low_open else v >= self.low
        below = v < self.high if self.high_open else v <= self.high
        return above and below

    def accepts(self, value) -> bool:
        if value is None:
            return self.optional
        if self.kind == "choice":
            return not isinstance(value, bool) and value in self.choices
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "int_list":
            return (isinstance(value, list) and 0 < len(value) <= self.max_len
                    and all(is_int(v) and self._in_range(v) for v in value))
        typed = is_int(value) if self.kind == "int" else is_number(value)
        return typed and self._in_range(value)

    def describe(self) -> str:
        text = self._describe()
        return text + ", or none" if self.optional else text

    def _describe(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        if self.kind == "bool":
            return "true or false"
        what = {"int": "a whole number", "number": "a finite number",
                "int_list": f"a list of 1 to {self.max_len} whole numbers"}[self.kind]
        if self.low > -math.inf and self.high < math.inf:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{what} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low > -math.inf:
            return f"{what} {'>' if self.low_open else '>='} {_num(self.low)}"
        return what


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_fields(values: dict, spec: dict[str, Field], where: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` for the first field of ``spec`` present in ``values`` outside its range."""
    for name, field in spec.items():
        if name in values and not field.accepts(values[name]):
            raise error(f"{where} {name} must be {field.describe()}, got {_short_repr(values[name])}")


SIZE = Field("int", 1, INT31)
INPUT_FIELDS = {"input_dim": SIZE}  # meta["config"]'s one number that is not a setting (core.settings has the rest)
META_FIELDS = {
    "step": Field("int", 0, INT62),
    "train_seconds": Field("number", 0),
}
OPTIMIZER_FIELDS = {
    "t": Field("int", 0, INT62),
    "lr": Field("number", 0, low_open=True),
    "beta1": Field("number", 0, 1, high_open=True),
    "beta2": Field("number", 0, 1, high_open=True),
    "eps": Field("number", 0, low_open=True),
    "momentum": Field("number", 0, 1, high_open=True),
    "m_scale": Field("number", 0, 1, low_open=True),
    "v_scale": Field("number", 0, 1, low_open=True),
}
