"""One schema for training settings: ``TrainConfig``.

The CLI's flags (``TrainConfig.from_args``), the GUI's Training form (``TrainConfig.from_form`` /
``as_form``) and the model file's ``meta["train"]`` (``to_meta`` / ``from_meta``) all map onto it,
and ``validate`` checks every field with a one-line message naming the field and its allowed range.
``FIELDS`` lists each field's bounds so a form can set its spin-box ranges from the same numbers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace

from .layers import ACTIVATIONS, DEFAULT_LEAKY_SLOPE
from .losses import LIKELIHOODS
from .models import CODE_ACTIVATIONS, DTYPES, INITS, KINDS, ConfigError, ModelConfig
from .parallel import parse_threads

OPTIMIZERS = ("adam", "adagrad", "sgd")
DEVICES = ("cpu", "cuda")
BINARIZE = ("none", "static", "dynamic")
DEFAULT_STEPS = 10000

# name -> (kind, lower bound, upper bound or None); choices for text fields. Kinds: int, float, bool, choice.
FIELDS: dict[str, tuple] = {
    "kind": ("choice", KINDS),
    "hidden": ("hidden", 1, 100_000),
    "latent": ("int", 1, 10_000),
    "likelihood": ("choice", LIKELIHOODS),
    "code_activation": ("choice", CODE_ACTIVATIONS),
    "enc_activation": ("choice", ACTIVATIONS),
    "dec_activation": ("choice", ACTIVATIONS),
    "leaky_slope": ("float", 0.0, 0.999),
    "init": ("choice", INITS),
    "beta": ("float", 0.0, None),
    "warmup_steps": ("int", 0, None),
    "dtype": ("choice", DTYPES),
    "optimizer": ("choice", OPTIMIZERS),
    "lr": ("float_pos", 0.0, None),
    "batch_size": ("int", 1, None),
    "seed": ("int", None, None),
    "steps": ("int_or_none", 1, None),
    "epochs": ("int_or_none", 1, None),
    "mirror": ("bool",),
    "weight_decay": ("float", 0.0, None),
    "lr_warmup_steps": ("int", 0, None),
    "val_size": ("int", 0, None),
    "eval_every": ("int", 0, None),
    "log_every": ("int", 1, None),
    "patience": ("int", 0, None),
    "keep_best": ("bool",),
    "centre_inputs": ("bool",),
    "checkpoint_every": ("int", 0, None),
    "binarize": ("choice", BINARIZE),
    "device": ("choice", DEVICES),
    "threads": ("threads",),  # core.parallel.parse_threads: "auto", 1 or 2
}

# what a continue (CLI --resume, GUI Continue: core.run.continue_settings) may change: the optimiser and
# objective settings (each change starts a new segment of the model's history) and the run's own control;
# every other setting defines the model or its data and stays the file's
CONTINUE_MAY_CHANGE = ("lr", "beta", "warmup_steps", "weight_decay", "lr_warmup_steps")
RUN_CONTROL = ("steps", "epochs", "eval_every", "log_every", "patience", "keep_best", "checkpoint_every", "device",
               "threads")
# the fields that describe the network (ModelConfig's); the model file keeps them in meta["config"]
MODEL_FIELDS = ("kind", "hidden", "latent", "likelihood", "code_activation", "enc_activation", "dec_activation",
                "leaky_slope", "init", "beta", "warmup_steps", "dtype")
# argparse destinations that differ from the field names
ARG_NAMES = {"kind": "model"}


def default_lr(optimizer: str) -> float:
    """1e-3 for Adam, 1e-2 for Adagrad and SGD."""
    return 1e-3 if optimizer == "adam" else 1e-2


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data: the model's architecture and objective,
    the optimiser, the schedule and the training features (validation, early stopping, keep-best).
    ``lr`` None means ``default_lr(optimizer)``; ``steps`` and ``epochs`` None means DEFAULT_STEPS."""

    kind: str = "vae"
    hidden: list[int] = field(default_factory=lambda: [256])
    latent: int = 16
    likelihood: str = "bernoulli"
    code_activation: str = "relu"
    enc_activation: str = "relu"
    dec_activation: str = "relu"
    leaky_slope: float = DEFAULT_LEAKY_SLOPE
    init: str = "auto"
    beta: float = 1.0
    warmup_steps: int = 0
    dtype: str = "float32"
    optimizer: str = "adam"
    lr: float | None = None
    batch_size: int = 64
    seed: int = 0
    steps: int | None = None
    epochs: int | None = None
    mirror: bool = False
    weight_decay: float = 0.0
    lr_warmup_steps: int = 0  # the learning rate rises linearly from lr/N to lr over the run's first N steps
    val_size: int = 0
    eval_every: int = 1000
    log_every: int = 100
    patience: int = 0
    keep_best: bool = False
    centre_inputs: bool = False  # a new model's first layer sees x − the mean fit image (Model.set_input_centre)
    checkpoint_every: int = 5000
    binarize: str = "none"
    device: str = "cpu"
    threads: int | str = "auto"  # CPU threads of a step: 1, 2 or "auto" (measured as the run goes; core.parallel)

    # ------------------------------------------------------------------ checks
    def validate(self) -> TrainConfig:
        """Check every field; raise ConfigError with one line naming the field and the allowed values."""
        for f in fields(self):
            _check_field(f.name, getattr(self, f.name))
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


def _check_field(name: str, value) -> None:
    spec = FIELDS[name]
    kind = spec[0]
    if kind == "choice":
        if value not in spec[1]:
            raise ConfigError(f"{name} must be one of {', '.join(spec[1])}; got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false; got {value!r}")
    elif kind == "hidden":
        if isinstance(value, (str, bytes)) or not value or not all(_is_int(h) and h >= 1 for h in value):
            raise ConfigError(f"hidden must be a list of whole numbers >= 1, e.g. [256] or [512, 256]; got {value!r}")
    elif kind == "threads":
        try:
            if parse_threads(value) != value:  # the text "2" is the CLI's to convert, not a stored value
                raise ValueError(f"threads must be auto, 1 or 2; got {value!r}")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    elif kind == "int_or_none":
        if value is not None:
            _check_number(name, value, spec[1], spec[2], whole=True)
    elif kind == "float_pos":
        if value is not None:
            _check_number(name, value, None, None, whole=False)
            if value <= 0:
                raise ConfigError(f"{name} must be a number > 0; got {value!r}")
    else:
        _check_number(name, value, spec[1], spec[2], whole=kind == "int")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_number(name: str, value, lo, hi, whole: bool) -> None:
    what = "a whole number" if whole else "a number"
    ok = _is_int(value) if whole else (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                       and math.isfinite(value))
    if ok and lo is not None and value < lo:
        ok = False
    if ok and hi is not None and value > hi:
        ok = False
    if not ok:
        bounds = [f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else ""]
        rng = " and ".join(b for b in bounds if b)
        raise ConfigError(f"{name} must be {what}{' ' + rng if rng else ''}; got {value!r}")
