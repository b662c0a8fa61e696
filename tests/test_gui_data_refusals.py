"""Hostile data sets and pictures in the GUI: File ▸ Open data set… refuses a bomb, a text member or a set that
runs out of memory in its dialog and keeps the current data set and model; Encode an image… refuses a FIFO at
once (the UI never freezes) and a PostScript file named .png."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers.reliability import write_zip_members
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse fixture)
from test_gui_datasets import preview_through_the_dialog, window  # noqa: F401  (window: a fixture)

import vae_gui.data_dialog
from vae_gui.image_import import ImageImporter


def _budget_bomb(path):
    """A .npy header declaring 20 000 × 20 000 values (nothing behind it)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (20_000, 20_000)})


@pytest.mark.parametrize("case, words", [
    ("budget", "--max-data-values"),
    ("text member", "not a NumPy array"),
    ("out of memory", "MemoryError"),
])
def test_a_data_set_that_fails_keeps_the_current_data_and_model(case, words, qtbot, window, tmp_path,  # noqa: F811
                                                                monkeypatch):
    path = tmp_path / ("set.npz" if case == "text member" else "set.npy")
    if case == "budget":
        _budget_bomb(path)
    elif case == "text member":
        write_zip_members(path, {"readme.txt": b"not an array"}, {})
    else:
        np.save(path, np.zeros((10, 4, 4), np.uint8))

        def out_of_memory(*args, **kwargs):
            raise MemoryError()

        monkeypatch.setattr(vae_gui.data_dialog, "open_dataset", out_of_memory)
    data, model = window.session.dataset, window.session.model
    dialog = preview_through_the_dialog(qtbot, window, str(path))
    assert dialog.error_label.text().startswith("Could not read this data set:")
    assert words in dialog.error_label.text()
    assert not dialog.ok_button.isEnabled() and dialog.dataset is None
    dialog.reject()
    assert window.session.dataset is data and window.session.model is model


@pytest.mark.timeout(60)
def test_encoding_a_fifo_or_a_postscript_png_is_refused_at_once(window, tmp_path, dialogs):  # noqa: F811
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    postscript = tmp_path / "a.png"
    postscript.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 20\n{} loop\n")
    errors = []
    window.session.error_raised.connect(lambda title, text: errors.append(text))
    importer = ImageImporter(window.session, window)
    for path, words in ((fifo, "FIFO"), (postscript, "not a PNG or JPEG")):
        assert importer.encode_file(path) is None
        assert words in errors[-1] and path.name in errors[-1]
