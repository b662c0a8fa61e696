"""The one settings schema (core.settings): every reader follows it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.checkpoint import ModelFileError, load_model, save_model
from core.config import TrainConfig
from core.errors import ConfigError
from core.models import Model, ModelConfig
from core.settings import CONTINUE_MAY_CHANGE, FIXED, RUN_CONTROL, SETTINGS
from main import main


def test_every_training_setting_is_declared_once_in_the_schema():
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(SETTINGS)
    assert TrainConfig() == TrainConfig(**{n: s.default for n, s in SETTINGS.items()})
    for name, setting in SETTINGS.items():
        assert setting.accepts(setting.default), name
        assert setting.label and setting.help, name
    # the continue rule: the optimiser/objective settings the issue names may change, nothing of the model
    assert {"lr", "beta", "warmup_steps", "weight_decay"} <= set(CONTINUE_MAY_CHANGE)
    assert {"steps"} <= set(RUN_CONTROL)
    fixed = {n for n, s in SETTINGS.items() if s.on_continue == FIXED}
    assert {"kind", "hidden", "latent", "batch_size", "seed", "mirror", "val_size", "binarize", "optimizer"} <= fixed


def test_one_range_changed_in_the_schema_reaches_the_cli_the_gui_forms_and_the_file_check(
        qtbot, monkeypatch, tmp_path, capsys):
    from vae_gui.panels.training_form import TrainForm
    from vae_gui.widgets.config_form import ModelConfigForm

    path = save_model(tmp_path / "wide.npz", Model(ModelConfig(hidden=[4], latent=64, input_dim=12)))
    assert load_model(path).model.config.latent == 64  # allowed by today's schema
    monkeypatch.setitem(SETTINGS, "latent", dataclasses.replace(SETTINGS["latent"], high=48))
    monkeypatch.setitem(SETTINGS, "weight_decay", dataclasses.replace(SETTINGS["weight_decay"], high=0.5))

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the size of the code z (a whole number in [1, 48]; default 16)" in help_text
    assert "(a finite number in [0, 0.5]; default 0.0)" in help_text  # --weight-decay
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--latent", "64", "--out", str(tmp_path / "m.npz")])
    assert exit_info.value.code == 2 and "[1, 48]" in capsys.readouterr().err

    form = ModelConfigForm()
    qtbot.addWidget(form)
    assert form.latent_spin.maximum() == 48
    training = TrainForm()
    qtbot.addWidget(training)
    assert training.weight_decay_edit.validator().top() == 0.5
    training.weight_decay_edit.setText("0.75")
    with pytest.raises(ValueError, match=r"weight decay must be a finite number in \[0, 0.5\]"):
        training.config()

    with pytest.raises(ModelFileError, match=r"config latent must be a whole number in \[1, 48\], got 64"):
        load_model(path)
    with pytest.raises(ConfigError, match=r"latent must be a whole number in \[1, 48\]"):
        TrainConfig(latent=64).validate()
    with pytest.raises(ConfigError, match="latent"):
        ModelConfig(latent=64, input_dim=12).validate()


def test_gradcheck_shares_the_schemas_flags_with_its_own_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the size of the code z (a whole number in [1, 10000]; default 4)" in help_text


def test_the_gui_form_reads_every_run_setting_through_the_schema(qtbot):
    from vae_gui.panels.training_form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    form.lr_edit.setText("0.003")
    form.lr_warmup_spin.setValue(250)
    form.mirror_check.setChecked(True)
    config = form.config()
    assert (config.lr, config.lr_warmup_steps, config.mirror, config.log_every) == (0.003, 250, True, 10)
    assert np.isclose(float(form.weight_decay_edit.text()), 0.0)
    form.show_config(TrainConfig(batch_size=32, weight_decay=1e-4, optimizer="sgd", lr=0.05))
    assert (form.batch_spin.value(), form.weight_decay_edit.text(), form.optimizer_combo.currentText(),
            form.lr_edit.text()) == (32, "0.0001", "sgd", "0.05")
