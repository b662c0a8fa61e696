"""Widgets for the training settings, built from the one schema (``core.settings.SETTINGS``): a spin box,
a combo box, a check box or a line edit per setting, with the schema's range, choices, label and help; and the
model-config form shared by the Training and Gradcheck panels (kind, hidden sizes, latent size, likelihood,
activations, β, warm-up).

``setting_widget(name)`` makes one setting's widget; ``read_setting`` / ``show_setting`` read and fill any of
them (a line edit's text is parsed by the schema's ``Setting.parse``: ValueError naming the setting).
``ModelConfigForm.values()`` returns {field: value} ready for ``TrainConfig.from_form`` / ``ModelConfig(**...)``.
"""

from __future__ import annotations

from PyQt6.QtCore import QRegularExpression, pyqtSignal
from PyQt6.QtGui import QDoubleValidator, QRegularExpressionValidator
from PyQt6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from core.settings import SETTINGS

# What a hidden-sizes field accepts while typing ('256', '512, 256', '512,'); the schema's parse has the last word.
HIDDEN_SIZES_PATTERN = r"^\s*\d+(\s*,\s*\d+)*\s*,?\s*$"
INT_MAX = 2_000_000_000  # QSpinBox holds a C int
FLOAT_MAX = 1e6  # what a float line edit's validator lets one type (the schema's range still decides)

ARCHITECTURE = ("kind", "hidden", "latent", "likelihood", "enc_activation", "dec_activation")
OBJECTIVE = ("beta", "warmup_steps")


def hidden_sizes_validator() -> QRegularExpressionValidator:
    return QRegularExpressionValidator(QRegularExpression(HIDDEN_SIZES_PATTERN))


def int_spin(name: str, value: int | None = None, maximum: int | None = None) -> QSpinBox:
    """A spin box with the range core.settings gives ``name`` (capped at ``maximum``)."""
    s = SETTINGS[name]
    spin = QSpinBox()
    lo = int(s.low) if s.low is not None else 0
    hi = min(int(s.high) if s.high is not None else INT_MAX, INT_MAX, maximum if maximum is not None else INT_MAX)
    spin.setRange(lo, hi)
    spin.setValue(int(value if value is not None else s.default or lo))
    return spin


def choice_combo(options) -> QComboBox:
    combo = QComboBox()
    combo.addItems([str(o) for o in options])
    return combo


def number_edit(name: str) -> QLineEdit:
    """A line edit for a float setting: its validator takes the schema's range while typing."""
    s = SETTINGS[name]
    edit = QLineEdit()
    low = s.low if s.low is not None else -FLOAT_MAX
    high = min(s.high, FLOAT_MAX) if s.high is not None else FLOAT_MAX
    edit.setValidator(QDoubleValidator(low, high, 12))
    return edit


def setting_widget(name: str, maximum: int | None = None) -> QWidget:
    """The widget for one setting: spin box (int), line edit (float, hidden sizes), combo box (choice) or
    check box (bool), with the schema's range and its help as the tooltip, showing the default."""
    s = SETTINGS[name]
    if s.kind == "int":
        widget = int_spin(name, maximum=maximum)
    elif s.kind == "choice":
        widget = choice_combo(s.choices)
    elif s.kind == "bool":
        widget = QCheckBox(s.label[:1].lower() + s.label[1:])
    elif s.kind == "int_list":
        widget = QLineEdit()
        widget.setValidator(hidden_sizes_validator())
    else:
        widget = number_edit(name)
    widget.setToolTip(f"{s.help[:1].upper()}{s.help[1:]} ({s.describe()}).")
    show_setting(widget, name, s.default)
    return widget


def read_setting(widget: QWidget, name: str):
    """The value a setting's widget holds (a line edit's text through the schema: ValueError names it)."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QSpinBox):
        return int(widget.value())
    return SETTINGS[name].parse(widget.text())


def show_setting(widget: QWidget, name: str, value) -> None:
    """Show ``value`` (None: leave the widget as it is)."""
    if value is None:
        return
    if isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(value))
    elif isinstance(value, list):
        widget.setText(",".join(str(v) for v in value))
    else:
        widget.setText(f"{float(value):g}")


class ModelConfigForm(QWidget):
    """Rows for the given fields (default: architecture + objective) in a QFormLayout.

    Widgets keep the names the panels and tests drive: kind_combo, hidden_edit, latent_spin,
    likelihood_combo, enc_activation_combo, dec_activation_combo, beta_edit, warmup_spin."""

    changed = pyqtSignal()

    def __init__(self, fields: tuple[str, ...] = ARCHITECTURE + OBJECTIVE, parent: QWidget | None = None):
        super().__init__(parent)
        self.fields = tuple(fields)
        self.widgets = {name: setting_widget(name, maximum=512 if name == "latent" else None)
                        for name in ARCHITECTURE + OBJECTIVE}
        w = self.widgets
        self.kind_combo, self.hidden_edit, self.latent_spin = w["kind"], w["hidden"], w["latent"]
        self.likelihood_combo, self.beta_edit, self.warmup_spin = w["likelihood"], w["beta"], w["warmup_steps"]
        self.enc_activation_combo, self.dec_activation_combo = w["enc_activation"], w["dec_activation"]
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for name, widget in self.widgets.items():
            if name in self.fields:
                self.layout_.addRow(SETTINGS[name].label, widget)
            else:
                widget.hide()
            signal = getattr(widget, "currentIndexChanged", None) or getattr(widget, "valueChanged", None) \
                or widget.textChanged
            signal.connect(lambda *_: self.changed.emit())

    def values(self) -> dict:
        """{field: value} of the shown fields; ValueError (naming the field) for a bad entry."""
        return {name: read_setting(self.widgets[name], name) for name in self.fields}

    def set_values(self, values: dict) -> None:
        """Fill the shown fields from a dict (TrainConfig.as_form() or ModelConfig.to_dict())."""
        for name in self.fields:
            if name in values:
                show_setting(self.widgets[name], name, values[name])

    def set_architecture_locked(self, locked: bool) -> None:
        """Grey the architecture rows (continuing a model keeps its architecture)."""
        for name in ARCHITECTURE:
            self.widgets[name].setEnabled(not locked)
