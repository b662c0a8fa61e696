"""The sweep's search space (core.sweep.SearchSpace): TOML tables keyed by train's flags, every name and
value checked against the settings schema with one clear line."""

from __future__ import annotations

import pytest

from core.config import TrainConfig
from core.sweep import SearchSpace, SweepError, setting_keys

ISSUE_SPACE = """
[fixed]
model = "vae"
hidden = [64]
latent = 4
steps = 800
eval_every = 200
[search]
lr = { low = 1e-4, high = 3e-3, log = true }
beta = { choices = [0.5, 1.0, 2.0] }
"""


class FixedTrial:
    """Optuna's suggest_* answered from a dict (the space's own logic, without a study)."""

    def __init__(self, values: dict):
        self.values, self.asked = values, {}

    def _take(self, name, **spec):
        self.asked[name] = spec
        return self.values[name]

    def suggest_float(self, name, low, high, step=None, log=False):
        return self._take(name, low=low, high=high, step=step, log=log, kind="float")

    def suggest_int(self, name, low, high, step=1, log=False):
        return self._take(name, low=low, high=high, step=step, log=log, kind="int")

    def suggest_categorical(self, name, choices):
        return self._take(name, choices=choices, kind="choice")


def test_the_issue_space_parses_into_train_settings():
    space = SearchSpace.parse(ISSUE_SPACE, "issue.toml")
    assert space.fixed == {"kind": "vae", "hidden": [64], "latent": 4, "steps": 800, "eval_every": 200}
    trial = FixedTrial({"lr": 1e-3, "beta": 2.0})
    params = space.suggest(trial)
    assert trial.asked["lr"] == {"low": 1e-4, "high": 3e-3, "step": None, "log": True, "kind": "float"}
    assert trial.asked["beta"]["choices"] == [0.5, 1.0, 2.0]
    config = space.config(params, n_train=1000)
    assert isinstance(config, TrainConfig)
    assert (config.kind, config.hidden, config.latent, config.steps, config.lr, config.beta) == \
        ("vae", [64], 4, 800, 1e-3, 2.0)
    assert config.val_size == 100  # the objective needs a held-out set: 10 % of the training split


def test_dashes_and_underscores_name_the_same_setting_and_flag_names_map_to_fields():
    space = SearchSpace.parse("""
        [fixed]
        batch-size = 32
        warmup_steps = 10
        activation = "elu"
        val-size = 50
        [search]
        weight-decay = { low = 0.0, high = 0.01 }
        latent = { low = 2, high = 8, step = 2 }
        hidden = [[32], [64, 32]]
    """)
    trial = FixedTrial({"weight_decay": 0.005, "latent": 6, "hidden": "64,32"})
    params = space.suggest(trial)
    assert trial.asked["latent"]["kind"] == "int" and trial.asked["latent"]["step"] == 2
    assert trial.asked["hidden"]["choices"] == ["32", "64,32"]  # Optuna's choices are scalars
    config = space.config(params, n_train=1000)
    assert (config.batch_size, config.warmup_steps, config.val_size) == (32, 10, 50)
    assert config.enc_activation == config.dec_activation == "elu"
    assert (config.weight_decay, config.latent, config.hidden) == (0.005, 6, [64, 32])


@pytest.mark.parametrize("text, fragments", [
    ("[search]\nbetaa = [1.0, 2.0]", ["[search] betaa", "unknown setting 'betaa'", "did you mean beta"]),
    ("[fixed]\nlatnet = 2\n[search]\nbeta = [1.0]", ["[fixed] latnet", "did you mean latent"]),
    ("[fixed]\nlatent = 0\n[search]\nbeta = [1.0]", ["[fixed] latent", "latent must be a whole number in [1, 10000]"]),
    ("[search]\nlr = { low = -1.0, high = 0.1 }", ["[search] lr", "lr must be a finite number > 0"]),
    ("[search]\nlr = { low = 0.1, high = 0.01 }", ["low must be below high"]),
    ("[search]\nlatent = { low = 2.5, high = 8 }", ["latent must be a whole number"]),
    ("[search]\nmodel = { low = 1, high = 2 }", ["model takes choices"]),
    ("[search]\nmodel = ['vae', 'gan']", ["kind must be one of ae, vae; got 'gan'"]),
    ("[search]\nlr = { low = 1e-4, high = 1e-2, lg = true }", ["unknown key(s) lg"]),
    ("[search]\nlr = { low = 1e-4 }", ["needs both low and high"]),
    ("[search]\nbeta = []", ["choices must be a non-empty list"]),
    ("[fixed]\nlr = 0.1\n[search]\nlr = [0.1]", ["[search] lr sets lr, which [fixed] lr already sets"]),
    ("[fixed]\nbeta = 1.0", ["[search] is empty"]),
    ("[search]\nbeta = [1.0]\n[extra]\nx = 1", ["unknown table(s) or key(s) extra"]),
    ("[search\nbeta = [1.0]", ["is not valid TOML"]),
    ("[fixed]\nsteps = 10\nepochs = 2\n[search]\nbeta = [1.0]", ["steps and epochs: give one of them"]),
])
def test_a_bad_space_is_one_line_naming_the_file_and_the_setting(text, fragments):
    with pytest.raises(SweepError) as caught:
        SearchSpace.parse(text, "bad.toml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("bad.toml")
    for fragment in fragments:
        assert fragment in message


def test_the_space_round_trips_through_its_stored_form():
    space = SearchSpace.parse(ISSUE_SPACE)
    again = SearchSpace.from_dict(space.to_dict())
    assert again.to_dict() == space.to_dict()
    assert again.fixed == space.fixed


def test_setting_keys_are_trains_flag_names():
    keys = setting_keys()
    assert {"model", "activation", "lr", "beta", "batch_size", "latent"} <= set(keys)
    assert "kind" not in keys  # offered as model, as train names it; kind is accepted all the same
    assert SearchSpace.parse("[fixed]\nkind = 'ae'\n[search]\nlatent = [2, 3]").fixed == {"kind": "ae"}


def test_a_grid_lists_choices_and_int_steps_and_refuses_a_float_range():
    space = SearchSpace.parse("[search]\nlatent = { low = 2, high = 6, step = 2 }\nbeta = [0.5, 1.0]")
    assert space.grid() == {"latent": [2, 4, 6], "beta": [0.5, 1.0]}
    with pytest.raises(SweepError, match="grid sampler needs choices or a step for lr"):
        SearchSpace.parse("[search]\nlr = { low = 1e-4, high = 1e-2 }").grid()


def test_a_missing_space_file_is_one_line(tmp_path):
    with pytest.raises(SweepError, match="cannot read the space file"):
        SearchSpace.load(tmp_path / "nope.toml")


def test_the_shipped_frey_space_parses():
    from pathlib import Path

    space = SearchSpace.load(Path(__file__).resolve().parents[1] / "docs" / "sweep_frey.toml")
    assert [p.key for p in space.params] == ["lr", "beta", "latent"]


def test_parallel_coordinates_place_log_ranges_on_a_log_scale_and_choices_in_order():
    from core.sweep import coordinates

    space = SearchSpace.parse("[search]\nlr = { low = 1e-4, high = 1e-2, log = true }\nlatent = [2, 5, 10]")
    rows = [{"number": 0, "state": "COMPLETE", "value": 10.0, "params": {"lr": 1e-3, "latent": 10}},
            {"number": 1, "state": "COMPLETE", "value": 14.0, "params": {"lr": 1e-4, "latent": 5}},
            {"number": 2, "state": "RUNNING", "value": None, "params": {"lr": 1e-2, "latent": 2}}]
    axes, labels, positions = coordinates(rows, space.to_dict())
    assert axes == ["lr", "latent", "value"]
    assert positions == [pytest.approx([0.5, 1.0, 0.0]), pytest.approx([0.0, 0.5, 1.0])]  # no line while running
    assert labels[1] == [(0.0, "2"), (0.5, "5"), (1.0, "10")] and labels[2] == [(0.0, "10.00"), (1.0, "14.00")]
