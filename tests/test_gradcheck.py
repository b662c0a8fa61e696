"""Gradient checks of the hand-written back-propagation, and of the checker itself.

Most checks use a small input size (48 pixels) so that mode 'full' (every entry of every
parameter, two forward passes each) stays fast; one check runs the real 560-pixel VAE on
Frey faces. Parameters, biases included, get random non-zero values first: with the
zero-initialised biases a dead ReLU layer feeds exactly 0 into the next one, which puts the
finite difference on the ReLU's kink (where no derivative exists) rather than testing code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.factories import small_model

import core.gradcheck.check as check_module
import core.losses as losses
import core.models as models
from core.checkpoint import load_model
from core.gradcheck import (
    KINK_EXPLANATION,
    MAX_KINK_SHARE,
    PASS_THRESHOLD,
    STEP,
    WARN_THRESHOLD,
    GradcheckCancelled,
    Progress,
    check_steps,
    gradcheck,
    norm_error,
    relative_errors,
)
from core.gradcheck.network import full_pass
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


# ------------------------------------------------------------------ the generator and the JSON summary
def test_check_steps_yields_progress_with_an_eta_and_returns_the_report():
    model = generic_model("vae", "gaussian-learned", (12, 8))
    steps = check_steps(model, pixels(), mode="full")
    seen = []
    try:
        while True:
            seen.append(next(steps))
    except StopIteration as stop:
        report = stop.value
    assert report.passed and all(isinstance(p, Progress) for p in seen)
    assert seen[-1].done == seen[-1].total == model.n_params and seen[-1].name == "done"
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert all(p.eta_s is None or p.eta_s >= 0 for p in seen) and seen[-1].elapsed_s > 0


def test_closing_the_generator_stops_the_check_early():
    steps = check_steps(generic_model(), pixels(), mode="sample", k=200)
    next(steps)
    steps.close()
    with pytest.raises(StopIteration):
        next(steps)


def test_json_summary_has_the_old_keys_and_the_kink_counts():
    d = gradcheck(generic_model("ae", "gaussian", (16,)), pixels(), mode="sample", k=5).to_dict()
    assert {"passed", "mode", "params", "seconds", "kinks_total", "kink_share"} <= set(d)
    for p in d["params"]:
        assert {"name", "shape", "checked", "max_rel_error", "mean_rel_error", "norm_rel_error", "warnings", "passed",
                "kinks"} <= set(p)
    assert d["kinks_total"] == 0 and d["kink_share"] == 0.0
    json.dumps(d)


# ------------------------------------------------------------------ batched full check = one at a time
@pytest.mark.parametrize("kind,likelihood,hidden,kw", [
    ("vae", "bernoulli", (16,), {}), ("vae", "gaussian-learned", (12, 8), {}), ("ae", "gaussian", (16,), {}),
    ("ae", "bernoulli", (12, 8), {"code_activation": "linear"}), ("vae", "gaussian", (8,), {"beta": 2.5}),
    ("vae", "bernoulli", (8,), {"input_centre": [0.4] * SMALL_D}),
    ("ae", "gaussian", (12, 8), {"enc_activation": "leaky_relu", "dec_activation": "tanh", "leaky_slope": 0.1})])
def test_batched_full_check_equals_the_one_at_a_time_check(kind, likelihood, hidden, kw):
    """Same entries, same kink flags, numbers equal to the round-off of a central difference: ε·Σ|terms|/h."""
    model = generic_model(kind, likelihood, hidden, **kw)
    x = pixels(4)
    plant_kinks(model, unit=1)  # a unit with ~0 pre-activation: kink entries in both
    batched = gradcheck(model, x, mode="full", seed=1)
    single = gradcheck(model, x, mode="full", seed=1, batched_full=False)
    eps = np.random.default_rng(1).standard_normal((4, 4)) if kind == "vae" else None
    base = full_pass(model, x, eps)
    roundoff = np.finfo(float).eps * (np.abs(base.rec).sum() + model.config.beta * np.abs(base.kl).sum()) / 4 / STEP
    assert batched.kinks_total > 0
    for b, s in zip(batched.params, single.params, strict=True):
        assert (b.name, b.checked, b.kinks, b.passed) == (s.name, s.checked, s.kinks, s.passed)
        np.testing.assert_array_equal(b.kink_mask, s.kink_mask)
        ok = ~b.kink_mask
        assert np.abs(b.numeric[ok] - s.numeric[ok]).max(initial=0) <= 0.5 * roundoff, b.name
    assert batched.passed and single.passed


def test_batched_check_bounds_its_memory_by_chunks(monkeypatch):
    """Tiny chunks (7 moved rows at a time) give the same numbers as the default ones."""
    model = generic_model("vae", "bernoulli", (16,))
    whole = gradcheck(model, pixels(4), mode="full")
    monkeypatch.setattr(check_module.batched, "CHUNK_ROWS", 7)
    chunked = gradcheck(model, pixels(4), mode="full")
    for a, b in zip(whole.params, chunked.params, strict=True):
        np.testing.assert_allclose(a.numeric, b.numeric, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ kinks
def plant_kinks(model: Model, unit: int = 0, layer: str = "enc0", size: float = 1e-12) -> None:
    """Make one hidden unit's pre-activation ~0 for every image (weights and bias ~1e-12, as after strong
    weight decay): any ±h of its weights or bias crosses its ReLU's kink."""
    rng = np.random.default_rng(7)
    model.params[f"{layer}.W"][:, unit] = size * rng.standard_normal(model.params[f"{layer}.W"].shape[0])
    model.params[f"{layer}.b"][unit] = size


def test_kink_entries_are_counted_shown_apart_and_do_not_fail_the_check():
    model = generic_model("vae", "gaussian-learned", (16,))
    plant_kinks(model, unit=3)
    for mode in ("full", "sample"):
        report = gradcheck(model, pixels(4), mode=mode, k=48, seed=0)
        enc_w = next(p for p in report.params if p.name == "enc0.W")
        assert enc_w.kinks > 0 and report.passed, mode
        assert enc_w.kink_rel_errors and max(enc_w.kink_rel_errors) > PASS_THRESHOLD  # they would fail if judged
        assert all(w["index"][1] == 3 for w in enc_w.worst if w["kink"])  # only the planted unit's column
        assert report.kinks_total == sum(p.kinks for p in report.params)
        assert report.kink_share == pytest.approx(report.kinks_total / sum(p.checked for p in report.params))
        d = report.to_dict()
        assert d["kinks_total"] == report.kinks_total and d["params"][0]["kinks"] == enc_w.kinks


def test_kink_detection_is_what_keeps_the_check_honest(monkeypatch):
    """Without the kink test the same correct model fails: the planted unit is a false alarm."""
    model = generic_model("vae", "bernoulli", (16,))
    plant_kinks(model, unit=5)
    assert gradcheck(model, pixels(4), mode="full").passed
    monkeypatch.setattr(check_module.kinks, "KINK_POINTS", {})
    report = gradcheck(model, pixels(4), mode="full")
    assert not report.passed and report.kinks_total == 0


def test_a_kink_entry_that_no_longer_crosses_with_a_smaller_step_is_kept(monkeypatch):
    """A unit at pre-activation 5e-7: h = 1e-6 crosses its kink, h = 1e-7 does not."""
    model = generic_model("vae", "bernoulli", (16,))
    model.params["enc0.W"][:, 2] = 0.0
    model.params["enc0.b"][2] = 5e-7
    report = gradcheck(model, pixels(4), mode="full")
    assert report.kinks_total == 0 and report.passed
    monkeypatch.setattr(check_module, "RETRY_STEPS", ())
    assert gradcheck(model, pixels(4), mode="full").kinks_total > 0


def test_direction_mode_keeps_its_direction_off_units_at_a_kink():
    model = generic_model("vae", "gaussian-learned", (16,))
    plant_kinks(model, unit=3)
    report = gradcheck(model, pixels(4), mode="direction")
    assert report.passed and report.kinks_total == 0
    enc_w = next(p for p in report.params if p.name == "enc0.W")
    assert "kept off 1 unit" in enc_w.note and "kept off" in report.overall["note"]


def test_too_many_kink_entries_fail_the_check():
    """Every encoder unit at a kink: each parameter passes on its few judged entries, but the check fails."""
    model = generic_model("vae", "bernoulli", (16,))
    for unit in range(16):
        plant_kinks(model, unit=unit)
    report = gradcheck(model, pixels(4), mode="full")
    assert all(p.passed for p in report.params)
    assert report.kink_share > MAX_KINK_SHARE and not report.passed and not report.to_dict()["passed"]


def test_leaky_relu_kinks_are_detected_like_relu_kinks():
    model = small_model("vae", "bernoulli", (16,), latent=4, input_dim=SMALL_D, enc_activation="leaky_relu",
                        leaky_slope=0.1)
    plant_kinks(model, unit=4)
    report = gradcheck(model, pixels(4), mode="full")
    assert report.kinks_total > 0 and report.passed


@pytest.mark.parametrize("activation", ["softplus", "tanh", "elu"])
def test_smooth_activations_have_no_kinks(activation):
    """elu is C¹ at 0: crossing it costs at most h/4 relative error, so it is not a kink."""
    model = small_model("vae", "bernoulli", (16,), latent=4, input_dim=SMALL_D, enc_activation=activation,
                        dec_activation=activation)
    plant_kinks(model, unit=4)
    report = gradcheck(model, pixels(4), mode="full")
    assert report.kinks_total == 0 and report.passed


def test_the_kink_explanation_says_what_it_means():
    assert "kink" in KINK_EXPLANATION and "says nothing about the backprop" in KINK_EXPLANATION


# ------------------------------------------------------------------ planted bugs fail in every mode
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


def _scaled(fn, which, factor=1.01):
    """fn with output number ``which`` (of a tuple) scaled by factor (None outputs stay None)."""

    def wrong(*args, **kwargs):
        out = list(fn(*args, **kwargs))
        if out[which] is not None:
            out[which] = out[which] * factor
        return tuple(out)

    return wrong


def _plant_affine_dw(mp):
    original = models.affine_backward

    def wrong(dout, cache, dW=None, db=None, need_dx=True):
        dx, dw, dbias = original(dout, cache, dW, db, need_dx)
        dw *= 1.01
        return dx, dw, dbias

    mp.setattr(models, "affine_backward", wrong)


def _plant_activation(mp):
    original = Model._activation

    def wrong(self, stack):
        forward, backward = original(self, stack)
        return forward, lambda dout, cache, inplace=False: backward(dout, cache, inplace) * 1.01

    mp.setattr(Model, "_activation", wrong)


PLANTED = {  # name: (install(monkeypatch), model kind, likelihood)
    "affine dW": (_plant_affine_dw, "vae", "bernoulli"),
    "affine dx": (lambda mp: mp.setattr(models, "affine_backward", _scaled(models.affine_backward, 0)), "ae",
                  "bernoulli"),
    "ReLU backward": (_plant_activation, "vae", "gaussian"),
    "Bernoulli loss": (lambda mp: mp.setattr(losses.Bernoulli, "grad", _scaled(losses.Bernoulli.grad, 0)), "vae",
                       "bernoulli"),
    "Gaussian loss": (lambda mp: mp.setattr(losses.GaussianFixed, "grad", _scaled(losses.GaussianFixed.grad, 0)), "ae",
                      "gaussian"),
    "learned-variance loss, mean": (
        lambda mp: mp.setattr(losses.GaussianLearned, "grad", _scaled(losses.GaussianLearned.grad, 0)), "vae",
        "gaussian-learned"),
    "learned-variance loss, variance": (
        lambda mp: mp.setattr(losses.GaussianLearned, "grad", _scaled(losses.GaussianLearned.grad, 1)), "vae",
        "gaussian-learned"),
    "KL, mean": (lambda mp: mp.setattr(losses, "kl_grad", _scaled(losses.kl_grad, 0)), "vae", "bernoulli"),
    "KL, log-variance": (lambda mp: mp.setattr(losses, "kl_grad", _scaled(losses.kl_grad, 1)), "vae", "bernoulli"),
    "reparameterisation": (lambda mp: mp.setattr(models, "reparameterize", _scaled(models.reparameterize, 1)), "vae",
                           "gaussian"),
}


@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
@pytest.mark.parametrize("bug", list(PLANTED))
def test_a_one_percent_error_in_any_backward_formula_fails_every_mode(monkeypatch, bug, mode):
    install, kind, likelihood = PLANTED[bug]
    model = generic_model(kind, likelihood, (12, 8))
    assert gradcheck(model, pixels(4), mode=mode, k=10).passed  # correct before the bug is planted
    install(monkeypatch)
    report = gradcheck(model, pixels(4), mode=mode, k=10)
    assert not report.passed
    assert max(p.max_rel_error for p in report.params) > WARN_THRESHOLD or report.overall["rel_error"] > PASS_THRESHOLD


@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
@pytest.mark.parametrize("kind,param", [("vae", "enc0.W"), ("vae", "dec0.W"), ("vae", "logvar.b"), ("vae", "mean.W"),
                                        ("ae", "code.W"), ("ae", "out.b"), ("ae", "dec0.b")])
def test_a_one_percent_error_in_one_layer_fails_that_layer_in_every_mode(broken_gradient, kind, param, mode):
    broken_gradient(param)
    report = gradcheck(generic_model(kind, "bernoulli", (16,)), pixels(), mode=mode, k=10)
    assert not report.passed
    assert [pc.name for pc in report.params if not pc.passed] == [param]
    assert report.to_dict()["passed"] is False


@pytest.mark.parametrize("mode", ["full", "sample"])
def test_a_half_per_mille_error_sits_between_the_pass_line_and_the_warning_line(broken_gradient, mode):
    """0.05 % in one gradient: relative error ~2.5e-4 — no warning (≤ 1e-3), but the check fails
    (pass line 1e-5). Fails if the pass line is ever loosened to the warning line."""
    broken_gradient("dec0.W", 1.0005)
    report = gradcheck(generic_model("vae", "gaussian", (16,)), pixels(), mode=mode, k=10)
    bad = next(pc for pc in report.params if pc.name == "dec0.W")
    assert PASS_THRESHOLD < 1e-4 < bad.max_rel_error < 5e-4 < WARN_THRESHOLD
    assert bad.warnings == 0 and not bad.passed and not report.passed


# ------------------------------------------------------------------ the shipped models
SHIPPED = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "model").glob("*.npz"))


@pytest.fixture(scope="module")
def shipped_models():
    return {Path(p).name: load_model(p).model for p in SHIPPED}


@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
@pytest.mark.parametrize("name", [Path(p).name for p in SHIPPED])
def test_every_shipped_model_passes_for_seeds_0_to_9(shipped_models, frey, name, mode):
    """As a user runs it: 4 random Frey faces per seed, k = 20 (the CLI's default batch is larger).
    Full mode too: every entry of a shipped model takes ~0.2 s batched (benchmarks/RESULTS.md)."""
    for seed in range(10):
        x = frey[np.random.default_rng(seed).choice(len(frey), 4, replace=False)]
        report = gradcheck(shipped_models[name], x, mode=mode, k=20, seed=seed)
        failed = [(p.name, p.max_rel_error) for p in report.params if not p.passed]
        assert report.passed, f"{name} {mode} seed {seed}: {failed}, kink share {report.kink_share:.3f}"


def test_the_gaussian_shipped_model_passes_a_full_check(shipped_models, frey):
    """Every one of its 343,540 entries (batch 4) is checked."""
    x = frey[np.random.default_rng(0).choice(len(frey), 4, replace=False)]
    report = gradcheck(shipped_models["vae_gauss.npz"], x, mode="full", seed=0)
    assert report.passed and sum(p.checked for p in report.params) == shipped_models["vae_gauss.npz"].n_params


# ------------------------------------------------------------------ the command line
def _cli(*args) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "main.py", "gradcheck", *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def kinked_model_file(tmp_path_factory) -> Path:
    from core.checkpoint import save_model

    model = small_model("vae", "bernoulli", (16,), latent=4)
    plant_kinks(model, unit=6)
    return save_model(tmp_path_factory.mktemp("gc") / "kinked.npz", model)


def test_cli_table_has_a_kinks_column_and_the_kink_sentence(kinked_model_file):
    result = _cli("--weights", kinked_model_file, "--mode", "full", "--batch-size", "4", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("parameter"))
    assert header.split()[:4] == ["parameter", "shape", "checked", "kinks"]
    enc_w = next(line for line in result.stdout.splitlines() if line.startswith("enc0.W"))
    assert int(enc_w.split()[3]) > 0 and enc_w.split()[-1] == "pass"
    assert KINK_EXPLANATION in result.stdout and "PASSED" in result.stdout


def test_cli_json_adds_kinks_per_parameter_and_the_totals(kinked_model_file):
    result = _cli("--weights", kinked_model_file, "--mode", "sample", "--k", "400", "--batch-size", "4", "--json")
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert d["kinks_total"] == sum(p["kinks"] for p in d["params"]) > 0
    assert d["kink_share"] == pytest.approx(d["kinks_total"] / sum(p["checked"] for p in d["params"]))
    assert d["passed"] is True


def test_cli_progress_line_has_entries_and_an_eta():
    from cli.gradcheck import progress_line

    line = progress_line(Progress(140_200, 343_540, "enc0.W", 3.2, 4.6))
    assert line == "gradcheck  41 % (140,200 / 343,540 entries, enc0.W), 3 s, about 5 s to go"
    assert "to go" not in progress_line(Progress(0, 10, "enc0.W", 0.0, None))


# ------------------------------------------------------------------ round-off
def test_the_roundoff_floor_in_the_relative_error():
    from core.gradcheck.report import ROUNDOFF_MARGIN, roundoff_bound, roundoff_floor

    assert roundoff_bound(1000.0, 1e-6) == pytest.approx(np.finfo(float).eps * 1000.0 / 1e-6)
    floor = roundoff_floor(1000.0, 1e-6)
    assert floor == pytest.approx(ROUNDOFF_MARGIN * roundoff_bound(1000.0, 1e-6) / PASS_THRESHOLD)
    # an error of ROUNDOFF_MARGIN bounds on a derivative far below the floor sits exactly on the pass line
    err = ROUNDOFF_MARGIN * roundoff_bound(1000.0, 1e-6)
    rel = relative_errors(np.array([1e-4, 1.0]), np.array([1e-4 + err, 1.0]), floor=floor)  # 0.01·g < floor
    assert rel[0] == pytest.approx(PASS_THRESHOLD) and rel[1] == 0.0
    assert gradcheck(generic_model(), pixels(4), mode="sample").roundoff > 0


def test_the_roundoff_floor_does_not_hide_a_one_percent_bug_in_small_gradients(shipped_models, frey, broken_gradient):
    """The shipped Gaussian VAE's logvar.W gradients (~1e-3) are what the floor is for; 1 % of them still fails."""
    broken_gradient("logvar.W")
    x = frey[np.random.default_rng(0).choice(len(frey), 4, replace=False)]
    for mode in ("sample", "full", "direction"):
        report = gradcheck(shipped_models["vae_gauss.npz"], x, mode=mode, k=20, seed=0)
        assert [p.name for p in report.params if not p.passed] == ["logvar.W"], mode
