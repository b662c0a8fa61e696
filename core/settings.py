"""The one declarative schema of the training settings: each setting once, with its type, default, range,
label, help, CLI flag, where a model file keeps it and what a continue may do with it.

Everything else reads it: ``TrainConfig`` (its defaults and ``validate``), ``ModelConfig.validate``, the model
file's range checks (``core.checkpoint`` through ``file_fields``), the ``train`` command's flags and help
(``cli/train.py``), the Gradcheck command's shared flags, the Qt forms' ranges and validators
(``vae_gui/widgets/config_form.py``, ``vae_gui/panels/training_form.py``) and the continue rule
(``core.run.continue_settings``). Adding a setting is one ``Setting`` here plus the code that uses its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError
from .fields import INT31, Field
from .layers import ACTIVATIONS, DEFAULT_LEAKY_SLOPE
from .losses import LIKELIHOODS
from .models import CODE_ACTIVATIONS, DTYPES, INITS, KINDS
from .parsing import parse_hidden, parse_number

OPTIMIZERS = ("adam", "adagrad", "sgd")
DEVICES = ("cpu", "cuda")
BINARIZE = ("none", "static", "dynamic")
LR_SCHEDULES = ("constant", "cosine")
DEFAULT_STEPS = 10000

# what a continue (CLI --resume, GUI Continue) does with a setting
FIXED = "fixed"  # defines the model or its data: never changes (a different value is refused)
SEGMENT = "segment"  # optimiser/objective: may change; the change starts a new segment of the model's history
RUN = "run"  # controls this run only (length, logging, evaluation): the caller's, else the default
# where a model file keeps a setting
MODEL, TRAIN = "config", "train"  # meta["config"] (ModelConfig) or meta["train"]


@dataclass(frozen=True)
class Setting:
    """One training setting. ``kind``: 'int', 'float', 'bool', 'choice' or 'int_list' (hidden sizes);
    numbers lie in [low, high] (``low_open``: > low); ``optional``: None is allowed too (its help says what
    None means). ``flag``: the CLI flag ('' for --name-with-dashes, None for none); ``section``: MODEL or TRAIN
    (where a model file keeps it); ``on_continue``: FIXED, SEGMENT or RUN; ``group``: the help/form section."""

    name: str
    kind: str
    default: object
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    flag: str | None = ""
    section: str = TRAIN
    on_continue: str = FIXED
    group: str = "run"
    max_len: int = 64  # the most hidden layers

    # ------------------------------------------------------------------ the range
    @property
    def field(self) -> Field:
        """The allowed values as a core.fields.Field (what the model-file checks and the forms use)."""
        return Field("number" if self.kind == "float" else self.kind, -math.inf if self.low is None else self.low,
                     math.inf if self.high is None else self.high, low_open=self.low_open, max_len=self.max_len,
                     choices=self.choices, optional=self.optional)

    def accepts(self, value) -> bool:
        return self.field.accepts(value)

    def describe(self) -> str:
        """The allowed values in words, e.g. 'a whole number in [1, 10000]'."""
        return self.field.describe()

    def check(self, value) -> None:
        """ConfigError naming the setting, its allowed values and ``value``."""
        if not self.accepts(value):
            raise ConfigError(f"{self.name} must be {self.describe()}; got {value!r}")

    # ------------------------------------------------------------------ text: CLI flags, GUI line edits
    @property
    def flag_name(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    def parse(self, text: str):
        """The value of a flag's or a line edit's text (ValueError naming the allowed values)."""
        if self.kind == "int_list":
            return self._checked(parse_hidden(text, name=self.label.lower()))
        if self.kind == "choice":
            choice = self.choice_of(text)
            if choice not in self.choices:
                raise ValueError(f"{self._words} must be {self.describe()}, not {text!r}")
            return choice
        return self._checked(parse_number(text, int if self.kind == "int" else float,
                                          -math.inf if self.low is None else self.low, strict=self.low_open,
                                          name=self._words))

    def choice_of(self, text: str):
        """The choice whose text ``text`` is (a choice may be a number: threads 1 or 2), else ``text``."""
        return next((c for c in self.choices if str(c) == str(text).strip().lower()), text)

    @property
    def _words(self) -> str:
        return "the " + self.label[:1].lower() + self.label[1:]

    def _checked(self, value):
        if not self.field.accepts(value):
            raise ValueError(f"{self._words} must be {self.describe()}, got {value!r}")
        return value


def _s(name: str, kind: str, default, label: str, help: str, **more) -> Setting:
    return Setting(name, kind, default, label, help, **more)


_ARCH = {"section": MODEL, "on_continue": FIXED, "group": "model"}
_OBJECTIVE = {"section": MODEL, "on_continue": SEGMENT, "group": "objective"}
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    # ---- the network (meta["config"]): fixed for the model's life
    _s("kind", "choice", "vae", "Model kind", "vae: a Gaussian code with a KL term; ae: a plain deterministic code",
       choices=KINDS, flag="--model", **_ARCH),
    _s("hidden", "int_list", [256], "Hidden sizes",
       "the encoder's hidden layer sizes, e.g. 256 or 512,256; the decoder mirrors them", low=1, high=100_000, **_ARCH),
    _s("latent", "int", 16, "Latent size", "the size of the code z", low=1, high=10_000, **_ARCH),
    _s("likelihood", "choice", "bernoulli", "Likelihood",
       "the decoder's p(x|z): Bernoulli on grey values, Gaussian with unit variance, or Gaussian with a learned "
       "per-pixel variance", choices=LIKELIHOODS, **_ARCH),
    _s("code_activation", "choice", "relu", "Code activation", "the AE code's activation", choices=CODE_ACTIVATIONS,
       **_ARCH),
    _s("enc_activation", "choice", "relu", "Encoder activation",
       "the non-linearity after each hidden layer of the encoder (overrides --activation)", choices=ACTIVATIONS,
       **_ARCH),
    _s("dec_activation", "choice", "relu", "Decoder activation",
       "the non-linearity after each hidden layer of the decoder (overrides --activation)", choices=ACTIVATIONS,
       **_ARCH),
    _s("leaky_slope", "float", DEFAULT_LEAKY_SLOPE, "Leaky slope", "leaky_relu's slope for negative inputs",
       low=0.0, high=0.999, **_ARCH),
    _s("init", "choice", "auto", "Weight init",
       "auto (He for the ReLU family, Glorot for tanh/softplus), he, glorot, or torch (nn.Linear's default)",
       choices=INITS, **_ARCH),
    _s("dtype", "choice", "float32", "Precision", "the weights' and activations' floating-point type",
       choices=DTYPES, **_ARCH),
    # ---- the objective (meta["config"]): may change on a continue
    _s("beta", "float", 1.0, "β (KL weight)", "the weight β of the KL term (β ≥ 0; 1 is the true ELBO)",
       low=0.0, **_OBJECTIVE),
    _s("warmup_steps", "int", 0, "KL warm-up steps",
       "steps (counted from step 0 of the model) over which the KL weight rises linearly from 0 to β (0: none)",
       low=0, high=INT31, **_OBJECTIVE),
    # ---- the optimiser (meta["train"])
    _s("optimizer", "choice", "adam", "Optimiser", "the update rule (fixed for a model: its state is the rule's)",
       choices=OPTIMIZERS, group="optimiser"),
    _s("lr", "float", None, "Learning rate", "the learning rate (none: 1e-3 for Adam, 1e-2 for Adagrad and SGD)",
       low=0.0, low_open=True, optional=True, on_continue=SEGMENT, group="optimiser"),
    _s("lr_warmup_steps", "int", 0, "LR warm-up steps",
       "raise the learning rate linearly from lr/N to lr over the run's first N steps (0: none); continuing a "
       "model without optimiser state defaults to 1000", low=0, high=INT31, on_continue=SEGMENT,
       group="optimiser"),
    _s("lr_schedule", "choice", "constant", "LR schedule",
       "the learning rate over a run: constant, or cosine (from lr down to 0 at the run's last step, after the "
       "warm-up)", choices=LR_SCHEDULES, on_continue=SEGMENT, group="optimiser"),
    _s("weight_decay", "float", 0.0, "Weight decay", "L2 penalty ½·wd·‖θ‖² on every parameter (0: none)",
       low=0.0, on_continue=SEGMENT, group="optimiser"),
    # ---- the data the run sees (meta["train"]): fixed, they decide which batches come next
    _s("batch_size", "int", 64, "Batch size", "images per minibatch (at most the training split's size)",
       low=1, high=INT31, group="data"),
    _s("seed", "int", 0, "Seed", "the seed of the initial weights and of the minibatch order",
       low=0, high=2**63 - 1, group="data"),
    _s("mirror", "bool", False, "Mirrored faces", "also train on left-right mirrored faces", group="data"),
    _s("val_size", "int", 0, "Validation images",
       "hold out the last N images of the training split as a validation set: the held-out −ELBO is then measured "
       "on them (the test split stays untouched) and early stopping / keep-best can use it", low=0,
       high=INT31, group="data"),
    _s("binarize", "choice", "none", "Binarise",
       "none, static (one fixed Bernoulli draw) or dynamic (a fresh draw per batch); bernoulli likelihood only",
       choices=BINARIZE, group="data"),
    _s("centre_inputs", "bool", False, "Centre inputs",
       "a new model's first layer sees each image minus the mean training image (keeps its ReLUs alive under "
       "Adam; stored in the model file)", group="data"),
    # ---- this run (meta["train"] records the last run's)
    _s("steps", "int", None, "Steps",
       f"total optimiser steps (none: {DEFAULT_STEPS}; with --resume: train on until the model has this many)",
       low=1, optional=True, on_continue=RUN),
    _s("epochs", "int", None, "Epochs", "passes over the training split (instead of steps)", low=1, optional=True,
       on_continue=RUN),
    _s("log_every", "int", 100, "Log every", "report the batch losses every N steps", low=1, on_continue=RUN),
    _s("eval_every", "int", 1000, "Held-out −ELBO every", "the held-out −ELBO every N steps (0: never)", low=0,
       on_continue=RUN),
    _s("patience", "int", 0, "Early-stop patience",
       "stop after N evaluations without a better validation −ELBO (0: never; needs a validation set)", low=0,
       on_continue=RUN),
    _s("keep_best", "bool", False, "Keep the best weights",
       "at the end keep the weights with the best validation −ELBO (needs a validation set)", on_continue=RUN),
    _s("checkpoint_every", "int", 5000, "Checkpoint every", "save the model every N steps (0: only at the end)",
       low=0, on_continue=RUN),
    _s("device", "choice", "cpu", "Device", "train on the CPU with NumPy or on the GPU with CuPy",
       choices=DEVICES, on_continue=RUN),
    _s("threads", "choice", "auto", "Threads",
       "CPU threads of a step (the results are the same): auto times 1 and 2 on the run's own steps at the start "
       "and every few seconds, so a busy machine falls back to 1", choices=("auto", 1, 2), on_continue=RUN),
)}

MODEL_FIELDS = tuple(n for n, s in SETTINGS.items() if s.section == MODEL)
CONTINUE_MAY_CHANGE = tuple(n for n, s in SETTINGS.items() if s.on_continue == SEGMENT)
RUN_CONTROL = tuple(n for n, s in SETTINGS.items() if s.on_continue == RUN)


def check_setting(name: str, value) -> None:
    """ConfigError unless ``value`` is allowed for the setting ``name``."""
    SETTINGS[name].check(value)


def file_fields(section: str) -> dict[str, Field]:
    """The ranges a model file's meta[section] ('config' or 'train') is checked against when it is read."""
    return {n: s.field for n, s in SETTINGS.items() if s.section == section and s.kind != "choice"}
