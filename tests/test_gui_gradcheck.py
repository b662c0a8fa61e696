"""Gradient-check panel driven through its widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.models import Model, param_shapes
from vae_gui.panels.gradcheck import FAIL_COLOR, PASS_COLOR, GradcheckPanel
from vae_gui.state import Session

WAIT_MS = 60_000
LEFT = Qt.MouseButton.LeftButton





@pytest.fixture
def errors():
    return []


def make_panel(qtbot, errors, X=None, model=None) -> GradcheckPanel:
    state = Session()
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
    assert "images of the data set" in panel.data_label.text()
    run_and_wait(qtbot, panel)

    assert errors == []
    shapes = param_shapes(panel.build_model().config)
    assert panel.table.rowCount() == len(shapes) == 10
    assert table_column(panel, "Parameter") == [name for name, _ in shapes]
    assert table_column(panel, "Result") == ["pass"] * len(shapes)
    checked = [int(t.replace(",", "")) for t in table_column(panel, "Checked")]
    assert checked == [int(np.prod(s)) for _, s in shapes]  # full mode: every entry
    assert all(float(t) <= 1e-5 for t in table_column(panel, "Max rel. err."))
    result_col = panel.table.columnCount() - 1
    assert panel.table.item(0, result_col).background().color() == PASS_COLOR
    edges, counts = panel.histogram_data()
    exact = int(panel.view.zero_label.toPlainText().split()[0].replace(",", "") or 0) if \
        panel.view.zero_label.toPlainText() else 0
    assert counts.sum() + exact == sum(checked) and len(edges) == len(counts) + 1
    assert "PASSED" in panel.summary_label.text()
    assert panel.progress_bar.value() == 1000
    assert "Relative error" in panel.table.horizontalHeaderItem(4).toolTip()
    assert table_column(panel, "Kinks") == ["0"] * len(shapes)


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
    panel.hidden_edit.setText("2048")
    panel.batch_spin.setValue(128)  # 1.15 million entries, ~500 000 moved rows: a minute of work unless cancelled
    qtbot.mouseClick(panel.run_button, LEFT)
    assert panel.is_running() and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.progress_bar.value() > 0 or "/" in panel.progress_bar.format(), timeout=WAIT_MS)
    qtbot.mouseClick(panel.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert panel.was_cancelled
    assert panel.report is None and panel.table.rowCount() == 0
    assert "cancelled" in panel.summary_label.text() and panel.progress_bar.format() == "cancelled"
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


# ------------------------------------------------------------------ issue 11: what the panel shows
def test_progress_shows_entries_and_an_eta_while_a_full_check_runs(qtbot, errors):
    panel = make_panel(qtbot, errors)
    panel.hidden_edit.setText("2048")
    panel.batch_spin.setValue(128)  # long enough for an ETA
    qtbot.mouseClick(panel.run_button, LEFT)
    qtbot.waitUntil(lambda: "left" in panel.progress_bar.format(), timeout=WAIT_MS)
    text = panel.progress_bar.format()
    assert f"/ {panel.build_model().n_params:,} — " in text and " s left" in text
    qtbot.mouseClick(panel.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)


def test_starting_a_check_clears_the_previous_table_and_histogram(qtbot, errors):
    panel = make_panel(qtbot, errors)
    run_and_wait(qtbot, panel)
    assert panel.table.rowCount() == 10 and panel.histogram_data()[1].sum() > 0
    panel.hidden_edit.setText("2048")
    panel.batch_spin.setValue(128)
    qtbot.mouseClick(panel.run_button, LEFT)
    assert panel.table.rowCount() == 0 and panel.worst_table.rowCount() == 0
    assert panel.histogram_data()[1].size == 0 and panel.report is None
    qtbot.mouseClick(panel.cancel_button, LEFT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)


def test_the_greyed_form_shows_the_checked_model(qtbot, errors):
    model = small_model(hidden=(200,), latent=10, likelihood="gaussian-learned")
    panel = make_panel(qtbot, errors, model=model)
    panel.hidden_edit.setText("8")
    panel.latent_spin.setValue(3)
    panel.current_check.setChecked(True)
    assert not panel.config_form.isEnabled()
    assert (panel.hidden_edit.text(), panel.latent_spin.value(), panel.likelihood_combo.currentText()) == \
        ("200", 10, "gaussian-learned")
    assert panel.build_model().config.hidden == [200]
    panel.state.set_model(small_model("ae", hidden=(32,), latent=5))  # another model arrives while checked
    assert (panel.kind_combo.currentText(), panel.hidden_edit.text(), panel.latent_spin.value()) == ("ae", "32", 5)
    panel.current_check.setChecked(False)  # back to the fresh network the user had typed
    assert panel.config_form.isEnabled() and (panel.hidden_edit.text(), panel.latent_spin.value()) == ("8", 3)


def test_the_help_text_states_the_thresholds_the_check_uses(qtbot, errors):
    from core.gradcheck import MAX_KINK_SHARE, PASS_THRESHOLD, STEP, WARN_THRESHOLD
    from vae_gui.panels.gradcheck import HELP

    panel = make_panel(qtbot, errors)
    shown = " ".join(label.text() for label in panel.findChildren(QLabel))
    assert HELP in shown
    for number in (f"{PASS_THRESHOLD:g}", f"{WARN_THRESHOLD:g}", f"h = {STEP:g}", f"{100 * MAX_KINK_SHARE:g} %"):
        assert number in HELP
    assert "1e-07 in float64" not in shown and "below 1e-7" not in shown  # the old text that disagreed


def test_before_any_run_the_histogram_shows_both_lines_and_no_odd_axis(qtbot, errors):
    panel = make_panel(qtbot, errors)
    (x_lo, x_hi), (y_lo, y_hi) = panel.hist_plot.getViewBox().viewRange()
    assert x_lo < -5 and x_hi > -3 and x_lo >= -13  # both threshold lines, not pyqtgraph's default −0.5…0.5
    assert y_lo == 0 and y_hi >= 5
    labels = [item.text for item in panel.hist_plot.getPlotItem().legend.items for item in item if
              hasattr(item, "text")]
    assert any("1e-05" in text for text in labels) and any("1e-03" in text for text in labels)


def test_clicking_a_row_shows_that_parameters_worst_entries(qtbot, errors, monkeypatch):
    original = Model.forward_backward

    def wrong(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        self.grads["dec0.W"][1, 2] *= 1.5  # one wrong entry
        return out

    monkeypatch.setattr(Model, "forward_backward", wrong)
    panel = make_panel(qtbot, errors)
    run_and_wait(qtbot, panel)
    names = table_column(panel, "Parameter")
    assert panel.worst_table.item(0, 0).text() == "(1, 2)"  # the failing row is shown first
    row = names.index("out.W")
    rect = panel.table.visualItemRect(panel.table.item(row, 0))
    qtbot.mouseClick(panel.table.viewport(), LEFT, pos=rect.center())
    assert "out.W" in panel.view.worst_label.text()
    worst = panel.report.params[row].worst
    p = panel.report.params[row]  # "12 of 112,000 checked" read as if 12 were checked
    assert f"{p.checked:,} entries checked" in panel.view.worst_label.text()
    assert panel.view.worst_label.text().endswith(f"the {min(len(worst), p.checked)} worst of them:")
    assert panel.worst_table.rowCount() == len(worst) > 0
    first = [panel.worst_table.item(0, c).text() for c in range(panel.worst_table.columnCount())]
    assert first[0] == str(tuple(worst[0]["index"])) and first[4] == "no"
    assert float(first[3]) == pytest.approx(worst[0]["rel_error"], rel=1e-2)
    assert float(first[1]) == pytest.approx(worst[0]["analytic"], rel=1e-9)


def test_kink_entries_have_their_own_column_colour_and_sentence(qtbot, errors, frey):
    model = small_model(hidden=(16,), latent=3)
    model.params["enc0.W"][:, 4] = 1e-14
    model.params["enc0.b"][4] = 1e-14  # a unit at its kink, as after strong weight decay
    panel = make_panel(qtbot, errors, X=frey, model=model)
    panel.current_check.setChecked(True)
    run_and_wait(qtbot, panel)
    kinks = dict(zip(table_column(panel, "Parameter"), table_column(panel, "Kinks"), strict=True))
    assert int(kinks["enc0.W"].replace(",", "")) > 0 and kinks["out.W"] == "0"
    assert "PASSED" in panel.summary_label.text() and "crossed a ReLU" in panel.summary_label.text()
    assert panel.view.kink_histogram_data()[1].sum() > 0
    panel.table.setCurrentCell(0, 0)
    assert panel.worst_table.item(0, 4).text() == "kink"
