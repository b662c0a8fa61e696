"""Gradient checks of the hand-written back-propagation, and of the checker itself.

Most checks use a small input size (48 pixels) so that mode 'full' (every entry of every
parameter, two forward passes each) stays fast; one check runs the real 560-pixel VAE on
Frey faces. Parameters, biases included, get random non-zero values first: with the
zero-initialised biases a dead ReLU layer feeds exactly 0 into the next one, which puts the
finite difference on the ReLU's kink (where no derivative exists) rather than testing code.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.gradcheck import (
    PASS_THRESHOLD,
    GradcheckCancelled,
    gradcheck,
    norm_error,
    relative_errors,
)
from core.models import Model, param_shapes

SMALL_D = 48
LIKELIHOODS = ["bernoulli", "gaussian", "gaussian-learned"]


def generic_model(kind="vae", likelihood="bernoulli", hidden=(16,), seed=0, input_dim=SMALL_D, **kw) -> Model:
    model = small_model(kind=kind, likelihood=likelihood, hidden=hidden, latent=4, seed=seed,
                        input_dim=input_dim, **kw)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = rng.standard_normal(p.shape) * 0.2
    return model


def pixels(n=8, d=SMALL_D, seed=5) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


def assert_every_parameter_passes(model, report):
    names = [name for name, _ in param_shapes(model.config)]
    assert [p.name for p in report.params] == names
    for pc, (_, shape) in zip(report.params, param_shapes(model.config), strict=True):
        assert pc.passed, f"{pc.name}: max rel. error {pc.max_rel_error:.2e}"
        assert pc.max_rel_error <= PASS_THRESHOLD
        assert pc.checked == int(np.prod(shape))  # full mode checks every entry
        assert pc.warnings == 0
        assert pc.norm_rel_error <= 1e-6
    assert report.passed


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("hidden", [(16,), (12, 8)], ids=["h16", "h12-8"])
def test_full_gradcheck_passes(kind, likelihood, hidden):
    model = generic_model(kind, likelihood, hidden)
    before = model.flat.copy()
    report = gradcheck(model, pixels(), mode="full")
    assert_every_parameter_passes(model, report)
    np.testing.assert_array_equal(model.flat, before)  # the check works on a copy


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_full_gradcheck_ae_linear_code(likelihood):
    model = generic_model("ae", likelihood, (12, 8), code_activation="linear")
    assert_every_parameter_passes(model, gradcheck(model, pixels(), mode="full"))


def test_full_gradcheck_real_size_vae_on_frey_faces(frey):
    """A 560-pixel VAE (hidden 8 to stay quick), float32 model checked on its float64 copy, 8 Frey faces."""
    model = generic_model("vae", "bernoulli", (8,), input_dim=560)
    model32 = model.copy(dtype="float32")
    x = frey[np.random.default_rng(0).choice(len(frey), 8, replace=False)]
    report = gradcheck(model32, x, mode="full")
    assert_every_parameter_passes(model32, report)


def test_kl_weight_is_part_of_the_checked_objective():
    model = generic_model("vae", "gaussian", (16,), beta=3.5)
    assert_every_parameter_passes(model, gradcheck(model, pixels(), mode="full"))


# ------------------------------------------------------------------ the error definition
def test_relative_error_definition_on_hand_made_vectors():
    analytic = np.array([1.0, 0.0, 0.001, 0.0, -2.0])
    numeric = np.array([1.1, 0.0, 0.0011, 1e-9, -2.0])
    # |a| + |n| = [2.1, 0, 0.0021, 1e-9, 4]; g = 4, floor 0.01·g = 0.04
    expected = np.array([0.1 / 2.1, 0.0, 0.0001 / 0.04, 1e-9 / 0.04, 0.0])
    np.testing.assert_allclose(relative_errors(analytic, numeric), expected, rtol=1e-9, atol=1e-18)


def test_relative_error_zero_over_zero_is_zero():
    rel = relative_errors(np.zeros(5), np.zeros(5))
    assert np.all(rel == 0) and np.all(np.isfinite(rel))
    assert norm_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_errors(np.zeros(0), np.zeros(0)).size == 0


def test_relative_error_of_opposite_signs_is_one():
    np.testing.assert_allclose(relative_errors(np.array([1.0, -3.0]), np.array([-1.0, 3.0])), [1.0, 1.0])


def test_norm_wise_error():
    assert norm_error(np.array([3.0, 4.0]), np.zeros(2)) == pytest.approx(1.0)
    assert norm_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(2) / 2)
    assert norm_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    # ‖a − n‖ / (‖a‖ + ‖n‖)
    a, n = np.array([1.0, 2.0, 2.0]), np.array([1.0, 2.0, 2.3])
    assert norm_error(a, n) == pytest.approx(0.3 / (3.0 + np.sqrt(1 + 4 + 2.3**2)))


# ------------------------------------------------------------------ modes, progress, cancel
def test_sample_mode_checks_k_entries_per_parameter():
    model = generic_model("vae", "gaussian-learned", (12, 8))
    report = gradcheck(model, pixels(), mode="sample", k=5, seed=3)
    assert report.mode == "sample"
    for pc in report.params:
        assert pc.checked == min(5, int(np.prod(pc.shape)))
        assert pc.passed
    assert report.passed and report.overall is None


def test_direction_mode_checks_one_direction_per_parameter_and_overall():
    model = generic_model("ae", "bernoulli", (16,))
    report = gradcheck(model, pixels(), mode="direction")
    assert all(pc.checked == 1 and pc.passed for pc in report.params)
    assert report.overall is not None and report.overall["passed"]
    assert report.overall["analytic"] == pytest.approx(report.overall["numeric"], rel=1e-5)
    d = report.to_dict()
    assert d["overall"]["passed"] and d["mode"] == "direction"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        gradcheck(generic_model(), pixels(), mode="sideways")


def test_progress_callback_is_called_up_to_the_total():
    calls = []
    model = generic_model("vae", "bernoulli", (16,))
    gradcheck(model, pixels(), mode="full", progress=lambda done, total, name: calls.append((done, total, name)))
    total = model.n_params
    assert len(calls) > len(model.shapes)  # at least one call per parameter
    assert all(t == total for _, t, _ in calls)
    dones = [d for d, _, _ in calls]
    assert dones == sorted(dones)
    assert calls[-1] == (total, total, "done")
    assert {name for _, _, name in calls} >= {name for name, _ in model.shapes}


def test_cancel_raises_gradcheck_cancelled():
    model = generic_model("vae", "bernoulli", (16,))
    progress_calls = []
    answers = iter([False, False, True])
    with pytest.raises(GradcheckCancelled):
        gradcheck(model, pixels(), mode="full", progress=lambda *a: progress_calls.append(a),
                  cancelled=lambda: next(answers))
    assert len(progress_calls) == 2  # stopped at the third check, long before the end


# ------------------------------------------------------------------ a broken gradient must fail
@pytest.fixture
def broken_gradient(monkeypatch):
    """Make Model.forward_backward scale one parameter's gradient by a factor (a 1 % bug)."""

    def install(param: str, factor: float = 1.01):
        original = Model.forward_backward

        def wrong(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            self.grads[param][...] *= factor
            return result

        monkeypatch.setattr(Model, "forward_backward", wrong)

    return install


@pytest.mark.parametrize("kind,param", [("vae", "dec0.W"), ("vae", "logvar.b"), ("ae", "code.W"), ("ae", "out.b")])
def test_one_percent_gradient_bug_fails_full_check(broken_gradient, kind, param):
    broken_gradient(param)
    report = gradcheck(generic_model(kind, "bernoulli", (16,)), pixels(), mode="full")
    assert not report.passed
    failed = [pc.name for pc in report.params if not pc.passed]
    assert failed == [param]
    bad = next(pc for pc in report.params if pc.name == param)
    assert bad.max_rel_error > 1e-3  # a 1 % scale error is a ~0.5 % relative error per entry
    assert report.to_dict()["passed"] is False


def test_gradient_bug_fails_direction_check(broken_gradient):
    broken_gradient("enc0.W")
    report = gradcheck(generic_model("vae", "gaussian", (16,)), pixels(), mode="direction")
    assert not report.passed
    assert [pc.name for pc in report.params if not pc.passed] == ["enc0.W"]


def test_gradient_bug_in_a_layer_backward_fails(monkeypatch):
    """A bug inside a layer (ReLU letting 1 % of the gradient through closed gates) is caught."""
    import core.layers as layers
    import core.models as models

    original = layers.relu_backward

    def leaky(dout, cache, inplace=False):
        leak = 0.01 * dout * (cache <= 0)  # before the in-place original zeroes those entries
        return original(dout, cache, inplace=inplace) + leak

    if getattr(models, "relu_backward", None) is not original:
        pytest.fail("core.models no longer calls layers.relu_backward; update this test's injection point")
    monkeypatch.setattr(models, "relu_backward", leaky)
    report = gradcheck(generic_model("ae", "bernoulli", (12, 8)), pixels(), mode="full")
    assert not report.passed
