"""Training panel: hyper-parameter form, Start/Pause/Resume/Stop, live loss curves and live faces.

Training runs in a ``TrainWorker`` thread on a *copy* of the model; when the run ends
(finished, stopped or diverged) the trained copy becomes the current model through
``state.set_model`` on the UI thread, so no other panel ever reads weights mid-update.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRegularExpression, Qt, QTimer
from PyQt6.QtGui import QDoubleValidator, QRegularExpressionValidator
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.backend import cuda_status
from core.data import FREY_N, split_indices
from core.losses import LIKELIHOODS
from core.models import ConfigError, Model, ModelConfig
from core.optim import OPTIMIZERS
from vae_gui.state import AppState
from vae_gui.widgets.faces import FaceStrip
from vae_gui.workers import TrainController, TrainOutcome, TrainSettings, TrainWorker

pg.setConfigOptions(imageAxisOrder="row-major")

N_LIVE_FACES = 8
FACE_Z_SEED = 2024  # the fixed z of the live samples, so frames differ only by the weights
EMA_WEIGHT = 0.9  # smoothed = 0.9·smoothed + 0.1·raw over logged points (log_every steps apart)
REDRAW_MS = 250

TIPS = {
    "total": "−ELBO per image in nats: reconstruction + KL (for an AE, the reconstruction alone), an upper "
             "bound on −log p(x). Lower is better; it should fall fast, then flatten.",
    "rec": "Reconstruction loss per image in nats: −log p(x|z) summed over the 560 pixels. Lower is better; "
           "with a Bernoulli decoder it can never go below the BCE floor (the pixels' own entropy).",
    "kl": "KL(q(z|x) ‖ N(0, I)) per image in nats: how much information the code carries. "
          "Near 0 means the latent is unused (posterior collapse); a few nats or more means the code is used.",
    "test": "−ELBO per image on the 197 held-out test faces (same fixed noise every time). "
            "If it rises while the training curve falls, the model overfits.",
    "rate": "Optimiser steps per second over the last logging interval, and the time left at that rate.",
}


class Series:
    """A growing float series (amortised O(1) append) whose view goes straight into setData."""

    def __init__(self):
        self._data = np.zeros(1024)
        self.n = 0

    def append(self, value: float) -> None:
        if self.n == len(self._data):
            self._data = np.concatenate([self._data, np.zeros(len(self._data))])
        self._data[self.n] = value
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    def values(self) -> np.ndarray:
        return self._data[: self.n]

    def last(self) -> float:
        return float(self._data[self.n - 1]) if self.n else math.nan


# What a hidden-sizes field accepts while typing ('256', '512, 256', '512,'); parse_hidden has the last word.
HIDDEN_SIZES_PATTERN = r"^\s*\d+(\s*,\s*\d+)*\s*,?\s*$"


def hidden_sizes_validator() -> QRegularExpressionValidator:
    return QRegularExpressionValidator(QRegularExpression(HIDDEN_SIZES_PATTERN))


def parse_hidden(text: str) -> list[int]:
    """'512, 256' -> [512, 256]; raises ValueError with a clear message."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ValueError(f"hidden sizes must be positive whole numbers separated by commas (e.g. 256 or 512,256), "
                         f"not {text!r}")
    sizes = [int(p) for p in parts]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden sizes must be > 0, got {text!r}")
    return sizes


def parse_float(text: str, name: str, minimum: float, strict: bool) -> float:
    """A finite number ≥ minimum (> minimum when strict); ValueError naming the field otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else "≥"
        raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {text!r}")
    return value


def data_split(X: np.ndarray, state: AppState) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test ids for the Frey set; a 90/10 split of the same kind for other sizes."""
    if len(X) == FREY_N:
        return state.train_ids, state.test_ids
    return split_indices(len(X), n_test=max(1, len(X) // 10))


def _sentence(text: str) -> str:
    """Capitalise an ASCII first letter (never turn 'β' into 'Β')."""
    return text[:1].upper() + text[1:] if text[:1].isascii() else text


def _format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingPanel(QWidget):
    """Train a new model or continue the current one, watching losses and faces live."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.controller = TrainController(self)
        self.controller.ended.connect(self._run_ended)
        self._own_model_update = False
        self._dirty = False
        self._paused = False
        self._run_start_step = 0
        self.series = {k: Series() for k in ("step", "total", "rec", "kl", "total_ema", "rec_ema", "kl_ema")}
        self.test_series = {"step": Series(), "neg_elbo": Series()}
        self.divergence_lines: list[pg.InfiniteLine] = []
        self.last_outcome: TrainOutcome | None = None
        self._face_z: np.ndarray | None = None

        self._build_form()
        self._build_plots()
        self._build_faces()
        self._build_layout()

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self._redraw_timer.start()

        state.model_changed.connect(self._model_changed)
        state.data_changed.connect(self._data_changed)
        self._model_changed(state.model)
        self._data_changed(state.X)
        self._update_buttons()

    # ------------------------------------------------------------------ building
    def _build_form(self) -> None:
        self.new_radio = QRadioButton("New model")
        self.continue_radio = QRadioButton("Continue training the current one")
        self.new_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.new_radio)
        group.addButton(self.continue_radio)
        self.new_radio.toggled.connect(self._mode_changed)
        self.new_radio.setToolTip("Build a freshly initialised network with the settings below and train it.")
        self.continue_radio.setToolTip("Keep the current model's architecture and weights and train them further "
                                       "(its saved optimiser state is reused when the optimiser matches).")

        self.kind_combo = QComboBox()
        self.kind_combo.addItems(["vae", "ae"])
        self.kind_combo.setToolTip("VAE: Gaussian code with a KL term. AE: plain deterministic code, no KL.")
        self.hidden_edit = QLineEdit("256")
        self.hidden_edit.setValidator(hidden_sizes_validator())
        self.hidden_edit.setToolTip("Encoder hidden layer sizes, e.g. 256 or 512,256; the decoder mirrors them.")
        self.latent_spin = QSpinBox()
        self.latent_spin.setRange(1, 512)
        self.latent_spin.setValue(16)
        self.latent_spin.setToolTip("Size of the code z.")
        self.likelihood_combo = QComboBox()
        self.likelihood_combo.addItems(list(LIKELIHOODS))
        self.likelihood_combo.setToolTip("Decoder likelihood p(x|z): Bernoulli on grey values, Gaussian with unit "
                                         "variance, or Gaussian with a learned per-pixel variance.")
        self.beta_edit = QLineEdit("1")
        self.beta_edit.setValidator(QDoubleValidator(0.0, 1e6, 6))
        self.beta_edit.setToolTip("Weight β of the KL term (β ≥ 0; 1 is the true ELBO).")
        self.warmup_spin = QSpinBox()
        self.warmup_spin.setRange(0, 10_000_000)
        self.warmup_spin.setToolTip("Steps over which the KL weight rises linearly from 0 to β (0 = no warm-up).")
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.optimizer_combo.setCurrentText("adam")
        self.lr_edit = QLineEdit("0.001")
        self.lr_edit.setValidator(QDoubleValidator(1e-12, 100.0, 12))
        self.lr_edit.setToolTip("Learning rate (> 0). Adam: about 1e-3; Adagrad: about 1e-2; SGD: about 1e-3.")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1768)
        self.batch_spin.setValue(100)
        self.batch_spin.setToolTip("Images per minibatch (the training set has 1768 faces).")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 100_000_000)
        self.steps_spin.setValue(5000)
        self.steps_spin.setSingleStep(1000)
        self.steps_spin.setToolTip("Optimiser steps to run (Stop ends the run earlier and keeps the weights).")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2_000_000_000)
        self.seed_spin.setToolTip("Seed of the initial weights and of the minibatch order.")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["cpu", "cuda"])
        ok, why = cuda_status()
        if not ok:
            item = self.device_combo.model().item(1)
            item.setEnabled(False)
            item.setToolTip(f"CUDA is unavailable: {why}")
            self.device_combo.setToolTip(f"cuda is greyed out: {why}")
        else:
            self.device_combo.setToolTip(f"Train on the GPU with CuPy ({why}) or on the CPU with NumPy.")
        self.eval_spin = QSpinBox()
        self.eval_spin.setRange(0, 1_000_000)
        self.eval_spin.setValue(200)
        self.eval_spin.setToolTip("Compute the test −ELBO every this many steps (0 = never).")

        self.form = QFormLayout()
        self.form.addRow(self.new_radio)
        self.form.addRow(self.continue_radio)
        self.form.addRow("Model kind", self.kind_combo)
        self.form.addRow("Hidden sizes", self.hidden_edit)
        self.form.addRow("Latent size", self.latent_spin)
        self.form.addRow("Likelihood", self.likelihood_combo)
        self.form.addRow("β (KL weight)", self.beta_edit)
        self.form.addRow("KL warm-up steps", self.warmup_spin)
        self.form.addRow("Optimiser", self.optimizer_combo)
        self.form.addRow("Learning rate", self.lr_edit)
        self.form.addRow("Batch size", self.batch_spin)
        self.form.addRow("Steps", self.steps_spin)
        self.form.addRow("Seed", self.seed_spin)
        self.form.addRow("Device", self.device_combo)
        self.form.addRow("Test −ELBO every", self.eval_spin)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        self.start_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(self.pause_training)
        self.resume_button.clicked.connect(self.resume_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.stop_button.setToolTip("End the run after the current step; the weights trained so far are kept.")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.rate_label = QLabel("No run yet.")
        self.rate_label.setToolTip(TIPS["rate"])
        self.rate_label.setWordWrap(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.no_data_label = QLabel(
            "<b>No data loaded.</b> Training needs the Frey faces: use <i>File ▸ Load data…</i>, "
            "start with <tt>--data PATH</tt>, or set the <tt>VAE_DATA</tt> environment variable.")
        self.no_data_label.setWordWrap(True)
        self.no_data_label.setStyleSheet("color: #a33;")

    def _build_plots(self) -> None:
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setBackground("w")
        self.loss_plot.setTitle("−ELBO and reconstruction (nats / image)", color="k")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_plot.addLegend(offset=(-10, 10), brush=(255, 255, 255, 210), labelTextColor="k")
        self.loss_plot.setToolTip(f"<p>{TIPS['total']}</p><p>{TIPS['rec']}</p><p>{TIPS['test']}</p>"
                                  "<p>Thin pale lines: each logged minibatch; thick lines: smoothed (EMA).</p>")
        self.kl_plot = pg.PlotWidget()
        self.kl_plot.setBackground("w")
        self.kl_plot.setTitle("KL (nats / image)", color="k")
        self.kl_plot.setLabel("bottom", "step")
        self.kl_plot.showGrid(x=True, y=True, alpha=0.3)
        self.kl_plot.addLegend(offset=(-10, 10), brush=(255, 255, 255, 210), labelTextColor="k")
        self.kl_plot.setToolTip(f"<p>{TIPS['kl']}</p><p>Thin pale line: each logged minibatch; "
                                "thick line: smoothed (EMA).</p>")
        self.kl_plot.setXLink(self.loss_plot)

        def curve(plot, color, width, name=None, alpha=255):
            c = pg.mkColor(color)
            c.setAlpha(alpha)
            # no antialiasing: with it, one redraw of 100 000 points takes seconds instead of ~0.1 s
            item = plot.plot(pen=pg.mkPen(c, width=width), name=name, antialias=False)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            return item

        self.curves = {
            "total": curve(self.loss_plot, "#1f77b4", 1, alpha=70),
            "rec": curve(self.loss_plot, "#2ca02c", 1, alpha=70),
            "total_ema": curve(self.loss_plot, "#1f77b4", 2.5, name="−ELBO (train, smoothed)"),
            "rec_ema": curve(self.loss_plot, "#2ca02c", 2.5, name="reconstruction (train, smoothed)"),
            "kl": curve(self.kl_plot, "#d62728", 1, alpha=70),
            "kl_ema": curve(self.kl_plot, "#d62728", 2.5, name="KL (train, smoothed)"),
        }
        self.test_curve = self.loss_plot.plot(pen=pg.mkPen("#ff7f0e", width=2), symbol="o", symbolSize=6,
                                              symbolBrush="#ff7f0e", name="−ELBO (test)")

    def _build_faces(self) -> None:
        self.test_strip = FaceStrip(face_height=70)
        self.recon_strip = FaceStrip(face_height=70)
        self.sample_strip = FaceStrip(face_height=70)
        self.test_strip.setToolTip("The first 8 faces of the fixed test split (never trained on).")
        self.recon_strip.setToolTip("Their reconstructions by the model being trained: decoder mean at the "
                                    "posterior mean (AE: at the code).")
        self.sample_strip.setToolTip("Faces decoded from 8 fixed draws z ~ N(0, I): they change only because the "
                                     "weights change.")
        self.faces_step_label = QLabel("")

    def _build_layout(self) -> None:
        form_box = QGroupBox("Run settings")
        form_box.setLayout(self.form)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        left = QVBoxLayout()
        left.addWidget(self.no_data_label)
        left.addWidget(form_box)
        left.addLayout(buttons)
        left.addWidget(self.progress_bar)
        left.addWidget(self.rate_label)
        left.addWidget(self.status_label)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_scroll = QScrollArea()
        left_scroll.setWidget(left_widget)
        left_scroll.setWidgetResizable(True)
        left_scroll.setFixedWidth(370)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        faces_box = QGroupBox("Live faces")
        faces_layout = QFormLayout(faces_box)
        faces_layout.addRow("Test images", self.test_strip)
        faces_layout.addRow("Reconstructions", self.recon_strip)
        faces_layout.addRow("Samples (fixed z)", self.sample_strip)
        faces_layout.addRow(self.faces_step_label)
        faces_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.kl_plot, 2)
        right = QVBoxLayout()
        right.addLayout(plots, 1)
        right.addWidget(faces_box)

        layout = QHBoxLayout(self)
        layout.addWidget(left_scroll)
        layout.addLayout(right, 1)

    # ------------------------------------------------------------------ state reactions
    def _model_changed(self, model: Model | None) -> None:
        self.continue_radio.setEnabled(model is not None)
        if model is None:
            self.new_radio.setChecked(True)
        elif not self._own_model_update:
            # another model was opened: the curves belonged to the old one
            self.clear_curves()
        if model is not None:
            self._fill_form_from(model.config)
            self._face_z = np.random.default_rng(FACE_Z_SEED).standard_normal((N_LIVE_FACES, model.config.latent))
            if not self._own_model_update:
                self._show_current_faces(model)
        self._mode_changed()

    def _data_changed(self, X: np.ndarray | None) -> None:
        self.no_data_label.setVisible(X is None)
        if X is not None:
            _, test_ids = data_split(X, self.state)
            ids = test_ids[:N_LIVE_FACES]
            self.test_strip.set_faces(X[ids], labels=[f"#{i}" for i in ids])
            if self.state.model is not None:
                self._show_current_faces(self.state.model)
        self._update_buttons()

    def _fill_form_from(self, cfg: ModelConfig) -> None:
        if not self.continue_radio.isChecked():
            return
        self.kind_combo.setCurrentText(cfg.kind)
        self.hidden_edit.setText(",".join(str(h) for h in cfg.hidden))
        self.latent_spin.setValue(cfg.latent)
        self.likelihood_combo.setCurrentText(cfg.likelihood)
        self.beta_edit.setText(f"{cfg.beta:g}")
        self.warmup_spin.setValue(cfg.warmup_steps)

    def _mode_changed(self, *_args) -> None:
        continuing = self.continue_radio.isChecked() and self.state.model is not None
        if continuing:
            self._fill_form_from(self.state.model.config)
        for w in (self.kind_combo, self.hidden_edit, self.latent_spin, self.likelihood_combo):
            w.setEnabled(not continuing and not self.controller.is_running())

    def _show_current_faces(self, model: Model) -> None:
        """Reconstructions and samples of a model that is not training (e.g. just opened)."""
        from core.backend import to_numpy

        if self.state.X is not None:
            _, test_ids = data_split(self.state.X, self.state)
            recons = to_numpy(model.reconstruct(self.state.X[test_ids[:N_LIVE_FACES]]))
            self.recon_strip.set_faces(recons)
        if self._face_z is not None and self._face_z.shape[1] == model.config.latent:
            self.sample_strip.set_faces(to_numpy(model.decode(self._face_z)))
        self.faces_step_label.setText(f"weights after {model.step} steps")

    # ------------------------------------------------------------------ starting
    def read_form(self) -> tuple[ModelConfig | None, TrainSettings]:
        """The run the form asks for: (config of a new model or None to continue, settings).
        Raises ValueError with a message for the user."""
        beta = parse_float(self.beta_edit.text(), "β (KL weight)", 0.0, strict=False)
        lr = parse_float(self.lr_edit.text(), "the learning rate", 0.0, strict=True)
        settings = TrainSettings(steps=self.steps_spin.value(), optimizer=self.optimizer_combo.currentText(),
                                 lr=lr, batch_size=self.batch_spin.value(), seed=self.seed_spin.value(),
                                 device=self.device_combo.currentText(), eval_every=self.eval_spin.value())
        if self.continue_radio.isChecked():
            return None, settings
        try:
            config = ModelConfig(kind=self.kind_combo.currentText(), hidden=parse_hidden(self.hidden_edit.text()),
                                 latent=self.latent_spin.value(), likelihood=self.likelihood_combo.currentText(),
                                 beta=beta, warmup_steps=self.warmup_spin.value()).validate()
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return config, settings

    def start_training(self) -> bool:
        """Start a run from the form; False (with a dialog) when it cannot start."""
        if self.controller.is_running():
            self.state.report_error("Training", "A training run is already going; stop it before starting another.")
            return False
        X = self.state.X
        if X is None:
            self.state.report_error("Training", "No data is loaded: load the Frey faces first (File ▸ Load data…).")
            return False
        try:
            config, settings = self.read_form()
            if config is None:
                if self.state.model is None:
                    raise ValueError("there is no current model to continue; choose 'New model'")
                model = self.state.model.copy()
                model.config.beta = parse_float(self.beta_edit.text(), "β (KL weight)", 0.0, strict=False)
                model.config.warmup_steps = self.warmup_spin.value()
                settings.optimizer_state = self.state.optimizer_state
            else:
                model = Model(config, seed=settings.seed)
            train_ids, test_ids = data_split(X, self.state)
            if settings.batch_size > len(train_ids):
                raise ValueError(f"the batch size {settings.batch_size} is larger than the training set "
                                 f"({len(train_ids)} faces)")
        except ValueError as exc:
            self.state.report_error("Invalid training settings", _sentence(str(exc)))
            return False
        if config is not None:
            self.clear_curves()
        face_z = np.random.default_rng(FACE_Z_SEED).standard_normal((N_LIVE_FACES, model.config.latent))
        self._face_z = face_z
        worker = TrainWorker(model, X[train_ids], X[test_ids], settings,
                             face_images=X[test_ids[:N_LIVE_FACES]], face_z=face_z)
        worker.progress.connect(self._on_progress)
        worker.test_eval.connect(self._on_test_eval)
        worker.faces.connect(self._on_faces)
        worker.paused.connect(self._on_paused)
        worker.diverged.connect(self._on_diverged)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        if not self.controller.start(worker):  # a second guard, should the button be bypassed
            self.state.report_error("Training", "A training run is already going.")
            return False
        self._run_start_step = model.step
        self._run_steps = settings.steps
        self._paused = False
        self.progress_bar.setValue(0)
        self.rate_label.setText(f"Starting {settings.steps} steps of {model.config.describe()}…")
        self.status_label.setText("")
        self.state.set_training(True)
        self._update_buttons()
        self._mode_changed()
        return True

    def pause_training(self) -> None:
        self.controller.pause()
        self._paused = True
        self._update_buttons()

    def resume_training(self) -> None:
        self.controller.resume()
        self._paused = False
        self._update_buttons()

    def stop_training(self) -> None:
        self.controller.stop()
        self.rate_label.setText(self.rate_label.text() + " — stopping after this step…")

    def shutdown(self, msecs: int = 60000) -> bool:
        """Stop a run and wait for its thread (the window is closing)."""
        return self.controller.shutdown(msecs)

    def is_running(self) -> bool:
        return self.controller.is_running()

    def _update_buttons(self) -> None:
        running = self.controller.is_running()
        has_data = self.state.X is not None
        self.start_button.setEnabled(has_data and not running)
        if not has_data:
            self.start_button.setToolTip("No data loaded: use File ▸ Load data… to point at frey_rawface.mat.")
        elif running:
            self.start_button.setToolTip("A run is going; stop it before starting another.")
        else:
            self.start_button.setToolTip("Train with these settings in the background.")
        self.pause_button.setEnabled(running and not self._paused)
        self.resume_button.setEnabled(running and self._paused)
        self.stop_button.setEnabled(running)
        for radio in (self.new_radio, self.continue_radio):
            radio.setEnabled(not running and (radio is self.new_radio or self.state.model is not None))

    # ------------------------------------------------------------------ worker signals
    def _on_progress(self, step: int, stats: dict) -> None:
        s = self.series
        s["step"].append(step)
        for key in ("total", "rec", "kl"):
            value = float(stats[key])
            s[key].append(value)
            prev = s[key + "_ema"].last()
            s[key + "_ema"].append(value if math.isnan(prev) else EMA_WEIGHT * prev + (1 - EMA_WEIGHT) * value)
        self._dirty = True
        done, of = int(stats.get("done", 0)), int(stats.get("of", 1))
        self.progress_bar.setValue(int(1000 * done / max(of, 1)))
        self.progress_bar.setFormat(f"{done} / {of} steps")
        self.rate_label.setText(f"Step {step}: −ELBO {stats['total']:.1f}, reconstruction {stats['rec']:.1f}, "
                                f"KL {stats['kl']:.2f} nats · {stats['steps_per_s']:.0f} steps/s · "
                                f"ETA {_format_eta(stats['eta_s'])}")

    def _on_test_eval(self, step: int, value: float) -> None:
        self.test_series["step"].append(step)
        self.test_series["neg_elbo"].append(value)
        self._dirty = True

    def _on_faces(self, faces: dict) -> None:
        if faces.get("recons") is not None:
            self.recon_strip.set_faces(faces["recons"])
        if faces.get("samples") is not None:
            self.sample_strip.set_faces(faces["samples"])
        self.faces_step_label.setText(f"weights after {faces['step']} steps (live)")

    def _on_paused(self, paused: bool) -> None:
        self._paused = paused
        if paused:
            self.rate_label.setText(self.rate_label.text().split(" — ")[0] + " — paused")
        self._update_buttons()

    def _on_diverged(self, message: str) -> None:
        self.state.report_error("Training diverged",
                                _sentence(message) + "\n\nTry a smaller learning rate or a KL warm-up.")

    def _on_failed(self, message: str) -> None:
        self.status_label.setText(f"Training failed: {message}")
        self.state.report_error("Training failed", message)

    def _on_finished(self, outcome: TrainOutcome) -> None:
        self.last_outcome = outcome
        if outcome.status == "diverged":
            line = pg.InfiniteLine(pos=outcome.model.step, angle=90, movable=False,
                                   pen=pg.mkPen("#c00", width=2, style=Qt.PenStyle.DashLine),
                                   label="diverged", labelOpts={"position": 0.9, "color": "#c00"})
            self.loss_plot.addItem(line)
            self.divergence_lines.append(line)
        self._own_model_update = True
        try:
            self.state.set_model(outcome.model, optimizer_state=outcome.optimizer_state)
        finally:
            self._own_model_update = False
        self.status_label.setText(f"Run {outcome.status}: {outcome.message} "
                                  f"({outcome.result.seconds:.1f} s). The trained weights are the current model "
                                  "(File ▸ Save model as… keeps them).")
        if outcome.status == "finished":
            self.progress_bar.setValue(1000)

    def _run_ended(self) -> None:
        self._paused = False
        self.state.set_training(False)
        self._update_buttons()
        self._mode_changed()
        self._redraw()

    # ------------------------------------------------------------------ plots
    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        steps = self.series["step"].values()
        for key, item in self.curves.items():
            item.setData(steps, self.series[key].values())
        self.test_curve.setData(self.test_series["step"].values(), self.test_series["neg_elbo"].values())
        # Settle the auto-range and view transform now: left to the paint, they change the view during it,
        # and the curves' clip-to-view/downsampling then asks for a second full paint of each plot (measured:
        # two paints of 7–12 ms per plot per redraw, the UI stall's p99 34–47 ms; with this, one paint, 21 ms)
        for plot in (self.loss_plot, self.kl_plot):
            plot.getViewBox().prepareForPaint()

    def clear_curves(self) -> None:
        for s in (*self.series.values(), *self.test_series.values()):
            s.clear()
        for line in self.divergence_lines:
            self.loss_plot.removeItem(line)
        self.divergence_lines = []
        self._dirty = True
        self._redraw()

    def loss_history(self) -> dict[str, np.ndarray]:
        """Copies of the curves: step, total, rec, kl (+ _ema) and test_step, test_neg_elbo."""
        out = {k: s.values().copy() for k, s in self.series.items()}
        out["test_step"] = self.test_series["step"].values().copy()
        out["test_neg_elbo"] = self.test_series["neg_elbo"].values().copy()
        return out
