"""Model structure and the contracts of its methods: parameter layout in one flat vector, config
validation, encode/decode/reconstruct, copies, and forward_backward's bookkeeping (fresh
gradients every call, batch-mean scaling, inputs left untouched)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.models import INPUT_DIM, ConfigError, Model, ModelConfig, param_shapes


def generic(model: Model, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if name.endswith(".b"):
            p[...] = rng.standard_normal(p.shape) * 0.1
    return model


@pytest.fixture
def x(synthetic_faces):
    return synthetic_faces[:8].astype(np.float64)


def test_parameter_names_and_shapes():
    vae = ModelConfig(kind="vae", hidden=[32, 16], latent=5, likelihood="gaussian-learned")
    assert param_shapes(vae) == [
        ("enc0.W", (560, 32)), ("enc0.b", (32,)), ("enc1.W", (32, 16)), ("enc1.b", (16,)),
        ("mean.W", (16, 5)), ("mean.b", (5,)), ("logvar.W", (16, 5)), ("logvar.b", (5,)),
        ("dec0.W", (5, 16)), ("dec0.b", (16,)), ("dec1.W", (16, 32)), ("dec1.b", (32,)),
        ("out.W", (32, 560)), ("out.b", (560,)), ("out_logvar.W", (32, 560)), ("out_logvar.b", (560,)),
    ]
    ae = ModelConfig(kind="ae", hidden=[8], latent=2)
    assert [n for n, _ in param_shapes(ae)] == ["enc0.W", "enc0.b", "code.W", "code.b", "dec0.W", "dec0.b",
                                                "out.W", "out.b"]


def test_params_are_views_of_one_flat_vector():
    model = small_model("vae", hidden=(8,), latent=3)
    assert model.n_params == sum(p.size for p in model.params.values()) == model.flat.size
    model.flat[...] = np.arange(model.n_params)
    offset = 0
    for name, shape in model.shapes:  # in order, back to back
        np.testing.assert_array_equal(model.params[name].ravel(), np.arange(offset, offset + np.prod(shape)))
        assert np.shares_memory(model.params[name], model.flat)
        assert np.shares_memory(model.grads[name], model.grad_flat)
        offset += int(np.prod(shape))


def test_initialisation_is_seeded_and_biases_start_at_zero():
    a, b, c = small_model(seed=1), small_model(seed=1), small_model(seed=2)
    np.testing.assert_array_equal(a.flat, b.flat)
    assert not np.array_equal(a.flat, c.flat)
    for name, p in a.params.items():
        if name.endswith(".b"):
            assert not p.any()
        else:
            assert p.std() > 0


@pytest.mark.parametrize("changes,field", [
    ({"kind": "gan"}, "kind"), ({"hidden": []}, "hidden"), ({"hidden": [0]}, "hidden"), ({"hidden": [2.5]}, "hidden"),
    ({"latent": 0}, "latent"), ({"likelihood": "poisson"}, "likelihood"), ({"code_activation": "tanh"}, "code"),
    ({"beta": -1.0}, "beta"), ({"beta": float("nan")}, "beta"), ({"warmup_steps": -1}, "warmup_steps"),
    ({"dtype": "float16"}, "dtype"),
])
def test_config_validation_names_the_bad_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        Model(ModelConfig(**changes))


def test_config_round_trip_and_describe():
    cfg = ModelConfig(kind="vae", hidden=[64, 32], latent=8, likelihood="gaussian", beta=0.5, warmup_steps=100)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({**cfg.to_dict(), "unknown_key": 1}) == cfg  # newer files' extra keys are ignored
    assert cfg.describe() == "VAE 560-64-32-8, gaussian, β=0.5"
    assert ModelConfig(kind="ae", hidden=[16], latent=4, code_activation="linear").describe() == \
        "AE 560-16-4, bernoulli, linear code"


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_encode_decode_reconstruct_shapes_and_ranges(kind, x):
    model = small_model(kind, hidden=(12, 8), latent=3, dtype="float32")
    code, logvar = model.encode(x)
    assert code.shape == (8, 3) and code.dtype == np.float32
    assert (logvar is None) == (kind == "ae")
    if kind == "ae":
        assert code.min() >= 0  # ReLU code by default
    images = model.decode(np.random.default_rng(0).standard_normal((5, 3)))
    assert images.shape == (5, INPUT_DIM) and images.min() >= 0 and images.max() <= 1
    recon = model.reconstruct(x)
    np.testing.assert_array_equal(recon, model.decode(code))
    assert recon.shape == x.shape


def test_reconstruct_with_sampling_uses_the_posterior_noise(x):
    model = generic(small_model("vae", hidden=(8,), latent=3))
    model.params["logvar.b"][...] = 1.0  # wide posterior: samples differ visibly from the mean
    mean_recon = model.reconstruct(x)
    s1 = model.reconstruct(x, sample=True, rng=np.random.default_rng(1))
    s2 = model.reconstruct(x, sample=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(s1, s2)
    assert np.abs(s1 - mean_recon).max() > 1e-3


def test_set_params_checks_names_and_shapes():
    model = small_model("ae", hidden=(8,), latent=3)
    arrays = model.params_numpy()
    with pytest.raises(ConfigError, match="missing.*out.b"):
        model.set_params({k: v for k, v in arrays.items() if k != "out.b"})
    with pytest.raises(ConfigError, match="unexpected.*mean.W"):
        model.set_params({**arrays, "mean.W": np.zeros((8, 3))})
    with pytest.raises(ConfigError, match=r"dec0.W has shape \(3, 9\)"):
        model.set_params({**arrays, "dec0.W": np.zeros((3, 9))})
    arrays["out.b"] = np.full(560, 0.25)
    model.set_params(arrays)
    assert np.all(model.params["out.b"] == 0.25)


def test_copy_is_independent_and_converts_dtype():
    model = small_model("vae", hidden=(8,), latent=3, dtype="float32")
    model.step = 17
    model.draw_eps(3)
    clone = model.copy(dtype="float64")
    assert clone.dtype == np.float64 and clone.step == 17 and model.dtype == np.float32
    np.testing.assert_array_equal(clone.flat, model.flat.astype(np.float64))
    np.testing.assert_array_equal(clone.draw_eps(4).astype(np.float32), model.draw_eps(4))  # same noise position
    clone.flat[...] = 0
    assert model.flat.any()


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-learned"])
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_forward_backward_writes_fresh_gradients_and_leaves_inputs_alone(kind, likelihood, x):
    model = generic(small_model(kind, likelihood=likelihood, hidden=(12, 8), latent=3))
    eps = np.random.default_rng(0).standard_normal((8, 3))
    x_before, eps_before, flat_before = x.copy(), eps.copy(), model.flat.copy()
    model.grad_flat[...] = np.nan  # stale garbage must be overwritten, not accumulated
    stats = model.forward_backward(x, eps)
    first = model.grad_flat.copy()
    assert np.all(np.isfinite(first))
    assert model.forward_backward(x, eps, compute_loss=False) is None
    np.testing.assert_array_equal(model.grad_flat, first)  # no accumulation; the loss is not needed
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(eps, eps_before)
    np.testing.assert_array_equal(model.flat, flat_before)
    assert set(stats) >= {"total", "rec", "kl", "objective", "kl_per_dim"}
    assert all(np.any(g != 0) for g in model.grads.values())


def test_gradient_is_the_mean_of_per_image_gradients(x):
    """The objective is a batch mean: the batch gradient equals the average of one-image gradients."""
    model = generic(small_model("vae", hidden=(8,), latent=3))
    eps = np.random.default_rng(0).standard_normal((8, 3))
    model.forward_backward(x, eps)
    batch = model.grad_flat.copy()
    singles = []
    for i in range(8):
        model.forward_backward(x[i : i + 1], eps[i : i + 1])
        singles.append(model.grad_flat.copy())
    np.testing.assert_allclose(batch, np.mean(singles, axis=0), rtol=1e-10, atol=1e-14)


def test_float32_and_float64_models_agree(x):
    model64 = generic(small_model("vae", hidden=(16,), latent=4))
    model32 = model64.copy(dtype="float32")
    eps = np.random.default_rng(0).standard_normal((8, 4))
    s64 = model64.forward_backward(x, eps)
    s32 = model32.forward_backward(model32.asarray(x), model32.asarray(eps))
    assert model32.grad_flat.dtype == np.float32
    assert s32["total"] == pytest.approx(s64["total"], rel=1e-5)
    scale = np.abs(model64.grad_flat).max()
    assert np.abs(model32.grad_flat - model64.grad_flat).max() < 1e-4 * scale


def test_vae_noise_comes_from_the_seeded_generator(x):
    a, b = small_model("vae", seed=3), small_model("vae", seed=3)
    np.testing.assert_array_equal(a.forward_backward(x)["total"], b.forward_backward(x)["total"])
    np.testing.assert_array_equal(a.grad_flat, b.grad_flat)
    first = a.grad_flat.copy()
    a.forward_backward(x)  # next draw of eps: a different gradient sample
    assert not np.array_equal(a.grad_flat, first)


def test_linear_code_can_be_negative(x):
    model = generic(small_model("ae", hidden=(8,), latent=6, code_activation="linear"))
    code, _ = model.encode(x)
    assert code.min() < 0


def test_strided_inputs_give_the_same_result(x):
    """Rows taken as a strided view (e.g. X[::2]) behave like a contiguous copy."""
    model = generic(small_model("vae", hidden=(8,), latent=3))
    eps = np.random.default_rng(0).standard_normal((4, 3))
    strided = x[::2]
    assert not strided.flags.c_contiguous
    model.forward_backward(strided, eps)
    from_view = model.grad_flat.copy()
    model.forward_backward(np.ascontiguousarray(strided), eps)
    np.testing.assert_array_equal(model.grad_flat, from_view)
    np.testing.assert_array_equal(model.encode(strided)[0], model.encode(strided.copy())[0])
