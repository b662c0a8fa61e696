"""Commands on a model trained on other images than the Frey faces, without --data: `grid` and `eval` use the
data set recorded in the model when it is still found (same images), `grid` otherwise draws from the model
alone (its first two latent units), `eval` asks for --data; each says which in one stderr line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.reliability import assert_cli_error, run_cli

from core.images import read_png_gray

TINY = ["--hidden", "4", "--latent", "3", "--batch-size", "8", "--eval-every", "0", "--quiet", "--steps", "20"]


@pytest.fixture
def trained(tmp_path, monkeypatch, capsys):
    """A model trained on 40 random 6×4 images, from inside its folder (the command records a relative
    --data); the tests then run from another folder."""
    folder = tmp_path / "run"
    folder.mkdir()
    np.save(folder / "faces.npy", np.random.default_rng(0).integers(0, 256, (40, 6, 4), dtype=np.uint8))
    monkeypatch.chdir(folder)
    code, _, err = run_cli(capsys, "train", "--data", "faces.npy", "--out", "m.npz", *TINY)
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_grid_and_eval_use_the_recorded_data_set(trained, capsys):
    code, _, err = run_cli(capsys, "grid", "--weights", trained / "m.npz", "--save", "g.png", "--n", "3")
    assert code == 0, err
    assert err == f"main.py: using the data set the model was trained on: {trained / 'faces.npy'}\n"
    assert read_png_gray("g.png").shape == (((6 + 1) * 3 + 1) * 2, ((4 + 1) * 3 + 1) * 2)  # 3×3 faces of 6×4, scale 2
    code, out, err = run_cli(capsys, "eval", "--weights", trained / "m.npz", "--index", "0", "39")
    assert code == 0, err
    assert "using the data set the model was trained on" in err and len(out.splitlines()) == 3


def test_without_its_data_grid_draws_from_the_model_alone(trained, capsys):
    (trained / "faces.npy").rename(trained / "moved.npy")
    code, out, err = run_cli(capsys, "grid", "--weights", trained / "m.npz", "--save", "g.png", "--n", "3",
                             "--json")
    assert code == 0, err
    assert len(err.splitlines()) == 1 and "which was not found" in err and "drawing from the model alone" in err
    report = json.loads(out)  # stdout stays one JSON object
    assert report["axes"]["kind"] == "dims" and len(report["z"]) == 9
    assert read_png_gray("g.png").shape == (44, 32)
    code, _, err = run_cli(capsys, "eval", "--weights", trained / "m.npz", "--index", "0")
    assert_cli_error(code, err, "faces", "not found", "--data")
    code, _, err = run_cli(capsys, "eval", "--weights", trained / "m.npz", "--index", "0", "--data",
                           trained / "moved.npy")
    assert code == 0, err


def test_other_images_under_the_recorded_name_are_not_taken_for_it(trained, capsys):
    np.save(trained / "faces.npy", np.zeros((40, 6, 4), np.uint8))  # same name and size, other pixels
    code, _, err = run_cli(capsys, "grid", "--weights", trained / "m.npz", "--save", "g.png", "--n", "3")
    assert code == 0, err
    assert "drawing from the model alone" in err


def test_sample_never_needs_data(trained, capsys):
    (trained / "faces.npy").unlink()
    code, _, err = run_cli(capsys, "sample", "--weights", trained / "m.npz", "--save", "s.png", "--n", "4")
    assert code == 0 and err == "", err


def test_a_pickle_refused_for_an_object_array_names_its_file(tmp_path, capsys):
    import pickle

    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps((np.empty(3, dtype=object),), protocol=2))
    code, _, err = run_cli(capsys, "import-legacy", path, "--out", tmp_path / "m.npz")
    assert_cli_error(code, err, str(path), "dtype object", "nothing was run")


def test_traverse_uses_the_recorded_data_set_or_asks_for_it(trained, capsys):
    code, _, err = run_cli(capsys, "traverse", "--weights", trained / "m.npz", "--save", "t.png")
    assert code == 0, err
    assert "using the data set the model was trained on" in err
    (trained / "faces.npy").unlink()
    code, _, err = run_cli(capsys, "traverse", "--weights", trained / "m.npz", "--save", "t.png", "--force")
    assert_cli_error(code, err, "faces", "not found", "--data")
