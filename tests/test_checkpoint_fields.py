"""Numbers in a model file outside their range: one clear error naming the field and the range (before:
tracebacks such as OverflowError, ZeroDivisionError, "math domain error"...). See docs/RELIABILITY.md."""

from __future__ import annotations

import pytest
from helpers.reliability import assert_cli_error, npz_arrays, run_cli, save_small_model, write_npz

from core.checkpoint import ModelFileError, load_model, train_settings

INF, NAN, HUGE = float("inf"), float("nan"), 2**200


def _config(key, value):
    return lambda m: m["config"].__setitem__(key, value)


def _optim(key, value):
    return lambda m: m["optimizer"].__setitem__(key, value)


def _rng(value):
    return lambda m: m["noise_rng_state"]["state"].__setitem__("state", value)


# name -> (edit of the meta, words the message must contain)
CASES = {
    "hidden Infinity": (_config("hidden", [INF]), ["config hidden", "whole numbers in [1, 100000]", "inf"]),
    "hidden NaN": (_config("hidden", [NAN]), ["config hidden", "nan"]),
    "hidden 2^200": (_config("hidden", [HUGE]), ["config hidden", "16069380442589902755"]),
    "latent Infinity": (_config("latent", INF), ["config latent", "whole number in [1, 10000]"]),
    "latent 2^200": (_config("latent", HUGE), ["config latent"]),
    "input_dim 2^200": (_config("input_dim", HUGE), ["config input_dim"]),
    "beta Infinity": (_config("beta", INF), ["config beta", "finite number >= 0"]),
    "warm-up steps a float": (_config("warmup_steps", 1.5), ["config warmup_steps", "whole number in [0, 2147483647]"]),
    "warm-up steps NaN": (_config("warmup_steps", NAN), ["config warmup_steps"]),
    "warm-up steps 2^31": (_config("warmup_steps", 2**31), ["config warmup_steps", "2147483648"]),
    "optimiser t 2^200": (_optim("t", HUGE), ["optimiser t", "whole number in [0, 4611686018427387904]"]),
    "optimiser t Infinity": (_optim("t", INF), ["optimiser t"]),
    "optimiser t = -1": (_optim("t", -1), ["optimiser t", "got -1"]),
    "Adam beta1 = 1": (_optim("beta1", 1.0), ["optimiser beta1", "finite number in [0, 1)"]),
    "Adam beta2 NaN": (_optim("beta2", NAN), ["optimiser beta2"]),
    "Adam beta2 1.5 (was math domain error)": (_optim("beta2", 1.5), ["optimiser beta2", "in [0, 1)", "1.5"]),
    "Adam eps = 0": (_optim("eps", 0.0), ["optimiser eps", "finite number > 0"]),
    "Adam eps < 0": (_optim("eps", -1e-8), ["optimiser eps", "> 0"]),
    "learning rate Infinity": (_optim("lr", INF), ["optimiser lr", "> 0"]),
    "RNG state 2^200": (_rng(HUGE), ["noise generator state"]),
    "RNG state Infinity": (_rng(INF), ["noise generator state"]),
    "step Infinity": (lambda m: m.__setitem__("step", INF), ["step", "whole number"]),
}


def _edited(tmp_path, edit):
    arrays, meta = npz_arrays(save_small_model(tmp_path / "valid.npz"))
    edit(meta)
    return write_npz(tmp_path / "edited.npz", arrays, meta)


@pytest.mark.parametrize("case", list(CASES))
def test_an_out_of_range_number_names_its_field_and_range(case, tmp_path):
    edit, words = CASES[case]
    with pytest.raises(ModelFileError) as info:
        load_model(_edited(tmp_path, edit))
    for word in words:
        assert word in str(info.value), info.value


@pytest.mark.parametrize("case", ["hidden 2^200", "optimiser t = -1", "Adam beta1 = 1", "RNG state Infinity"])
def test_the_cli_reports_them_in_one_line(case, tmp_path, capsys):
    edit, words = CASES[case]
    code, _, err = run_cli(capsys, "sample", "--weights", _edited(tmp_path, edit), "--save", tmp_path / "s.png")
    assert_cli_error(code, err, *words)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("stored, words", [
    ("fast", ["training settings are str, not a mapping"]),
    ({"batch_size": None}, ["batch_size", "whole number in [1, 2147483647]", "None"]),
    ({"batch_size": INF}, ["batch_size", "inf"]),
    ({"seed": "7"}, ["seed", "'7'"]),
    ({"weight_decay": NAN}, ["weight_decay", "finite number >= 0"]),
    ({"mirror": "yes"}, ["mirror", "true or false"]),
    ({"val_size": -3}, ["val_size", "got -3"]),
])
def test_malformed_stored_training_settings_name_the_setting(stored, words):
    with pytest.raises(ModelFileError) as info:
        train_settings({"train": stored}, "m.npz")
    for word in words:
        assert word in str(info.value), info.value


def test_valid_settings_pass_unchanged():
    stored = {"batch_size": 64, "seed": 0, "mirror": False, "weight_decay": 0.0, "val_size": 0, "lr": 1e-3}
    assert train_settings({"train": stored}, "m.npz") == stored
    assert train_settings({}, "m.npz") == {}


@pytest.mark.parametrize("command", [["evaluate"], ["eval", "--index", "0"], ["grid", "--save", "g.png"]])
def test_a_model_for_another_image_size_is_refused_at_load(command, tmp_path, frey_path, capsys, monkeypatch):
    """A 100-pixel model with the 560-pixel Frey faces: one line naming both sizes (was a broadcast error)."""
    from core.checkpoint import save_model
    from core.models import Model, ModelConfig

    monkeypatch.chdir(tmp_path)
    path = save_model(tmp_path / "small.npz", Model(ModelConfig(hidden=[8], latent=2, input_dim=100)))
    code, _, err = run_cli(capsys, *command, "--weights", path, "--data", frey_path)
    assert_cli_error(code, err, "100 pixels", "560 pixels")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("command", [["sample", "--weights", "model/ae.npz", "--save", "s.png"],
                                     ["evaluate", "--weights", "model/ae.npz"], ["gradcheck"],
                                     ["train", "--out", "m.npz", "--steps", "2"]])
def test_a_negative_seed_is_refused_by_name(command, tmp_path, capsys):
    """Was NumPy's 'expected non-negative integer', naming nothing."""
    from helpers.reliability import ROOT

    argv = [str(ROOT / a) if a.startswith("model/") else str(tmp_path / a) if a.endswith((".png", ".npz")) else a
            for a in command]
    code, _, err = run_cli(capsys, *argv, "--seed", "-1")
    assert_cli_error(code, err, "--seed", "must be a whole number >= 0, got '-1'")
