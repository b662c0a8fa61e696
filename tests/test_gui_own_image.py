"""An image of yours has one −ELBO: the Reconstruction tab, the encode dialog and `main.py encode` agree; the
tab's figure follows 'draw z'; the Sampling sliders cover the z they show."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)

from core.checkpoint import save_model
from core.models import Model, ModelConfig
from vae_gui.app import MainWindow, make_settings
from vae_gui.state import Session


def test_one_neg_elbo_for_an_encoded_image_in_the_tab_the_dialog_and_the_cli(qtbot, tmp_path, frey, capsys):
    import main

    model = Model(ModelConfig(kind="vae", hidden=[32], latent=20, likelihood="gaussian"), seed=3)
    weights = tmp_path / "m.npz"
    save_model(weights, model)
    picture = tmp_path / "me.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((1500, 1100, 3)) * 255).astype(np.uint8)).save(picture)  # larger than 1024
    assert main.main(["encode", str(picture), "--weights", str(weights), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)["neg_elbo"]

    session = Session()
    session.set_data(frey, "frey")
    session.set_model(model)
    window = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(window)
    enc = window.image_import.encode_file(picture, show_crop=True)
    dialog_text = window.image_import.dialog.label.text()
    recon = window.panel("reconstruction")
    tab = -float(recon.elbo_label.text().split("<b>")[1].split("</b>")[0])
    assert f"−ELBO {cli:.1f} nats" in dialog_text
    assert tab == round(enc.neg_elbo, 2) and abs(tab - cli) < 0.006  # one number, printed to 2 decimals

    # the figure follows 'draw z': a sample z of this untrained (unsure) encoder decodes to another face
    mean_face = recon.reconstruction.current_image().copy()
    recon.draw_z.setChecked(True)
    assert "drawn" in recon.reconstruction._title.text()
    assert np.abs(recon.reconstruction.current_image() - mean_face).max() > 1e-3
    window.image_import.dialog.close()


def test_sampling_sliders_and_pad_cover_an_encoded_z_beyond_three(qtbot, tmp_path):
    session = Session()
    session.set_model(Model(ModelConfig(kind="vae", hidden=[16], latent=4), seed=0))
    window = MainWindow(session, settings=make_settings(tmp_path / "settings.ini"))
    qtbot.addWidget(window)
    sampling = window.panel("sampling")
    z = np.array([8.99, -4.2, 0.5, 2.0])
    session.choose_latent(z)  # e.g. your image's posterior mean
    np.testing.assert_allclose(sampling.sliders.values(), z, atol=0.006)
    for d, value in enumerate(z):
        assert sampling.sliders.value_labels[d].text() == f"{value:+.2f}"
    sampling._set_pad_dims(0, 1)
    pad = sampling.pad_target.pos()
    assert (round(pad.x(), 2), round(pad.y(), 2)) == (8.99, -4.2)
    sampling.pad_target.setPos(12.0, 0.0)  # dragged past the pad's edge: stops where the slider ends
    assert sampling.pad_target.pos().x() == sampling.sliders.limit(0) == slider_end(sampling, 0)
    assert sampling.sliders.value_labels[0].text() == f"{sampling.sliders.limit(0):+.2f}"


def slider_end(sampling, dim: int) -> float:
    from vae_gui.panels.sampling import slider_to_z

    return slider_to_z(sampling.sliders.sliders[dim].maximum())
