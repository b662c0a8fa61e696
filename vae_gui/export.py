"""Exports from the main window: a picture of the current tab (PNG) and the loss curves (CSV).

Dialogs open in the folder of the last export (remembered in the settings); ``~`` is expanded.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from PyQt6.QtCore import QBuffer, QIODevice
from PyQt6.QtWidgets import QFileDialog

from core.safe_io import CSV, PNG, OutputKind, atomic_write

CSV_COLUMNS = ["total", "rec", "kl", "total_ema", "rec_ema", "kl_ema"]
CSV_HEADER = ["step", "neg_elbo", "rec", "kl", "neg_elbo_smoothed", "rec_smoothed", "kl_smoothed", "test_neg_elbo"]


class Exports:
    """PNG and CSV exports for one window (needs its tabs, files.folder/remember, show_error, notify)."""

    def __init__(self, window):
        self.window = window

    def _ask(self, title: str, name: str, filter_: str) -> str:
        start = Path(self.window.files.folder("export", Path.home())) / name
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(start), filter_)
        if path:
            self.window.files.remember("export", path)
        return path

    def png_dialog(self) -> None:
        path = self._ask("Export view as PNG", f"{self.window.current_stem()}.png", "PNG images (*.png)")
        if path:
            self.png_path(path)

    def png_path(self, path: str | os.PathLike) -> bool:
        """Save a picture of the current tab (written atomically: a failed write leaves the old file)."""
        path = Path(path).expanduser().absolute()  # the notice names the file where it is
        widget = self.window.tabs.currentWidget()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        try:
            if widget is None or not widget.grab().save(buffer, "PNG"):
                raise OSError("the picture could not be encoded")
            atomic_write_bytes(path, bytes(buffer.data()), PNG)
        except (OSError, ValueError) as exc:  # ValueError: safe_io refused to replace the file
            self.window.show_error("Export view", f"Could not write {path}: {exc}")
            return False
        self.window.notify(f"Saved {path}")
        return True

    def csv_dialog(self) -> None:
        if not self.has_curves():  # said before a file name is asked for, not after
            self.window.show_error("Export loss curves", NO_CURVES_TEXT)
            return
        path = self._ask("Export loss curves", "loss_curves.csv", "CSV files (*.csv)")
        if path:
            self.csv_path(path)

    def has_curves(self) -> bool:
        history = self.window.loss_history()
        return len(history["step"]) > 0 or len(history["test_step"]) > 0

    def csv_path(self, path: str | os.PathLike) -> int:
        """Write the training curves as CSV (one row per logged step, the held-out −ELBO where it was
        computed); returns the number of data rows (0 and a dialog when there is nothing)."""
        path = Path(path).expanduser().absolute()  # the notice names the file where it is
        if not self.has_curves():
            self.window.show_error("Export loss curves", NO_CURVES_TEXT)
            return 0
        history = self.window.loss_history()
        rows: dict[int, dict] = {}
        for i, step in enumerate(history["step"]):
            rows[int(step)] = {c: history[c][i] for c in CSV_COLUMNS}
        for step, value in zip(history["test_step"], history["test_neg_elbo"], strict=True):
            rows.setdefault(int(step), {})["test_neg_elbo"] = value
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(CSV_HEADER)
        for step in sorted(rows):
            r = rows[step]
            writer.writerow([step, *(_fmt(r.get(c)) for c in CSV_COLUMNS), _fmt(r.get("test_neg_elbo"))])
        try:
            atomic_write_bytes(path, text.getvalue().encode(), CSV)
        except (OSError, ValueError) as exc:  # ValueError: safe_io refused to replace the file
            self.window.show_error("Export loss curves", f"Could not write {path}: {exc}")
            return 0
        self.window.notify(f"Saved {len(rows)} rows to {path}")
        return len(rows)


NO_CURVES_TEXT = ("There are no loss curves to export: the current model was saved without them, and no run has "
                  "drawn any yet (a run — new, or Continue — draws them).")


def atomic_write_bytes(path: Path, data: bytes, kind: OutputKind) -> None:
    """Write ``data`` atomically (a failed write leaves the old file and no temporary), replacing only a
    file of the same ``kind`` (never a model, a text file, a FIFO…): core.safe_io.atomic_write."""
    atomic_write(path, kind, lambda f: f.write(data))


def _fmt(value) -> str:
    return "" if value is None else f"{float(value):.6g}"
