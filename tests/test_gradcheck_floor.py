"""The gradient check's round-off floor (core.gradcheck.report.roundoff_floor), checked against an independent
formula: its size (the objective's term mass is a batch *mean*), its power (a 0.1 % error just above the floor
fails) and that an entry retried with a smaller step is judged with that step's floor."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.gradcheck import gradcheck
from core.gradcheck.check import check_entry
from core.gradcheck.report import PASS_THRESHOLD, RETRY_STEPS, ROUNDOFF_MARGIN, STEP, relative_errors
from core.models import Model

N, D = 8, 560
EPS64 = np.finfo(np.float64).eps


@pytest.fixture
def case():
    """A Bernoulli VAE 560-16-4 (float64), a batch of 8 random images and fixed noise."""
    rng = np.random.default_rng(3)
    model = small_model(hidden=(16,), latent=4, seed=1)
    return model, rng.random((N, D)), rng.standard_normal((N, 4))


def independent_floor(model: Model, x: np.ndarray, eps: np.ndarray, step: float) -> float:
    """MARGIN·ε·M/h / PASS_THRESHOLD with M = Σ|terms| of the batch-mean −ELBO, from the model's own per-image
    losses: Bernoulli terms and KL terms are all ≥ 0, so M = (Σ rec_i + β Σ kl_ij) / N."""
    rec, kl = model.copy(dtype="float64").per_image_losses(x, eps)
    mass = (np.sum(rec) + model.config.beta * np.sum(kl)) / x.shape[0]
    return ROUNDOFF_MARGIN * EPS64 * mass / step / PASS_THRESHOLD


def analytic(model: Model, x, eps, name: str) -> np.ndarray:
    m = model.copy(dtype="float64")
    m.forward_backward(x, eps, kl_weight=m.config.beta, compute_loss=False)
    return m.grads[name].copy()


def test_the_floor_is_the_independent_formula(case):
    model, x, eps = case
    report = gradcheck(model, x, eps, mode="sample", k=2)
    floor = report.roundoff * ROUNDOFF_MARGIN / PASS_THRESHOLD
    assert floor == pytest.approx(independent_floor(model, x, eps, STEP), rel=1e-9)


@pytest.fixture
def plant(monkeypatch):
    """Scale one entry of one parameter's analytic gradient by ``factor`` (a planted bug)."""

    def install(name: str, flat_index: int, factor: float) -> None:
        original = Model.forward_backward

        def wrong(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            self.grads[name].reshape(-1)[flat_index] *= factor
            return result

        monkeypatch.setattr(Model, "forward_backward", wrong)

    return install


def test_a_0_1_percent_error_just_above_the_floor_fails(case, plant):
    """The derivative whose 0.1 % error is just over the pass line when judged on the floor (|d| a little over
    PASS_THRESHOLD / 0.001 · floor / 2 … ): with a floor N times too large it would pass."""
    model, x, eps = case
    floor = independent_floor(model, x, eps, STEP)
    grad = analytic(model, x, eps, "out.W").reshape(-1)
    # |a − n| / max(|a| + |n|, floor) = 0.001·|d| / floor (|d| < floor / 2): over the line from |d| = 0.01·floor
    band = np.flatnonzero((np.abs(grad) > 0.015 * floor) & (np.abs(grad) < 0.06 * floor))
    assert band.size, f"no out.W derivative in the band (floor {floor:.3g}); pick another seed"
    index = int(band[np.argmin(np.abs(grad[band]))])
    plant("out.W", index, 1.001)
    entry = check_entry(model, x, eps, "out.W", np.unravel_index(index, model.params["out.W"].shape))
    assert not entry.kink and entry.step == STEP
    assert PASS_THRESHOLD < entry.rel_error < 8 * PASS_THRESHOLD * 0.5  # just above, not far above
    report = gradcheck(model, x, eps, mode="full")
    assert [p.name for p in report.params if not p.passed] == ["out.W"]
    assert max(abs(float(p.max_rel_error)) for p in report.params if p.name != "out.W") < PASS_THRESHOLD


def test_a_retried_entry_is_judged_with_the_floor_of_its_own_step(case):
    """Unit 0 of enc0 sits 5e-7 above its ReLU's kink for image 0: a step of 1e-6 on a weight whose input is
    over 0.5 crosses it, the retry's 1e-7 does not. The encoder's outgoing weights are made small, so enc0's
    derivatives are under both floors (and 1 % of the largest) and the floor decides: those entries are judged
    with the floor of 1e-7, one at a time and in the batched full check."""
    model, x, eps = case
    weights, bias = model.params["enc0.W"], model.params["enc0.b"]
    bias[0] = 5e-7 - x[0] @ weights[:, 0]
    for head in ("mean.W", "logvar.W"):
        model.params[head][...] *= 1e-4
    grad = analytic(model, x, eps, "enc0.W")
    retry_step = RETRY_STEPS[0]
    report = gradcheck(model, x, eps, mode="full")
    enc0 = next(p for p in report.params if p.name == "enc0.W")
    numeric = np.asarray(enc0.numeric).reshape(weights.shape)
    ok = ~np.asarray(enc0.kink_mask).reshape(weights.shape)
    scale = float((np.abs(grad) + np.abs(numeric))[ok].max())
    retried = [i for i in range(D) if x[0, i] > 0.5][:6]
    assert retried
    for i in retried:
        entry = check_entry(model, x, eps, "enc0.W", (i, 0))
        assert entry.step == retry_step and not entry.kink  # it was retried, and the retry resolved it
        assert abs(entry.analytic) + abs(entry.numeric) < independent_floor(model, x, eps, STEP)  # floor decides
        floor = independent_floor(model, x, eps, retry_step)
        expected = relative_errors(np.array([entry.analytic]), np.array([entry.numeric]),
                                   abs(entry.analytic) + abs(entry.numeric), floor)[0]
        assert entry.rel_error == pytest.approx(expected, rel=1e-12)
        assert ok[i, 0]  # the batched check resolved it too, and judged it on the same floor
        batched = relative_errors(np.array([grad[i, 0]]), np.array([numeric[i, 0]]), scale, floor)[0]
        position = int(np.flatnonzero(ok.reshape(-1)).tolist().index(i * weights.shape[1]))
        assert enc0.rel_errors[position] == pytest.approx(batched, rel=1e-12)
