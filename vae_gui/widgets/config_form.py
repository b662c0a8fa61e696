"""The model-config form shared by the Training and Gradcheck panels: one row per architecture field
of ``core.config.TrainConfig`` (kind, hidden sizes, latent size, likelihood, activations, β, warm-up).

``values()`` returns {field: value} ready for ``TrainConfig.from_form`` / ``ModelConfig(**...)`` and
raises ValueError naming the field; ``set_values(d)`` fills it from ``TrainConfig.as_form()`` or
``ModelConfig.to_dict()``. Ranges come from ``core.config.FIELDS``, parsing from ``core.parsing``.
"""

from __future__ import annotations

from PyQt6.QtCore import QRegularExpression, pyqtSignal
from PyQt6.QtGui import QDoubleValidator, QRegularExpressionValidator
from PyQt6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from core.config import FIELDS
from core.layers import ACTIVATIONS
from core.parsing import parse_hidden, parse_number

# What a hidden-sizes field accepts while typing ('256', '512, 256', '512,'); parse_hidden has the last word.
HIDDEN_SIZES_PATTERN = r"^\s*\d+(\s*,\s*\d+)*\s*,?\s*$"
INT_MAX = 2_000_000_000

LABELS = {
    "kind": "Model kind", "hidden": "Hidden sizes", "latent": "Latent size", "likelihood": "Likelihood",
    "enc_activation": "Encoder activation", "dec_activation": "Decoder activation",
    "beta": "β (KL weight)", "warmup_steps": "KL warm-up steps",
}
TIPS = {
    "kind": "VAE: Gaussian code with a KL term. AE: plain deterministic code, no KL.",
    "hidden": "Encoder hidden layer sizes, e.g. 256 or 512,256; the decoder mirrors them.",
    "latent": "Size of the code z.",
    "likelihood": "Decoder likelihood p(x|z): Bernoulli on grey values, Gaussian with unit variance, or Gaussian "
                  "with a learned per-pixel variance.",
    "enc_activation": "Non-linearity after each hidden layer of the encoder.",
    "dec_activation": "Non-linearity after each hidden layer of the decoder.",
    "beta": "Weight β of the KL term (β ≥ 0; 1 is the true ELBO).",
    "warmup_steps": "Steps over which the KL weight rises linearly from 0 to β (0 = no warm-up).",
}
# the activation rows appear once TrainConfig carries them (so a choice here always reaches the run)
ARCHITECTURE = tuple(n for n in ("kind", "hidden", "latent", "likelihood", "enc_activation", "dec_activation")
                     if n in FIELDS)
OBJECTIVE = ("beta", "warmup_steps")


def hidden_sizes_validator() -> QRegularExpressionValidator:
    return QRegularExpressionValidator(QRegularExpression(HIDDEN_SIZES_PATTERN))


def int_spin(name: str, value: int = 0, maximum: int | None = None) -> QSpinBox:
    """A spin box with the bounds that core.config.FIELDS gives ``name``."""
    spec = FIELDS.get(name, ("int", 0, None))
    spin = QSpinBox()
    lo = spec[1] if len(spec) > 1 and spec[1] is not None else 0
    hi = spec[2] if len(spec) > 2 and spec[2] is not None else INT_MAX
    spin.setRange(int(lo), int(min(hi, maximum if maximum is not None else INT_MAX)))
    spin.setValue(int(value))
    return spin


def choice_combo(options) -> QComboBox:
    combo = QComboBox()
    combo.addItems([str(o) for o in options])
    return combo


class ModelConfigForm(QWidget):
    """Rows for the given fields (default: architecture + objective) in a QFormLayout.

    Widgets keep the names the panels and tests drive: kind_combo, hidden_edit, latent_spin,
    likelihood_combo, enc_activation_combo, dec_activation_combo, beta_edit, warmup_spin."""

    changed = pyqtSignal()

    def __init__(self, fields: tuple[str, ...] = ARCHITECTURE + OBJECTIVE, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields = tuple(fields)
        self.kind_combo = choice_combo(FIELDS["kind"][1])
        self.hidden_edit = QLineEdit("256")
        self.hidden_edit.setValidator(hidden_sizes_validator())
        self.latent_spin = int_spin("latent", 16, maximum=512)
        self.likelihood_combo = choice_combo(FIELDS["likelihood"][1])
        self.enc_activation_combo = choice_combo(ACTIVATIONS)
        self.dec_activation_combo = choice_combo(ACTIVATIONS)
        self.beta_edit = QLineEdit("1")
        self.beta_edit.setValidator(QDoubleValidator(0.0, 1e6, 6))
        self.warmup_spin = int_spin("warmup_steps", 0)
        self.widgets = {"kind": self.kind_combo, "hidden": self.hidden_edit, "latent": self.latent_spin,
                        "likelihood": self.likelihood_combo, "enc_activation": self.enc_activation_combo,
                        "dec_activation": self.dec_activation_combo, "beta": self.beta_edit,
                        "warmup_steps": self.warmup_spin}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for name, widget in self.widgets.items():
            widget.setToolTip(TIPS[name])
            if name in self.fields:
                self.layout_.addRow(LABELS[name], widget)
            else:
                widget.hide()
            signal = getattr(widget, "currentIndexChanged", None) or getattr(widget, "valueChanged", None) \
                or widget.textChanged
            signal.connect(lambda *_: self.changed.emit())

    def values(self) -> dict:
        """{field: value} of the shown fields; ValueError (naming the field) for a bad entry."""
        out: dict = {}
        for name in self.fields:
            widget = self.widgets[name]
            if name == "hidden":
                out[name] = parse_hidden(widget.text())
            elif name == "beta":
                out[name] = float(parse_number(widget.text(), float, 0.0, name="β (KL weight)"))
            elif isinstance(widget, QComboBox):
                out[name] = widget.currentText()
            else:
                out[name] = int(widget.value())
        return out

    def set_values(self, values: dict) -> None:
        """Fill the shown fields from a dict (TrainConfig.as_form() or ModelConfig.to_dict())."""
        for name in self.fields:
            if name not in values:
                continue
            widget, value = self.widgets[name], values[name]
            if name == "hidden":
                widget.setText(",".join(str(h) for h in value))
            elif name == "beta":
                widget.setText(f"{float(value):g}")
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            else:
                widget.setValue(int(value))

    def set_architecture_locked(self, locked: bool) -> None:
        """Grey the architecture rows (continuing a model keeps its architecture)."""
        for name in ARCHITECTURE:
            self.widgets[name].setEnabled(not locked)
