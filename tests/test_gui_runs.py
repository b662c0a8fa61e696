"""The Runs tab over a real ledger: CLI and GUI runs in one table, overlaid curves in per-run colours,
settings with the differences highlighted, faces side by side, the timeline, Open and Branch from here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from core.checkpoint import load_model
from core.evaluate import neg_elbo
from core.ledger import Ledger
from main import main
from tests.helpers.gui import frey_window, tiny_run_form
from vae_gui.panels.runs import COLUMNS, RUN_COLOURS

WAIT_MS = 60_000


def cli_train(frey_path, out, beta: str) -> None:
    assert main(["train", "--data", str(frey_path), "--out", str(out), "--hidden", "16", "--latent", "4",
                 "--batch-size", "32", "--steps", "60", "--log-every", "10", "--eval-every", "20",
                 "--beta", beta, "--quiet"]) == 0


def gui_train(qtbot, window, beta: str, steps: int = 60) -> None:
    panel = tiny_run_form(window, steps)
    panel.form.model_form.beta_edit.setText(beta)
    panel.form.eval_spin.setValue(20)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)


@pytest.fixture
def window(qtbot, tmp_path, frey):
    return frey_window(qtbot, tmp_path, frey)


def test_cli_and_gui_runs_are_listed_compared_replayed_and_branched(qtbot, window, tmp_path, frey_path, capsys,
                                                                   dialogs, monkeypatch):
    from vae_gui import closing

    asked = []
    monkeypatch.setattr(closing, "ask_unsaved", lambda *a: asked.append(a[1]) or closing.DISCARD)
    cli_train(frey_path, tmp_path / "a.npz", "0.5")
    cli_train(frey_path, tmp_path / "b.npz", "2")
    gui_train(qtbot, window, "1")
    capsys.readouterr()
    assert main(["runs", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["settings"]["beta"], r["status"]) for r in runs] == [
        ("cli", 0.5, "finished"), ("cli", 2.0, "finished"), ("gui", 1.0, "finished")]
    ids = [r["id"] for r in runs]

    panel = window.panels["runs"]
    window.tabs.setCurrentWidget(window.panel(type(panel)))
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=WAIT_MS)
    # sorted by a metric, as a click on its header does
    column = [key for key, _ in COLUMNS].index("test_neg_elbo")
    panel.table.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    by_metric = sorted(runs, key=lambda r: r["metrics"]["test_neg_elbo"])
    assert [panel._row_id(row) for row in range(3)] == [r["id"] for r in by_metric]
    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    panel.filter_edit.setText("gui")  # the filter hides rows whose cells do not contain every word
    assert [panel.table.isRowHidden(row) for row in range(3)] == [True, True, False]
    panel.filter_edit.setText("")
    panel.select_runs(ids)
    assert panel.selected == ids
    # three curves, one colour per run, the same colour in the settings header
    assert sorted(panel.curves) == ids
    pens = [panel.curves[i][0].opts["pen"].color().name() for i in ids]
    assert pens == list(RUN_COLOURS[:3])
    assert [panel.settings_table.horizontalHeaderItem(c).foreground().color().name() for c in range(3)] == pens
    assert "beta" in panel.differing_rows() and "latent" not in panel.differing_rows()
    # faces side by side: the test faces and one row per run (6 reconstructions + 6 samples)
    qtbot.waitUntil(lambda: panel.faces_shown == ids, timeout=WAIT_MS)
    assert all(f"run {i}" in panel.faces_legend.text() for i in ids)
    # the x axis in images seen: the same curves scaled by the batch size
    steps = panel.curves[ids[0]][0].getData()[0].copy()
    panel.x_combo.setCurrentText("Images seen")
    np.testing.assert_array_equal(panel.curves[ids[0]][0].getData()[0], steps * 32)

    # the timeline over the first run's snapshots; a middle one opened as the current model
    panel.select_runs([ids[0]])
    record = panel.records[ids[0]]
    middle = len(record.snapshots) // 2
    panel.timeline_slider.setValue(middle)
    step = record.snapshots[middle]
    qtbot.waitUntil(lambda: panel.timeline_shown_step == step, timeout=WAIT_MS)
    panel.open_button.click()
    qtbot.waitUntil(lambda: window.state.model.step == step, timeout=WAIT_MS)
    assert asked == ["Open model"]  # the GUI run's weights were never saved: asked before they are replaced
    with Ledger() as ledger:
        saved = load_model(ledger.snapshot_path(ids[0], step)[1])
    test = window.state.dataset.split("test")
    assert neg_elbo(window.state.model, test) == neg_elbo(saved.model, test)

    # every tab follows the slider: the next snapshot becomes the current model
    panel.follow_check.setChecked(True)
    panel.timeline_slider.setValue(middle + 1)
    qtbot.waitUntil(lambda: window.state.model.step == record.snapshots[middle + 1], timeout=WAIT_MS)
    panel.follow_check.setChecked(False)
    panel.timeline_slider.setValue(middle)
    qtbot.waitUntil(lambda: panel.timeline_shown_step == step, timeout=WAIT_MS)
    assert window.state.model.step == record.snapshots[middle + 1]

    # Branch from here: the Training tab continues this snapshot; the new run's parent is recorded
    panel.branch_button.click()
    training = window.panels["training"]
    qtbot.waitUntil(lambda: window.tabs.currentWidget().widget() is training, timeout=WAIT_MS)
    assert training.form.continuing()
    training.form.steps_spin.setValue(20)
    training.form.lr_edit.setText("0.0005")
    assert training.start_training()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=WAIT_MS)
    with Ledger() as ledger:
        child = ledger.runs()[-1]
    assert (child.parent, child.parent_step, child.last_step, child.status) == (ids[0], step, step + 20, "finished")
    assert child.settings["lr"] == 0.0005
    assert child.segments == [{"step": step, "changed": {"lr": [0.001, 0.0005]}}]
    assert not dialogs


def test_a_broken_ledger_is_one_dialog_and_gui_training_goes_on(qtbot, window, run_ledger_folder, dialogs):
    (run_ledger_folder / "runs.db").write_bytes(b"not a database " * 100)
    gui_train(qtbot, window, "1", steps=20)
    assert window.state.model.step == 20
    panel = window.panels["runs"]
    window.tabs.setCurrentWidget(window.panel(type(panel)))
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=WAIT_MS)
    assert [title for title, _ in dialogs] == ["Run ledger", "Run ledger"]
    assert "damaged or not a run ledger" in dialogs[1][1] and "training goes on" in dialogs[0][1]
    assert "Run ledger off" in panel.where_label.text()


def test_a_running_run_updates_in_place_in_the_table(qtbot, window):
    training = tiny_run_form(window, 100_000)
    assert training.start_training()
    panel = window.panels["runs"]
    window.tabs.setCurrentWidget(window.panel(type(panel)))

    def row_step() -> int:
        return int(panel.table.item(0, 4).text()) if panel.table.rowCount() == 1 else -1

    qtbot.waitUntil(lambda: panel.table.item(0, 1) is not None and panel.table.item(0, 1).text() == "running"
                    and row_step() > 0, timeout=WAIT_MS)
    first = row_step()
    qtbot.waitUntil(lambda: row_step() > first, timeout=WAIT_MS)  # the same row, a later step
    training.stop_training()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.table.item(0, 1).text() == "stopped", timeout=WAIT_MS)
    assert panel.table.rowCount() == 1
