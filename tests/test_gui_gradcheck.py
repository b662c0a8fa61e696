"""Gradient-check panel driven through its widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from PyQt6.QtCore import Qt
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.models import Model, param_shapes
from vae_gui.panels.gradcheck import FAIL_COLOR, PASS_COLOR, GradcheckPanel
from vae_gui.state import AppState

WAIT_MS = 60_000
LEFT = Qt.MouseButton.LeftButton





@pytest.fixture
def errors():
    return []


def make_panel(qtbot, errors, X=None, model=None) -> GradcheckPanel:
    state = AppState()
    state.error_raised.connect(lambda title, text: errors.append((title, text)))
    if X is not None:
        state.set_data(X, "frey")
    if model is not None:
        state.set_model(model)
    panel = GradcheckPanel(state)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    return panel


def table_column(panel: GradcheckPanel, name: str) -> list[str]:
    col = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())].index(name)
    return [panel.table.item(r, col).text() for r in range(panel.table.rowCount())]


def run_and_wait(qtbot, panel: GradcheckPanel) -> None:
    qtbot.mouseClick(panel.run_button, LEFT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)


def test_full_check_of_a_small_vae_on_real_faces_passes_in_every_row(qtbot, errors, frey):
    panel = make_panel(qtbot, errors, X=frey)
    panel.mode_combo.setCurrentText("full")
    panel.hidden_edit.setText("8")
    panel.latent_spin.setValue(3)
    panel.batch_spin.setValue(4)
    assert "real Frey faces" in panel.data_label.text()
    run_and_wait(qtbot, panel)

    assert errors == []
    shapes = param_shapes(panel.build_model().config)
    assert panel.table.rowCount() == len(shapes) == 10
    assert table_column(panel, "Parameter") == [name for name, _ in shapes]
    assert table_column(panel, "Result") == ["pass"] * len(shapes)
    checked = [int(t.replace(",", "")) for t in table_column(panel, "Checked")]
    assert checked == [int(np.prod(s)) for _, s in shapes]  # full mode: every entry
    assert all(float(t) <= 1e-5 for t in table_column(panel, "Max rel. error"))
    result_col = panel.table.columnCount() - 1
    assert panel.table.item(0, result_col).background().color() == PASS_COLOR
    edges, counts = panel.histogram_data()
    assert counts.sum() == sum(checked) and len(edges) == len(counts) + 1
    assert "PASSED" in panel.summary_label.text()
    assert panel.progress_bar.value() == 1000
    assert "Relative error" in panel.table.horizontalHeaderItem(3).toolTip()


def test_a_wrong_gradient_shows_red_fail_rows(qtbot, errors, monkeypatch):
    original = Model.forward_backward

    def off_by_one_percent(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        self.grads["out.b"] *= 1.01
        return out

    monkeypatch.setattr(Model, "forward_backward", off_by_one_percent)
    panel = make_panel(qtbot, errors)  # no data: random pixels
    assert "random pixels" in panel.data_label.text()
    panel.kind_combo.setCurrentText("ae")
    panel.hidden_edit.setText("6")
    run_and_wait(qtbot, panel)

    results = dict(zip(table_column(panel, "Parameter"), table_column(panel, "Result"), strict=True))
    assert results["out.b"] == "FAIL"
    assert [name for name, r in results.items() if r == "FAIL"] == ["out.b"]
    row = table_column(panel, "Parameter").index("out.b")
    assert panel.table.item(row, panel.table.columnCount() - 1).background().color() == FAIL_COLOR
    assert "FAILED" in panel.summary_label.text()


def test_cancel_stops_a_long_check(qtbot, errors):
    panel = make_panel(qtbot, errors)
    panel.mode_combo.setCurrentText("full")
    panel.hidden_edit.setText("128")
    panel.batch_spin.setValue(32)  # ~145 000 entries: minutes of work unless cancelled
    qtbot.mouseClick(panel.run_button, LEFT)
    assert panel.is_running() and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.progress_bar.value() > 0 or "/" in panel.progress_bar.format(), timeout=WAIT_MS)
    qtbot.mouseClick(panel.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert panel.was_cancelled
    assert panel.report is None and panel.table.rowCount() == 0
    assert "cancelled" in panel.summary_label.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert errors == []


def test_current_model_sample_mode_and_the_learned_variance_decoder(qtbot, errors, frey):
    model = small_model(hidden=(12,), latent=2, likelihood="gaussian-learned", dtype="float32")
    panel = make_panel(qtbot, errors, X=frey, model=model)
    panel.current_check.setChecked(True)
    assert not panel.hidden_edit.isEnabled()
    panel.mode_combo.setCurrentText("sample")
    panel.k_spin.setValue(5)
    run_and_wait(qtbot, panel)
    assert errors == []
    names = table_column(panel, "Parameter")
    assert names == [n for n, _ in model.shapes] and "out_logvar.W" in names
    assert all(int(c) == min(5, int(np.prod(s))) for c, (_, s) in zip(table_column(panel, "Checked"), model.shapes,
                                                                      strict=True))
    assert table_column(panel, "Result") == ["pass"] * len(names)


def test_direction_mode_reports_the_overall_direction(qtbot, errors):
    panel = make_panel(qtbot, errors)
    panel.mode_combo.setCurrentText("direction")
    run_and_wait(qtbot, panel)
    assert panel.table.rowCount() == 10
    assert set(table_column(panel, "Checked")) == {"1"}
    assert "one random direction" in panel.summary_label.text()


def test_invalid_hidden_sizes_show_a_dialog(qtbot, errors):
    panel = make_panel(qtbot, errors)
    panel.hidden_edit.setText("8,")
    panel.hidden_edit.setText("0")
    qtbot.mouseClick(panel.run_button, LEFT)
    assert not panel.is_running()
    assert errors and "hidden" in errors[0][1]
