"""Gradient-check panel: the hand-written back-propagation against finite differences.

Runs ``core.gradcheck.gradcheck`` in a ``GradcheckWorker`` thread on a small fresh network
(or on the current model's weights) and shows one table row per parameter plus a histogram
of log10 relative errors. The definitions in the tooltips are those of core/gradcheck.py.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QThread
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.gradcheck import MODES, PASS_THRESHOLD, STEP, WARN_THRESHOLD, GradcheckReport
from core.losses import LIKELIHOODS
from core.models import ConfigError, Model, ModelConfig
from vae_gui.panels.training import hidden_sizes_validator, parse_hidden
from vae_gui.state import AppState
from vae_gui.workers import GradcheckWorker

LOG10_FLOOR = -16.0  # exact agreement (relative error 0) is drawn here on the log axis

DEFINITIONS = {
    "rel": "Relative error of one entry = |a − n| / max(|a| + |n|, 0.01·g), with a the analytic (back-propagated) "
           "and n the numerical (central difference) derivative, and g the largest |a| + |n| of the parameter. "
           "Good: below 1e-7 in float64.",
    "max": f"Largest relative error over the parameter's checked entries. The parameter passes when it is "
           f"≤ {PASS_THRESHOLD:g}.",
    "mean": "Mean relative error over the parameter's checked entries (good: far below the pass threshold).",
    "norm": "Norm-wise error ‖a − n‖ / (‖a‖ + ‖n‖) over the checked entries: one number for the whole gradient "
            "of the parameter; good values are below 1e-8.",
    "warn": f"Entries whose relative error exceeds {WARN_THRESHOLD:g}: each is a clearly wrong derivative.",
    "checked": "Entries compared: all of them (full), k random ones (sample) or one random direction (direction).",
    "numeric": f"n = (f(θ + h) − f(θ − h)) / 2h with h = {STEP:g}, in float64, with the VAE's noise held fixed.",
}

COLUMNS = ["Parameter", "Shape", "Checked", "Max rel. error", "Mean rel. error", "Norm error", "Warnings", "Result"]
COLUMN_TIPS = ["Parameter array of the network", "Shape of the array", DEFINITIONS["checked"],
               f"<p>{DEFINITIONS['max']}</p><p>{DEFINITIONS['rel']}</p>",
               f"<p>{DEFINITIONS['mean']}</p><p>{DEFINITIONS['rel']}</p>", DEFINITIONS["norm"], DEFINITIONS["warn"],
               f"pass: max relative error ≤ {PASS_THRESHOLD:g}; fail otherwise"]
PASS_COLOR = QColor("#c8f0c8")
FAIL_COLOR = QColor("#f6c4c4")


class GradcheckPanel(QWidget):
    """Run a gradient check and read its result per parameter."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.report: GradcheckReport | None = None
        self.was_cancelled = False
        self._worker: GradcheckWorker | None = None
        self._thread: QThread | None = None
        self._build()
        state.model_changed.connect(lambda _m: self._update_estimate())
        state.data_changed.connect(lambda _x: self._update_data_label())
        self._update_enabled()
        self._update_data_label()
        self._update_estimate()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(list(MODES))
        self.mode_combo.setToolTip("full: every entry of every parameter; sample: k random entries per parameter; "
                                   "direction: one random unit direction per parameter (and one over all).")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100_000)
        self.k_spin.setValue(20)
        self.k_spin.setToolTip("Entries checked per parameter in 'sample' mode.")
        self.current_check = QCheckBox("Use the current model's weights")
        self.current_check.setToolTip("Check the gradient of the loaded/trained model instead of a small fresh "
                                      "network (use 'sample' or 'direction': it has many entries).")
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(["vae", "ae"])
        self.likelihood_combo = QComboBox()
        self.likelihood_combo.addItems(list(LIKELIHOODS))
        self.hidden_edit = QLineEdit("8")
        self.hidden_edit.setValidator(hidden_sizes_validator())
        self.hidden_edit.setToolTip("Hidden sizes of the fresh network, e.g. 8 or 16,8 (small keeps 'full' quick).")
        self.latent_spin = QSpinBox()
        self.latent_spin.setRange(1, 64)
        self.latent_spin.setValue(3)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setValue(4)
        self.batch_spin.setToolTip("Images in the batch whose loss is differentiated.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the fresh weights, the batch, the VAE noise and the sampled entries.")
        for w in (self.mode_combo, self.current_check, self.kind_combo, self.likelihood_combo, self.latent_spin,
                  self.batch_spin, self.k_spin):
            signal = w.toggled if isinstance(w, QCheckBox) else (
                w.currentTextChanged if isinstance(w, QComboBox) else w.valueChanged)
            signal.connect(self._form_changed)
        self.hidden_edit.textChanged.connect(self._form_changed)

        form = QFormLayout()
        form.addRow("Mode", self.mode_combo)
        form.addRow("Entries per parameter (sample)", self.k_spin)
        form.addRow(self.current_check)
        form.addRow("Model kind", self.kind_combo)
        form.addRow("Likelihood", self.likelihood_combo)
        form.addRow("Hidden sizes", self.hidden_edit)
        form.addRow("Latent size", self.latent_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Seed", self.seed_spin)
        form_box = QGroupBox("Gradient check")
        form_box.setLayout(form)
        form_box.setToolTip(DEFINITIONS["numeric"])

        self.run_button = QPushButton("Run gradient check")
        self.run_button.clicked.connect(self.run_check)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_check)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        self.data_label = QLabel("")
        self.data_label.setWordWrap(True)
        self.summary_label = QLabel("No check run yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setToolTip(DEFINITIONS["max"])
        definitions = QLabel("<p><b>Relative error</b>: " + DEFINITIONS["rel"] + "</p><p><b>Norm error</b>: "
                             + DEFINITIONS["norm"] + "</p><p>" + DEFINITIONS["numeric"] + "</p>")
        definitions.setWordWrap(True)
        definitions.setStyleSheet("color: #444;")

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left = QVBoxLayout()
        left.addWidget(form_box)
        left.addWidget(self.estimate_label)
        left.addWidget(self.data_label)
        left.addLayout(buttons)
        left.addWidget(self.progress_bar)
        left.addWidget(self.summary_label)
        left.addWidget(definitions)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(360)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(70)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)

        self.hist_plot = pg.PlotWidget()
        self.hist_plot.setBackground("w")
        self.hist_plot.setTitle("Relative errors of all checked entries", color="k")
        self.hist_plot.setLabel("bottom", "log10(relative error)")
        self.hist_plot.setLabel("left", "entries")
        self.hist_plot.showGrid(x=True, y=True, alpha=0.3)
        self.hist_plot.setToolTip(f"<p>{DEFINITIONS['rel']}</p><p>Entries that agree exactly (error 0) are "
                                  f"drawn at {LOG10_FLOOR:g}. Green line: pass threshold {PASS_THRESHOLD:g}; "
                                  f"red line: warning threshold {WARN_THRESHOLD:g}.</p>")
        self.hist_curve = self.hist_plot.plot(stepMode="center", fillLevel=0, brush=(31, 119, 180, 120),
                                              pen=pg.mkPen("#1f77b4", width=1.5))
        self.hist_plot.getAxis("left").setWidth(60)
        for value, color, text in ((PASS_THRESHOLD, "#2a2", "pass ≤ {:g}"), (WARN_THRESHOLD, "#c00", "warn > {:g}")):
            self.hist_plot.addItem(pg.InfiniteLine(pos=np.log10(value), angle=90,
                                                   pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine),
                                                   label=text.format(value),
                                                   labelOpts={"position": 0.92, "color": color,
                                                              "anchors": [(1, 0), (1, 0)]}))
        self.zero_label = pg.TextItem("", color="#555", anchor=(0, 1))
        self.hist_plot.addItem(self.zero_label)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.hist_plot)
        splitter.setSizes([400, 300])
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addWidget(splitter, 1)

    # ------------------------------------------------------------------ form
    def _form_changed(self, *_args) -> None:
        self._update_enabled()
        self._update_estimate()

    def _update_enabled(self) -> None:
        running = self._thread is not None
        fresh = not self.current_check.isChecked()
        for w in (self.kind_combo, self.likelihood_combo, self.hidden_edit, self.latent_spin):
            w.setEnabled(fresh and not running)
        self.current_check.setEnabled(self.state.model is not None and not running)
        self.k_spin.setEnabled(self.mode_combo.currentText() == "sample" and not running)
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _update_data_label(self) -> None:
        if self.state.X is not None:
            self.data_label.setText("The batch: real Frey faces from the training split.")
        else:
            self.data_label.setText("No data loaded: the batch is random pixels (the check is just as valid).")

    def build_model(self) -> Model:
        """The network to check: a float64 copy of the current model, or a fresh one from the form."""
        if self.current_check.isChecked() and self.state.model is not None:
            return self.state.model.copy(dtype="float64", device="cpu")
        try:
            config = ModelConfig(kind=self.kind_combo.currentText(), hidden=parse_hidden(self.hidden_edit.text()),
                                 latent=self.latent_spin.value(), likelihood=self.likelihood_combo.currentText(),
                                 dtype="float64")
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
        n_params = len(model.shapes)
        if mode == "full":
            entries = model.n_params
        elif mode == "sample":
            entries = sum(min(self.k_spin.value(), int(np.prod(s))) for _, s in model.shapes)
        else:
            entries = n_params + 1
        self.estimate_label.setText(f"{model.config.describe()}: {n_params} parameter arrays, "
                                    f"{model.n_params:,} entries; this check differentiates numerically "
                                    f"{entries:,} times (2 forward passes each).")
        self._estimated_entries = entries

    def batch(self) -> np.ndarray:
        """(batch, 560) images: random training faces when data is loaded, else uniform random pixels."""
        rng = np.random.default_rng(self.seed_spin.value())
        n = self.batch_spin.value()
        if self.state.X is not None:
            ids = rng.choice(self.state.train_ids if len(self.state.X) > self.state.train_ids.max()
                             else np.arange(len(self.state.X)), size=n, replace=False)
            return np.asarray(self.state.X[np.sort(ids)], dtype=np.float64)
        return rng.random((n, self.state.model.config.input_dim if self.state.model else 560))

    # ------------------------------------------------------------------ running
    def run_check(self) -> bool:
        """Start the check in a worker thread; False (with a dialog) when it cannot start."""
        if self._thread is not None:
            self.state.report_error("Gradient check", "A gradient check is already running.")
            return False
        try:
            model = self.build_model()
        except ValueError as exc:
            self.state.report_error("Invalid gradient-check settings", str(exc))
            return False
        worker = GradcheckWorker(model, self.batch(), mode=self.mode_combo.currentText(), k=self.k_spin.value(),
                                 seed=self.seed_spin.value())
        thread = QThread()
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.result.connect(self._on_result)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_finished)
        self._worker, self._thread = worker, thread
        self.was_cancelled = False
        self.progress_bar.setValue(0)
        self.summary_label.setText(f"Checking {model.config.describe()}…")
        self._update_enabled()
        thread.start()
        return True

    def cancel_check(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def is_running(self) -> bool:
        return self._thread is not None

    def shutdown(self, msecs: int = 30000) -> bool:
        """Cancel a running check and wait for its thread (the window is closing)."""
        if self._thread is None:
            return True
        self.cancel_check()
        ok = self._thread.wait(msecs)
        self._on_thread_finished()
        return ok

    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.progress_bar.setValue(int(1000 * done / max(total, 1)))
        self.progress_bar.setFormat(f"{done:,} / {total:,} — {name}")

    def _on_result(self, report: GradcheckReport) -> None:
        self.show_report(report)

    def _on_cancelled(self) -> None:
        self.was_cancelled = True
        self.summary_label.setText("Gradient check cancelled; the table shows the previous result, if any.")

    def _on_failed(self, message: str) -> None:
        self.summary_label.setText(f"Gradient check failed: {message}")
        self.state.report_error("Gradient check failed", message)

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        # 'finished' comes from the thread just before it ends: wait() (which releases the GIL)
        # lets it end, so dropping the last reference never joins a thread that needs the GIL
        self._thread.wait()
        self._worker, self._thread = None, None
        self._update_enabled()

    # ------------------------------------------------------------------ showing
    def show_report(self, report: GradcheckReport) -> None:
        self.report = report
        self.table.setRowCount(len(report.params))
        for row, p in enumerate(report.params):
            cells = [p.name, "×".join(str(s) for s in p.shape), f"{p.checked:,}", f"{p.max_rel_error:.2e}",
                     f"{p.mean_rel_error:.2e}", f"{p.norm_rel_error:.2e}", str(p.warnings),
                     "pass" if p.passed else "FAIL"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(COLUMN_TIPS[col])
                item.setBackground(PASS_COLOR if p.passed else FAIL_COLOR)
                self.table.setItem(row, col, item)
        errors = report.all_rel_errors()
        logs = np.log10(np.maximum(errors, 10.0**LOG10_FLOOR)) if errors.size else np.zeros(0)
        if logs.size:
            lo, hi = np.floor(logs.min()), max(np.ceil(logs.max()), np.floor(logs.min()) + 1)
            counts, edges = np.histogram(logs, bins=max(10, int((hi - lo) * 4)), range=(lo, hi))
            self.hist_curve.setData(edges, counts)
            # always show both threshold lines, however good or bad the errors are
            self.hist_plot.setXRange(min(lo, np.log10(PASS_THRESHOLD) - 1), max(hi, np.log10(WARN_THRESHOLD) + 0.5))
            n_zero = int((errors == 0).sum())
            self.zero_label.setText(f"← {n_zero:,} entries agree exactly (error 0)" if n_zero else "")
            self.zero_label.setPos(lo + (edges[1] - edges[0]) * 1.2, max(counts.max() * 0.98, 1))
        else:
            self.hist_curve.setData([], [])
        verdict = "<b style='color:#080'>PASSED</b>" if report.passed else "<b style='color:#c00'>FAILED</b>"
        n_pass = sum(p.passed for p in report.params)
        text = (f"{verdict}: {n_pass} of {len(report.params)} parameters pass ({report.mode} mode, "
                f"{errors.size:,} entries, largest relative error {errors.max() if errors.size else 0:.2e}, "
                f"{report.seconds:.1f} s).")
        if report.overall is not None:
            o = report.overall
            text += (f"<br>All parameters along one random direction: analytic {o['analytic']:.6g}, numerical "
                     f"{o['numeric']:.6g}, relative error {o['rel_error']:.2e} ({'pass' if o['passed'] else 'FAIL'}).")
        self.summary_label.setText(text)
        self.progress_bar.setValue(1000)

    def histogram_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) drawn in the histogram (for tests)."""
        x, y = self.hist_curve.getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))
