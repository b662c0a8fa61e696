"""Gradient-check panel: the hand-written back-propagation against finite differences.

Runs ``core.gradcheck.check_steps`` (a generator yielding progress, returning the report) as a job on
a small fresh network or on the current model's weights, and shows one table row per parameter, the
worst entries of the row clicked, and a histogram of log10 relative errors in which kink entries
have their own colour. Every number in the help texts comes from core/gradcheck.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.gradcheck import (
    KINK_EXPLANATION,
    MAX_KINK_SHARE,
    MODES,
    PASS_THRESHOLD,
    RETRY_STEPS,
    ROUNDOFF_MARGIN,
    STEP,
    WARN_THRESHOLD,
    GradcheckReport,
    Progress,
    check_steps,
)
from core.models import ConfigError, Model, ModelConfig
from vae_gui.panels.base import Panel
from vae_gui.state import Session
from vae_gui.widgets.config_form import ARCHITECTURE, ModelConfigForm
from vae_gui.widgets.gradcheck_report import FAIL_COLOR, PASS_COLOR, ReportView

__all__ = ["FAIL_COLOR", "PASS_COLOR", "GradcheckPanel"]

HELP = (f"<p><b>Relative error</b> of an entry: |a − n| / max(|a| + |n|, 0.01·g, r), with a the analytic "
        f"(back-propagated) and n the numerical derivative (f(θ + h) − f(θ − h)) / 2h, h = {STEP:g}, in float64 "
        f"with the VAE's noise held fixed; g is the parameter's largest |a| + |n|, and r = "
        f"{ROUNDOFF_MARGIN:g}·ε·Σ|terms| / (h·{PASS_THRESHOLD:g}) keeps the finite difference's own round-off "
        f"from counting as an error. A parameter passes when "
        f"every entry is ≤ {PASS_THRESHOLD:g}; an entry above {WARN_THRESHOLD:g} is a warning. In a correct "
        f"backprop only round-off is left: about 1e-11 to 1e-6 (more for a larger loss).</p>"
        f"<p><b>Kink entries</b> (orange): {KINK_EXPLANATION} They are retried with h = "
        f"{', '.join(f'{h:g}' for h in RETRY_STEPS)}, shown apart and not judged; the check fails if they are "
        f"more than {100 * MAX_KINK_SHARE:g} % of the checked entries.</p>")
MODE_TIP = ("full: every entry of every parameter (batched: seconds even for the shipped models); sample: k random "
            "entries per parameter; direction: one random unit direction per parameter and one over all.")


class GradcheckPanel(Panel):
    """Run a gradient check and read its result per parameter."""

    title, stem = "Gradcheck", "gradcheck"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.report: GradcheckReport | None = None
        self.was_cancelled = False
        self._fresh_values: dict | None = None  # the fresh-network form while it shows the current model
        self._build()
        self.reset()

    def reset(self) -> None:
        """A check's result belongs to the model and the batch it ran on: a switch clears it (the base has
        cancelled a running check)."""
        self.report = None
        self.view.clear()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.summary_label.setText("No check run yet.")
        self._show_checked_model()
        self._update_data_label()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self._build_form())
        self._build_status(left)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(340)
        self.view = ReportView()
        self.table, self.worst_table, self.hist_plot = self.view.table, self.view.worst_table, self.view.hist_plot
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addWidget(self.view, 1)

    def _build_form(self) -> QGroupBox:
        """Mode, k, 'current model', the shared architecture form, batch size and seed."""
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.mode_combo.setToolTip(MODE_TIP)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100_000)
        self.k_spin.setValue(20)
        self.k_spin.setToolTip("Entries checked per parameter in 'sample' mode.")
        self.current_check = QCheckBox("Check the current model's weights")
        self.current_check.setToolTip("Check the loaded or trained model (the form then shows its architecture) "
                                      "instead of a small fresh network.")
        self.config_form = ModelConfigForm(fields=ARCHITECTURE)
        self.config_form.set_values({"kind": "vae", "hidden": [8], "latent": 3, "likelihood": "bernoulli"})
        self.kind_combo, self.hidden_edit = self.config_form.kind_combo, self.config_form.hidden_edit
        self.likelihood_combo, self.latent_spin = self.config_form.likelihood_combo, self.config_form.latent_spin
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(4)
        self.batch_spin.setToolTip("Images in the batch whose loss is differentiated.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the fresh weights, the batch, the VAE noise and the sampled entries.")
        self.mode_combo.currentTextChanged.connect(self._form_changed)
        self.current_check.toggled.connect(self._on_current_toggled)
        for signal in (self.config_form.changed, self.batch_spin.valueChanged, self.k_spin.valueChanged):
            signal.connect(self._form_changed)

        form = QFormLayout()
        form.setVerticalSpacing(3)
        self.config_form.layout_.setVerticalSpacing(3)
        form.addRow("Mode", _row(self.mode_combo, QLabel("k (sample)"), self.k_spin))
        form.addRow(self.current_check)
        form.addRow(self.config_form)
        form.addRow("Batch size", _row(self.batch_spin, QLabel("Seed"), self.seed_spin))
        form_box = QGroupBox("Gradient check")
        form_box.setLayout(form)
        form_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # never squeezed
        return form_box

    def _build_status(self, left: QVBoxLayout) -> None:
        """What the model is, run/cancel, progress, and the verdict above the help (they scroll)."""
        self.run_button = QPushButton("Run gradient check")
        self.run_button.clicked.connect(self.run_check)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_check)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.estimate_label, self.data_label = _wrapped_label(), _wrapped_label()
        self.summary_label = _wrapped_label("No check run yet.")
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        help_label = _wrapped_label(HELP)
        help_label.setStyleSheet("color: #444;")
        text_box = QWidget()
        text_layout = QVBoxLayout(text_box)
        text_layout.setContentsMargins(0, 0, 4, 0)
        text_layout.addWidget(self.summary_label)
        text_layout.addWidget(help_label)
        text_layout.addStretch(1)
        help_area = QScrollArea()  # the verdict and the help: what shrinks (and scrolls) when the window is small
        help_area.setWidget(text_box)
        help_area.setWidgetResizable(True)
        help_area.setFrameShape(QFrame.Shape.NoFrame)
        help_area.setMinimumHeight(0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left.addWidget(self.estimate_label)
        left.addWidget(self.data_label)
        left.addLayout(buttons)
        left.addWidget(self.progress_bar)
        left.addWidget(help_area, 1)

    # ------------------------------------------------------------------ form
    def _form_changed(self, *_args) -> None:
        self._update_enabled()
        self._update_estimate()
        self._update_data_label()

    def _on_current_toggled(self, checked: bool) -> None:
        if checked:
            self._fresh_values = self.config_form.values() if self._form_is_valid() else None
        elif self._fresh_values is not None:
            self.config_form.set_values(self._fresh_values)
        self._show_checked_model()

    def _form_is_valid(self) -> bool:
        try:
            self.config_form.values()
        except ValueError:
            return False
        return True

    def _show_checked_model(self) -> None:
        """While the current model is checked, the (greyed) form shows its architecture."""
        if self.current_check.isChecked() and self.state.model is not None:
            self.config_form.set_values(self.state.model.config.to_dict())
        self._form_changed()

    def _update_enabled(self) -> None:
        running = self.is_running()
        use_current = self.current_check.isChecked() and self.state.model is not None
        self.config_form.setEnabled(not use_current and not running)
        self.current_check.setEnabled(self.state.model is not None and not running)
        for widget in (self.mode_combo, self.batch_spin, self.seed_spin):
            widget.setEnabled(not running)
        self.k_spin.setEnabled(self.mode_combo.currentText() == "sample" and not running)
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _update_data_label(self) -> None:
        """Says what ``batch`` will use: the data set's training images only when the checked network reads
        them, else random pixels."""
        try:
            input_dim = self.build_model().config.input_dim
        except ValueError:
            input_dim = None
        X, dataset = self.state.X, self.state.dataset
        if X is not None and X.shape[1] == input_dim:
            self.data_label.setText(f"The batch: images of the data set ({dataset.name}, training split).")
        elif X is not None:
            self.data_label.setText(f"The batch: random pixels (the network reads {input_dim} values per image, "
                                    f"the data set has {X.shape[1]}; just as valid).")
        else:
            self.data_label.setText("No data: the batch is random pixels (just as valid).")

    def build_model(self) -> Model:
        """The network to check: a float64 copy of the current model, or a fresh one from the form."""
        if self.current_check.isChecked() and self.state.model is not None:
            return self.state.model.copy(dtype="float64", device="cpu")
        try:
            input_dim = self.state.X.shape[1] if self.state.X is not None else 560
            config = ModelConfig(**self.config_form.values(), dtype="float64", input_dim=input_dim)
            return Model(config, seed=self.seed_spin.value())
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    def _update_estimate(self) -> None:
        try:
            model = self.build_model()
        except ValueError as exc:
            self.estimate_label.setText(f"<span style='color:#a33'>{exc}</span>")
            return
        mode = self.mode_combo.currentText()
        if mode == "full":
            entries = model.n_params
        elif mode == "sample":
            entries = sum(min(self.k_spin.value(), int(np.prod(s))) for _, s in model.shapes)
        else:
            entries = len(model.shapes) + 1
        self.estimate_label.setText(f"{model.config.describe()}: {model.n_params:,} entries in {len(model.shapes)} "
                                    f"arrays; {entries:,} checked.")

    def batch(self, model: Model) -> np.ndarray:
        """(batch, D) images: random training faces when data is loaded, else uniform random pixels."""
        rng = np.random.default_rng(self.seed_spin.value())
        n = self.batch_spin.value()
        X = self.state.X
        if X is not None and X.shape[1] == model.config.input_dim:
            ids = self.state.train_ids if len(self.state.train_ids) >= n else np.arange(len(X))
            return np.asarray(X[np.sort(rng.choice(ids, size=n, replace=False))], dtype=np.float64)
        return rng.random((n, model.config.input_dim))

    # ------------------------------------------------------------------ running
    def run_check(self) -> bool:
        """Start the check as a job; False (with a dialog) when it cannot start."""
        if self.is_running():
            self.state.report_error("Gradient check", "A gradient check is already running.")
            return False
        try:
            model = self.build_model()
        except ValueError as exc:
            self.state.report_error("Invalid gradient-check settings", str(exc))
            return False
        self.report, self.was_cancelled = None, False
        self.view.clear()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("starting…")
        self.summary_label.setText(f"Checking {model.config.describe()}…")
        job = self.run_job(check_steps, model, self.batch(model), mode=self.mode_combo.currentText(),
                           k=self.k_spin.value(), seed=self.seed_spin.value(), on_yield=self._on_progress,
                           on_result=self.show_report, on_error=self._on_failed,
                           on_finished=lambda: self._on_finished(job))
        self._update_enabled()
        return True

    def cancel_check(self) -> None:
        self.cancel_job()

    def is_running(self) -> bool:
        return self.job_running()

    def _on_progress(self, p: Progress) -> None:
        self.progress_bar.setValue(int(1000 * p.done / max(p.total, 1)))
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        self.progress_bar.setFormat(f"{p.done:,} / {p.total:,} — {p.name} — {p.elapsed_s:.0f} s{eta}")

    def _on_failed(self, message: str, _exc=None) -> None:
        self.summary_label.setText(f"Gradient check failed: {message}")
        self.state.report_error("Gradient check failed", message)

    def _on_finished(self, job) -> None:
        if job.was_cancelled and self.job is None:  # cancelled by the user (a switch has reset the texts)
            self.was_cancelled = True
            if self.report is None and self.summary_label.text() != "No check run yet.":
                self.progress_bar.setFormat("cancelled")
                self.summary_label.setText("Gradient check cancelled.")
        self._update_enabled()

    # ------------------------------------------------------------------ showing
    def show_report(self, report: GradcheckReport) -> None:
        self.report = report
        self.view.show_report(report)
        self.summary_label.setText(summary_text(report))
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"done in {report.seconds:.1f} s")

    def histogram_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) of the judged entries drawn in the histogram (for tests)."""
        return self.view.histogram_data()


def summary_text(report: GradcheckReport) -> str:
    """The verdict in a few lines of rich text."""
    verdict = "<b style='color:#080'>PASSED</b>" if report.passed else "<b style='color:#c00'>FAILED</b>"
    errors = report.all_rel_errors()
    n_pass = sum(p.passed for p in report.params)
    text = (f"{verdict}: {n_pass} of {len(report.params)} parameters pass ({report.mode} mode, "
            f"{report.checked_total:,} entries, largest relative error {errors.max() if errors.size else 0:.2e}, "
            f"{report.seconds:.1f} s).")
    if report.kinks_total:
        share = f"{100 * report.kink_share:.1f} %"
        too_many = report.kink_share > MAX_KINK_SHARE
        text += (f"<br>{report.kinks_total:,} kink entries ({share} of those checked"
                 f"{f', more than {100 * MAX_KINK_SHARE:g} %: the check fails' if too_many else ''}). "
                 f"{KINK_EXPLANATION}")
    if report.overall is not None:
        o = report.overall
        result = "kink" if o["kink"] else "pass" if o["passed"] else "FAIL"
        text += (f"<br>All parameters along one random direction: analytic {o['analytic']:.6g}, numerical "
                 f"{o['numeric']:.6g}, relative error {o['rel_error']:.2e} ({result}"
                 f"{'; ' + o['note'] if o['note'] else ''}).")
    return text


def _row(*widgets: QWidget) -> QWidget:
    """Widgets side by side in one form row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 0 if isinstance(widget, QLabel) else 1)
    return row


def _wrapped_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label

