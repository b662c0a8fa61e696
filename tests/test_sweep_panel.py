"""The Sweeps tab (vae_gui/panels/sweeps.py) on a real study of tiny trials in the test's run ledger
folder: its table, parallel coordinates with the best trial highlighted, Optuna's importances, live
updates while the study grows, "Open best" and "Compare top 5"."""

from __future__ import annotations

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="the Sweeps tab's tests need Optuna (requirements-dev.txt)")

from helpers.sweeps import tiny_data, tiny_space  # noqa: E402

from core import sweep  # noqa: E402
from core.dataset import Dataset  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from vae_gui.panels.sweeps import BEST_ROW, TOP, SweepsPanel  # noqa: E402
from vae_gui.state import Session  # noqa: E402

WAIT_MS = 30_000


def run_trials(folder, name: str, n_trials: int) -> None:
    """A study ``name`` of ``n_trials`` in the storage beside the ledger in ``folder`` (its runs there too)."""
    dataset = Dataset(np.load(tiny_data(folder)), (4, 4), "tiny")
    plan = sweep.StudyPlan(sweep.SearchSpace.parse(tiny_space(folder).read_text()), n_trials)
    storage = sweep.open_storage(sweep.default_storage(folder), heartbeat_s=2)
    study, plan = sweep.open_study(storage, name, plan, resume=False, seed=1, n_trials=n_trials)
    sweep.SweepWorker(study, plan, dataset, runs_folder=folder).run()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One ledger folder for the module, holding the study 'tiny' of 6 trials (made once: trials cost)."""
    folder = tmp_path_factory.mktemp("sweep-runs")
    run_trials(folder, "tiny", 6)
    return folder


def tiny_study(runs) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=sweep.open_storage(sweep.default_storage(runs)))


@pytest.fixture
def panel(qtbot, runs, monkeypatch):
    monkeypatch.setenv("VAE_RUNS", str(runs))  # the panel's default storage and the ledger it opens runs from
    widget = SweepsPanel(Session())
    qtbot.addWidget(widget)
    widget.resize(1000, 640)
    widget.show()
    qtbot.waitUntil(lambda: widget.table.rowCount() == 6, timeout=WAIT_MS)
    yield widget
    widget.shutdown()


def test_the_table_lists_every_trial_and_highlights_the_best(panel, runs):
    best = tiny_study(runs).best_trial
    row = panel.best_row()
    assert row is not None and panel.table.item(row, 0).text() == str(best.number)
    assert panel.table.item(row, 0).background().color() == BEST_ROW and panel.table.item(row, 0).font().bold()
    others = [r for r in range(6) if r != row]
    assert all(panel.table.item(r, 0).background().color() != BEST_ROW for r in others)
    heads = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert heads[:5] == ["trial", "state", "value", "lr", "beta"]
    assert f"best: trial {best.number}" in panel.status.text() and "6 of 6 trials finished" in panel.status.text()


def test_parallel_coordinates_draw_each_trial_with_the_best_on_top_in_red(panel):
    plot = panel.parallel
    assert len(plot.lines) == 6 and plot.best_line is not None
    assert plot.best_line.opts["pen"].color().name() == "#d62728" and plot.best_line.opts["pen"].width() == 4
    _x, y = plot.best_line.getData()
    assert y[-1] == pytest.approx(0.0)  # the best value sits at the bottom of the value axis
    ticks = [name for _pos, name in plot.getPlotItem().getAxis("bottom")._tickLevels[0]]
    assert ticks == ["lr", "beta", "value"]


def test_importances_show_optunas_numbers(panel):
    assert set(panel.importance.shown) == {"lr", "beta"}
    assert sum(panel.importance.shown.values()) == pytest.approx(1.0)


def test_a_growing_study_shows_up_live(panel, runs, qtbot):
    run_trials(runs, "grow", 2)
    qtbot.waitUntil(lambda: "grow" in [panel.study_box.itemText(i) for i in range(panel.study_box.count())],
                    timeout=WAIT_MS)  # a new study appears by itself
    panel.study_box.setCurrentText("grow")
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=WAIT_MS)
    run_trials(runs, "grow", 4)  # two more trials, as a running sweep adds them
    qtbot.waitUntil(lambda: panel.table.rowCount() == 4 and len(panel.parallel.lines) == 4, timeout=WAIT_MS)
    assert "4 of 4 trials finished" in panel.status.text()


def test_compare_top_5_hands_the_best_runs_to_the_runs_view(panel, runs, qtbot):
    trials = sorted(tiny_study(runs).get_trials(), key=lambda t: (t.value, t.number))
    with qtbot.waitSignal(panel.session.compare_runs, timeout=WAIT_MS) as signal:
        panel.compare_button.click()
    assert signal.args[0] == [t.user_attrs["run"] for t in trials[:TOP]]


def test_compare_top_5_selects_those_runs_in_the_runs_tab(panel, runs, qtbot):
    from vae_gui.panels.runs import RunsPanel

    runs_tab = RunsPanel(panel.session)  # beside the Sweeps tab, on the same session (as in the window)
    qtbot.addWidget(runs_tab)
    panel.compare_button.click()
    qtbot.waitUntil(lambda: len(runs_tab.selected) == TOP, timeout=WAIT_MS)
    assert sorted(runs_tab.selected) == sorted(panel.top_runs())
    runs_tab.shutdown()


def test_open_best_makes_the_best_trials_weights_the_current_model(panel, runs, qtbot):
    best = tiny_study(runs).best_trial
    panel.open_button.click()
    qtbot.waitUntil(lambda: panel.session.model is not None, timeout=WAIT_MS)
    with Ledger() as ledger:
        step, path = ledger.snapshot_path(best.user_attrs["run"])
    assert panel.session.model_path == path and panel.session.model.step == step == 40
    assert panel.session.model.config.latent == 2 and panel.session.model.config.beta == best.params["beta"]


def test_open_best_refuses_a_model_that_cannot_read_the_current_data(panel, qtbot):
    panel.session.set_data(Dataset(np.zeros((30, 36), np.float32), (6, 6), "other"))
    with qtbot.waitSignal(panel.session.error_raised, timeout=WAIT_MS) as signal:
        panel.open_button.click()
    assert signal.args[0] == "Could not open the best trial" and "16" in signal.args[1] and "36" in signal.args[1]
    assert panel.session.model is None  # nothing replaced
