"""The shipped models in model/ load, are small, and meet their quality thresholds on the real Frey data.

Thresholds (nats per image, see docs/RESULTS.md):
* model/ae.npz: the assignment's layout (ReLU, ReLU code, no input centre) and a reconstruction loss over all
  1965 faces of at most 338.0 (issue 18), below the assignment's own AE (the legacy pickle, imported with
  ``main.py import-legacy``);
* model/vae.npz: test −ELBO at most 11 nats above the test split's BCE floor (10.37 measured; issue 18's
  target of 8 was not reached, docs/RESULTS.md) with at least 6 active latent units (7 measured);
* model/vae_gauss.npz: test ELBO above +1350, issue 18's target (+1376.5 measured), far above the best test
  figure of the PyTorch reference (+1286) and the previous shipped model (+1303.9);
* model/vae_2d.npz (issue 25: Kingma & Welling's Fig. 4a): test ELBO at least +900 with 2 latent dims, and its
  15×15 grid at Gaussian quantiles spreads at least 0.65 × the spread of the 1965 faces (tools/grid_spread.py);
* the default grid of model/vae_gauss.npz (principal directions) spreads at least 0.5 × its reconstructions'
  spread with every grid point within Mahalanobis distance 3 of the posterior means;
* every VAE: the importance-sampled −log p(x) with k = 100 is no larger than the −ELBO estimate;
* every model: at most 10 % of its first-layer units dead over all faces (tools/unit_usage.py), and its
  file records the exact training command(s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import import_legacy, load_model
from core.data import split_indices
from core.evaluate import bce_floor, evaluate, iwae_neg_log_px, neg_elbo
from tools.unit_usage import unit_usage

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "model"
LEGACY_AE = ROOT.parent / "shared" / "reference" / "seed_ae_weights.pkl"
# measured: `main.py import-legacy` of the pickle, then `main.py evaluate --split all`
LEGACY_AE_ALL_REC = 339.476
AE_ALL_REC_TARGET = 338.0
MAX_BYTES = 3_000_000
MAX_BYTES_2D = 3_500_000  # vae_2d.npz has two hidden layers (400, 200): 0.84 M float32 parameters
TWO_D_MIN_TEST_ELBO = 900.0  # issue 25's targets
TWO_D_MIN_GRID_SPREAD = 0.65  # × the faces' own spread
GAUSS_MIN_PCA_GRID_SPREAD = 0.5  # × its reconstructions' spread
VAE_FLOOR_MARGIN = 11.0
VAE_MIN_ACTIVE_UNITS = 6
GAUSS_MIN_TEST_ELBO = 1350.0  # issue 18's target
MAX_DEAD_SHARE = 0.10  # of the first layer's units

SHIPPED = {
    "ae.npz": {"kind": "ae", "likelihood": "bernoulli", "hidden": [256], "latent": 16, "code_activation": "relu",
               "enc_activation": "relu", "dec_activation": "relu", "input_centre": None},
    "vae.npz": {"kind": "vae", "likelihood": "bernoulli", "hidden": [256], "latent": 16, "enc_activation": "elu",
                "dec_activation": "elu", "input_centre": None},
    "vae_gauss.npz": {"kind": "vae", "likelihood": "gaussian-learned", "hidden": [200], "latent": 20,
                      "enc_activation": "elu", "dec_activation": "elu", "input_centre": None},
    "vae_2d.npz": {"kind": "vae", "likelihood": "gaussian-learned", "hidden": [400, 200], "latent": 2,
                   "enc_activation": "elu", "dec_activation": "elu", "input_centre": None},
}


def load_shipped(name: str):
    return load_model(MODEL_DIR / name).model


@pytest.fixture(scope="module")
def splits(frey):
    train_ids, test_ids = split_indices()
    return frey[train_ids], frey[test_ids]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_model_loads_small_float32_with_expected_config(name):
    path = MODEL_DIR / name
    assert path.stat().st_size < (MAX_BYTES_2D if name == "vae_2d.npz" else MAX_BYTES)
    model = load_shipped(name)
    assert model.config.dtype == "float32"
    for key, value in SHIPPED[name].items():
        assert getattr(model.config, key) == value, f"{name}: {key}"
    assert model.step > 0
    assert all(np.all(np.isfinite(p)) for p in model.params_numpy().values())


@pytest.mark.frey
def test_ae_beats_the_assignment_ae_on_all_faces(frey):
    ours = evaluate(load_shipped("ae.npz"), frey)["rec"]
    legacy = LEGACY_AE_ALL_REC
    if LEGACY_AE.exists():  # measure it again where the pickle is available
        legacy = evaluate(import_legacy(LEGACY_AE, kind="ae", likelihood="bernoulli"), frey)["rec"]
        assert legacy == pytest.approx(LEGACY_AE_ALL_REC, abs=1e-3)
    assert ours < legacy, f"AE reconstruction {ours:.3f} does not beat the legacy AE's {legacy:.3f}"
    assert ours <= AE_ALL_REC_TARGET


@pytest.mark.frey
def test_bernoulli_vae_is_within_11_nats_of_the_bce_floor_and_uses_6_latent_units(splits):
    _, X_test = splits
    model = load_shipped("vae.npz")
    value = neg_elbo(model, X_test)
    floor = bce_floor(X_test)
    assert value <= floor + VAE_FLOOR_MARGIN, f"test −ELBO {value:.2f} vs floor {floor:.2f}"
    assert evaluate(model, X_test)["active_units"] >= VAE_MIN_ACTIVE_UNITS


@pytest.mark.frey
def test_gaussian_vae_beats_the_pytorch_reference_by_far(splits):
    _, X_test = splits
    test_elbo = -neg_elbo(load_shipped("vae_gauss.npz"), X_test)
    assert test_elbo > GAUSS_MIN_TEST_ELBO


@pytest.mark.frey
def test_two_dim_vae_draws_the_frey_manifold(splits, frey):
    """vae_2d.npz: test ELBO ≥ +900 and a 15×15 Gaussian-quantile grid whose faces differ at least 0.65 × as
    much as the 1965 faces themselves (a grid of near-copies spreads ~0)."""
    from tools.grid_spread import grid_spreads

    _, X_test = splits
    assert -neg_elbo(load_shipped("vae_2d.npz"), X_test) >= TWO_D_MIN_TEST_ELBO
    spreads = grid_spreads(str(MODEL_DIR / "vae_2d.npz"), frey)
    assert spreads["dims"]["spread"] >= TWO_D_MIN_GRID_SPREAD * spreads["faces"]


def test_default_grid_of_the_gaussian_vae_spreads_within_mahalanobis_3(frey):
    from tools.grid_spread import grid_spreads

    spreads = grid_spreads(str(MODEL_DIR / "vae_gauss.npz"), frey)
    assert spreads["default"]["kind"] == "pca"
    assert spreads["default"]["spread"] >= GAUSS_MIN_PCA_GRID_SPREAD * spreads["recon"]
    assert spreads["default"]["max_mahalanobis"] <= 3.0


@pytest.mark.parametrize("name", ["vae.npz", "vae_gauss.npz", "vae_2d.npz"])
def test_iwae_bound_is_no_looser_than_the_elbo(name, splits):
    _, X_test = splits
    model = load_shipped(name)
    elbo_estimate = neg_elbo(model, X_test)
    iwae_1 = iwae_neg_log_px(model, X_test, k=1, seed=1).mean()
    iwae_100 = iwae_neg_log_px(model, X_test, k=100, seed=1).mean()
    assert iwae_100 <= elbo_estimate
    assert iwae_100 <= iwae_1
    # k = 1 is itself a one-sample −ELBO estimate: it agrees with neg_elbo up to Monte-Carlo noise
    assert abs(iwae_1 - elbo_estimate) < 0.05 * abs(elbo_estimate) + 5.0


@pytest.mark.frey
def test_early_stopping_keeps_the_best_validation_weights(frey_path, frey, tmp_path):
    """The options that made vae_gauss.npz: --val-size holds faces out of training, --keep-best saves the
    weights with the best validation −ELBO, --patience ends the run, --weight-decay is recorded."""
    import main

    out = tmp_path / "es.npz"
    code = main.main(["train", "--model", "vae", "--likelihood", "gaussian-learned", "--hidden", "8", "--latent", "2",
                      "--batch-size", "32", "--steps", "400", "--lr", "0.01", "--eval-every", "20", "--val-size", "100",
                      "--keep-best", "--patience", "3", "--weight-decay", "0.01", "--quiet", "--data", str(frey_path),
                      "--out", str(out)])
    assert code == 0
    loaded = load_model(out)
    settings = loaded.meta["train"]
    stopping = settings["early_stopping"]
    assert settings["weight_decay"] == 0.01 and settings["val_size"] == 100
    assert loaded.model.step == stopping["best_step"] <= stopping["last_step"]
    train_ids, _ = split_indices()
    val_value = neg_elbo(loaded.model, frey[train_ids[-100:]])
    assert val_value == pytest.approx(stopping["best_val_neg_elbo"], rel=1e-6)


@pytest.mark.frey
@pytest.mark.parametrize("name", list(SHIPPED))
def test_at_most_a_tenth_of_the_first_layer_is_dead(name, frey):
    first = unit_usage(load_shipped(name), frey)[0]
    assert first["layer"] == "enc0"
    assert first["dead"] <= MAX_DEAD_SHARE * first["units"], f"{name}: {first}"


@pytest.mark.parametrize("name", list(SHIPPED))
def test_each_file_records_its_training_commands(name):
    meta = load_model(MODEL_DIR / name).meta
    commands = meta["commands"]
    trained = commands[:-1] if "averaged" in meta else commands
    assert trained and all(c.startswith("main.py train ") for c in trained)
    if "averaged" in meta:  # tools/average_weights.py of snapshots of that run, recorded last
        assert commands[-1] == meta["averaged"]["command"]
        assert commands[-1].startswith("tools/average_weights.py ")
        assert meta["averaged"]["steps"] == sorted(meta["averaged"]["steps"])


def test_average_weights_takes_the_mean_of_one_run_and_refuses_another_model(tmp_path):
    from core.checkpoint import save_model
    from core.models import Model, ModelConfig
    from tools.average_weights import average

    cfg = dict(hidden=[6], latent=2, input_dim=12, likelihood="gaussian-learned", enc_activation="elu")
    paths = []
    for seed in range(3):
        model = Model(ModelConfig(**cfg), seed=seed)
        model.step = 100 * (seed + 1)
        paths.append(str(save_model(tmp_path / f"s{seed}.npz", model, None, extra={"commands": [f"c{seed}"]})))
    loaded, steps = average(paths)
    flats = [np.asarray(load_model(p).model.flat, dtype=np.float64) for p in paths]
    np.testing.assert_allclose(loaded.model.flat, np.mean(flats, axis=0), rtol=1e-6)
    assert not np.allclose(loaded.model.flat, flats[-1])
    assert steps == [100, 200, 300] and loaded.meta["commands"] == ["c2"]
    other = save_model(tmp_path / "other.npz", Model(ModelConfig(**{**cfg, "hidden": [7]}), seed=0), None)
    with pytest.raises(SystemExit, match="another model config"):
        average([paths[0], str(other)])
