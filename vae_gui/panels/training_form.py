"""The Training tab's settings: new model or continue the current one, the shared model-config form
and the run settings the CLI's ``train`` has (optimiser, learning rate and its warm-up, batch, steps, seed,
device, held-out evaluation, weight decay, validation split with early stopping and keep-best, mirroring).

Every field is a setting of ``core.settings.SETTINGS``: its widget, range, label and tooltip come from there
(``vae_gui.widgets.config_form.setting_widget``), and which fields a Continue may change from its
``on_continue``. ``config()`` turns the form into a ``core.config.TrainConfig``; ``show_config(cfg)`` fills
the form from one (a loaded model's).
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QButtonGroup, QFormLayout, QGroupBox, QRadioButton, QVBoxLayout, QWidget

from core.backend import cuda_status
from core.config import TrainConfig
from core.errors import ConfigError
from core.record import ModelRecord
from core.settings import DEFAULT_STEPS, FIXED, SETTINGS
from vae_gui.widgets.config_form import ModelConfigForm, read_setting, setting_widget, show_setting

GUI_LOG_EVERY = 10  # the curves get a point every 10 steps (the CLI prints every 100)
# the run settings the form shows, in order, with the label of their row ("" for a check box's own text)
RUN_ROWS = ("optimizer", "lr", "lr_warmup_steps", "lr_schedule", "batch_size", "steps", "seed", "device", "eval_every",
            "weight_decay", "val_size", "patience", "keep_best", "mirror", "centre_inputs")
STEPS_TIP = "Optimiser steps to run now (Stop ends the run earlier and keeps the weights)."


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
        self.continue_radio.setToolTip("Keep the current model's architecture, data settings and weights and train "
                                       "them further; the objective and optimiser settings may change.")
        self.model_form = ModelConfigForm()
        self.model_form.set_values(defaults.as_form())
        self._build_run_fields(defaults)
        self._build_layout()

    def _build_run_fields(self, d: TrainConfig) -> None:
        self.widgets = {name: setting_widget(name) for name in RUN_ROWS}
        w = self.widgets
        self.optimizer_combo, self.lr_edit, self.lr_warmup_spin = w["optimizer"], w["lr"], w["lr_warmup_steps"]
        self.batch_spin, self.steps_spin, self.seed_spin = w["batch_size"], w["steps"], w["seed"]
        self.device_combo, self.eval_spin, self.weight_decay_edit = w["device"], w["eval_every"], w["weight_decay"]
        self.val_spin, self.patience_spin, self.keep_best_check = w["val_size"], w["patience"], w["keep_best"]
        self.mirror_check, self.centre_check = w["mirror"], w["centre_inputs"]
        self.lr_edit.setText(f"{d.learning_rate:g}")
        self.steps_spin.setValue(DEFAULT_STEPS)
        self.steps_spin.setSingleStep(1000)
        self.steps_spin.setToolTip(STEPS_TIP)
        self.lr_warmup_spin.setSingleStep(100)
        ok, why = cuda_status()
        if not ok:
            item = self.device_combo.model().item(1)
            item.setEnabled(False)
            item.setToolTip(f"CUDA is unavailable: {why}")
        self.device_combo.setToolTip(f"Train on the GPU with CuPy ({why}) or on the CPU with NumPy." if ok
                                     else f"cuda is greyed out: {why}")

    def _build_layout(self) -> None:
        run = QFormLayout()
        for name in RUN_ROWS:
            run.addRow("" if SETTINGS[name].kind == "bool" else SETTINGS[name].label, self.widgets[name])
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
        values.update({name: read_setting(widget, name) for name, widget in self.widgets.items()})
        values.update(log_every=GUI_LOG_EVERY, checkpoint_every=0)
        try:
            return TrainConfig.from_form(values)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    def show_config(self, config: TrainConfig) -> None:
        """Fill every field from ``config`` (a loaded model's settings); the steps stay (they are this run's)."""
        self.model_form.set_values(config.as_form())
        for name, value in config.as_form().items():
            if name in self.widgets and name != "steps":
                show_setting(self.widgets[name], name, value)

    def run_widgets(self) -> dict[str, QWidget]:
        """The run settings' widgets by TrainConfig field."""
        return dict(self.widgets)

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
        for name, widget in self.widgets.items():
            if SETTINGS[name].on_continue == FIXED:
                show_setting(widget, name, getattr(config, name))

    def set_locked(self, running: bool, has_model: bool) -> None:
        """While a run goes nothing changes; continuing keeps what defines the model and its data."""
        continuing = self.continuing() and has_model
        self.model_form.set_architecture_locked(running or continuing)
        for name, widget in self.widgets.items():  # core.run.continue_settings keeps the FIXED ones the file's
            widget.setEnabled(not running and (not continuing or SETTINGS[name].on_continue != FIXED))
        self.new_radio.setEnabled(not running)
        self.continue_radio.setEnabled(not running and has_model)
