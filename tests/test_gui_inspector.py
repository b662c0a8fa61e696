"""Inspector tab, driven through the real widgets (pytest-qt, offscreen): a loaded model inspected over
the data set, clicking layers, live snapshots from a training run, and the shipped model on the Frey faces."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model
from PyQt6.QtCore import Qt
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.checkpoint import load_model
from core.inspection import Inspector, weight_image
from core.optim import make_optimizer
from core.train import Trainer
from vae_gui.panels.inspector import InspectorPanel
from vae_gui.state import Session

WAIT_MS = 60_000  # the CI machine is shared; no test asserts a duration


@pytest.fixture
def errors():
    return []


def make_session(X, model, errors) -> Session:
    session = Session()
    session.error_raised.connect(lambda title, text: errors.append((title, text)))
    session.set_data(X, "synthetic")
    session.set_model(model)
    return session


def make_panel(qtbot, session) -> InspectorPanel:
    panel = InspectorPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1500, 1000)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def direct_dead(model, X: np.ndarray, layer: str = "enc0") -> int:
    p = model.params_numpy()
    centre = getattr(model.config, "input_centre", None)  # a model may see x − the mean training face
    x = X.astype(np.float64) - (np.asarray(centre) if centre is not None else 0.0)
    return int((((x @ p[f"{layer}.W"] + p[f"{layer}.b"]) > 0).sum(axis=0) == 0).sum())


def wait_for_data_set_snapshot(qtbot, panel, step=None):
    qtbot.waitUntil(lambda: panel.snapshot is not None and panel.snapshot["source"] == "data set"
                    and not panel._dirty and (step is None or panel.snapshot["step"] == step), timeout=WAIT_MS)


def click_row(qtbot, panel, layer: str) -> None:
    row = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())].index(layer)
    rect = panel.table.visualItemRect(panel.table.item(row, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_loaded_model_is_inspected_and_planted_dead_units_show(qtbot, synthetic_faces, errors):
    model = small_model(hidden=(16,), latent=4, dtype="float32")
    session = make_session(synthetic_faces, model, errors)
    panel = make_panel(qtbot, session)  # shown: it inspects the model over the data set by itself
    wait_for_data_set_snapshot(qtbot, panel)
    assert panel.table.rowCount() == 5
    assert panel.table.cell_text("enc0", "dead") == str(direct_dead(model, synthetic_faces))

    planted = model.copy()
    planted.params["enc0.W"][:, [1, 4, 9]] = 0
    planted.params["enc0.b"][[1, 4, 9]] = -0.1
    planted.step = 7  # tells the two snapshots apart
    session.set_model(planted)  # a new model: inspected again in the background
    wait_for_data_set_snapshot(qtbot, panel, step=7)
    dead = direct_dead(planted, synthetic_faces)
    assert dead >= 3
    assert panel.table.cell_text("enc0", "dead") == str(dead)
    assert f"enc0: {dead} of 16 units are dead (never active on any face)" in panel.diagnoses.text()
    assert "over all 64 images" in panel.source_label.text()
    # the weight faces put the busiest units first: the planted units (all-zero weights: flat grey) come last
    assert f"so the last {dead} are the dead units" in panel.layer_view.weight_caption.text()
    image = panel.layer_view.weight_item.image  # 16 faces: 5 columns (⌈√(16·28/20)⌉) × 4 rows, 4 blank cells
    cells = [image[1 + r * 29:29 + r * 29, 1 + c * 21:21 + c * 21] for r in range(4) for c in range(5)]
    flat = [i for i in range(16) if np.all(cells[i] == 0.5)]
    assert len(flat) == 3 and min(flat) >= 16 - dead  # the three planted units are among the last, dead ones
    assert not np.all(cells[0] == 0.5)
    assert errors == []


def test_clicking_a_layer_shows_its_histograms_and_weights(qtbot, synthetic_faces, errors):
    model = small_model(hidden=(16,), latent=4, dtype="float32")
    panel = make_panel(qtbot, make_session(synthetic_faces, model, errors))
    wait_for_data_set_snapshot(qtbot, panel)
    assert "enc0.W: the input weights of each of its 16 units as a 28×20 face" in panel.layer_view.weight_caption.text()
    click_row(qtbot, panel, "out")
    assert panel.layer == "out"
    assert "out.W: the output weights" in panel.layer_view.weight_caption.text()
    want, _ = weight_image(model.params_numpy()["out.W"], "out", (28, 20))
    np.testing.assert_allclose(panel.layer_view.weight_item.image, want)
    counts, edges = panel.layer_view.post_curve.getData()[1], panel.layer_view.post_curve.getData()[0]
    assert counts.sum() == 64 * 560 and len(edges) == len(counts) + 1  # every sigmoid output of the data set
    first = panel.snapshot
    model.params["enc0.W"][:, 0] = 0  # changed in place: only a new pass can see it
    model.params["enc0.b"][0] = -1.0
    qtbot.mouseClick(panel.inspect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.snapshot is not first and not panel._dirty, timeout=WAIT_MS)
    assert panel.table.cell_text("enc0", "dead") == str(direct_dead(model, synthetic_faces))
    assert panel.layer == "out"  # the chosen layer stays chosen
    click_row(qtbot, panel, "mean")
    assert panel.layer_view.weight_item.image.shape == (4, 16)  # units × inputs
    assert panel.layer_view.post_curve.getData()[0] is None or len(panel.layer_view.post_curve.getData()[0]) == 0


def training_snapshots(X, n_logs: int, log_every: int = 5) -> list[dict]:
    model = small_model(hidden=(16,), latent=4, dtype="float32")
    trainer = Trainer(model, make_optimizer("adam", model, lr=1e-3), X, batch_size=32, log_every=log_every,
                      eval_every=0)
    trainer.inspector = Inspector(keep_weights=True)
    logs: list[dict] = []
    trainer.run(n_logs * log_every, on_log=logs.append)
    return logs


def test_training_snapshots_fill_the_plots_over_time(qtbot, synthetic_faces, errors):
    session = make_session(synthetic_faces, small_model(hidden=(16,), latent=4, dtype="float32"), errors)
    panel = make_panel(qtbot, session)
    wait_for_data_set_snapshot(qtbot, panel)
    logs = training_snapshots(synthetic_faces, n_logs=6)
    session.set_training(True)
    for stats in logs:
        session.training_logged.emit(stats)
    qtbot.waitUntil(lambda: not panel._dirty, timeout=WAIT_MS)  # one coalesced redraw
    assert panel.snapshot is logs[-1]["inspect"]
    assert "Live from training, step 30" in panel.source_label.text()
    curve = panel.time_plots.ratio_curves["enc0"]
    x, y = curve.xData, curve.yData  # the data as given (getData() is log10 on the log axis)
    np.testing.assert_array_equal(x, [5, 10, 15, 20, 25, 30])
    np.testing.assert_allclose(y, [s["inspect"]["layers"][0]["update_ratio"] for s in logs])
    assert panel.time_plots.guide.value() == pytest.approx(-3.0)  # log10(1e-3) on the log axis
    assert panel.time_plots.kl_image.image.shape == (4, 6)  # units × logged steps
    np.testing.assert_allclose(panel.time_plots.kl_image.image[:, -1], logs[-1]["inspect"]["kl_per_unit"])
    np.testing.assert_array_equal(panel.time_plots.active_curve.getData()[1],
                                  [s["inspect"]["active_units"] for s in logs])
    ratio = logs[-1]["inspect"]["layers"][0]["update_ratio"]
    assert panel.table.cell_text("enc0", "‖ΔW‖/‖W‖") == f"{ratio:.1e}"
    assert not panel.inspect_button.isEnabled()  # no data-set pass while training
    session.set_training(False)


def test_the_training_tab_feeds_the_inspector_while_it_trains(qtbot, frey, errors):
    from vae_gui.panels.training import TrainingPanel

    session = make_session(frey, small_model(hidden=(16,), latent=4, dtype="float32"), errors)
    training = TrainingPanel(session)
    qtbot.addWidget(training)
    panel = make_panel(qtbot, session)
    training.form.new_radio.setChecked(True)
    training.form.model_form.hidden_edit.setText("16")
    training.form.model_form.latent_spin.setValue(4)
    training.form.steps_spin.setValue(10_000_000)
    training.form.eval_spin.setValue(0)
    assert training.start_training()
    qtbot.waitUntil(lambda: len(panel.history) >= 3, timeout=WAIT_MS)
    training.job.cancel()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=WAIT_MS)
    assert panel.snapshot["source"] in ("training", "data set")
    assert panel.history.layers == ["enc0", "mean", "logvar", "dec0", "out"]
    assert errors == []


def test_shipped_gaussian_model_on_the_frey_faces(qtbot, frey, errors, tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "model" / "vae_gauss.npz"
    model = load_model(path).model
    panel = make_panel(qtbot, make_session(frey, model, errors))
    wait_for_data_set_snapshot(qtbot, panel)
    from tools.unit_usage import unit_usage  # written separately for issue 18: any activation

    dead = unit_usage(model, frey)[0]["dead"]
    units = model.config.hidden[0]
    assert panel.table.cell_text("enc0", "dead") == str(dead)
    if dead:
        assert f"enc0: {dead} of {units} units are dead" in panel.diagnoses.text()
    image = panel.layer_view.weight_item.image
    assert image.shape[1] > 20 * 10  # the encoder's faces, tiled
    assert "sorted by how often each unit fires" in panel.layer_view.weight_caption.text()
    active = panel.snapshot["layers"][0]["unit_active"]
    busiest = int(np.argsort(-active, kind="stable")[0])
    w = model.params_numpy()["enc0.W"][:, busiest]
    np.testing.assert_allclose(image[1:29, 1:21], (0.5 + 0.5 * w / np.abs(w).max()).reshape(28, 20), atol=1e-6)
    assert panel.grab().save(str(tmp_path / "inspector.png"))


def test_an_autoencoder_has_no_latent_plots_but_its_code_layer(qtbot, synthetic_faces, errors):
    model = small_model(kind="ae", hidden=(16,), latent=4, dtype="float32")
    panel = make_panel(qtbot, make_session(synthetic_faces, model, errors))
    wait_for_data_set_snapshot(qtbot, panel)
    assert [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())] == ["enc0", "code", "dec0", "out"]
    p = model.params_numpy()
    h = np.maximum(synthetic_faces.astype(np.float64) @ p["enc0.W"] + p["enc0.b"], 0)
    code_dead = int((((h @ p["code.W"] + p["code.b"]) > 0).sum(axis=0) == 0).sum())
    assert panel.table.cell_text("code", "dead") == str(code_dead)
    assert len(panel.time_plots.unit_kl_bars.opts["height"]) == 0
    assert "latent units are inactive" not in panel.diagnoses.text()
    assert errors == []
