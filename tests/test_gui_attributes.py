"""Attribute vectors on the Latent map (pytest-qt, offscreen, real widgets): two lassoed groups make a named
direction, its slider moves a face (a data face, your encoded image), the map can be drawn along it, and the
direction is stored in the model file."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtWidgets import QApplication
from test_gui_atlas import _drag

from core import atlas, attributes
from core.checkpoint import load_model, save_model, save_record
from core.dataset import frey_dataset
from core.evaluate import posterior_means
from core.models import Model, ModelConfig
from vae_gui.state import Session
from vae_gui.widgets.atlas_explorer import AtlasExplorer


@pytest.fixture(scope="module")
def small_vae() -> Model:
    return Model(ModelConfig(kind="vae", hidden=[32], latent=4, dtype="float64"), seed=2)


@pytest.fixture
def explorer(qtbot, small_vae, frey_path, tmp_path):
    dataset = frey_dataset(frey_path)
    path = save_model(tmp_path / "small.npz", small_vae)
    session = Session()
    session.set_model(small_vae, path)
    session.set_data(dataset)
    widget = AtlasExplorer(session)
    qtbot.addWidget(widget)
    widget.resize(1100, 900)
    widget.show()
    qtbot.waitExposed(widget)
    means, logvars = posterior_means(small_vae, dataset.images)
    widget.set_view(means, logvars, atlas.pca_projection(means), session.train_ids, session.test_ids)
    QApplication.processEvents()
    return widget


def _lasso(explorer, centre, radius) -> np.ndarray:
    explorer.tool_combo.setCurrentIndex(explorer.tool_combo.findData("lasso"))
    loop = [centre + radius * np.array([np.cos(t), np.sin(t)]) for t in np.linspace(0, 2 * np.pi, 20)]
    _drag(explorer.plot, loop)
    return np.asarray(explorer.selection.ids)


def _demo_direction(explorer) -> attributes.Attribute:
    """'demo': from faces #0–9 (chosen on the map) to faces #900–919."""
    box = explorer.attribute_box
    explorer.select_ids(np.arange(10))
    box.from_button.click()
    explorer.select_ids(np.arange(900, 920))
    box.to_button.click()
    box.name_edit.setText("demo")
    return box.make_direction()


def test_two_lassoed_groups_make_a_direction_that_moves_a_face(explorer, small_vae, qtbot, tmp_path):
    box = explorer.attribute_box
    lo, hi = explorer.coords.min(axis=0), explorer.coords.max(axis=0)
    radius = 0.2 * (hi - lo)
    left = _lasso(explorer, lo + np.array([0.3, 0.5]) * (hi - lo), radius)
    box.from_button.click()
    right = _lasso(explorer, lo + np.array([0.7, 0.5]) * (hi - lo), radius)
    box.to_button.click()
    assert len(left) > 3 and len(right) > 3 and not set(left) & set(right)
    box.name_edit.setText("left to right")
    box.make_button.click()
    attr = box.current()
    means = explorer.means
    assert attr.name == "left to right" and box.direction_combo.currentText() == "left to right"
    np.testing.assert_allclose(attr.direction, means[right].mean(0) - means[left].mean(0))
    assert explorer.session.record.other["attributes"][0]["name"] == "left to right"  # saved with the model
    explorer.session.select(42)
    box.source_combo.setCurrentIndex(box.source_combo.findData("selected"))
    box.slider.setValue(0)
    still = box.face.image.copy()
    np.testing.assert_allclose(still.ravel(), atlas.decode_latents(small_vae, means[42][None])[0], atol=1e-6)
    box.slider.setValue(150)
    moved = atlas.decode_latents(small_vae, (means[42] + 1.5 * attr.direction)[None])[0]
    np.testing.assert_allclose(box.face.image.ravel(), moved, atol=1e-6)
    assert np.abs(box.face.image - still).max() > 1e-3 and "+1.50" in box.face.title()
    # the map along the direction: x is each face's projection on the unit direction
    box.project_button.click()
    assert explorer.projection.kind == "attribute"
    np.testing.assert_allclose(explorer.coords[:, 0], (means - means.mean(0)) @ attr.unit, atol=1e-9)
    # stored in the model file: a new session opening it has the direction
    box.store_button.click()
    qtbot.waitUntil(lambda: "stored" in box.message.text() and "storing" not in box.message.text(), timeout=10000)
    stored = attributes.from_meta(load_model(explorer.session.model_path).meta, 4)
    np.testing.assert_allclose(stored["left to right"].direction, attr.direction)
    # File ▸ Save model as… writes the session's record: the direction goes with it
    save_record(tmp_path / "saved_as.npz", explorer.session.record)
    again = attributes.from_meta(load_model(tmp_path / "saved_as.npz").other, 4)
    np.testing.assert_allclose(again["left to right"].direction, attr.direction)


def test_an_encoded_image_moves_too_and_bad_groups_say_why(explorer, small_vae):
    box = explorer.attribute_box
    box.make_button.click()
    assert "empty" in box.message.text() and box.current() is None and not box.slider.isEnabled()
    attr = _demo_direction(explorer)
    photo = atlas.encode_pixels(small_vae, explorer.session.X[7], (28, 20))
    explorer.session.show_own_image(photo)
    QApplication.processEvents()
    box.source_combo.setCurrentIndex(box.source_combo.findData("own"))
    box.slider.setValue(-100)
    moved = atlas.decode_latents(small_vae, (photo.mean - attr.direction)[None])[0]
    np.testing.assert_allclose(box.face.image.ravel(), moved, atol=1e-6)
    assert box.face.title().startswith("your image")


def test_mapping_along_a_direction_is_named_by_the_latent_maps_projection_control(qtbot, small_vae, frey_path,
                                                                                 tmp_path):
    """The Latent map tab: "map along it" redraws the map, and the projection combo says so (it kept saying PCA);
    PCA goes back, the direction's view stays offered until another model comes."""
    from vae_gui.panels.latent_map import DIMS, PCA, LatentMapPanel

    session = Session()
    session.set_model(small_vae, save_model(tmp_path / "small.npz", small_vae))
    session.set_data(frey_dataset(frey_path))
    panel = LatentMapPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1100, 900)
    panel.show()
    qtbot.waitUntil(panel.is_ready, timeout=20000)
    explorer, box = panel.atlas, panel.atlas.attribute_box
    attr = _demo_direction(explorer)
    box.project_button.click()
    means = panel.means
    assert panel.mode_combo.currentText() == "along 'demo'" and not panel.x_combo.isEnabled()
    np.testing.assert_allclose(panel.coords[:, 0], (means - means.mean(0)) @ attr.unit, atol=1e-9)
    np.testing.assert_array_equal(panel.coords, explorer.coords)  # the panel's points are the map's
    panel.mode_combo.setCurrentText(PCA)
    assert explorer.projection.kind == "pca" and [panel.mode_combo.itemText(i) for i in range(3)] == [
        PCA, DIMS, "along 'demo'"]
    panel.mode_combo.setCurrentIndex(2)  # back along the direction, from the combo
    assert explorer.projection.kind == "attribute" and panel.mode_combo.count() == 3
    session.set_model(Model(ModelConfig(kind="vae", hidden=[32], latent=4, dtype="float64"), seed=5))
    qtbot.waitUntil(panel.is_ready, timeout=20000)
    assert panel.mode_combo.count() == 2 and panel.mode_combo.currentText() == PCA
    assert explorer.projection.kind == "pca"
