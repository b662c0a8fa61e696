"""The Step tab driven through its widgets (pytest-qt, offscreen): every stage shown, hover values, a clicked
gradient entry checked by central differences, typed ε, Next / Undo through the Session."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QLabel
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.atlas import encode_pixels
from core.step import draw_eps
from vae_gui.panels.step import StepPanel
from vae_gui.state import Session

WAIT_MS = 30_000
LEFT = Qt.MouseButton.LeftButton


def make_panel(qtbot, kind="vae", likelihood="bernoulli", n=12) -> StepPanel:
    session = Session()
    session.set_data(np.random.default_rng(0).random((n, 560)).astype(np.float32), "synthetic")
    session.set_model(small_model(kind, likelihood, hidden=(8,), latent=3, dtype="float32"))
    panel = StepPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1024, 600)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(panel.is_built, timeout=WAIT_MS)
    qtbot.wait(50)  # the scroll area lays the last rows out
    return panel


def wait_for_step(qtbot, panel: StepPanel, **expected) -> None:
    qtbot.waitUntil(lambda: panel.is_built() and not panel.job_running()
                    and all(getattr(panel.opened, k) == v for k, v in expected.items()), timeout=WAIT_MS)


def entry_pos(picture, row: int, col: int) -> QPoint:
    """Widget position of the centre of entry (row, col) of an image/heat-map picture."""
    scene = picture.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    return picture.mapFromScene(scene)


def test_every_stage_is_laid_out_in_order_with_formula_shape_and_numbers(qtbot):
    panel = make_panel(qtbot, likelihood="gaussian-learned")
    opened = panel.opened
    assert list(panel.rows) == [st.key for st in opened.stages]
    headers = [w.text() for w in panel.stages_widget.findChildren(QLabel) if w.text().startswith("<h3>")]
    assert headers == ["<h3>Forward pass</h3>", "<h3>Objective</h3>", "<h3>Backward pass</h3>",
                       "<h3>Update (the optimiser's next step)</h3>"]
    for key in ("x", "enc0.pre", "mean", "logvar", "eps", "z", "logvar_px", "rec_map", "kl_dims", "d.logits",
                "d.mean.rec", "d.mean.kl", "d.std", "d.logvar.rec", "d.logvar.kl", "grad.enc0.W", "update.out.b"):
        row = panel.rows[key]
        stage = row.stage
        s = stage.summary()
        assert str(stage.shape) in row.numbers.text() and f"{s['norm']:.6g}" in row.numbers.text()
        assert row.formula.text() == stage.formula
    assert "z = μ + σ ⊙ ε" in panel.rows["z"].formula.text()
    assert f"L = <b>{opened.loss:.6f}" in panel.status.text()


def test_hovering_a_picture_shows_the_entrys_value(qtbot):
    panel = make_panel(qtbot)
    row = panel.rows["grad.dec0.W"]
    panel.scroll.ensureWidgetVisible(row)
    qtbot.mouseMove(row.picture.viewport(), entry_pos(row.picture, 1, 5))
    value = panel.opened.grads["dec0.W"][1, 5]
    qtbot.waitUntil(lambda: row.hover_label.text() == f"[1, 5] = {value:.6g}", timeout=5000)
    bars = panel.rows["mean"]
    panel.scroll.ensureWidgetVisible(bars)
    pos = bars.picture.mapFromScene(bars.picture.view_box.mapViewToScene(QPointF(2, 0)))
    qtbot.mouseMove(bars.picture.viewport(), pos)
    qtbot.waitUntil(lambda: bars.hover_label.text() == f"[2] = {panel.opened.mu[2]:.6g}", timeout=5000)


def test_clicking_a_gradient_entry_shows_its_central_difference_beside_it(qtbot):
    panel = make_panel(qtbot)
    row = panel.rows["grad.out.W"]  # (8, 560): a picture row per hidden unit
    panel.scroll.ensureWidgetVisible(row)
    qtbot.mouseClick(row.picture.viewport(), LEFT, pos=entry_pos(row.picture, 6, 300))
    qtbot.waitUntil(lambda: "central difference" in row.check_label.text()
                    and "checking" not in row.check_label.text(), timeout=WAIT_MS)
    check = panel.last_check
    assert check.name == "out.W" and check.index[0] == 6 and abs(check.index[1] - 300) <= 1
    assert check.analytic == pytest.approx(panel.opened.grads["out.W"][check.index], rel=1e-12, abs=1e-300)
    assert check.numeric == pytest.approx(check.analytic, rel=1e-5, abs=1e-9)
    assert f"{check.analytic:.10g}" in row.check_label.text() and f"{check.numeric:.10g}" in row.check_label.text()
    ring = row.picture.marker.getData()
    assert (int(ring[0][0]), int(ring[1][0])) == (check.index[1], check.index[0])  # the checked entry is ringed
    # a bias: bars, one index
    brow = panel.rows["grad.dec0.b"]
    panel.scroll.ensureWidgetVisible(brow)
    pos = brow.picture.mapFromScene(brow.picture.view_box.mapViewToScene(QPointF(4, 0)))
    qtbot.mouseClick(brow.picture.viewport(), LEFT, pos=pos)
    qtbot.waitUntil(lambda: panel.last_check.name == "dec0.b", timeout=WAIT_MS)
    assert panel.last_check.index == (4,) and "dec0.b[4]" in brow.check_label.text()


def test_typed_eps_and_seed(qtbot):
    panel = make_panel(qtbot)
    np.testing.assert_array_equal(panel.opened.eps, draw_eps(3, 0))
    panel.seed_spin.setValue(4)
    wait_for_step(qtbot, panel)
    qtbot.waitUntil(lambda: np.array_equal(panel.opened.eps, draw_eps(3, 4)), timeout=WAIT_MS)
    panel.eps_edit.setText("0.5, -1, 2")
    panel.eps_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: panel.opened.eps.tolist() == [0.5, -1.0, 2.0], timeout=WAIT_MS)
    assert panel.rows["eps"].stage.values.tolist() == [0.5, -1.0, 2.0]
    panel.eps_edit.setText("1, 2")
    panel.eps_edit.editingFinished.emit()
    assert "ε must be 3 finite numbers" in panel.status.text()


def test_next_takes_the_step_through_the_session_and_undo_puts_the_model_back(qtbot):
    panel = make_panel(qtbot)
    session, before = panel.state, panel.state.model
    opened = panel.opened
    changed = []
    session.model_changed.connect(changed.append)
    assert not panel.undo_button.isEnabled()
    qtbot.mouseClick(panel.next_button, LEFT)
    qtbot.waitUntil(lambda: session.model is not before, timeout=WAIT_MS)
    after = session.model
    assert after is not before and after.step == before.step + 1 and changed == [after] and session.unsaved
    assert session.optimizer_state["t"] == 1
    for name, delta in opened.update.delta.items():  # the weights moved by the step the tab showed
        np.testing.assert_allclose(after.params[name] - before.params[name], delta, rtol=1e-4, atol=1e-7)
    wait_for_step(qtbot, panel, model_step=before.step + 1)
    assert panel.opened.update.t == 2 and not panel.opened.update.fresh
    qtbot.mouseClick(panel.undo_button, LEFT)
    assert session.model is before and session.optimizer_state is None and not panel.undo_button.isEnabled()
    wait_for_step(qtbot, panel, model_step=before.step)


def test_an_ae_has_no_noise_and_your_own_image_can_go_through_the_step(qtbot):
    panel = make_panel(qtbot, kind="ae")
    assert "eps" not in panel.rows and "kl_dims" not in panel.rows and "d.code.pre" in panel.rows
    assert not panel.seed_spin.isEnabled() and not panel.eps_edit.isEnabled()
    pixels = np.linspace(0, 1, 560)
    panel.state.show_own_image(encode_pixels(panel.state.model, pixels, (28, 20)))
    qtbot.waitUntil(lambda: "your image" in panel.status.text() and not panel.job_running(), timeout=WAIT_MS)
    np.testing.assert_allclose(panel.opened.x, pixels)
    panel.index_spin.setValue(3)  # back to the data set
    qtbot.waitUntil(lambda: panel.opened.index == 3, timeout=WAIT_MS)


def test_save_page_writes_the_opened_step(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QFileDialog

    from core.step_html import MARK

    panel = make_panel(qtbot)
    target = tmp_path / "step.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    qtbot.mouseClick(panel.save_button, LEFT)
    page = target.read_text(encoding="utf-8")
    assert MARK in page and f"{panel.opened.loss:.10g}" in page


def test_an_update_shows_the_step_or_the_optimisers_state(qtbot):
    panel = make_panel(qtbot)
    row = panel.rows["update.dec0.W"]
    assert [row.view_combo.itemText(i) for i in range(row.view_combo.count())] == ["Δθ", "m", "v", "m̂", "v̂"]
    state = panel.opened.update.state["dec0.W"]
    np.testing.assert_array_equal(row.picture.stage.values, panel.opened.update.delta["dec0.W"])
    row.view_combo.setCurrentText("v")
    np.testing.assert_array_equal(row.picture.stage.values, state["v"])
    assert f"norm {np.linalg.norm(state['v']):.6g}" in row.numbers.text()
    panel.scroll.ensureWidgetVisible(row)
    qtbot.mouseMove(row.picture.viewport(), entry_pos(row.picture, 2, 6))
    qtbot.waitUntil(lambda: row.hover_label.text() == f"[2, 6] = {state['v'][2, 6]:.6g}", timeout=5000)
    # a fresh Adam's first step: m̂ = g, v̂ = g², so Δθ = −lr·g/(|g| + eps)
    g = panel.opened.grads["dec0.W"]
    np.testing.assert_allclose(state["m̂"], g, rtol=1e-12)
    np.testing.assert_allclose(panel.opened.update.delta["dec0.W"], -1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-9)
