"""What a gradient check found: per-parameter summaries, the error definitions and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STEP = 1e-6
# A kink entry is tried again with these steps and kept once it no longer crosses. Not smaller: the
# round-off grows as 1/h, and at 1e-8 that of a ~1300-nat objective (~1e-5 absolute) alone would fail it.
RETRY_STEPS = (1e-7,)
PASS_THRESHOLD = 1e-5
WARN_THRESHOLD = 1e-3
MAX_KINK_SHARE = 0.25  # a check with more kink entries than this share of the checked ones fails
WORST_SHOWN = 12  # worst entries kept per parameter (the panel shows them when a row is clicked)


@dataclass
class ParamCheck:
    """One parameter's result. Errors, warnings and the verdict are over its non-kink entries."""

    name: str
    shape: list[int]
    checked: int
    max_rel_error: float
    mean_rel_error: float
    norm_rel_error: float
    warnings: int
    passed: bool
    kinks: int = 0
    note: str = ""
    rel_errors: list[float] = field(default_factory=list, repr=False)
    kink_rel_errors: list[float] = field(default_factory=list, repr=False)
    worst: list[dict] = field(default_factory=list, repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)  # every checked entry's numerical derivative
    kink_mask: np.ndarray | None = field(default=None, repr=False)  # which of them are kink entries


JSON_KEYS = ("name", "shape", "checked", "max_rel_error", "mean_rel_error", "norm_rel_error", "warnings", "passed",
             "kinks", "note")


@dataclass
class GradcheckReport:
    mode: str
    params: list[ParamCheck]
    overall: dict | None
    seconds: float
    roundoff: float = 0.0  # ε·Σ|terms|/h at the check's step: the finite difference's own noise (absolute)

    @property
    def checked_total(self) -> int:
        return sum(p.checked for p in self.params) + (self.overall is not None)

    @property
    def kinks_total(self) -> int:
        return sum(p.kinks for p in self.params) + bool(self.overall and self.overall.get("kink"))

    @property
    def kink_share(self) -> float:
        return self.kinks_total / self.checked_total if self.checked_total else 0.0

    @property
    def passed(self) -> bool:
        ok = all(p.passed for p in self.params) and self.kink_share <= MAX_KINK_SHARE
        return ok and (self.overall is None or self.overall["passed"])

    def to_dict(self) -> dict:
        """JSON-ready summary (without the per-entry errors)."""
        params = []
        for p in self.params:
            params.append({key: getattr(p, key) for key in JSON_KEYS})
        out = {"passed": self.passed, "mode": self.mode, "params": params, "seconds": self.seconds,
               "kinks_total": self.kinks_total, "kink_share": self.kink_share, "max_kink_share": MAX_KINK_SHARE,
               "roundoff_bound": self.roundoff}
        if self.overall is not None:
            out["overall"] = self.overall
        return out

    def all_rel_errors(self) -> np.ndarray:
        """Relative errors of every checked non-kink entry."""
        return np.concatenate([np.asarray(p.rel_errors, dtype=float) for p in self.params] or [np.zeros(0)])

    def all_kink_rel_errors(self) -> np.ndarray:
        """Relative errors of the kink entries (shown apart, never judged)."""
        return np.concatenate([np.asarray(p.kink_rel_errors, dtype=float) for p in self.params] or [np.zeros(0)])


def relative_errors(analytic: np.ndarray, numeric: np.ndarray, scale: float | None = None,
                    floor: float | np.ndarray = 0.0) -> np.ndarray:
    """|a − n| / max(|a| + |n|, 0.01·g, floor) per entry, g = ``scale`` or the largest |a| + |n| (0 when
    a = n = 0); ``floor`` (scalar or per entry): see ``roundoff_floor``."""
    total = np.abs(analytic) + np.abs(numeric)
    g = scale if scale is not None else (float(total.max()) if total.size else 0.0)
    denom = np.maximum(np.maximum(total, 0.01 * g), floor)
    diff = np.abs(analytic - numeric)
    return np.divide(diff, denom, out=np.zeros_like(diff), where=denom > 0)


ROUNDOFF_MARGIN = 4.0  # measured round-off reached 0.65 of ε·Σ|terms|/h (shipped Gaussian VAE, logvar.W)


def roundoff_bound(term_mass: float, step: float) -> float:
    """ε·Σ|terms|/h: the size of what rounding the objective's terms (their absolute sum ``term_mass``)
    puts into a central difference with step h (measured 0.05–0.65 of it on the test and shipped models)."""
    return float(np.finfo(np.float64).eps * term_mass / step)


def roundoff_floor(term_mass: float, step) -> float | np.ndarray:
    """The denominator floor that makes an error of ROUNDOFF_MARGIN round-off bounds a relative error of
    PASS_THRESHOLD: a derivative too small for the finite difference to resolve to 1e-5 is judged on
    what it can resolve (a 1 % bug in it still fails)."""
    bound = np.finfo(np.float64).eps * term_mass / np.asarray(step, dtype=float)
    return ROUNDOFF_MARGIN * bound / PASS_THRESHOLD


def norm_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / denom) if denom > 0 else 0.0


def summarise(name: str, shape, entries: np.ndarray | None, analytic: np.ndarray, numeric: np.ndarray,
              kink: np.ndarray, note: str = "", scale: float | None = None,
              floor: float | np.ndarray = 0.0) -> ParamCheck:
    """A ParamCheck from the checked flat ``entries`` of one parameter (None: directions, no index);
    kink entries are counted and shown apart, never judged. ``scale``: g of the relative error (default:
    the largest |a| + |n| of the non-kink entries; a direction passes 2‖gradient‖, the largest any unit
    direction can have); ``floor``: the round-off floor of each entry's step (``roundoff_floor``)."""
    ok = ~kink
    if scale is None:
        total = np.abs(analytic[ok]) + np.abs(numeric[ok])
        scale = float(total.max()) if total.size else 0.0
    rel = relative_errors(analytic, numeric, scale, floor)
    good = rel[ok]
    max_rel = float(good.max()) if good.size else 0.0
    order = np.argsort(-rel, kind="stable")[:WORST_SHOWN]
    worst = [{"index": [int(i) for i in np.unravel_index(int(entries[j]), shape)] if entries is not None else [],
              "analytic": float(analytic[j]), "numeric": float(numeric[j]), "rel_error": float(rel[j]),
              "kink": bool(kink[j])} for j in order]
    return ParamCheck(
        name=name, shape=list(shape), checked=int(rel.size), max_rel_error=max_rel,
        mean_rel_error=float(good.mean()) if good.size else 0.0,
        norm_rel_error=norm_error(analytic[ok], numeric[ok]), warnings=int((good > WARN_THRESHOLD).sum()),
        passed=max_rel <= PASS_THRESHOLD, kinks=int(kink.sum()), note=note, rel_errors=good.tolist(),
        kink_rel_errors=rel[kink].tolist(), worst=worst, numeric=numeric, kink_mask=kink)
