"""Sweeps: the studies ``main.py sweep`` runs (core.sweep), live.

The panel reads a study's storage (SQLite beside the run ledger by default, or any URL Optuna accepts)
every POLL_MS in a background job and shows its trials as a table and as parallel coordinates (one line
per trial across its searched settings and its value; the best trial thick and red), Optuna's parameter
importances as bars, and two actions: "Open best" makes the best trial's final weights (its run in the
ledger) the current model, "Compare top 5" hands the five best trials' runs to the Runs view
(``session.compare_runs``) and brings that tab forward.
"""

from __future__ import annotations

import importlib.util

import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QBrush, QColor, QFont
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import VaeError
from vae_gui.panels.base import Panel
from vae_gui.state import Session
from vae_gui.style import style_plot

POLL_MS = 2000  # a running sweep's new trials appear within two seconds
TOP = 5
BEST_PEN = pg.mkPen("#d62728", width=4)
BEST_ROW = QColor("#ffe8a3")
PRUNED_PEN = pg.mkPen((150, 150, 150, 120), width=1, style=Qt.PenStyle.DashLine)
LINE_MAP = pg.colormap.get("viridis")


def optuna_missing() -> bool:
    return importlib.util.find_spec("optuna") is None


class ParallelPlot(pg.PlotWidget):
    """Parallel coordinates: a vertical axis per searched setting and one for the value, each trial a
    line through its positions (core.sweep.coordinates); lines coloured from best (yellow) to worst
    (purple), the best thick red on top."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        style_plot(self, "Trials across their settings (red: best)")
        self.getPlotItem().hideAxis("left")
        self.setMouseEnabled(False, False)
        self.lines: list[pg.PlotDataItem] = []
        self.best_line: pg.PlotDataItem | None = None

    def show_trials(self, axes: list[str], labels: list[list[tuple]], positions: list[list[float]],
                    best: int | None, pruned: set[int]) -> None:
        """``labels``: each axis's (position, text) marks; ``positions``: one row per trial in [0, 1]; ``best``:
        the row of the best trial; ``pruned``: rows drawn dashed grey (their value is where they stopped)."""
        self.clear()
        self.lines, self.best_line = [], None
        x = list(range(len(axes)))
        for i in range(len(axes)):
            self.addItem(pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen("k", width=1)))
            for y, text in labels[i]:
                label = pg.TextItem(text, color="k", anchor=(-0.1, 0.5))  # just right of the axis
                label.setPos(i, y)
                self.addItem(label)
        self.getPlotItem().getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(axes)]])
        for row, ys in enumerate(positions):
            pen = PRUNED_PEN if row in pruned else pg.mkPen(LINE_MAP.map(1.0 - ys[-1], mode="qcolor"), width=2)
            line = self.plot(x, ys, pen=pen)
            self.lines.append(line)
            if row == best:
                self.best_line = line
        if self.best_line is not None:
            self.best_line.setPen(BEST_PEN)
            self.best_line.setZValue(10)
        self.setXRange(-0.1, len(axes) - 0.6, padding=0)
        self.setYRange(-0.05, 1.05, padding=0)


class ImportancePlot(pg.PlotWidget):
    """Optuna's parameter importances as horizontal bars (they sum to 1)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        style_plot(self, "Parameter importances (Optuna)")
        self.setMouseEnabled(False, False)
        self.shown: dict[str, float] = {}

    def show_importances(self, values: dict[str, float]) -> None:
        self.clear()
        self.shown = dict(values)
        names = list(values)[::-1]
        if names:
            self.addItem(pg.BarGraphItem(x0=0, y=list(range(len(names))), height=0.6,
                                         width=[values[n] for n in names], brush="#1f77b4"))
        self.getPlotItem().getAxis("left").setTicks([[(i, n) for i, n in enumerate(names)]])
        self.setXRange(0, 1, padding=0.02)


class SweepsPanel(Panel):
    """A study's trials: table, parallel coordinates, importances, open best, compare top 5."""

    title, stem = "Sweeps", "sweeps"
    follows = ()  # a study does not change with the current model or data set

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(session, parent)
        self.data: dict | None = None  # the last read_study() result
        self._shown_key = None
        self._build()
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        if optuna_missing():
            self.status.setText("Sweeps need Optuna: pip install optuna (then reopen the program)")
            self.storage_edit.setEnabled(False)
        else:
            self.timer.start()
            QTimer.singleShot(0, self.poll)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Storage"))
        self.storage_edit = QLineEdit(self.default_storage())
        self.storage_edit.setToolTip("where main.py sweep keeps its studies: the default SQLite file beside the "
                                     "run ledger, or any URL Optuna accepts (postgresql://…)")
        self.storage_edit.editingFinished.connect(self.poll)
        top.addWidget(self.storage_edit, 2)
        top.addWidget(QLabel("Study"))
        self.study_box = QComboBox()
        self.study_box.setMinimumContentsLength(16)
        self.study_box.activated.connect(lambda _i: self.poll())
        top.addWidget(self.study_box, 1)
        self.open_button = QPushButton("Open best")
        self.open_button.setToolTip("make the best trial's final weights (its run in the ledger) the current model")
        self.open_button.clicked.connect(self.open_best)
        self.compare_button = QPushButton(f"Compare top {TOP}")
        self.compare_button.setToolTip(f"show the {TOP} best trials' runs side by side in the Runs view")
        self.compare_button.clicked.connect(self.compare_top)
        for button in (self.open_button, self.compare_button):
            button.setEnabled(False)
            top.addWidget(button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.parallel, self.importance = ParallelPlot(), ImportancePlot()
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.parallel)
        plots.addWidget(self.importance)
        plots.setSizes([700, 300])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(plots)
        split.setSizes([300, 340])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self.setMinimumSize(760, 460)

    @staticmethod
    def default_storage() -> str:
        from core.ledger import default_dir

        return f"sqlite:///{default_dir().expanduser().resolve() / 'sweeps.db'}"

    # ------------------------------------------------------------------ reading the study (in a job)
    def poll(self) -> None:
        """Read the storage in the background (skipped while the last read is still running)."""
        if self.job_running() or optuna_missing():
            return
        url = self.storage_edit.text().strip()
        if url.startswith("sqlite:///") and not _sqlite_exists(url):
            self.show_data({"studies": [], "study": None, "summary": None, "importances": {}, "space": {}})
            return
        from core.sweep import read_study

        self.run_job(read_study, url, self.study_box.currentText() or None, on_result=self.show_data,
                     on_error=lambda message, _exc: self.status.setText(f"cannot read the studies: {message}"))

    def show_data(self, data: dict) -> None:
        """Draw a read_study() result (only what changed since the last one)."""
        self.data = data
        self._fill_studies(data["studies"], data["study"])
        summary = data["summary"]
        if summary is None:
            self.status.setText("No studies yet: run main.py sweep --space SPACE.toml --trials N "
                                "(see the README's Sweeps section)")
            if self._shown_key is not None:
                self._shown_key = None
                self._show_trials([], None, {}, {})
            return
        rows, best = summary["trials"], summary["best"]
        counts = {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "PRUNED", "RUNNING", "FAIL")}
        done = counts["COMPLETE"] + counts["PRUNED"]
        text = (f"study {summary['study']}: {done} of {summary['n_trials']} trials finished "
                f"({counts['PRUNED']} pruned), {counts['RUNNING']} running, {counts['FAIL']} failed")
        if best is not None:
            text += f" — best: trial {best['number']}, {best['value']:.2f}"
        self.status.setText(text)
        key = (summary["study"], [(r["number"], r["state"], r["value"]) for r in rows], tuple(data["importances"]))
        if key != self._shown_key:  # redraw only what a poll changed
            self._shown_key = key
            self._show_trials(rows, best, data["space"], data["importances"])

    def _fill_studies(self, names: list[str], current: str | None) -> None:
        if [self.study_box.itemText(i) for i in range(self.study_box.count())] != names:
            self.study_box.blockSignals(True)
            self.study_box.clear()
            self.study_box.addItems(names)
            self.study_box.blockSignals(False)
        if current is not None:
            self.study_box.setCurrentText(current)

    def _show_trials(self, rows: list[dict], best: dict | None, space: dict, importances: dict) -> None:
        from core.sweep import coordinates

        self._fill_table(rows, best)
        axes, labels, positions = coordinates(rows, space)
        valued = [r for r in rows if r["value"] is not None]
        best_row = next((i for i, r in enumerate(valued) if best and r["number"] == best["number"]), None)
        pruned = {i for i, r in enumerate(valued) if r["state"] == "PRUNED"}
        self.parallel.show_trials(axes, labels, positions, best_row, pruned)
        self.importance.show_importances(importances)
        self.open_button.setEnabled(bool(best and best.get("run") is not None))
        self.compare_button.setEnabled(len(self.top_runs()) >= 2)

    def _fill_table(self, rows: list[dict], best: dict | None) -> None:
        params = list(dict.fromkeys(k for r in rows for k in r["params"]))
        heads = ["trial", "state", "value", *params, "steps", "run"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(heads))
        self.table.setHorizontalHeaderLabels(heads)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = [r["number"], r["state"].lower(), r["value"], *[r["params"].get(p) for p in params],
                     r.get("steps"), r.get("run")]
            for j, value in enumerate(cells):
                item = NumberItem(value, "{:.2f}" if j == 2 else "{:.4g}")
                if best is not None and r["number"] == best["number"]:
                    item.setBackground(QBrush(BEST_ROW))
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

    # ------------------------------------------------------------------ actions
    def best_row(self) -> int | None:
        """The table row of the best trial (it is highlighted), or None."""
        best = (self.data or {}).get("summary", {}) or {}
        best = best.get("best")
        for i in range(self.table.rowCount()):
            if best is not None and self.table.item(i, 0).data(Qt.ItemDataRole.UserRole) == best["number"]:
                return i
        return None

    def top_runs(self) -> list[int]:
        """The ledger runs of the TOP best complete trials, best first."""
        summary = (self.data or {}).get("summary") or {}
        done = [r for r in summary.get("trials", []) if r["state"] == "COMPLETE" and r["value"] is not None
                and r.get("run") is not None]
        return [r["run"] for r in sorted(done, key=lambda r: (r["value"], r["number"]))[:TOP]]

    def compare_top(self) -> None:
        runs = self.top_runs()
        if not runs:
            return
        self.session.compare_runs.emit(runs)
        runs_panel = _runs_panel_class()
        if runs_panel is not None:
            self.session.show_panel.emit(runs_panel)

    def open_best(self) -> None:
        """Load the best trial's final snapshot from the ledger in a job; it becomes the current model."""
        summary = (self.data or {}).get("summary") or {}
        best = summary.get("best")
        if not best or best.get("run") is None or not self.session.confirm_replace("Open best trial"):
            return
        self.run_job(load_run, best["run"], on_result=lambda loaded: self._opened(best, loaded),
                     on_error=lambda message, _e: self.session.report_error("Could not open the best trial", message))

    def _opened(self, best: dict, loaded) -> None:
        path, record = loaded
        dataset = self.session.dataset
        try:  # the one model × data-set rule: refused when it cannot read the images, warnings otherwise
            warnings = record.check_data(dataset) if dataset is not None else []
        except VaeError as exc:
            self.session.report_error("Could not open the best trial", f"run {best['run']}: {exc}")
            return
        self.session.set_record(record, path)
        self.status.setText("; ".join([f"opened trial {best['number']} (run {best['run']}): {path}"]
                                      + [f"warning: {w}" for w in warnings]))

    def shutdown(self) -> None:
        self.timer.stop()
        super().shutdown()


class NumberItem(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers); None shows as '–'."""

    def __init__(self, value, float_format: str = "{:.4g}"):
        text = "–" if value is None else float_format.format(value) if isinstance(value, float) else str(value)
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, value)

    def __lt__(self, other) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


def load_run(run_id: int):
    """(path, core.record.ModelRecord) of a ledger run's latest snapshot (in a job)."""
    from core.checkpoint import load_model
    from core.ledger import Ledger

    with Ledger() as ledger:
        _step, path = ledger.snapshot_path(run_id)
    return path, load_model(path)


def _sqlite_exists(url: str) -> bool:
    from pathlib import Path

    return Path(url[len("sqlite:///"):]).exists()


def _runs_panel_class():
    """The Runs view's panel class, when this build has one."""
    if importlib.util.find_spec("vae_gui.panels.runs") is None:
        return None
    module = importlib.import_module("vae_gui.panels.runs")
    return getattr(module, "RunsPanel", None)
