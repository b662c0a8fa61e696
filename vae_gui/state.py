"""The session every panel shares: the current model, the data set, the selected image and a cached
encoding of the data set.

Panels never hold their own copy of the model or of each other; they listen to the signals here and
read ``session.model`` / ``session.dataset``. Only the UI thread changes the session; jobs send
results back by signals. The data set is encoded once per (model, data set) in a background job and
shared by Sampling, Latent grid and Latent map (``encoding()`` / ``encoding_ready``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from core.backend import to_numpy
from core.dataset import FREY_IMAGE_SHAPE, FREY_NAME, Dataset
from core.evaluate import ACTIVE_UNIT_THRESHOLD, posterior_means
from core.explore import latent_activity, most_active_dims
from core.models import Model
from core.record import ModelRecord
from vae_gui.workers import Job, start_job

# The one "how do I get data" help text; panels show it (HTML) when there is no data set.
NO_DATA_HELP = ("use File ▸ Frey faces (default) or File ▸ Open data set… (or start with --data PATH / set "
                "VAE_DATA)")
NO_DATA_HTML = (
    "<h3>No face data loaded</h3>"
    "<p>The Frey faces file (<tt>frey_rawface.mat</tt>) was not found.</p>"
    "<p>Point the program at it in one of three ways:</p>"
    "<ul><li><b>File ▸ Frey faces (default)</b> (downloaded if missing), or <b>File ▸ Open data set…</b> and "
    "choose the file;</li>"
    "<li>start it with <tt>python main.py --data PATH/frey_rawface.mat</tt>;</li>"
    "<li>or set the environment variable <tt>VAE_DATA=PATH/frey_rawface.mat</tt>.</li></ul>"
    "<p>Sampling and the latent grid work without data.</p>"
)
NO_MODEL_TEXT = "No model loaded: open one (File ▸ Open model…) or train one in the Training tab."


@dataclass(frozen=True)
class Encoding:
    """The whole data set through the current encoder: means (N, L), logvars (N, L) or None (AE)."""

    means: np.ndarray
    logvars: np.ndarray | None

    @property
    def variance(self) -> np.ndarray:
        """Variance of each unit's posterior mean over the data (L,): the activity of the unit."""
        return latent_activity(self.means)

    @property
    def active(self) -> np.ndarray:
        """Bool per latent unit: variance > ACTIVE_UNIT_THRESHOLD (Burda et al. 2015)."""
        return self.variance > ACTIVE_UNIT_THRESHOLD

    def most_active(self, k: int = 2) -> list[int]:
        """The k most active units, most active first (ties by index)."""
        return most_active_dims(self.means, k)


def as_dataset(data: Dataset | np.ndarray, path: str | Path | None = None) -> Dataset:
    """A Dataset from a Dataset or from Frey-shaped images (N, 560)."""
    if isinstance(data, Dataset):
        return data
    return Dataset(np.asarray(data), FREY_IMAGE_SHAPE, FREY_NAME, source=str(path or ""))


class Session(QObject):
    model_changed = pyqtSignal(object)  # the new core.models.Model
    data_changed = pyqtSignal(object)  # images (N, D) float32 of the new Dataset, or None
    selection_changed = pyqtSignal(int)  # image id chosen in some panel
    busy_changed = pyqtSignal(bool)  # True while a job trains the current model (paused or not)
    model_saved = pyqtSignal(object)  # Path the current model was written to
    training_logged = pyqtSignal(object)  # each log step's stats dict of the running training job
    error_raised = pyqtSignal(str, str)  # (title, message): the main window shows it in a dialog
    encoding_ready = pyqtSignal(object)  # Encoding of the current (model, data set)
    show_panel = pyqtSignal(object)  # a panel asks the window to bring a tab forward (the panel's class)
    # routing of the user's own images (issue 14): an encoded image, a z for the sliders, grid ends
    own_image = pyqtSignal(object)  # core.atlas.EncodedImage
    latent_chosen = pyqtSignal(object)  # z (L,)
    grid_ends_chosen = pyqtSignal(object, object)  # z_a (L,), z_b (L,)
    compare_runs = pyqtSignal(object)  # ledger run ids (best first) the Runs view shows side by side (Sweeps)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.record: ModelRecord | None = None  # the current model with its settings, curves, optimiser state
        self.model_path: Path | None = None
        self.dataset: Dataset | None = None
        self.data_path: Path | None = None
        self.data_message = "no data loaded"
        self.selected = 0
        self.training = False
        self.training_job: Job | None = None  # the running training job: it alone holds whether it is paused
        self.unsaved = False  # trained weights that no file holds yet (the close prompt asks about them)
        # Asked before a panel replaces the current model (a new training run): True to go on. The main
        # window installs its Save / Discard / Cancel question; a bare session (panel tests) never asks.
        self.confirm_replace: Callable[[str], bool] = lambda _what: True
        self._encoding: Encoding | None = None
        self._encoding_job: Job | None = None
        self._generation = 0

    # ------------------------------------------------------------------ model and data
    @property
    def model(self) -> Model | None:
        return self.record.model if self.record is not None else None

    @property
    def optimizer_state(self) -> dict | None:
        """The current model's saved optimiser state (None: none, e.g. shipped or kept-best weights)."""
        return self.record.optimizer_state if self.record is not None else None

    @property
    def meta(self) -> dict:
        """Deprecated: the current record as a file's meta dict. Read ``session.record``'s fields instead."""
        return self.record.meta if self.record is not None else {}

    def set_record(self, record: ModelRecord, path: Path | str | None = None, unsaved: bool = False) -> None:
        """Make ``record`` the current model (from ``path``; ``unsaved``: no file holds its weights yet)."""
        self._put_record(record, path, unsaved)
        self._invalidate()
        self.model_changed.emit(record.model)

    def set_model(self, model: Model, path: Path | None = None, optimizer_state: dict | None = None,
                  meta: dict | None = None, unsaved: bool = False) -> None:
        """A bare model (and optionally what a file said about it) as the current model; see set_record."""
        self.set_record(ModelRecord.from_meta(model, optimizer_state, dict(meta or {})), path, unsaved)

    def replace_model_and_data(self, record: ModelRecord, data: Dataset, data_path: Path | str | None = None,
                               message: str = "", model_path: Path | str | None = None,
                               unsaved: bool = False) -> None:
        """Replace the model and the data set together: both are in place before either signal is emitted, so no
        panel ever sees a model with data it cannot read. Raises core DataError (nothing changed) when they do
        not fit each other."""
        record.check_data(as_dataset(data, data_path))
        self._put_record(record, model_path, unsaved)
        self._put_data(data, data_path, message)
        self._invalidate()
        self.model_changed.emit(record.model)
        self.data_changed.emit(self.X)

    def _put_record(self, record: ModelRecord, path, unsaved: bool) -> None:
        self.unsaved = unsaved
        self.record = record
        self.model_path = Path(path) if path else None

    def saved(self, path: Path) -> None:
        """The current model is now in the file ``path``."""
        self.model_path, self.unsaved = Path(path), False
        self.model_saved.emit(self.model_path)

    def set_data(self, data: Dataset | np.ndarray | None, path: Path | str | None = None, message: str = "") -> None:
        self._put_data(data, path, message)
        self._invalidate()
        self.data_changed.emit(self.X)

    def _put_data(self, data: Dataset | np.ndarray | None, path, message: str) -> None:
        self.dataset = as_dataset(data, path) if data is not None else None
        self.data_path = Path(path) if path else None
        n = self.dataset.n if self.dataset is not None else 0
        self.data_message = message or (f"{n} faces from {_home_relative(path)}" if n else "no data loaded")

    @property
    def X(self) -> np.ndarray | None:  # noqa: N802 - the images matrix, as in the engine
        """The images (N, D) float32, or None without data."""
        return self.dataset.images if self.dataset is not None else None

    @property
    def train_ids(self) -> np.ndarray:
        return self.dataset.train_ids if self.dataset is not None else np.zeros(0, dtype=int)

    @property
    def test_ids(self) -> np.ndarray:
        return self.dataset.test_ids if self.dataset is not None else np.zeros(0, dtype=int)

    def split_name(self, index: int) -> str:
        return self.dataset.split_of(index) if self.dataset is not None else "train"

    @property
    def n_images(self) -> int:
        return self.dataset.n if self.dataset is not None else 0

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the images the panels show: the data set's, else (no data, or data the model cannot
        read) the model's (its file's data record, core.dataset.model_image_shape), else Frey's 28×20."""
        model, data = self.model, self.dataset
        if data is not None and (model is None or model.config.input_dim == data.dim):
            return data.image_shape
        if model is not None:
            return self.record.image_shape
        return FREY_IMAGE_SHAPE

    # ------------------------------------------------------------------ selection, busy, errors
    def select(self, index: int) -> None:
        self.selected = int(index)
        self.selection_changed.emit(int(index))

    def show_own_image(self, encoded) -> None:
        self.own_image.emit(encoded)

    def choose_latent(self, z: np.ndarray) -> None:
        self.latent_chosen.emit(np.asarray(z))

    def choose_grid_ends(self, z_a: np.ndarray, z_b: np.ndarray) -> None:
        self.grid_ends_chosen.emit(np.asarray(z_a), np.asarray(z_b))

    def set_training(self, busy: bool, job: Job | None = None) -> None:
        """A training run started (its ``job``) or ended; also called when it pauses or resumes, so that
        ``busy_changed`` listeners (the status bar) read ``training_paused`` again."""
        self.training = busy
        self.training_job = job if busy else None
        self.busy_changed.emit(busy)

    @property
    def training_paused(self) -> bool:
        """Whether the training run is paused: its job's own state, never a copy."""
        return self.training_job is not None and self.training_job.is_paused()

    def report_error(self, title: str, message: str) -> None:
        """Ask the main window to show an error dialog (panels need no window of their own)."""
        self.error_raised.emit(str(title), str(message))

    # ------------------------------------------------------------------ the shared encoding
    def encoding(self) -> Encoding | None:
        """The current model's encoding of the whole data set, or None (not ready / no data); asks for
        it in the background when missing: ``encoding_ready`` follows."""
        if self._encoding is None:
            self.request_encoding()
        return self._encoding

    def request_encoding(self) -> None:
        if self._encoding is not None or self.model is None or self.dataset is None:
            return
        if self._encoding_job is not None and self._encoding_job.is_running():
            return
        generation = self._generation
        self._encoding_job = start_job(posterior_means, self.model, self.dataset.images, owner=self,
                                       on_result=lambda r: self._on_encoded(generation, r),
                                       on_error=lambda message, _e: self._on_encode_failed(generation, message))

    def most_active_dims(self, k: int = 2) -> list[int]:
        """The k units that matter most: by the encoding's activity when it is in, else (no data, or
        not encoded yet) by how much the decoder reacts to each unit."""
        if self.model is None:
            return list(range(k))
        if self._encoding is not None:
            return self._encoding.most_active(k)
        return [int(d) for d in np.argsort(-decoder_sensitivity(self.model), kind="stable")[:k]]

    def encoding_pending(self) -> bool:
        return self._encoding is None and self.model is not None and self.dataset is not None

    def _on_encoded(self, generation: int, result) -> None:
        if generation != self._generation:
            self.request_encoding()  # the model or data changed meanwhile: encode the new pair
            return
        self._encoding = Encoding(*result)
        self.encoding_ready.emit(self._encoding)

    def _on_encode_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.report_error("Encoding failed", f"Could not encode the data set: {message}")

    def _invalidate(self) -> None:
        self._generation += 1
        self._encoding = None
        if self._encoding_job is not None and self._encoding_job.is_running():
            self._encoding_job.cancel()
        self._encoding_job = None


def decoder_sensitivity(model: Model, step: float = 2.0) -> np.ndarray:
    """How much the decoded face changes along each latent axis, without any data: (L,) mean
    |decode(+step·e_d) − decode(−step·e_d)| over pixels. Collapsed (inactive) units score ~0."""
    L = model.config.latent
    z = np.zeros((2 * L, L))
    z[np.arange(L) * 2, np.arange(L)] = step
    z[np.arange(L) * 2 + 1, np.arange(L)] = -step
    faces = to_numpy(model.decode(z)).astype(np.float64)
    return np.abs(faces[0::2] - faces[1::2]).mean(axis=1)


def _home_relative(path) -> str:
    """'~/data/x.mat' for a path under the home folder, else the path itself."""
    if not path:
        return ""
    path = Path(path)
    try:
        return "~/" + str(path.expanduser().resolve().relative_to(Path.home().resolve()))
    except (ValueError, OSError):
        return str(path)

