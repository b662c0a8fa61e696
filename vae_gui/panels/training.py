"""Training panel: the settings form, Start/Pause/Resume/Stop, live loss curves and live faces.

A run is one background job (``vae_gui.training_job.train_job``, a ``core.run.TrainingRun`` as the
CLI uses) on a *copy* of the model; when it ends (finished, stopped or diverged) the trained copy
becomes the current model through ``session.set_model`` on the UI thread, so no other panel ever
reads weights mid-update. The curves are stored with the model (meta['history']) and shown again
when it is opened; Continue appends to them.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.models import Model
from core.record import ModelRecord, cut_history
from core.run import FRESH_OPTIMIZER_LR_WARMUP
from core.settings import CONTINUE_MAY_CHANGE, RUN_CONTROL
from core.train import TrainResult
from vae_gui.panels.base import Panel
from vae_gui.panels.training_form import TrainForm
from vae_gui.state import NO_DATA_HELP, Session
from vae_gui.training_job import RunRequest, train_job
from vae_gui.widgets.live_faces import LiveFaces
from vae_gui.widgets.loss_plots import TIPS as LOSS_TIPS
from vae_gui.widgets.loss_plots import LossPlots, downsample
from vae_gui.workers import Job, start_job

N_LIVE_FACES = 8
FACE_Z_SEED = 2024  # the fixed z of the live samples, so frames differ only by the weights
RATE_TIP = "Optimiser steps per second over the last logging interval, and the time left at that rate."


def _sentence(text: str) -> str:
    """Capitalise an ASCII first letter (never turn 'β' into 'Β')."""
    return text[:1].upper() + text[1:] if text[:1].isascii() else text


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingPanel(Panel):
    """Train a new model or continue the current one, watching losses and faces live."""

    title, stem, follows = "Training", "training", ()  # it follows the session itself (a run outlives a switch)

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.job: Job | None = None
        self.last_record: ModelRecord | None = None  # what the last run produced
        self.last_result: TrainResult | None = None  # how it ended
        self.training_model: Model | None = None  # the copy being trained (the job's; read-only here)
        self._progress = ""  # the rate line without its " — paused" / " — stopping" suffix
        # asked before continuing trained weights without optimiser state (tests answer it themselves)
        self.ask_fresh_optimizer = self._ask_fresh_optimizer
        self._face_z: np.ndarray | None = None
        self.form = TrainForm()
        self.form.mode_changed.connect(self._update_controls)
        self.plots = LossPlots()
        self._build_controls()
        self.live_faces = LiveFaces()
        self._build_layout()
        state.model_changed.connect(self._model_changed)
        state.data_changed.connect(self._data_changed)
        self._model_changed(state.model)
        self._data_changed(state.X)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        self.start_button, self.pause_button = QPushButton("Start"), QPushButton("Pause")
        self.resume_button, self.stop_button = QPushButton("Resume"), QPushButton("Stop")
        self.start_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(self.pause_training)
        self.resume_button.clicked.connect(self.resume_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.pause_button.setToolTip("Pause the run after the current step (Space toggles Start/Pause/Resume).")
        self.stop_button.setToolTip("End the run after the current step; the weights trained so far are kept.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.rate_label = QLabel("No run yet.")
        self.rate_label.setToolTip(f"<p>{RATE_TIP}</p><p>{LOSS_TIPS['total']}</p>")
        self.status_label = QLabel("")
        self.no_data_label = QLabel(f"<b>No data loaded.</b> Training needs images: {NO_DATA_HELP}.")
        self.no_data_label.setStyleSheet("color: #a33;")
        for label in (self.rate_label, self.status_label, self.no_data_label):
            label.setWordWrap(True)

    def _build_layout(self) -> None:
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        form_scroll = QScrollArea()
        form_scroll.setWidget(self.form)
        form_scroll.setWidgetResizable(True)
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # room for the form and its vertical scroll bar: a narrower area would cut the form's left edge
        bar_width = form_scroll.verticalScrollBar().sizeHint().width()
        form_scroll.setMinimumWidth(self.form.minimumSizeHint().width() + bar_width)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.no_data_label)
        left_layout.addLayout(buttons)  # Start stays in view however small the window: the form scrolls
        left_layout.addWidget(self.progress_bar)
        left_layout.addWidget(self.rate_label)
        left_layout.addWidget(self.status_label)
        left_layout.addWidget(form_scroll, 1)
        left.setMinimumWidth(300)
        left.setMaximumWidth(420)
        faces_scroll = QScrollArea()
        faces_scroll.setWidget(self.live_faces)
        faces_scroll.setWidgetResizable(True)
        faces_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        faces_scroll.setMinimumHeight(120)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(faces_scroll)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setChildrenCollapsible(False)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # ------------------------------------------------------------------ session reactions
    def _model_changed(self, model: Model | None) -> None:
        if model is None:
            self.form.new_radio.setChecked(True)
        if model is not None and model is not getattr(self.last_record, "model", None):
            self._show_saved_run(model)  # another model was opened: its own curves and settings
        if model is not None:
            self._face_z = np.random.default_rng(FACE_Z_SEED).standard_normal((N_LIVE_FACES, model.config.latent))
            self._show_current_faces(model)
        self._update_controls()

    def _show_saved_run(self, model: Model) -> None:
        record = self.state.record
        self.plots.set_history(record.history)
        self.form.show_record(record)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p%")
        self.rate_label.setText(f"{model.config.describe()}: {model.step:,} steps trained.")
        self.status_label.setText("")

    def _data_changed(self, X: np.ndarray | None) -> None:
        self.no_data_label.setVisible(X is None)
        if X is not None:
            ids = self.state.test_ids[:N_LIVE_FACES]
            self.live_faces.image_shape = self.state.image_shape
            self.live_faces.show_test_images(X[ids], ids)
            if self.state.model is not None:
                self._show_current_faces(self.state.model)
        self._update_controls()

    def _show_current_faces(self, model: Model) -> None:
        X = self.state.X
        self.live_faces.image_shape = self.state.image_shape
        self.live_faces.show_model(model, X[self.state.test_ids[:N_LIVE_FACES]] if X is not None else None,
                                   self._face_z)

    # ------------------------------------------------------------------ starting and steering
    def start_training(self) -> bool:
        """Start a run from the form; False (with a dialog) when it cannot start."""
        if self.is_running():
            self.state.report_error("Training", "A training run is already going; stop it before starting another.")
            return False
        if self.state.dataset is None:
            self.state.report_error("Training", f"No data is loaded: {NO_DATA_HELP}.")
            return False
        try:
            request = self._run_request()
        except ValueError as exc:
            self.state.report_error("Invalid training settings", _sentence(str(exc)))
            return False
        if request is None:
            return False  # the user declined a fresh optimiser
        continued = request.record
        if continued is None and not self.state.confirm_replace("Start a new model"):
            return False  # the user kept (or could not save) the current model's unsaved weights
        if continued is None:
            self.plots.clear()
        latent = continued.model.config.latent if continued else request.config.latent
        self._face_z = np.random.default_rng(FACE_Z_SEED).standard_normal((N_LIVE_FACES, latent))
        self.training_model = continued.model if continued else None
        self._start_step = continued.model.step if continued else 0
        self.job = start_job(train_job, request, self.state.dataset,
                             self.state.test_ids[:N_LIVE_FACES], self._face_z, True, with_control=True,
                             on_yield=self._on_report, on_result=self._on_finished, on_error=self._on_failed,
                             on_finished=self._run_ended, owner=self)
        self.job.paused_changed.connect(self._on_paused)
        self.progress_bar.setValue(0)
        self._set_progress(f"Starting {request.config.steps} steps…")
        self.status_label.setText("")
        self.state.set_training(True, self.job)
        self._update_controls()
        return True

    def _run_request(self) -> RunRequest | None:
        """What Start asks for: a new model from the form, or a copy of the current one continued with the
        form's optimiser/objective settings (core.run.TrainingRun.resume: the rule of `train --resume`).
        None when the user declined to continue without optimiser state."""
        config = self.form.config()
        if not self.form.continuing():
            config.check_data(len(self.state.train_ids))
            return RunRequest(config)
        record = self.state.record
        if record is None:
            raise ValueError("there is no current model to continue; choose 'New model'")
        changes = {name: getattr(config, name) for name in CONTINUE_MAY_CHANGE + RUN_CONTROL if name != "epochs"}
        # the form's Steps are steps to run now; a run's target (as in `train --resume`) counts from step 0
        changes["steps"] = record.model.step + config.steps
        fresh = record.optimizer_state is None and record.model.step > 0
        if fresh and not self.ask_fresh_optimizer(config.lr_warmup_steps):
            return None
        return RunRequest(config, record.copy(), changes, fresh_optimizer=fresh)

    def _ask_fresh_optimizer(self, warmup_steps: int) -> bool:
        """Continue trained weights that have no optimiser state? (Yes: a fresh optimiser, warmed up.)"""
        warm = (f"Its learning rate warms up from a small value over {warmup_steps} steps (the form's "
                "\"LR warm-up steps\")" if warmup_steps else
                "The form's \"LR warm-up steps\" is 0: its first updates will be as large as the learning rate, "
                "which can wreck trained weights")
        answer = QMessageBox.question(
            self, "Continue without optimiser state",
            f"This model ({self.state.model.step:,} steps) was saved without its optimiser state (shipped or "
            f"kept-best weights), so continuing starts a fresh optimiser. {warm}.\n\nContinue training it?")
        return answer == QMessageBox.StandardButton.Yes

    def pause_training(self) -> None:
        if self.job is not None:
            self.job.pause()
            self._update_controls()

    def resume_training(self) -> None:
        if self.job is not None:
            self.job.resume()
            self._update_controls()

    def stop_training(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.rate_label.setText(self._progress + " — stopping after this step…")

    def toggle(self) -> None:
        """Space: start when idle, else pause or resume."""
        if not self.is_running():
            self.start_training()
        elif self.is_paused():
            self.resume_training()
        else:
            self.pause_training()

    def is_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    def is_paused(self) -> bool:
        """Paused (or asked to pause): the job's control holds it, nothing else does."""
        return self.is_running() and self.job.is_paused()

    def _set_progress(self, text: str) -> None:
        self._progress = text
        self.rate_label.setText(text + (" — paused" if self.is_paused() else ""))

    def _update_controls(self) -> None:
        running, has_data = self.is_running(), self.state.dataset is not None
        self.start_button.setEnabled(has_data and not running)
        self.start_button.setToolTip(
            f"No data loaded: {NO_DATA_HELP}." if not has_data else
            "A run is going; stop it before starting another." if running else
            "Train with these settings in the background (Space).")
        self.pause_button.setEnabled(running and not self.is_paused())
        self.resume_button.setEnabled(running and self.is_paused())
        self.stop_button.setEnabled(running)
        self.form.set_locked(running, self.state.model is not None)
        if self.form.continuing() and self.state.model is not None and not running:
            self.form.model_form.set_values(self.state.model.config.to_dict())
            record = self.state.record
            self.form.show_fixed(record)
            if record.optimizer_state is None and record.model.step > 0 and not self.form.lr_warmup_spin.value():
                self.form.lr_warmup_spin.setValue(FRESH_OPTIMIZER_LR_WARMUP)  # the safe default, shown

    # ------------------------------------------------------------------ job reports
    def _on_report(self, report: dict) -> None:
        if "log" in report:
            self._on_log(report["log"])
        elif "eval" in report:
            self.plots.append_test(*report["eval"])
        elif "faces" in report:
            self.live_faces.show_report(report["faces"])
        elif "ledger" in report:  # the run ledger is off for this run; training goes on
            self.state.report_error("Run ledger", _sentence(report["ledger"]))

    def _on_log(self, stats: dict) -> None:
        step = int(stats["step"])
        self.plots.append(step, stats)
        done, of = int(stats.get("done", 0)), int(stats.get("of", 1))
        self.progress_bar.setRange(0, max(of, 1))  # in steps: the bar is where its text says (per-mille lagged)
        self.progress_bar.setValue(done)
        self.progress_bar.setFormat(f"{done} / {of} steps")
        threads = int(stats.get("threads", 1))  # the CPU threads of the step (threads "auto": core.parallel)
        self._set_progress(f"Step {step}: −ELBO {stats['total']:.1f}, reconstruction {stats['rec']:.1f}, "
                           f"KL {stats['kl']:.2f} nats · {stats['steps_per_s']:.0f} steps/s on {threads} "
                           f"thread{'s' * (threads > 1)} · ETA {format_eta(stats['eta_s'])}")
        self.state.training_logged.emit(stats)

    def _on_paused(self, paused: bool) -> None:
        self._set_progress(self._progress)
        self.state.set_training(True, self.job)  # the status bar reads the job's pause state again
        self._update_controls()

    def _on_failed(self, message: str, _exc) -> None:
        self.status_label.setText(f"Training failed: {message}")
        self.state.report_error("Training failed", message)

    def _on_finished(self, outcome: tuple[ModelRecord, TrainResult]) -> None:
        record, result = outcome
        self.last_record, self.last_result = record, result
        step = record.model.step
        kept_previous = result.status == "diverged" and step <= self._start_step
        if result.status == "diverged":
            self.plots.mark_divergence(step)
            self.state.report_error("Training diverged", _sentence(result.message) + (
                "\n\nThe previous current model is kept." if kept_previous else
                f"\n\nThe weights of step {step} (the last good ones) are the current model.")
                + "\n\nTry a smaller learning rate or a KL warm-up.")
        kept_best = record.results.get("kept_best_step")
        if not kept_previous:
            record.history = cut_history(downsample(self.plots.history()), step)
            if kept_best is not None:
                self.plots.set_history(record.history)  # the curves end where the weights are
            self.state.set_record(record, unsaved=True)
        rate = result.steps_done / max(result.seconds, 1e-9)
        went_back = f"; keep-best: the weights went back to step {kept_best}" if kept_best is not None else ""
        self._set_progress(f"Step {step}: run {result.status} after {result.steps_done} steps "
                           f"({rate:.0f} steps/s on average){went_back}.")
        self.status_label.setText(f"{_sentence(result.message)} ({result.seconds:.1f} s){went_back}. The trained "
                                  "weights are the current model (File ▸ Save model as… keeps them).")
        if result.status == "finished":
            self.progress_bar.setValue(self.progress_bar.maximum())

    def _run_ended(self) -> None:
        self.training_model = None
        self.state.set_training(False)
        self._update_controls()
        self.plots.redraw()

    # ------------------------------------------------------------------ curves
    def loss_history(self) -> dict[str, np.ndarray]:
        """Copies of the curves: step, total, rec, kl (+ _ema) and test_step, test_neg_elbo."""
        return self.plots.history()

    def clear_curves(self) -> None:
        self.plots.clear()
