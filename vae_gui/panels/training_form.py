"""The Training tab's settings: new model or continue the current one, the shared model-config form
and the run settings the CLI's ``train`` has (optimiser, learning rate, batch, steps, seed, device,
held-out evaluation, weight decay, validation split with early stopping and keep-best, mirroring).

``config()`` turns the form into a ``core.config.TrainConfig`` (the schema the CLI flags and the
model file's meta["train"] share); ``show_config(cfg)`` fills the form from one (a loaded model's).
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QDoubleValidator
from PyQt6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.backend import cuda_status
from core.config import CONTINUE_MAY_CHANGE, FIELDS, RUN_CONTROL, TrainConfig
from core.models import ConfigError
from core.parsing import parse_number
from core.record import ModelRecord
from vae_gui.widgets.config_form import ModelConfigForm, choice_combo, int_spin

GUI_LOG_EVERY = 10  # the curves get a point every 10 steps (the CLI prints every 100)

TIPS = {
    "lr": "Learning rate (> 0). Adam: about 1e-3; Adagrad: about 1e-2; SGD: about 1e-3.",
    "batch": "Images per minibatch (at most the training split's size).",
    "steps": "Optimiser steps to run (Stop ends the run earlier and keeps the weights).",
    "seed": "Seed of the initial weights and of the minibatch order.",
    "eval": "Compute the held-out −ELBO every this many steps (0 = never).",
    "weight_decay": "L2 penalty ½·wd·‖θ‖² on every parameter (0 = none), as the CLI's --weight-decay.",
    "val": "Hold out this many training images as a validation set (0 = none): the held-out curve is then "
           "measured on them, and early stopping / keep-best can use it.",
    "patience": "Stop when the validation −ELBO has not improved for this many evaluations (0 = never).",
    "keep_best": "At the end, keep the weights with the best validation −ELBO instead of the last ones.",
    "mirror": "Also train on left-right mirrored faces (twice the training images).",
    "lr_warmup": "Raise the learning rate linearly from a small value to the one above over this many steps of the "
                 "run (0 = none). Continuing a model saved without optimiser state needs it: a fresh optimiser's "
                 "first updates are as large as the learning rate.",
    "centre": "A new model's first layer sees each image minus the training split's mean image (as the CLI's "
              "--centre-inputs; the shipped models were trained so: it keeps first-layer units from dying).",
}


class TrainForm(QWidget):
    """Mode radios, the model-config form and the run settings."""

    mode_changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        defaults = TrainConfig()
        self.new_radio = QRadioButton("New model")
        self.continue_radio = QRadioButton("Continue training the current one")
        self.new_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.new_radio)
        group.addButton(self.continue_radio)
        self.new_radio.toggled.connect(lambda _on: self.mode_changed.emit())
        self.new_radio.setToolTip("Build a freshly initialised network with the settings below and train it.")
        self.continue_radio.setToolTip("Keep the current model's architecture and weights and train them further "
                                       "with the settings it was trained with (its optimiser state is reused).")
        self.model_form = ModelConfigForm()
        self.model_form.set_values(defaults.as_form())
        self._build_run_fields(defaults)
        self._build_layout()

    def _build_run_fields(self, d: TrainConfig) -> None:
        self.optimizer_combo = choice_combo(FIELDS["optimizer"][1])
        self.optimizer_combo.setCurrentText(d.optimizer)
        self.lr_edit = _number_edit(f"{d.learning_rate:g}", TIPS["lr"], 1e-12)
        self.batch_spin = int_spin("batch_size", d.batch_size)
        self.steps_spin = int_spin("steps", d.steps or 10000)
        self.steps_spin.setSingleStep(1000)
        self.seed_spin = int_spin("seed", d.seed)
        self.device_combo = QComboBox()
        self.device_combo.addItems(list(FIELDS["device"][1]))
        ok, why = cuda_status()
        if not ok:
            item = self.device_combo.model().item(1)
            item.setEnabled(False)
            item.setToolTip(f"CUDA is unavailable: {why}")
        self.device_combo.setToolTip(f"Train on the GPU with CuPy ({why}) or on the CPU with NumPy." if ok
                                     else f"cuda is greyed out: {why}")
        self.eval_spin = int_spin("eval_every", d.eval_every)
        self.weight_decay_edit = _number_edit(f"{d.weight_decay:g}", TIPS["weight_decay"], 0.0)
        self.lr_warmup_spin = int_spin("lr_warmup_steps", d.lr_warmup_steps)
        self.lr_warmup_spin.setSingleStep(100)
        self.val_spin = int_spin("val_size", d.val_size)
        self.patience_spin = int_spin("patience", d.patience)
        self.keep_best_check = QCheckBox("keep the best weights")
        self.mirror_check = QCheckBox("mirrored faces too")
        self.centre_check = QCheckBox("centre inputs on the mean image")
        for widget, tip in ((self.batch_spin, "batch"), (self.steps_spin, "steps"), (self.seed_spin, "seed"),
                            (self.eval_spin, "eval"), (self.val_spin, "val"), (self.patience_spin, "patience"),
                            (self.keep_best_check, "keep_best"), (self.mirror_check, "mirror"),
                            (self.lr_warmup_spin, "lr_warmup"),
                            (self.centre_check, "centre")):
            widget.setToolTip(TIPS[tip])

    def _build_layout(self) -> None:
        run = QFormLayout()
        for label, widget in (("Optimiser", self.optimizer_combo), ("Learning rate", self.lr_edit),
                              ("Batch size", self.batch_spin), ("Steps", self.steps_spin), ("Seed", self.seed_spin),
                              ("Device", self.device_combo), ("Held-out −ELBO every", self.eval_spin),
                              ("Weight decay", self.weight_decay_edit), ("LR warm-up steps", self.lr_warmup_spin),
                              ("Validation images", self.val_spin),
                              ("Early-stop patience", self.patience_spin), ("", self.keep_best_check),
                              ("Data", self.mirror_check), ("", self.centre_check)):
            run.addRow(label, widget)
        model_box, run_box = QGroupBox("Model"), QGroupBox("Run")
        QVBoxLayout(model_box).addWidget(self.model_form)
        run_box.setLayout(run)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.new_radio)
        layout.addWidget(self.continue_radio)
        layout.addWidget(model_box)
        layout.addWidget(run_box)

    # ------------------------------------------------------------------ reading and filling
    def continuing(self) -> bool:
        return self.continue_radio.isChecked()

    def config(self) -> TrainConfig:
        """The TrainConfig the form asks for; ValueError with a message for the user."""
        values = self.model_form.values()
        values.update(
            optimizer=self.optimizer_combo.currentText(),
            lr=float(parse_number(self.lr_edit.text(), float, 0.0, strict=True, name="the learning rate")),
            batch_size=self.batch_spin.value(), seed=self.seed_spin.value(), steps=self.steps_spin.value(),
            device=self.device_combo.currentText(), eval_every=self.eval_spin.value(),
            weight_decay=float(parse_number(self.weight_decay_edit.text(), float, 0.0, name="weight decay")),
            lr_warmup_steps=self.lr_warmup_spin.value(),
            val_size=self.val_spin.value(), patience=self.patience_spin.value(),
            keep_best=self.keep_best_check.isChecked(), mirror=self.mirror_check.isChecked(),
            centre_inputs=self.centre_check.isChecked(),
            log_every=GUI_LOG_EVERY, checkpoint_every=0)
        values = {k: v for k, v in values.items() if k in TrainConfig.__dataclass_fields__}
        try:
            return TrainConfig.from_form(values)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    def show_config(self, config: TrainConfig) -> None:
        """Fill every field from ``config`` (a loaded model's settings)."""
        self.model_form.set_values(config.as_form())
        self.optimizer_combo.setCurrentText(config.optimizer)
        self.lr_edit.setText(f"{config.learning_rate:g}")
        self.batch_spin.setValue(config.batch_size)
        self.seed_spin.setValue(config.seed)
        self.weight_decay_edit.setText(f"{config.weight_decay:g}")
        self.lr_warmup_spin.setValue(config.lr_warmup_steps)
        self.val_spin.setValue(config.val_size)
        self.patience_spin.setValue(config.patience)
        self.keep_best_check.setChecked(config.keep_best)
        self.mirror_check.setChecked(config.mirror)
        self.centre_check.setChecked(bool(getattr(config, "centre_inputs", False)))

    def run_widgets(self) -> dict[str, QWidget]:
        """The run settings' widgets by TrainConfig field."""
        return {"optimizer": self.optimizer_combo, "lr": self.lr_edit, "batch_size": self.batch_spin,
                "steps": self.steps_spin, "seed": self.seed_spin, "device": self.device_combo,
                "eval_every": self.eval_spin, "weight_decay": self.weight_decay_edit,
                "lr_warmup_steps": self.lr_warmup_spin, "val_size": self.val_spin, "patience": self.patience_spin,
                "keep_best": self.keep_best_check, "mirror": self.mirror_check, "centre_inputs": self.centre_check}

    def show_record(self, record: ModelRecord) -> None:
        """Fill the form from a model's record: its stored settings, else (a file without usable ones) its
        architecture with the defaults."""
        config = record.settings.with_model(record.model.config) if record.settings is not None else \
            TrainConfig().with_model(record.model.config)
        self.show_config(config)

    def show_fixed(self, record: ModelRecord) -> None:
        """Show the record's values in the fields a continue keeps (they are greyed: these are what it uses)."""
        try:
            config = record.train_settings()
        except ConfigError:
            return  # the run will refuse with the reason; nothing truer to show
        self.optimizer_combo.setCurrentText(config.optimizer)
        self.batch_spin.setValue(config.batch_size)
        self.seed_spin.setValue(config.seed)
        self.val_spin.setValue(config.val_size)
        self.mirror_check.setChecked(config.mirror)
        self.centre_check.setChecked(config.centre_inputs)

    def set_locked(self, running: bool, has_model: bool) -> None:
        """While a run goes nothing changes; continuing keeps the architecture and the data schedule."""
        continuing = self.continuing() and has_model
        self.model_form.set_architecture_locked(running or continuing)
        for name, widget in self.run_widgets().items():  # core.run.continue_settings keeps the others the file's
            widget.setEnabled(not running and (not continuing or name in CONTINUE_MAY_CHANGE + RUN_CONTROL))
        self.new_radio.setEnabled(not running)
        self.continue_radio.setEnabled(not running and has_model)


def _number_edit(text: str, tip: str, minimum: float) -> QLineEdit:
    edit = QLineEdit(text)
    edit.setValidator(QDoubleValidator(minimum, 1e6, 12))
    edit.setToolTip(tip)
    return edit
