"""TrainConfig: one schema for CLI flags, the GUI form and the model file's meta["train"]."""

from __future__ import annotations

import argparse

import pytest

from core.config import TrainConfig
from core.models import ConfigError
from core.settings import SETTINGS


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"lr": float("nan")}, "lr must be"),
    ({"batch_size": 0}, "batch_size must be a whole number in [1, 2147483647]"),
    ({"batch_size": 2.5}, "batch_size must be a whole number"),
    ({"hidden": [16, 0]}, "hidden must be a list of 1 to 64 whole numbers in [1, 100000]"),
    ({"hidden": []}, "hidden must be"),
    ({"kind": "gan"}, "kind must be one of ae, vae"),
    ({"likelihood": "poisson"}, "likelihood must be one of"),
    ({"beta": -0.5}, "beta must be a finite number >= 0"),
    ({"weight_decay": float("inf")}, "weight_decay must be a finite number >= 0"),
    ({"log_every": 0}, "log_every must be a whole number >= 1"),
    ({"mirror": "yes"}, "mirror must be true or false"),
    ({"patience": 3}, "patience need a validation set"),
    ({"keep_best": True}, "keep_best and patience need a validation set"),
    ({"val_size": 10, "eval_every": 0}, "val_size needs eval_every > 0"),
    ({"steps": 10, "epochs": 2}, "steps and epochs"),
    ({"binarize": "dynamic", "likelihood": "gaussian"}, "binarize 'dynamic' needs the bernoulli likelihood"),
])
def test_validation_names_the_field_in_one_line(changes, fragment):
    with pytest.raises(ConfigError) as info:
        TrainConfig().updated(**changes)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_every_field_has_a_rule_and_unknown_names_are_refused():
    assert set(SETTINGS) == set(TrainConfig.__dataclass_fields__)
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig().updated(learning_rate=0.1)
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig.from_form({"bogus": 1})


def test_sizes_are_checked_against_the_data():
    TrainConfig(batch_size=100, val_size=100, patience=1).validate().check_data(200)
    with pytest.raises(ConfigError, match="val_size 200 leaves no training images"):
        TrainConfig(val_size=200).check_data(200)
    with pytest.raises(ConfigError, match=r"batch size 150 is larger than the training split \(100 images\)"):
        TrainConfig(batch_size=150, val_size=100).check_data(200)


def test_meta_round_trip_and_old_files():
    config = TrainConfig(kind="ae", hidden=[32, 8], latent=3, likelihood="gaussian", lr=0.02, optimizer="sgd",
                         batch_size=16, seed=5, mirror=True, weight_decay=0.1, val_size=20, patience=2, keep_best=True,
                         eval_every=50, steps=300).validate()
    meta = {"config": config.model_config(560).to_dict(), "train": config.to_meta()}
    assert TrainConfig.from_meta(meta) == config
    # the keys every file has written since the first format keep their names
    assert {"batch_size", "seed", "mirror", "optimizer", "lr", "split_seed", "weight_decay", "val_size"} <= set(
        meta["train"])
    old = {"config": {"kind": "vae", "hidden": [16], "latent": 4},
           "train": {"batch_size": 32, "seed": 1, "mirror": False, "optimizer": "adam", "lr": 0.001, "split_seed": 0,
                     "final": {"test_neg_elbo": 400.0}}}
    restored = TrainConfig.from_meta(old)
    assert (restored.batch_size, restored.seed, restored.hidden, restored.val_size) == (32, 1, [16], 0)
    assert TrainConfig.from_meta({"config": {"kind": "ae"}}).kind == "ae"  # a file without meta["train"]


def test_argparse_namespace_and_form_map_onto_the_same_config():
    args = argparse.Namespace(model="ae", hidden=[16], latent=4, lr=None, optimizer="adagrad", batch_size=8,
                              out="m.npz", quiet=True)
    config = TrainConfig.from_args(args)
    assert (config.kind, config.hidden, config.batch_size, config.learning_rate) == ("ae", [16], 8, 1e-2)
    assert TrainConfig.from_form(config.as_form()) == config.updated(lr=1e-2)
    assert config.total_steps(batches_per_epoch=28) == 10000
    assert config.updated(epochs=3).total_steps(batches_per_epoch=28) == 84
