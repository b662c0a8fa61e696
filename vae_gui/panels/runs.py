"""The Runs tab: every training run in the run ledger (core.ledger), side by side.

A sortable, filterable table of the runs (polled once a second while the tab shows, so a running run —
from this window or a `main.py train` elsewhere — updates in place). Selecting 2–6 rows overlays their
curves (x: step, images seen or wall time; each run keeps one colour in every view), shows their
reconstructions of the same test faces and their samples of the same z side by side, and their settings
with the differing rows highlighted. The timeline replays the first selected run over its snapshots;
"Open as current model" makes a snapshot the model every tab shows, "Branch from here" opens it and
turns the Training tab to Continue, so the changed settings run as a child run of this one.

Loading snapshots and decoding faces runs as the panel's background job; the ledger is read on the UI
thread (a list of 1 000 runs is one indexed query, measured in benchmarks/runs.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.ledger import Ledger, LedgerError, RunRecord, compare
from vae_gui.panels.base import DATA_CHANGED, Panel
from vae_gui.style import style_plot
from vae_gui.widgets.faces import FaceGrid

# one colour per selected run, in selection order, the same in the curves, the faces and the settings
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
MAX_OVERLAY = len(RUN_COLOURS)
N_FACES = 6  # test faces reconstructed, and z decoded, per run
FACE_Z_SEED = 7
POLL_MS = 1000
COLUMNS = (("id", "Run"), ("status", "Status"), ("kind", "Model"), ("dataset", "Data"), ("step", "Step"),
           ("beta", "β"), ("latent", "Latent"), ("hidden", "Hidden"), ("lr", "LR"), ("test_neg_elbo", "Test −ELBO"),
           ("test_iwae", "Test IWAE"), ("active_units", "Active units"), ("snapshots", "Snapshots"), ("disk", "Disk"),
           ("parent", "Parent"), ("tags", "Tags"), ("source", "From"), ("note", "Note"))
# the faces grid's column ticks (FaceGrid labels every other column): each title near the middle of its half
_COLUMN_TITLES = [""] * (2 * N_FACES)
_COLUMN_TITLES[2], _COLUMN_TITLES[N_FACES + 2] = "reconstructions", "samples"
MAX_POINTS = 2000  # per curve: about two per horizontal pixel
X_AXES = {"Step": "step", "Images seen": "images", "Wall time (s)": "wall"}



def wrapped_label(text: str) -> QLabel:
    """A label that wraps instead of widening the tab (every tab fits 1024×600 without scrolling sideways)."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label

class _SortItem(QTableWidgetItem):
    """A cell that sorts by its number (UserRole) when it has one, else by its text."""

    def __lt__(self, other) -> bool:
        mine, theirs = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)):
            return mine < theirs
        return self.text() < other.text()


def cell_values(record: RunRecord) -> dict[str, tuple[str, object]]:
    """{column key: (text, sort value)} of one run's table row."""
    s, m = record.settings, record.metrics
    elbo = m.get("test_neg_elbo")
    hidden = s.get("hidden")
    return {
        "id": (str(record.id), record.id), "status": (record.status, None), "kind": (record.kind or "", None),
        "dataset": (record.dataset or "", None), "step": (str(record.last_step), record.last_step),
        "beta": (_short(s.get("beta")), s.get("beta")), "latent": (_short(s.get("latent")), s.get("latent")),
        "hidden": (",".join(map(str, hidden)) if isinstance(hidden, list) else "", None),
        "lr": (_short(s.get("lr")), s.get("lr")),
        "test_neg_elbo": ("" if elbo is None else f"{elbo:.2f}", elbo),
        "test_iwae": ("" if m.get("test_iwae") is None else f"{m['test_iwae']:.2f}", m.get("test_iwae")),
        "active_units": (_short(m.get("active_units")), m.get("active_units")),
        "snapshots": (str(len(record.snapshots)), len(record.snapshots)),
        "disk": (f"{record.disk_bytes / 1e6:.1f} MB", record.disk_bytes),
        "parent": ("" if record.parent is None else f"{record.parent} @ {record.parent_step}", record.parent),
        "tags": (", ".join(record.tags), None), "source": (record.source, None), "note": (record.note, None)}


def _short(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def curve_x(history: dict, axis: str, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x of the logged losses, x of the evaluations) on ``axis`` ('step', 'images' or 'wall')."""
    if axis == "wall":
        return np.asarray(history["wall"], float), np.asarray(history["eval_wall"], float)
    scale = batch_size if axis == "images" else 1
    return np.asarray(history["step"], float) * scale, np.asarray(history["eval_step"], float) * scale


def peak_decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of the curve (x ascending): each bucket of consecutive points becomes its
    min and its max (in x order), so the drawn envelope is the full curve's."""
    n = len(x)
    if n <= max_points:
        return x, y
    per = int(np.ceil(n / (max_points // 2)))
    m = n // per
    xb, yb = x[: m * per].reshape(m, per), y[: m * per].reshape(m, per)
    filled = np.where(np.isnan(yb), np.inf, yb)
    lo, hi = np.argmin(filled, axis=1), np.argmax(np.where(np.isnan(yb), -np.inf, yb), axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    rows = np.arange(m)
    xs = np.stack([xb[rows, first], xb[rows, second]], axis=1).ravel()
    ys = np.stack([yb[rows, first], yb[rows, second]], axis=1).ravel()
    return np.concatenate([xs, x[m * per:]]), np.concatenate([ys, y[m * per:]])


def faces_of_snapshots(paths: list, images: np.ndarray | None, z_seed: int = FACE_Z_SEED) -> list[dict]:
    """In a worker: for each snapshot file, {'step', 'recons' (n, D) of ``images``, 'samples' (n, D)}
    (samples decode the same z for every run of the same latent size)."""
    from core.backend import to_numpy
    from core.checkpoint import load_model

    out = []
    for path in paths:
        model = load_model(path).model
        z = np.random.default_rng(z_seed).standard_normal((N_FACES, model.config.latent))
        fits = images is not None and images.shape[1] == model.config.input_dim
        out.append({"step": int(model.step), "samples": to_numpy(model.decode(z)).astype(np.float32),
                    "recons": to_numpy(model.reconstruct(images)).astype(np.float32) if fits else None})
    return out


class RunsPanel(Panel):
    """See the module docstring."""

    title = "Runs"
    stem = "runs"
    follows = (DATA_CHANGED,)  # the faces shown are of the current data set; the model does not matter

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.ledger: Ledger | None = None
        self.records: dict[int, RunRecord] = {}
        self.selected: list[int] = []
        self.histories: dict[int, dict] = {}
        self.curves: dict[int, tuple] = {}  # run id -> (line, scatter) in the plot
        self._seen_version: int | None = None
        self.faces_cache: dict = {}  # snapshot file -> its decoded faces (faces_of_snapshots), for this data set
        self.timeline_shown_step: int | None = None
        self.faces_shown: list[int] = []  # the runs whose faces the Faces view shows, in row order
        self._error_shown = False
        self._build()
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.poll_ledger)
        self.poll.start()
        self.timeline_timer = QTimer(self, singleShot=True, interval=120)  # a dragged slider loads once it rests
        self.timeline_timer.timeout.connect(self._timeline_rested)
        # the Sweeps tab's "Compare top 5": those runs, selected here (the table first brought up to date)
        session.compare_runs.connect(lambda ids: (self.refresh_table(force=True), self.select_runs(ids)))

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.filter_edit = QLineEdit(placeholderText="Filter: text in any column, e.g. finished, vae, a tag…")
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh_table(force=True))
        self.where_label = QLabel()
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # oldest run first until the user sorts
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # widths fitted once per fill (ResizeToContents re-measured every column at every cell set: a ledger of
        # 1 000 runs never finished filling)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.views = QTabWidget()
        self.views.addTab(self._build_curves(), "Curves")
        self.views.addTab(self._build_faces(), "Faces")
        self.views.addTab(self._build_settings(), "Settings")
        self.views.addTab(self._build_timeline(), "Timeline")
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.refresh_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.where_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.views)
        split.setSizes([560, 620])
        self.status_label = QLabel("Select 2–6 runs to compare them; one run to replay it on the Timeline.")
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.status_label)
        self.setMinimumSize(760, 420)

    def _build_curves(self) -> QWidget:
        page = QWidget()
        self.x_combo = QComboBox()
        self.x_combo.addItems(list(X_AXES))
        self.x_combo.currentTextChanged.connect(lambda _t: self.draw_curves())
        self.plot = pg.PlotWidget()
        style_plot(self.plot, "Training −ELBO (lines) and held-out −ELBO (dots)", "nats / image", "step")
        self.legend = self.plot.getPlotItem().addLegend(offset=(-10, 10))
        # a cosmetic 1-px line without antialiasing, at most MAX_POINTS: 6 runs × 6 000 points painted
        # antialiased took 1.3 s (measured); the peaks are kept, so spikes still show
        self._pool = [(self.plot.plot([], [], antialias=False),
                       self.plot.plot([], [], pen=None, symbol="o", symbolSize=6, symbolPen=None))
                      for _ in RUN_COLOURS]
        row = QHBoxLayout()
        row.addWidget(QLabel("x axis:"))
        row.addWidget(self.x_combo)
        row.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        return page

    def _build_faces(self) -> QWidget:
        page = QWidget()
        self.faces_legend = QLabel()
        self.faces_legend.setWordWrap(True)
        self.faces_grid = FaceGrid(min_height=200)
        layout = QVBoxLayout(page)
        layout.addWidget(wrapped_label(f"Top row: {N_FACES} test faces. Then one row per run, in its colour: its "
                                       f"reconstructions of them, then {N_FACES} samples of the same z."))
        layout.addWidget(self.faces_legend)
        layout.addWidget(self.faces_grid, 1)
        return page

    def _build_settings(self) -> QWidget:
        self.settings_table = QTableWidget(0, 0)
        self.settings_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        return self.settings_table

    def _build_timeline(self) -> QWidget:
        page = QWidget()
        self.timeline_label = wrapped_label("Select a run to replay its snapshots.")
        self.timeline_slider = QSlider(Qt.Orientation.Horizontal)
        self.timeline_slider.setEnabled(False)
        self.timeline_slider.valueChanged.connect(self._timeline_moved)
        self.timeline_grid = FaceGrid(min_height=160)
        self.open_button = QPushButton("Open as current model")
        self.open_button.setToolTip("Make this snapshot the current model: every tab shows it.")
        self.open_button.clicked.connect(lambda: self.open_snapshot(branch=False))
        self.branch_button = QPushButton("Branch from here")
        self.branch_button.setToolTip("Open this snapshot and continue it in the Training tab with other "
                                      "optimiser/objective settings (learning rate, β, warm-up, steps): the new "
                                      "run is recorded as a child of this one, so the two futures can be compared.")
        self.branch_button.clicked.connect(lambda: self.open_snapshot(branch=True))
        self.follow_check = QCheckBox("Every tab follows the slider")
        self.follow_check.setToolTip("Each snapshot the slider rests on becomes the current model, so the "
                                     "latent map, the latent grid and every other tab replay the run too.")
        buttons = QHBoxLayout()
        buttons.addWidget(self.follow_check)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.branch_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addWidget(self.timeline_label)
        layout.addWidget(self.timeline_slider)
        layout.addWidget(wrapped_label(f"Reconstructions of {N_FACES} test faces, then {N_FACES} samples, "
                                       "at this step:"))
        layout.addWidget(self.timeline_grid, 1)
        layout.addLayout(buttons)
        self._set_snapshot_buttons(False)
        return page

    # ------------------------------------------------------------------ the ledger
    def open_ledger(self) -> Ledger | None:
        """The ledger (opened on first use); a ledger that cannot be opened is one dialog, once."""
        if self.ledger is None:
            try:
                self.ledger = Ledger()
            except LedgerError as exc:
                self.where_label.setText(f"Run ledger off: {exc}")
                if not self._error_shown:
                    self._error_shown = True
                    self.session.report_error("Run ledger", str(exc))
                return None
            self.where_label.setText(f"Ledger: {self.ledger.path}")
        return self.ledger

    def poll_ledger(self) -> None:
        """While the tab shows: redraw when another connection committed (a run logged, a run ended)."""
        if self.isVisible() and not self._error_shown:
            self.refresh_table()

    def refresh_table(self, force: bool = False) -> None:
        ledger = self.open_ledger()
        if ledger is None:
            return
        try:
            version = ledger.data_version()
            if not force and version == self._seen_version and self.records:
                return
            running = [i for i in self.selected if self.records.get(i) and self.records[i].status == "running"]
            self.records = {r.id: r for r in ledger.runs()}
            self._seen_version = ledger.data_version()
        except LedgerError as exc:
            self.status_label.setText(str(exc))
            return
        self._fill_table()
        for run_id in running:  # their curves grew
            self.histories.pop(run_id, None)
        if running:
            self.draw_curves()

    def _fill_table(self) -> None:
        table = self.table
        table.blockSignals(True)
        table.setUpdatesEnabled(False)
        table.setSortingEnabled(False)
        grew = table.rowCount() != len(self.records)
        table.setRowCount(len(self.records))
        for row, record in enumerate(self.records.values()):
            cells = cell_values(record)
            for col, (key, _title) in enumerate(COLUMNS):
                text, value = cells[key]
                item = _SortItem(text)
                item.setData(Qt.ItemDataRole.UserRole, value)
                table.setItem(row, col, item)
        table.setSortingEnabled(True)
        if grew:  # fitted to the first rows only: measuring every cell of a long ledger costs seconds
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setResizeContentsPrecision(50)
            table.resizeColumnsToContents()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._reselect()
        table.setUpdatesEnabled(True)
        table.blockSignals(False)
        self._apply_filter(self.filter_edit.text())

    def _reselect(self) -> None:
        """Select the rows of ``self.selected`` again (after a refill), as one selection."""
        table, wanted = self.table, set(self.selected)
        selection = QItemSelection()
        model = table.model()
        for row in range(table.rowCount()):
            if self._row_id(row) in wanted:
                selection.select(model.index(row, 0), model.index(row, table.columnCount() - 1))
        table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _row_id(self, row: int) -> int:
        return int(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for row in range(self.table.rowCount()):
            line = " ".join(self.table.item(row, c).text().lower() for c in range(self.table.columnCount()))
            self.table.setRowHidden(row, not all(w in line for w in words))

    # ------------------------------------------------------------------ selection
    def select_runs(self, run_ids: list[int]) -> None:
        """Select these runs in the table (as a user's clicks would)."""
        self.selected = [int(i) for i in run_ids]
        self._reselect()

    def _selection_changed(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        ids = [self._row_id(r) for r in rows]
        self.selected = ids[:MAX_OVERLAY]
        more = len(ids) - len(self.selected)
        self.status_label.setText(f"{len(self.selected)} run(s) selected" + (
            f"; only the first {MAX_OVERLAY} are compared ({more} left out)" if more else ""))
        self.draw_curves()
        self.show_settings()
        self._reset_timeline()
        self.update_faces()

    def colour(self, run_id: int) -> str:
        return RUN_COLOURS[self.selected.index(run_id) % len(RUN_COLOURS)]

    # ------------------------------------------------------------------ curves
    def history(self, run_id: int) -> dict:
        if run_id not in self.histories and self.ledger is not None:
            self.histories[run_id] = self.ledger.history(run_id, keys=("total",))
        return self.histories.get(run_id, {})

    def draw_curves(self) -> None:
        """The selected runs' training and held-out −ELBO against the chosen x axis. The plot keeps one
        line and one set of dots per colour and only changes their data (removing and adding items cost
        ~70 % of a redraw, measured), with the auto-range done once at the end."""
        axis = X_AXES[self.x_combo.currentText()]
        view = self.plot.getPlotItem().getViewBox()
        view.disableAutoRange()
        self.legend.clear()
        self.curves = {}
        self.plot.getPlotItem().setLabel("bottom", self.x_combo.currentText().lower())
        shown = [(i, self.records[i], self.history(i)) for i in self.selected if i in self.records]
        shown = [(i, record, history) for i, record, history in shown if history]
        for (line, dots), (run_id, record, history) in zip(self._pool, shown, strict=False):
            x, x_eval = curve_x(history, axis, int(record.settings.get("batch_size") or 1))
            y = np.asarray([np.nan if v is None else v for v in history["total"]], float)
            line.setData(*peak_decimate(x, y, MAX_POINTS), connect="finite")
            line.setPen(pg.mkPen(self.colour(run_id), width=1))
            dots.setData(x_eval, np.asarray([np.nan if v is None else v for v in history["eval"]], float),
                         symbolBrush=self.colour(run_id))
            self.legend.addItem(line, f"run {run_id} (β {_short(record.settings.get('beta'))})")
            self.curves[run_id] = (line, dots)
        for line, dots in self._pool[len(self.curves):]:
            line.setData([], [])
            dots.setData([], [])
        view.enableAutoRange()

    # ------------------------------------------------------------------ settings
    def show_settings(self) -> None:
        """One column per selected run, one row per setting; rows whose values differ are highlighted."""
        records = [self.records[i] for i in self.selected if i in self.records]
        table = self.settings_table
        table.clear()
        if not records:
            table.setRowCount(0)
            table.setColumnCount(0)
            return
        differs = compare(records)["differs"]
        keys = list(dict.fromkeys(k for r in records for k in r.settings))
        keys = [k for k in keys if k in differs] + [k for k in keys if k not in differs]  # what differs on top
        metric_keys = sorted({k for r in records for k in r.metrics})
        rows = [("setting", k) for k in keys] + [("metric", k) for k in metric_keys]
        table.setColumnCount(len(records))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels([f"run {r.id}" for r in records])
        table.setVerticalHeaderLabels([k if kind == "setting" else f"{k} (metric)" for kind, k in rows])
        highlight = QBrush(QColor(255, 236, 160))
        for c, record in enumerate(records):
            header = table.horizontalHeaderItem(c)
            header.setForeground(QBrush(QColor(self.colour(record.id))))
            for r, (kind, key) in enumerate(rows):
                value = (record.settings if kind == "setting" else record.metrics).get(key)
                item = QTableWidgetItem(",".join(map(str, value)) if isinstance(value, list) else _short(value))
                if kind == "setting" and key in differs:
                    item.setBackground(highlight)
                table.setItem(r, c, item)

    def differing_rows(self) -> list[str]:
        """The settings rows shown highlighted (what differs between the selected runs)."""
        table = self.settings_table
        return [table.verticalHeaderItem(r).text() for r in range(table.rowCount())
                if table.item(r, 0) is not None and table.item(r, 0).background().color() == QColor(255, 236, 160)]

    # ------------------------------------------------------------------ faces side by side, timeline
    def _test_images(self) -> np.ndarray | None:
        dataset = self.session.dataset
        if dataset is None:
            return None
        return dataset.images[dataset.test_ids[:N_FACES]]

    def _latest_paths(self) -> dict[int, object]:
        """{run id: its latest snapshot file} of the selected runs that have one."""
        out = {}
        for run_id in self.selected:
            record = self.records.get(run_id)
            if record is not None and record.snapshots and self.ledger is not None:
                try:
                    out[run_id] = self.ledger.snapshot_path(run_id)[1]
                except LedgerError:
                    continue
        return out

    def _timeline_path(self):
        record, step = self.timeline_run(), self.timeline_step()
        if record is None or step is None or self.ledger is None:
            return None
        try:
            return self.ledger.snapshot_path(record.id, step)[1]
        except LedgerError as exc:
            self.timeline_label.setText(str(exc))
            return None

    def update_faces(self) -> None:
        """Decode (in the panel's job) the snapshots not decoded yet, then draw both face views."""
        wanted = list(self._latest_paths().values()) + [p for p in [self._timeline_path()] if p is not None]
        missing = [p for p in dict.fromkeys(wanted) if p not in self.faces_cache]
        if not missing:
            self._draw_faces()
            return

        def done(result: list[dict]) -> None:
            self.faces_cache.update(zip(missing, result, strict=True))
            self._draw_faces()

        self.run_job(faces_of_snapshots, missing, self._test_images(), on_result=done,
                     on_error=lambda message, _exc: self.status_label.setText(f"Could not show the faces: {message}"))

    def _draw_faces(self) -> None:
        latest = {i: self.faces_cache[p] for i, p in self._latest_paths().items() if p in self.faces_cache}
        images = self._test_images()
        dims = {len(f["samples"][0]) for f in latest.values()} | ({images.shape[1]} if images is not None else set())
        self.faces_grid.clear()
        self.faces_shown = []
        if len(dims) > 1:
            self.faces_legend.setText("These runs' models read images of different sizes: no side-by-side faces.")
        elif latest:
            blank = np.ones((N_FACES, dims.pop()), np.float32)
            rows = [np.concatenate([images if images is not None else blank, blank])]
            rows += [np.concatenate([f["recons"] if f["recons"] is not None else blank, f["samples"]])
                     for f in latest.values()]
            self.faces_grid.set_grid(np.stack(rows), self.session.image_shape)
            self.faces_grid.set_axes("", ["test faces"] + [f"run {i}" for i in latest], "", _COLUMN_TITLES)
            self.faces_shown = list(latest)
            self.faces_legend.setText("Rows: test faces, then " + ", ".join(
                f"<b style='color:{self.colour(i)}'>run {i} (step {f['step']})</b>" for i, f in latest.items()))
        path = self._timeline_path()
        faces = self.faces_cache.get(path) if path is not None else None
        if faces is not None:
            rows = faces["samples"][None] if faces["recons"] is None else np.stack([faces["recons"], faces["samples"]])
            self.timeline_grid.set_grid(rows, self.session.image_shape)
            self.timeline_grid.set_axes("", ["samples"] if faces["recons"] is None else ["reconstructions", "samples"],
                                        "", None)
            self.timeline_shown_step = faces["step"]

    def _timeline_rested(self) -> None:
        self.update_faces()
        if self.follow_check.isChecked():
            self.open_snapshot(branch=False)

    def timeline_run(self) -> RunRecord | None:
        return self.records.get(self.selected[0]) if self.selected else None

    def _reset_timeline(self) -> None:
        record = self.timeline_run()
        slider = self.timeline_slider
        slider.blockSignals(True)
        steps = record.snapshots if record is not None else []
        slider.setEnabled(bool(steps))
        slider.setRange(0, max(len(steps) - 1, 0))
        slider.setValue(max(len(steps) - 1, 0))
        slider.blockSignals(False)
        self._set_snapshot_buttons(bool(steps))
        if not steps:
            self.timeline_label.setText("Select a run with snapshots to replay it." if record is None else
                                        f"Run {record.id} has no weight snapshots.")
            self.timeline_grid.clear()
            return
        self._timeline_moved(slider.value())

    def timeline_step(self) -> int | None:
        record = self.timeline_run()
        if record is None or not record.snapshots:
            return None
        return record.snapshots[min(self.timeline_slider.value(), len(record.snapshots) - 1)]

    def _timeline_moved(self, _value: int) -> None:
        record, step = self.timeline_run(), self.timeline_step()
        if record is None or step is None:
            return
        self.timeline_label.setText(f"Run {record.id}: snapshot {self.timeline_slider.value() + 1} of "
                                    f"{len(record.snapshots)}, step {step} of {record.last_step}")
        self.timeline_timer.start()

    def _set_snapshot_buttons(self, enabled: bool) -> None:
        self.open_button.setEnabled(enabled)
        self.branch_button.setEnabled(enabled)

    def open_snapshot(self, branch: bool) -> None:
        """The timeline's snapshot as the current model (through the window's Open, with its checks);
        ``branch``: then the Training tab, set to continue it."""
        record, step = self.timeline_run(), self.timeline_step()
        if record is None or step is None or self.ledger is None:
            return
        try:
            _, path = self.ledger.snapshot_path(record.id, step)
        except LedgerError as exc:
            self.session.report_error("Run ledger", str(exc))
            return
        files = getattr(self.window(), "files", None)
        job = files.open_model_path(path, ask=True) if files is not None else None
        if job is None:
            return
        if branch:
            self.session.model_changed.connect(self._branch_opened)
        self.status_label.setText(f"Opening run {record.id} at step {step}…")

    def _branch_opened(self, _model) -> None:
        self.session.model_changed.disconnect(self._branch_opened)
        window = self.window()
        training = getattr(window, "panels", {}).get("training")
        if training is None:
            return
        training.form.continue_radio.setChecked(True)
        self.session.show_panel.emit(type(training))
        self.status_label.setText("Branching: change the learning rate, β, warm-up or steps in the Training tab "
                                  "and press Start; the new run is recorded as a child of this one.")

    # ------------------------------------------------------------------ panel
    def reset(self) -> None:
        self.faces_cache.clear()  # they showed the previous data set's faces
        self.update_faces()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh_table()

    def shutdown(self) -> None:
        super().shutdown()
        self.poll.stop()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
