"""``main.py inspect`` on the shipped models and the real Frey faces (fails loudly without the data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_model
from core.evaluate import active_units, evaluate
from main import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def direct_dead_and_rare(model, X: np.ndarray, layer: str = "enc0") -> tuple[int, int]:
    """Over every face, in float64: units whose input is never > 0, and those > 0 on fewer than 1 %."""
    params = model.params_numpy()
    active = ((X.astype(np.float64) @ params[f"{layer}.W"] + params[f"{layer}.b"]) > 0).sum(axis=0)
    return int((active == 0).sum()), int(((active > 0) & (active < 0.01 * len(X))).sum())


@pytest.mark.parametrize("name", ["vae.npz", "ae.npz", "vae_gauss.npz"])
def test_inspect_json_counts_the_dead_units_of_each_shipped_model(capsys, frey_path, frey, name):
    path = ROOT / "model" / name
    code, out, err = run_cli(capsys, "inspect", "--weights", path, "--data", frey_path, "--json")
    assert code == 0, err
    data = json.loads(out)
    model = load_model(path).model
    enc0 = data["layers"][0]
    assert enc0["name"] == "enc0" and enc0["units"] == model.config.hidden[0]
    assert (enc0["dead"], enc0["rare"]) == direct_dead_and_rare(model, frey)
    for key in ("act_mean", "act_std", "weight_norm", "grad_norm"):
        assert isinstance(enc0[key], float) and np.isfinite(enc0[key])
    assert enc0["weight_norm"] == pytest.approx(np.linalg.norm(model.params_numpy()["enc0.W"]), rel=1e-5)
    names = [row["name"] for row in data["layers"]]
    assert names == [n[:-2] for n, _ in model.shapes if n.endswith(".W")]
    if model.is_vae:  # the KL per unit and the active units agree with core.evaluate over the same faces
        np.testing.assert_allclose(data["kl_per_unit"], evaluate(model, frey)["kl_per_dim"], rtol=1e-4, atol=1e-6)
        assert data["active_units"] == active_units(model, frey)
    else:
        assert data["kl_per_unit"] is None


def test_inspect_table_and_diagnoses(capsys, frey_path, frey):
    code, out, _ = run_cli(capsys, "inspect", "--weights", ROOT / "model" / "vae.npz", "--data", frey_path)
    assert code == 0
    model = load_model(ROOT / "model" / "vae.npz").model
    dead, _ = direct_dead_and_rare(model, frey)
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["layer", "units", "dead", "rare"]
    assert lines[2].split()[:3] == ["enc0", "256", str(dead)]
    assert f"* enc0: {dead} of 256 units are dead (never active on any face)" in lines
    assert any(line.startswith("KL per latent unit (nats):") for line in lines)


def test_inspect_of_a_split(capsys, frey_path):
    code, out, _ = run_cli(capsys, "inspect", "--weights", ROOT / "model" / "ae.npz", "--data", frey_path,
                           "--split", "test", "--json")
    assert code == 0 and json.loads(out)["images"] == 197


def test_inspect_bad_model_file_is_one_line(capsys, tmp_path, frey_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    code, out, err = run_cli(capsys, "inspect", "--weights", bad, "--data", frey_path)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("main.py: error:")
