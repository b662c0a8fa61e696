"""``TrainConfig``: the settings of one training run, as a typed value.

Its fields, defaults, ranges, labels, help, CLI flags and continue rule are declared once, in
``core.settings.SETTINGS``; this class adds the cross-field checks and the mappings: the CLI's flags
(``from_args``), the GUI's form (``from_form`` / ``as_form``) and the model file's meta["train"]
(``to_meta`` / ``from_meta``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .models import ConfigError, ModelConfig
from .settings import (
    BINARIZE,
    CONTINUE_MAY_CHANGE,
    DEFAULT_STEPS,
    DEVICES,
    MODEL_FIELDS,
    OPTIMIZERS,
    RUN_CONTROL,
    SETTINGS,
    check_setting,
)

__all__ = ["BINARIZE", "CONTINUE_MAY_CHANGE", "DEFAULT_STEPS", "DEVICES", "MODEL_FIELDS", "OPTIMIZERS",
           "RUN_CONTROL", "SETTINGS", "TrainConfig", "default_lr"]

# argparse destinations that differ from the field names (derived from the schema's flags)
ARG_NAMES = {n: s.flag_name[2:].replace("-", "_") for n, s in SETTINGS.items()
             if s.flag_name and s.flag_name[2:].replace("-", "_") != n}


def _default(name: str):
    """The schema's default of a setting (a fresh copy of a list)."""
    value = SETTINGS[name].default
    return field(default_factory=lambda: list(value)) if isinstance(value, list) else value


def default_lr(optimizer: str) -> float:
    """1e-3 for Adam, 1e-2 for Adagrad and SGD."""
    return 1e-3 if optimizer == "adam" else 1e-2


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data: the model's architecture and objective, the optimiser,
    the schedule and the training features (validation, early stopping, keep-best). Each field is a setting of
    core.settings.SETTINGS (its type, default, range and meaning are there). ``lr`` None means
    ``default_lr(optimizer)``; ``steps`` and ``epochs`` None means DEFAULT_STEPS."""

    kind: str = _default("kind")
    hidden: list[int] = _default("hidden")
    latent: int = _default("latent")
    likelihood: str = _default("likelihood")
    code_activation: str = _default("code_activation")
    enc_activation: str = _default("enc_activation")
    dec_activation: str = _default("dec_activation")
    leaky_slope: float = _default("leaky_slope")
    init: str = _default("init")
    beta: float = _default("beta")
    warmup_steps: int = _default("warmup_steps")
    dtype: str = _default("dtype")
    optimizer: str = _default("optimizer")
    lr: float | None = _default("lr")
    batch_size: int = _default("batch_size")
    seed: int = _default("seed")
    steps: int | None = _default("steps")
    epochs: int | None = _default("epochs")
    mirror: bool = _default("mirror")
    weight_decay: float = _default("weight_decay")
    lr_warmup_steps: int = _default("lr_warmup_steps")
    lr_schedule: str = _default("lr_schedule")
    val_size: int = _default("val_size")
    eval_every: int = _default("eval_every")
    log_every: int = _default("log_every")
    patience: int = _default("patience")
    keep_best: bool = _default("keep_best")
    centre_inputs: bool = _default("centre_inputs")
    checkpoint_every: int = _default("checkpoint_every")
    binarize: str = _default("binarize")
    device: str = _default("device")
    threads: int | str = _default("threads")

    # ------------------------------------------------------------------ checks
    def validate(self) -> TrainConfig:
        """Check every field; raise ConfigError with one line naming the field and the allowed values."""
        for f in fields(self):
            check_setting(f.name, getattr(self, f.name))
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("steps and epochs: give one of them, not both")
        if (self.keep_best or self.patience) and not self.val_size:
            raise ConfigError("keep_best and patience need a validation set: val_size must be > 0")
        if self.val_size and not self.eval_every:
            raise ConfigError("val_size needs eval_every > 0 to measure the validation −ELBO")
        if self.binarize != "none" and self.likelihood != "bernoulli":
            raise ConfigError(f"binarize {self.binarize!r} needs the bernoulli likelihood, not {self.likelihood!r}")
        self.hidden = [int(h) for h in self.hidden]
        return self

    def check_data(self, n_train: int) -> None:
        """Check the sizes against a training split of ``n_train`` images (ConfigError)."""
        if self.val_size >= n_train:
            raise ConfigError(f"val_size {self.val_size} leaves no training images (the training split has "
                              f"{n_train}); allowed: 0…{n_train - 1}")
        fit = n_train - self.val_size
        if self.batch_size > fit:
            raise ConfigError(f"batch size {self.batch_size} is larger than the training split ({fit} images); "
                              f"allowed: 1…{fit}")

    # ------------------------------------------------------------------ derived values
    @property
    def learning_rate(self) -> float:
        return float(self.lr) if self.lr is not None else default_lr(self.optimizer)

    def total_steps(self, batches_per_epoch: int) -> int:
        """The run's target step count: epochs × batches per epoch, else steps, else DEFAULT_STEPS."""
        if self.epochs is not None:
            return int(self.epochs) * int(batches_per_epoch)
        return int(self.steps) if self.steps is not None else DEFAULT_STEPS

    def model_config(self, input_dim: int) -> ModelConfig:
        """The architecture part as a ModelConfig for images of ``input_dim`` pixels."""
        values = {k: getattr(self, k) for k in MODEL_FIELDS}
        return ModelConfig(**{**values, "hidden": list(self.hidden)}, input_dim=input_dim).validate()

    def with_model(self, config: ModelConfig) -> TrainConfig:
        """A copy whose architecture fields are those of ``config`` (e.g. a loaded model's)."""
        values = {k: getattr(config, k) for k in MODEL_FIELDS}
        return replace(self, **{**values, "hidden": list(config.hidden)})

    def updated(self, **changes) -> TrainConfig:
        """A validated copy with ``changes`` applied (unknown names are a ConfigError)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        return replace(self, **changes).validate()

    # ------------------------------------------------------------------ meta["train"] of a model file
    def to_meta(self) -> dict:
        """The settings as stored in a model file's meta["train"] (plain JSON values). The keys the
        files have always had (batch_size, seed, mirror, optimizer, lr, split_seed, weight_decay,
        val_size) keep their names and meaning."""
        d = asdict(self)
        d["lr"] = self.learning_rate
        d["split_seed"] = 0
        for key in MODEL_FIELDS:
            d.pop(key)  # meta["config"] holds the architecture
        return d

    @classmethod
    def from_meta(cls, meta: dict) -> TrainConfig:
        """Rebuild the settings of a model file: meta["config"] for the architecture, meta["train"]
        for the rest. Files written before a setting existed get its default (old files had only
        batch_size, seed, mirror, optimizer, lr, weight_decay, val_size; the oldest had no "train")."""
        train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
        known = {f.name for f in fields(cls)} - set(MODEL_FIELDS)
        values = {k: train[k] for k in known if k in train}
        config = cls(**values)
        if isinstance(meta.get("config"), dict):
            config = config.with_model(ModelConfig.from_dict(meta["config"]))
        return config.validate()

    # ------------------------------------------------------------------ CLI and GUI
    @classmethod
    def from_args(cls, args) -> TrainConfig:
        """From an argparse namespace: every field whose flag the parser defines (``--model`` is
        ``kind``); the others keep their defaults."""
        values = {}
        for f in fields(cls):
            dest = ARG_NAMES.get(f.name, f.name)
            if hasattr(args, dest):
                values[f.name] = getattr(args, dest)
        return cls(**values).validate()

    @classmethod
    def from_form(cls, form: dict) -> TrainConfig:
        """From a GUI form's {field name: value} (missing fields keep their defaults)."""
        unknown = sorted(set(form) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**form).validate()

    def as_form(self) -> dict:
        """{field name: value} to fill a form (lr filled in with its effective value)."""
        d = asdict(self)
        d["lr"] = self.learning_rate
        return d
