"""What the Gradcheck panel shows of a report: a row per parameter, the worst entries of the row
clicked, and a histogram of log10 relative errors (judged entries blue, kink entries orange, the pass
and warning lines dashed)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QHeaderView, QLabel, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

import vae_gui.style  # noqa: F401 - the common plot options
from core.gradcheck import KINK_EXPLANATION, PASS_THRESHOLD, WARN_THRESHOLD, GradcheckReport, ParamCheck

EMPTY_RANGE = (-12.0, 0.0)  # the x range before any run: both threshold lines in view
PASS_COLOR = QColor("#c8f0c8")
FAIL_COLOR = QColor("#f6c4c4")
KINK_COLOR = QColor("#ffe3bf")
JUDGED_BRUSH, KINK_BRUSH = (31, 119, 180, 130), (255, 127, 14, 150)

COLUMNS = ["Parameter", "Shape", "Checked", "Kinks", "Max rel. err.", "Mean rel. err.", "Norm err.", "Warn.", "Result"]
COLUMN_TIPS = [
    "Parameter array of the network (click a row to see its worst entries)", "Shape of the array",
    "Entries compared: all of them (full), k random ones (sample) or one random direction (direction).",
    f"Kink entries: {KINK_EXPLANATION} Not judged.",
    f"Largest relative error over the parameter's judged (non-kink) entries; the parameter passes when it is "
    f"≤ {PASS_THRESHOLD:g}. Relative error = |a − n| / max(|a| + |n|, 0.01·g).",
    "Mean relative error over the judged entries. Relative error = |a − n| / max(|a| + |n|, 0.01·g).",
    "Norm-wise error ‖a − n‖ / (‖a‖ + ‖n‖) over the judged entries.",
    f"Judged entries whose relative error exceeds {WARN_THRESHOLD:g}: each a clearly wrong derivative.",
    f"pass: max relative error ≤ {PASS_THRESHOLD:g}; FAIL otherwise"]
WORST_COLUMNS = ["Index", "Analytic", "Numeric", "Rel. error", "Kink"]


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    # columns as wide as their text (a narrow window scrolls instead of clipping a header); the last stretches
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    return table


def _item(text: str, right: bool = True, tip: str = "", colour: QColor | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    if colour is not None:
        item.setBackground(colour)
    return item


class ReportView(QWidget):
    """Table, worst entries and histogram of one GradcheckReport; ``clear()`` empties all three."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report: GradcheckReport | None = None
        self.table = _table(COLUMNS)
        for col, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.currentCellChanged.connect(lambda row, *_: self.show_worst(row))
        self.worst_label = QLabel("Click a parameter's row to see its worst entries.")
        self.worst_table = _table(WORST_COLUMNS)
        self.worst_table.setToolTip("The entries of the chosen parameter with the largest relative error: "
                                    "index in the array, analytic and numerical derivative, and whether the "
                                    "finite difference crossed a kink (then it is not judged).")
        worst = QWidget()
        worst_layout = QVBoxLayout(worst)
        worst_layout.setContentsMargins(0, 4, 0, 0)
        worst_layout.addWidget(self.worst_label)
        worst_layout.addWidget(self.worst_table)
        self.hist_plot = self._histogram()
        splitter = QSplitter(Qt.Orientation.Vertical)
        for widget in (self.table, worst, self.hist_plot):
            splitter.addWidget(widget)
        splitter.setSizes([330, 200, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def _histogram(self) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setTitle("Relative errors of the checked entries", color="k")
        plot.setLabel("bottom", "log10(relative error)")
        plot.setLabel("left", "entries")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.getAxis("left").setWidth(56)
        plot.setToolTip(f"Judged entries in blue, kink entries (not judged) in orange. Entries that agree exactly "
                        f"(error 0) are counted in the note at the top left. Green line: pass threshold "
                        f"{PASS_THRESHOLD:g}; red line: warning threshold {WARN_THRESHOLD:g}.")
        legend = plot.addLegend(offset=(-10, 4), colCount=2)
        self.hist_curve = plot.plot(stepMode="center", fillLevel=0, brush=JUDGED_BRUSH, pen=pg.mkPen("#1f77b4"),
                                    name="judged")
        self.kink_curve = plot.plot(stepMode="center", fillLevel=0, brush=KINK_BRUSH, pen=pg.mkPen("#e07000"),
                                    name="kink (not judged)")
        for value, colour, text in ((PASS_THRESHOLD, "#2a2", "pass"), (WARN_THRESHOLD, "#c00", "warning")):
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
            plot.addItem(pg.InfiniteLine(pos=np.log10(value), angle=90, pen=pen))
            legend.addItem(pg.PlotDataItem(pen=pen), f"{text} {value:.0e}")
        legend.setLabelTextSize("8pt")
        self.zero_label = pg.TextItem("", color="#555", anchor=(0, 0))
        plot.addItem(self.zero_label)
        plot.setXRange(*EMPTY_RANGE, padding=0.02)
        plot.setYRange(0, 10, padding=0)
        plot.setLimits(yMin=0)
        return plot

    # ------------------------------------------------------------------ contents
    def clear(self) -> None:
        self.report = None
        self.table.setRowCount(0)
        self.worst_table.setRowCount(0)
        self.worst_label.setText("Click a parameter's row to see its worst entries.")
        self.hist_curve.setData([], [])
        self.kink_curve.setData([], [])
        self.zero_label.setText("")
        self.hist_plot.setXRange(*EMPTY_RANGE, padding=0.02)
        self.hist_plot.setYRange(0, 10, padding=0)

    def show_report(self, report: GradcheckReport) -> None:
        self.clear()
        self.report = report
        self.table.setRowCount(len(report.params))
        for row, p in enumerate(report.params):
            cells = [p.name, "×".join(str(s) for s in p.shape), f"{p.checked:,}", f"{p.kinks:,}",
                     f"{p.max_rel_error:.2e}", f"{p.mean_rel_error:.2e}", f"{p.norm_rel_error:.2e}", str(p.warnings),
                     ("pass" if p.passed else "FAIL")]
            for col, text in enumerate(cells):
                tip = COLUMN_TIPS[col] + (f" ({p.note})" if p.note and col == len(cells) - 1 else "")
                self.table.setItem(row, col, _item(text, col >= 2, tip, PASS_COLOR if p.passed else FAIL_COLOR))
        self._draw_histogram(report)
        failing = [row for row, p in enumerate(report.params) if not p.passed]
        self.table.setCurrentCell(failing[0] if failing else 0, 0)

    def show_worst(self, row: int) -> None:
        """The worst entries of the parameter in ``row`` of the table."""
        if self.report is None or not 0 <= row < len(self.report.params):
            return
        p: ParamCheck = self.report.params[row]
        self.worst_label.setText(f"{p.name}: {p.checked:,} entries checked ({p.kinks:,} kink entries); the "
                                 f"{min(len(p.worst), p.checked)} worst of them:")
        self.worst_table.setRowCount(len(p.worst))
        for r, w in enumerate(p.worst):
            index = "direction" if not w["index"] else str(tuple(w["index"]))
            judged = PASS_COLOR if w["rel_error"] <= PASS_THRESHOLD else FAIL_COLOR
            colour = KINK_COLOR if w["kink"] else judged
            cells = [index, f"{w['analytic']:.10g}", f"{w['numeric']:.10g}", f"{w['rel_error']:.2e}",
                     "kink" if w["kink"] else "no"]
            for col, text in enumerate(cells):
                self.worst_table.setItem(r, col, _item(text, col > 0, colour=colour))

    def _draw_histogram(self, report: GradcheckReport) -> None:
        """Non-zero errors as bars (an exact 0 has no logarithm: it is counted in a note instead)."""
        judged, kinked = report.all_rel_errors(), report.all_kink_rel_errors()
        n_zero = int((judged == 0).sum() + (kinked == 0).sum())
        judged, kinked = judged[judged > 0], kinked[kinked > 0]
        if judged.size + kinked.size:
            logs = np.log10(np.concatenate([judged, kinked]))
            lo, hi = np.floor(logs.min()), max(np.ceil(logs.max()), np.floor(logs.min()) + 1)
            edges = np.linspace(lo, hi, max(10, int((hi - lo) * 4)) + 1)
            counts = np.histogram(logs[: judged.size], bins=edges)[0]
            kink_counts = np.histogram(logs[judged.size:], bins=edges)[0]
            self.hist_curve.setData(edges, counts)
            self.kink_curve.setData(edges, kink_counts) if kinked.size else self.kink_curve.setData([], [])
            top = max(int(counts.max()), int(kink_counts.max()), 1)
        else:
            lo, hi, top = EMPTY_RANGE[0], EMPTY_RANGE[1], 10
        # both threshold lines stay in view however good or bad the errors are
        x_lo, x_hi = min(lo, np.log10(PASS_THRESHOLD) - 1), max(hi, np.log10(WARN_THRESHOLD) + 0.5)
        self.hist_plot.setXRange(x_lo, x_hi)
        self.hist_plot.setYRange(0, top * 1.3, padding=0)
        self.zero_label.setText(f"{n_zero:,} entries agree exactly (error 0, not drawn)" if n_zero else "")
        self.zero_label.setPos(x_lo + 0.2, top * 1.27)

    def histogram_data(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) of the judged entries with a non-zero error (for tests)."""
        x, y = self.hist_curve.getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))

    def kink_histogram_data(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.kink_curve.getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))
