"""Gradient check: analytic gradients against central finite differences, in float64.

With ``a`` the analytic and ``n`` the numerical derivative of one entry:

* relative error of an entry = |a − n| / max(|a| + |n|, 0.01·g, r), where g is the largest |a| + |n|
  over the parameter's checked non-kink entries (the error is 0 when a = n = 0), and r = 4·R/1e-5 with
  R = ε·Σ|terms|/h the round-off a central difference of this objective carries (``roundoff_bound``;
  measured 0.05–0.65·R). Entries whose true gradient is almost zero are judged on their parameter's
  scale, and derivatives smaller than what h resolves to 1e-5 on what it does resolve, so round-off in
  a ~1300-nat loss cannot flag a correct gradient (a 1 % error in it still fails), and 0/0 never happens;
* norm-wise error = ‖a − n‖ / (‖a‖ + ‖n‖) over the parameter's checked non-kink entries;
* an entry over 1e-3 is a *warning*; a parameter *passes* when its max relative error ≤ 1e-5.

n = (f(θ + h) − f(θ − h)) / 2h with h = 1e-6: the truncation error is O(h²)·f''' ≈ 1e-12 and the
round-off ≈ 1e-16·|term|/h per term. The difference f(θ+) − f(θ−) is summed term by term (per pixel
and per latent dimension), so the ~1e-13 round-off of summing a 400-nat loss does not enter it. The
objective f is the batch mean of rec + β·KL with the VAE's noise eps held fixed.

*Kinks* (``kinks.py``): where ±h moves a piecewise activation's input across (or onto) its kink, the
finite difference is meaningless there. Such an entry is retried with h = 1e-7 and kept once it no
longer crosses; otherwise it is a *kink entry*: counted and shown apart, excluded from
pass/fail. A check passes when every parameter passes and kink entries are at most
MAX_KINK_SHARE of the checked ones.

Modes: ``full`` checks every entry (batched: ``batched.py``: one move of a pre-activation column
serves all the weights into it, since the pre-activation is linear in them), ``sample`` k random entries per
parameter, ``direction`` one random unit direction per parameter (2 forward passes each) plus one
over all parameters at once (reported as ``overall``). ``check_steps`` is the same check as a
generator that yields ``Progress`` (with an ETA) and returns the report.
"""

from .check import MODES, EntryCheck, GradcheckCancelled, Progress, check_entry, check_steps, gradcheck
from .kinks import EXPLANATION as KINK_EXPLANATION
from .report import (
    MAX_KINK_SHARE,
    PASS_THRESHOLD,
    RETRY_STEPS,
    ROUNDOFF_MARGIN,
    STEP,
    WARN_THRESHOLD,
    GradcheckReport,
    ParamCheck,
    norm_error,
    relative_errors,
    roundoff_bound,
)

__all__ = ["MODES", "EntryCheck", "check_entry", "GradcheckCancelled", "Progress", "check_steps", "gradcheck",
           "KINK_EXPLANATION",
           "MAX_KINK_SHARE", "ROUNDOFF_MARGIN", "roundoff_bound", "PASS_THRESHOLD", "RETRY_STEPS", "STEP",
           "WARN_THRESHOLD", "GradcheckReport", "ParamCheck", "norm_error", "relative_errors"]
