"""The hidden-layer activations (relu, leaky_relu, elu, softplus, tanh) and the initialisations.

Each activation's forward against its formula (also at extreme inputs), its backward against central
differences in float64 (in place and not), a whole model per activation through the gradient check, the
initialisation statistics of each scheme, and that the choice is stored in and read back from a model file
while files without it load as ReLU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.factories import small_model

from core import layers
from core.checkpoint import load_model, save_model
from core.gradcheck import gradcheck
from core.models import Model, ModelConfig

H = 1e-6
FORMULAS = {
    "relu": lambda a: np.maximum(a, 0),
    "leaky_relu": lambda a: np.where(a > 0, a, 0.2 * a),
    "elu": lambda a: np.where(a > 0, a, np.exp(np.minimum(a, 0)) - 1),
    "softplus": lambda a: np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0),
    "tanh": np.tanh,
}


def pair(name: str):
    return layers.activation_layer(name, slope=0.2)


def away_from_kinks(rng, shape) -> np.ndarray:
    """Inputs at least 0.01 from 0, so a central difference with h = 1e-6 never straddles a kink."""
    a = rng.standard_normal(shape) * 2
    return np.where(np.abs(a) < 0.01, 0.5, a)


@pytest.mark.parametrize("name", layers.ACTIVATIONS)
def test_forward_matches_its_formula_and_stays_finite_at_extremes(name, rng):
    forward, _ = pair(name)
    a = np.concatenate([rng.standard_normal(50) * 3, [-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4]])
    out, _ = forward(a.copy())
    np.testing.assert_allclose(out, FORMULAS[name](a), rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("name", layers.ACTIVATIONS)
def test_backward_matches_central_differences_in_float64(name, inplace, rng):
    forward, backward = pair(name)
    a = away_from_kinks(rng, (6, 5))
    dout = rng.standard_normal((6, 5))
    numeric = (FORMULAS[name](a + H) - FORMULAS[name](a - H)) / (2 * H) * dout  # elementwise: one difference each
    a_in = a.copy()
    _, cache = forward(a_in, inplace=inplace)
    if inplace:
        np.testing.assert_allclose(a_in, FORMULAS[name](a), rtol=1e-14, err_msg="in place: the input holds the output")
    d_in = dout.copy()
    grad = backward(d_in, cache, inplace=inplace)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)
    assert (grad is d_in) == inplace
    if not inplace:
        assert np.array_equal(d_in, dout), "not in place: dout is left alone"


@np.errstate(over="ignore")
def test_derivatives_at_the_extremes_are_accurate_and_finite():
    a = np.array([-800.0, -40.0, 40.0, 800.0])
    ones = np.ones_like(a)
    _, softplus_bwd = pair("softplus")
    got = softplus_bwd(ones, pair("softplus")[0](a)[1])
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-a)), rtol=1e-12)  # sigmoid, also where it is ~1e-348 → 0
    _, elu_bwd = pair("elu")
    np.testing.assert_allclose(elu_bwd(ones, pair("elu")[0](a)[1]), np.where(a > 0, 1, np.exp(a)), rtol=1e-12)
    _, tanh_bwd = pair("tanh")
    assert np.all(np.isfinite(tanh_bwd(ones, pair("tanh")[0](a)[1])))


def test_leaky_relu_uses_its_slope_and_relu_is_leaky_relu_with_slope_zero(rng):
    a = rng.standard_normal((4, 7))
    for slope in (0.0, 0.01, 0.3):
        forward, backward = layers.activation_layer("leaky_relu", slope)
        out, cache = forward(a.copy())
        np.testing.assert_array_equal(out, np.where(a > 0, a, slope * a))
        np.testing.assert_array_equal(backward(np.ones_like(a), cache), np.where(a > 0, 1.0, slope))
    relu_out, relu_cache = layers.relu_forward(a)
    leaky_out, leaky_cache = layers.leaky_relu_forward(a, slope=0.0)
    np.testing.assert_array_equal(relu_out, leaky_out)
    np.testing.assert_array_equal(layers.relu_backward(a, relu_cache), layers.leaky_relu_backward(a, leaky_cache))


def test_unknown_activation_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="relu, leaky_relu, elu, softplus, tanh"):
        layers.activation_layer("swish")
    with pytest.raises(ValueError, match="enc_activation"):
        ModelConfig(enc_activation="swish").validate()
    with pytest.raises(ValueError, match="leaky_slope"):
        ModelConfig(leaky_slope=1.5).validate()


# ----------------------------------------------------------------------------- whole models
MODEL_CASES = [("vae", "bernoulli", act, act) for act in layers.ACTIVATIONS] + [
    ("vae", "gaussian-learned", "elu", "tanh"), ("ae", "bernoulli", "tanh", "leaky_relu"),
    ("vae", "bernoulli", "softplus", "relu")]


@pytest.mark.parametrize("kind,likelihood,enc,dec", MODEL_CASES,
                         ids=[f"{k}-{lik}-{e}-{d}" for k, lik, e, d in MODEL_CASES])
def test_every_gradient_of_a_model_passes_the_gradient_check(kind, likelihood, enc, dec, synthetic_faces):
    model = small_model(kind=kind, likelihood=likelihood, hidden=(8, 6), latent=3, seed=2, enc_activation=enc,
                        dec_activation=dec, leaky_slope=0.1)
    report = gradcheck(model, synthetic_faces[:4], mode="full")
    assert report.passed, report.to_dict()


def test_the_gradient_check_catches_a_wrong_activation_derivative(synthetic_faces, monkeypatch):
    """The model really runs the chosen backward: a 1 % error in elu's derivative fails the check."""
    model = small_model(hidden=(8,), latent=3, seed=2, enc_activation="elu", dec_activation="elu")
    right = layers.elu_backward
    monkeypatch.setattr(layers, "elu_backward", lambda dout, cache, inplace=False: right(dout, cache, inplace) * 1.01)
    assert not gradcheck(model, synthetic_faces[:4], mode="full").passed


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "softplus", "tanh"])
def test_the_model_output_depends_on_the_chosen_activation(name, synthetic_faces):
    relu = small_model(hidden=(8,), latent=3, seed=2)
    other = small_model(hidden=(8,), latent=3, seed=2, enc_activation=name, init="he")
    np.testing.assert_array_equal(relu.flat, other.flat)  # same weights: only the activation differs
    x = synthetic_faces[:4]
    assert not np.allclose(relu.encode(x)[0], other.encode(x)[0])


# ----------------------------------------------------------------------------- initialisation
def weight_std(model: Model, name: str) -> float:
    return float(np.std(model.params_numpy()[name]))


def test_auto_init_is_he_for_the_relu_family_and_glorot_for_tanh_and_softplus():
    cfg = dict(hidden=[400], latent=16, dtype="float64")
    for act in ("relu", "leaky_relu", "elu"):
        model = Model(ModelConfig(**cfg, enc_activation=act, dec_activation=act), seed=0)
        assert model.config.init_scheme("enc") == "he"
        assert weight_std(model, "enc0.W") == pytest.approx(np.sqrt(2 / 560), rel=0.01)
        assert weight_std(model, "dec0.W") == pytest.approx(np.sqrt(2 / 16), rel=0.05)
    model = Model(ModelConfig(**cfg, enc_activation="tanh", dec_activation="softplus"), seed=0)
    assert (model.config.init_scheme("enc"), model.config.init_scheme("dec")) == ("glorot", "glorot")
    assert weight_std(model, "enc0.W") == pytest.approx(np.sqrt(2 / (560 + 400)), rel=0.01)
    assert weight_std(model, "dec0.W") == pytest.approx(np.sqrt(2 / (16 + 400)), rel=0.05)
    assert all(not model.params_numpy()[n].any() for n in ("enc0.b", "dec0.b", "out.b"))


def test_auto_init_of_a_relu_model_is_bitwise_the_old_he_init():
    """Files and seeds from before the option keep their exact starting weights."""
    auto = Model(ModelConfig(hidden=[32], latent=4), seed=5)
    he = Model(ModelConfig(hidden=[32], latent=4, init="he"), seed=5)
    np.testing.assert_array_equal(auto.flat, he.flat)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(auto.params["enc0.W"],
                                  (rng.standard_normal((560, 32)) * np.sqrt(2 / 560)).astype(np.float32))


def test_torch_init_is_uniform_within_one_over_root_fan_in_for_weights_and_biases():
    model = Model(ModelConfig(hidden=[300], latent=16, init="torch", dtype="float64"), seed=0)
    p = model.params_numpy()
    for name, fan_in in (("enc0.W", 560), ("enc0.b", 560), ("mean.W", 300), ("logvar.b", 300), ("dec0.W", 16),
                         ("out.b", 300)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(p[name]).max() <= bound
        assert np.abs(p[name]).max() > 0.9 * bound, f"{name} does not fill its range"
        assert np.std(p[name]) == pytest.approx(bound / np.sqrt(3), rel=0.15)


# ----------------------------------------------------------------------------- model files
def test_activations_and_init_are_stored_and_read_back(tmp_path, synthetic_faces):
    model = small_model(hidden=(8,), latent=3, dtype="float32", enc_activation="elu", dec_activation="tanh",
                        leaky_slope=0.05, init="torch")
    path = save_model(tmp_path / "m.npz", model)
    loaded = load_model(path).model
    cfg = loaded.config
    assert (cfg.enc_activation, cfg.dec_activation, cfg.leaky_slope, cfg.init) == ("elu", "tanh", 0.05, "torch")
    meta = json.loads(str(np.load(path)["meta"]))
    assert meta["config"]["init_schemes"] == {"enc": "torch", "dec": "torch"}
    np.testing.assert_array_equal(loaded.encode(synthetic_faces[:3])[0], model.encode(synthetic_faces[:3])[0])


def test_a_file_written_before_activations_existed_loads_as_relu(tmp_path, synthetic_faces):
    model = small_model(hidden=(8,), latent=3, dtype="float32")
    path = save_model(tmp_path / "old.npz", model)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    for key in ("enc_activation", "dec_activation", "leaky_slope", "init", "init_schemes"):
        del meta["config"][key]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    loaded = load_model(path).model
    assert (loaded.config.enc_activation, loaded.config.dec_activation) == ("relu", "relu")
    np.testing.assert_array_equal(loaded.decode(np.ones((2, 3))), model.decode(np.ones((2, 3))))


# ----------------------------------------------------------------------------- input centring
def centred_model(synthetic_faces, **kw) -> Model:
    model = small_model(hidden=(8,), latent=3, seed=2, **kw)
    model.set_input_centre(synthetic_faces.mean(axis=0))
    return model


def test_a_centred_first_layer_sees_x_minus_the_centre(synthetic_faces):
    model = centred_model(synthetic_faces)
    plain = small_model(hidden=(8,), latent=3, seed=2)
    x = synthetic_faces[:5].astype(np.float64)
    np.testing.assert_allclose(model.encode(x)[0], plain.encode(x - synthetic_faces.mean(axis=0))[0], rtol=1e-12)
    assert "centred input" in model.config.describe()
    with pytest.raises(ValueError, match="input_centre"):
        ModelConfig(input_centre=[0.5] * 3).validate()


def test_folding_the_centre_keeps_the_function_and_gives_the_plain_layout(synthetic_faces, tmp_path):
    from core.models import folded

    model = centred_model(synthetic_faces, kind="ae")
    plain = folded(model)
    assert plain.config.input_centre is None and model.config.input_centre is not None
    x = synthetic_faces[:6].astype(np.float64)
    np.testing.assert_allclose(plain.encode(x)[0], model.encode(x)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(plain.params["enc0.W"], model.params["enc0.W"])
    loaded = load_model(save_model(tmp_path / "c.npz", model)).model  # the centre travels in the model file
    np.testing.assert_array_equal(loaded.encode(x)[0], model.encode(x)[0])


def test_every_gradient_of_a_centred_model_passes_the_gradient_check(synthetic_faces):
    model = centred_model(synthetic_faces, enc_activation="elu")
    assert gradcheck(model, synthetic_faces[:4], mode="full").passed


def test_centring_keeps_first_layer_relus_alive_where_plain_adam_kills_them(frey):
    """The finding of docs/RESULTS.md in small: the same AE and 400 Adam steps (lr 1e-3) on Frey faces, once
    on raw pixels and once centred on the mean face; dead = pre-activation ≤ 0 for every face."""
    from core.optim import make_optimizer
    from core.train import Trainer

    X = frey[:600]
    dead = {}
    for centred in (False, True):
        model = Model(ModelConfig(kind="ae", hidden=[64], latent=8), seed=0)
        if centred:
            model.set_input_centre(X.mean(axis=0))
        trainer = Trainer(model, make_optimizer("adam", model, 1e-3), X, batch_size=64, seed=0, eval_every=0)
        for _ in range(400):
            trainer.step()
        pre = (X - (X.mean(axis=0) if centred else 0)) @ model.params["enc0.W"] + model.params["enc0.b"]
        dead[centred] = int(((pre > 0).sum(axis=0) == 0).sum())
    assert dead[False] >= 16 and dead[True] <= 2, dead
