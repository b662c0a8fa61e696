"""The Step tab: one training step of one face, opened up (core/step.py).

Choose a face of the data set (or the image you encoded with File ▸ Encode an image…) and the noise ε (a
seed, or typed in); every stage of the step is laid out in training's order: its formula, shape, min / max /
norm, and a picture (images for image-sized vectors, bars for vectors, heat maps for weight matrices).
Hovering a picture shows the entry's value; clicking an entry of a gradient checks that entry by central
differences (core.gradcheck.check_entry) and shows both numbers. *Next step* takes the step on the current
model through the Session (every tab follows); *Undo* puts the model before it back, once.
The step is computed in a job (a float64 copy; tens of milliseconds for the shipped models).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.gradcheck import EntryCheck, check_entry
from core.step import (
    OpenedStep,
    Stage,
    colours,
    draw_eps,
    is_signed,
    open_step,
    parse_eps,
    stage_grid,
    take_step,
)
from core.step_html import SECTION_TITLES, write_step_page
from vae_gui.panels.base import Panel
from vae_gui.state import NO_MODEL_TEXT, Session
from vae_gui.workers import start_job

PICTURE_WIDTH = 360
ROWS_PER_TURN = 4  # rows built per event-loop turn (~15 ms each on a busy 2-core machine)
PICTURE_HEIGHTS = {"image": 150, "heatmap": 150, "bars": 90}
EPS_TIP = ("The noise ε of z = μ + σ·ε, held fixed through the step: drawn from the seed, or typed here "
           "(one number per latent unit, separated by commas). Empty: from the seed.")
NEXT_TIP = ("Take this step on the current model (its optimiser, weight decay and KL weight, as training takes "
            "it): every tab follows. Undo puts the model before it back.")


class StagePicture(pg.GraphicsView):
    """One stage's picture in a bare ViewBox (no axes: a PlotWidget per stage costs ~3× the time to build):
    an RGB ImageItem (images, heat maps) or bars. ``on_hover(text)`` and ``on_click(index)`` get the entry
    under the mouse; the wheel scrolls the page, never zooms."""

    def __init__(self, stage: Stage, image_shape: tuple[int, int], on_hover, on_click):
        super().__init__()
        self.setFixedSize(PICTURE_WIDTH, PICTURE_HEIGHTS.get(stage.picture, 90))
        self.setBackground("w")
        self.view_box = pg.ViewBox(enableMouse=False, enableMenu=False)
        self.setCentralItem(self.view_box)
        self.on_hover, self.on_click = on_hover, on_click
        self.image_item: pg.ImageItem | None = None
        self.bars: list[pg.BarGraphItem] = []
        self.marker: pg.ScatterPlotItem | None = None
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.show_stage(stage, image_shape)

    def show_stage(self, stage: Stage, image_shape: tuple[int, int]) -> None:
        self.stage, self.grid = stage, stage_grid(stage, image_shape)
        vb = self.view_box
        if stage.picture in ("image", "heatmap"):
            if self.image_item is None:
                self.image_item = pg.ImageItem(axisOrder="row-major")
                vb.addItem(self.image_item)
                vb.invertY(True)
            self.image_item.setImage(colours(self.grid, is_signed(stage)), levels=(0, 255))
            vb.setAspectLocked(stage.picture == "image")
            vb.setRange(xRange=(0, self.grid.shape[1]), yRange=(0, self.grid.shape[0]), padding=0.02)
            return
        v = np.ravel(stage.values)
        for item in self.bars:
            vb.removeItem(item)
        x = np.arange(v.size)
        self.bars = [pg.BarGraphItem(x=x, height=np.where(v >= 0, v, 0), width=0.85, brush="#c33", pen=None),
                     pg.BarGraphItem(x=x, height=np.where(v < 0, v, 0), width=0.85, brush="#36c", pen=None)]
        for item in self.bars:
            vb.addItem(item)
        top = float(np.abs(v).max()) or 1.0
        vb.setRange(xRange=(-0.5, v.size - 0.5), yRange=(-top, top), padding=0.05)

    def mark(self, index: tuple[int, ...]) -> None:
        """Ring the entry ``index`` (the one just checked)."""
        if self.marker is None:
            self.marker = pg.ScatterPlotItem(size=12, symbol="o", pen=pg.mkPen("k", width=2), brush=None)
            self.view_box.addItem(self.marker)
        if self.stage.picture == "bars":
            x, y = index[0], float(np.ravel(self.stage.values)[index[0]])
        else:
            flat = int(np.ravel_multi_index(index, self.stage.values.shape))
            r, c = divmod(flat, self.grid.shape[1])
            x, y = c + 0.5, r + 0.5
        self.marker.setData([x], [y])

    def entry_at(self, scene_pos) -> tuple[int, ...] | None:
        """The index into the stage's values under a scene position, or None."""
        pos = self.view_box.mapSceneToView(scene_pos)
        if self.stage.picture in ("image", "heatmap"):
            r, c = int(np.floor(pos.y())), int(np.floor(pos.x()))
            if not (0 <= r < self.grid.shape[0] and 0 <= c < self.grid.shape[1]):
                return None
            if self.stage.picture == "image" or self.stage.values.ndim == 1:
                return (r * self.grid.shape[1] + c,)
            return (r, c)
        i = int(round(pos.x()))
        return (i,) if 0 <= i < self.stage.values.size else None

    def value_at(self, index: tuple[int, ...]) -> float:
        return float(self.stage.values[index])

    def _moved(self, scene_pos) -> None:
        index = self.entry_at(scene_pos)
        if index is not None:
            self.on_hover(f"{list(index)} = {self.value_at(index):.6g}")

    def _clicked(self, event) -> None:
        index = self.entry_at(event.scenePos())
        if index is not None:
            self.on_click(index)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override: the page scrolls
        event.ignore()


class StageRow(QFrame):
    """A stage: title, formula, shape and min/max/norm, the hovered value, the checked entry, the picture."""

    def __init__(self, stage: Stage, image_shape: tuple[int, int], on_check):
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.on_check = on_check
        self.title, self.formula, self.numbers = QLabel(), QLabel(), QLabel()
        self.hover_label, self.check_label = QLabel(" "), QLabel("")
        self.formula.setStyleSheet("font-family: serif; font-size: 12pt;")
        for label in (self.title, self.formula, self.numbers, self.check_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.numbers.setStyleSheet("color: #555;")
        self.hover_label.setStyleSheet("color: #1f4e79;")
        self.check_label.setStyleSheet("color: #1b5e20;")
        text = QVBoxLayout()
        for w in (self.title, self.formula, self.numbers, self.hover_label, self.check_label):
            text.addWidget(w)
        text.addStretch(1)
        self.picture: StagePicture | None = None
        self.table = QLabel()
        self.view_combo = QComboBox()  # an update's picture: Δθ or the optimiser's state
        self.view_combo.setToolTip("what the picture shows: the step Δθ or the optimiser's state after it")
        self.view_combo.setVisible(bool(stage.views))
        if stage.views:
            self.view_combo.addItems(["Δθ", *stage.views])
        self.view_combo.currentTextChanged.connect(lambda _t: self._show_view())
        text.insertWidget(3, self.view_combo, 0, Qt.AlignmentFlag.AlignLeft)
        layout = QHBoxLayout(self)
        layout.addLayout(text, 1)
        self.image_shape = image_shape
        if stage.picture == "numbers":
            layout.addWidget(self.table)
        else:
            self.picture = StagePicture(stage, image_shape, self.hover_label.setText, self._clicked)
            layout.addWidget(self.picture)
        self.show_stage(stage, image_shape)

    def shown(self) -> Stage:
        """The stage as the picture shows it: its values, or the view chosen in the combo box."""
        view = self.view_combo.currentText()
        if view in self.stage.views:
            return replace(self.stage, values=self.stage.views[view], views={})
        return self.stage

    def _show_view(self) -> None:
        if self.picture is not None:
            self.picture.show_stage(self.shown(), self.image_shape)
            self._show_numbers(self.shown())

    def _show_numbers(self, stage: Stage) -> None:
        s = stage.summary()
        note = f"<br>{stage.note}" if stage.note else ""
        self.numbers.setText(f"shape {stage.shape} · min {s['min']:.6g} · max {s['max']:.6g} · "
                             f"norm {s['norm']:.6g}{note}")

    def show_stage(self, stage: Stage, image_shape: tuple[int, int]) -> None:
        self.stage, self.image_shape = stage, image_shape
        self.title.setText(f"<b>{stage.title}</b>")
        self.formula.setText(stage.formula)
        self._show_numbers(self.shown())
        if stage.param is not None:
            self.check_label.setText("click an entry of the picture: central differences check it")
        if self.picture is not None:
            self.picture.show_stage(self.shown(), image_shape)
            if self.picture.marker is not None:  # the ring belonged to the check of the previous numbers
                self.picture.marker.setData([], [])
        else:
            self.table.setText("<table>" + "".join(
                f"<tr><td><b>{label}</b></td><td align='right'>&nbsp;{value:.10g}</td></tr>"
                for label, value in zip(stage.labels, stage.values, strict=True)) + "</table>")

    def _clicked(self, index: tuple[int, ...]) -> None:
        if self.stage.param is not None:
            self.check_label.setText(f"checking {self.stage.param}{list(index)} by central differences…")
            self.on_check(self, index)

    def show_check(self, check: EntryCheck) -> None:
        if self.picture is not None:
            self.picture.mark(check.index)
        kink = "  (the difference crossed a kink: it means nothing here)" if check.kink else ""
        self.check_label.setText(
            f"{check.name}{list(check.index)}: backprop <b>{check.analytic:.10g}</b>, central difference "
            f"<b>{check.numeric:.10g}</b> (h = {check.step:g}), rel. error {check.rel_error:.1e}{kink}")


class StepPanel(Panel):
    """One face through one training step: every stage, hover values, one-entry checks, Next / Undo."""

    title, stem = "Step", "step"

    def __init__(self, state: Session, parent: QWidget | None = None):
        super().__init__(state, parent)
        self.opened: OpenedStep | None = None
        self.rows: dict[str, StageRow] = {}
        self.own_x: np.ndarray | None = None
        self.last_check: EntryCheck | None = None
        self._inputs: tuple | None = None  # (model, x, eps) of the step shown
        self._undo: tuple | None = None  # (model, path, optimiser state, meta, unsaved) before the last Next
        self._stepped_to = None  # the model the last Next made
        self._generation = 0
        self._dirty = False  # a step arrived while the tab was hidden
        self._stages: dict[str, Stage] = {}
        self._layout_keys: list[str] = []  # the stages the rows are laid out for
        self._todo: list[tuple[str, str]] = []  # rows still to build
        self._build()
        state.own_image.connect(self._own_image)
        state.selection_changed.connect(self.index_spin.setValue)  # the face chosen in another tab
        state.busy_changed.connect(lambda _b: self._update_buttons())
        self.reset()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.index_spin = QSpinBox()
        self.index_spin.setPrefix("face #")
        self.index_spin.setToolTip("which image of the data set goes through the step")
        self.face_label = QLabel("")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setPrefix("ε seed ")
        self.seed_spin.setToolTip("seed of ε ~ N(0, I)")
        self.eps_edit = QLineEdit()
        self.eps_edit.setPlaceholderText("or type ε: v1, v2, …")
        self.eps_edit.setToolTip(EPS_TIP)
        self.next_button, self.undo_button = QPushButton("Next step ▸"), QPushButton("Undo")
        self.next_button.setToolTip(NEXT_TIP)
        self.undo_button.setToolTip("put back the model from before the last Next step (once)")
        self.save_button = QPushButton("Save page…")
        self.save_button.setToolTip("the whole opened step as one self-contained HTML page")
        self.index_spin.valueChanged.connect(self._face_chosen)
        self.seed_spin.valueChanged.connect(lambda _v: self.refresh())
        self.eps_edit.editingFinished.connect(self.refresh)
        self.next_button.clicked.connect(self.next_step)
        self.undo_button.clicked.connect(self.undo)
        self.save_button.clicked.connect(self._save_page)
        controls = QHBoxLayout()
        for w in (self.index_spin, self.face_label, self.seed_spin):
            controls.addWidget(w)
        controls.addWidget(self.eps_edit, 1)
        for w in (self.next_button, self.undo_button, self.save_button):
            controls.addWidget(w)
        self.status = QLabel(NO_MODEL_TEXT)
        self.status.setWordWrap(True)
        self.stages_widget = QWidget()
        self.stages_layout = QVBoxLayout(self.stages_widget)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.stages_widget)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.scroll, 1)
        self._update_buttons()

    # ------------------------------------------------------------------ inputs
    def reset(self) -> None:
        """A new model or data set: the rows are greyed until its step is in; Undo survives only our own Next."""
        X = self.state.X
        self.index_spin.blockSignals(True)
        self.index_spin.setMaximum(max(len(X) - 1, 0) if X is not None else 0)
        self.index_spin.blockSignals(False)
        if self.state.model is not self._stepped_to:
            self._undo = self._stepped_to = None
        model = self.state.model
        if self.own_x is not None and (model is None or self.own_x.size != model.config.input_dim):
            self.own_x = None
        self.opened = None
        self.stages_widget.setEnabled(False)
        self.refresh()

    def _face_chosen(self, _index: int) -> None:
        self.own_x = None
        self.refresh()

    def _own_image(self, encoded) -> None:
        """Your encoded image (core.atlas.EncodedImage) goes through the step until a face is chosen."""
        model = self.state.model
        if model is not None and encoded.pixels.size == model.config.input_dim:
            self.own_x = np.asarray(encoded.pixels, dtype=np.float64).ravel()
            self.refresh()

    def _face(self) -> tuple[np.ndarray | None, int | None, str]:
        """(x (D,), its index or None, words for the status line)."""
        if self.own_x is not None:
            return self.own_x, None, "your image"
        X = self.state.X
        if X is None or X.shape[1] != self.state.model.config.input_dim:
            return None, None, "no data set the model can read (File ▸ Load data…)"
        i = min(self.index_spin.value(), len(X) - 1)
        return np.asarray(X[i], dtype=np.float64), i, f"face #{i} ({self.state.split_name(i)})"

    def eps(self) -> np.ndarray | None:
        """ε (L,) from the typed numbers, else from the seed; None for an AE. ValueError on bad typing."""
        model = self.state.model
        if not model.is_vae:
            return None
        text = self.eps_edit.text().strip()
        if not text:
            return draw_eps(model.config.latent, self.seed_spin.value())
        return parse_eps(text, model.config.latent)

    # ------------------------------------------------------------------ computing
    def refresh(self) -> None:
        """Open the step of the current model, face and ε (in a job); stale results are dropped."""
        self._generation += 1
        model = self.state.model
        self._update_buttons()
        if model is None:
            self.status.setText(NO_MODEL_TEXT)
            return
        x, index, words = self._face()
        if x is None:
            self.status.setText(words)
            return
        try:
            eps = self.eps()
        except ValueError as exc:
            self.status.setText(f"<span style='color:#b00'>{exc}</span>")
            return
        generation, self._inputs = self._generation, (model, x, eps)
        self.face_label.setText(words if self.own_x is not None else self.state.split_name(index))
        self.status.setText(f"opening the step of {words}…")
        self.run_job(open_step, model, x, eps, index, self.state.optimizer_state, _settings_of(self.state.record),
                     on_result=lambda opened: self._show(generation, opened, words),
                     on_error=lambda message, _e: self.status.setText(f"the step failed: {message}"),
                     on_finished=self._update_buttons)

    def _show(self, generation: int, opened: OpenedStep, words: str) -> None:
        if generation != self._generation:
            return
        self.opened = opened
        fresh = " (a fresh optimiser: the file holds no optimiser state)" if opened.update.fresh else ""
        kl = f", KL {opened.kl:.6f}, w = {opened.kl_weight:g}" if opened.kind == "vae" else ""
        self.status.setText(f"{opened.description} at step {opened.model_step}, {words}: L = <b>{opened.loss:.6f}"
                            f"</b> (rec {opened.rec:.6f}{kl}), float64; next step by {opened.update.name}{fresh}")
        self._update_buttons()
        self._draw()

    def _draw(self) -> None:
        """Show self.opened in the rows: new rows when the stages differ (built a few per event-loop turn, so
        the window keeps painting), else new values in the rows. A hidden tab draws when it is shown."""
        if self.opened is None:
            return
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        self.stages_widget.setEnabled(True)
        self._stages = {st.key: st for st in self.opened.stages}
        keys = list(self._stages)
        if keys != self._layout_keys:
            self._start_rebuild(keys)
            return
        for key, row in self.rows.items():
            row.show_stage(self._stages[key], self.state.image_shape)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self._draw()

    def _start_rebuild(self, keys: list[str]) -> None:
        while self.stages_layout.count():
            item = self.stages_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows, self._layout_keys = {}, keys
        todo = []
        for section in SECTION_TITLES:
            todo.append(("header", section))
            todo += [("row", k) for k in keys if self._stages[k].section == section]
        self._todo = todo
        self._build_some()

    def _build_some(self) -> None:
        """Build the next few rows of the pending layout; the rest after the event loop has run."""
        for _ in range(ROWS_PER_TURN):
            if not self._todo:
                self.stages_layout.addStretch(1)
                return
            what, name = self._todo.pop(0)
            if what == "header":
                self.stages_layout.addWidget(QLabel(f"<h3>{SECTION_TITLES[name]}</h3>"))
            else:
                self.rows[name] = StageRow(self._stages[name], self.state.image_shape, self._check)
                self.stages_layout.addWidget(self.rows[name])
        QTimer.singleShot(0, self._build_some)

    def is_built(self) -> bool:
        """Every stage of the step shown has its row."""
        return self.opened is not None and not self._todo and list(self.rows) == [st.key for st in self.opened.stages]

    def _check(self, row: StageRow, index: tuple[int, ...]) -> None:
        """Central differences on one gradient entry, in a job; the row shows both numbers."""
        model, x, eps = self._inputs
        generation = self._generation
        xb, eb = x.reshape(1, -1), None if eps is None else eps.reshape(1, -1)

        def done(check: EntryCheck) -> None:
            if generation == self._generation:
                self.last_check = check
                row.show_check(check)

        start_job(check_entry, model, xb, eb, row.stage.param, index, kl_weight=self.opened.kl_weight, owner=self,
                  on_result=done, on_error=lambda message, _e: row.check_label.setText(f"check failed: {message}"))

    # ------------------------------------------------------------------ Next / Undo
    def next_step(self) -> None:
        """Take the step shown on the current model (in a job: tens of ms for the shipped models), then put
        the new model in the Session (every tab follows)."""
        if self.opened is None or self._inputs is None or self.state.training or self.job_running():
            return
        model, x, eps = self._inputs
        if model is not self.state.model:
            return
        s = self.state
        undo = (s.record, s.model_path, s.unsaved)
        self.next_button.setEnabled(False)
        self.run_job(take_step, model, x, eps, s.optimizer_state, _settings_of(s.record),
                     on_result=lambda result: self._stepped(undo, *result),
                     on_error=lambda message, _e: s.report_error("The step failed", message),
                     on_finished=self._update_buttons)

    def _stepped(self, undo: tuple, stepped, opt_state: dict) -> None:
        s = self.state
        if s.record is not undo[0] or s.training:  # the model changed meanwhile: this step is for another
            return
        self._stepped_to = stepped
        s.set_record(replace(s.record, model=stepped, optimizer_state=opt_state), s.model_path,
                     unsaved=True)
        self._undo = undo
        self._update_buttons()

    def undo(self) -> None:
        """Put the model from before the last Next step back (once)."""
        if self._undo is None or self.state.training:
            return
        record, path, unsaved = self._undo
        self._undo = self._stepped_to = None
        self.state.set_record(record, path, unsaved=unsaved)

    def _update_buttons(self) -> None:
        ready = self.state.model is not None and not self.state.training
        self.next_button.setEnabled(ready and self.opened is not None and not self.job_running())
        self.undo_button.setEnabled(ready and self._undo is not None)
        self.save_button.setEnabled(self.opened is not None)
        self.seed_spin.setEnabled(self.state.model is not None and self.state.model.is_vae)
        self.eps_edit.setEnabled(self.state.model is not None and self.state.model.is_vae)

    def _save_page(self) -> None:
        if self.opened is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the opened step", "step.html", "HTML page (*.html)")
        if path:
            try:
                write_step_page(path, self.opened, self.state.image_shape, self.state.dataset.name
                                if self.state.dataset is not None else "", force=True)
            except (OSError, ValueError) as exc:
                self.state.report_error("Could not save the page", str(exc))


def _settings_of(record) -> dict | None:
    """The record's training settings as core.step takes them (optimizer, lr, weight_decay), None without."""
    return record.settings.to_meta() if record is not None and record.settings is not None else None
