"""``main.py inspect`` on the shipped models and the real Frey faces (fails loudly without the data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_model, save_model
from core.evaluate import active_units, evaluate
from main import main
from tools.unit_usage import unit_usage

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def direct_dead_and_rare(model, X: np.ndarray, layer: str = "enc0") -> tuple[int, int]:
    """Over every face, in float64: units whose input is never > 0, and those > 0 on fewer than 1 %."""
    params = model.params_numpy()
    centre = getattr(model.config, "input_centre", None)  # a model may see x − the mean training face
    x = X.astype(np.float64) - (np.asarray(centre) if centre is not None else 0.0)
    active = ((x @ params[f"{layer}.W"] + params[f"{layer}.b"]) > 0).sum(axis=0)
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
    if model.config.enc_activation == "relu":  # the definition, computed here
        assert (enc0["dead"], enc0["rare"]) == direct_dead_and_rare(model, frey)
    # every hidden layer against tools/unit_usage.py, written separately for issue 18 (any activation)
    usage = {row["layer"]: row for row in unit_usage(model, frey)}
    for row in data["layers"]:
        if row["name"] in usage:
            want = usage[row["name"]]
            assert (row["dead"], row["rare"], row["never_on"]) == (want["dead"], want["rare"], want["never_on"])
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
    dead = unit_usage(model, frey)[0]["dead"]
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["layer", "units", "dead", "rare"]
    assert lines[2].split()[:3] == ["enc0", "256", str(dead)]
    assert any(line.startswith("KL per latent unit (nats):") for line in lines)
    active = json.loads(run_cli(capsys, "inspect", "--weights", ROOT / "model" / "vae.npz", "--data", frey_path,
                                "--json")[1])["active_units"]
    assert f"active units: {active} of 16" in lines


def test_inspect_names_the_dead_units_of_a_relu_model(capsys, tmp_path, frey_path, frey):
    model = load_model(ROOT / "model" / "ae.npz").model  # ReLU: dead = input ≤ 0 for every face
    model.params["enc0.W"][:, :5] = 0
    model.params["enc0.b"][:5] = -1.0
    save_model(tmp_path / "planted.npz", model)
    code, out, _ = run_cli(capsys, "inspect", "--weights", tmp_path / "planted.npz", "--data", frey_path)
    assert code == 0
    dead, _ = direct_dead_and_rare(model, frey)
    assert dead >= 5
    assert f"* enc0: {dead} of 256 units are dead (never active on any face)" in out.splitlines()


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


def test_train_inspect_log_appends_one_line_per_log_step(capsys, tmp_path, frey_path):
    log = tmp_path / "inspect.jsonl"
    args = ["train", "--hidden", "16", "--latent", "4", "--steps", "60", "--log-every", "20", "--eval-every", "0",
            "--quiet", "--data", frey_path, "--out", tmp_path / "m.npz", "--inspect-log", log]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["step"] for entry in lines] == [20, 40, 60]
    for entry in lines:
        assert [row["name"] for row in entry["layers"]] == ["enc0", "mean", "logvar", "dec0", "out"]
        assert all(row["update_ratio"] > 0 and row["grad_norm"] > 0 for row in entry["layers"])
        assert len(entry["kl_per_unit"]) == 4
    assert lines[-1]["images"] == 3 * 64  # dead/rare counted over the window of logged batches
    code, _, err = run_cli(capsys, "train", *args[1:], "--resume", "--steps", "100")
    assert code == 0, err
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [20, 40, 60, 80, 100]  # appended, not overwritten


def test_train_without_inspect_log_writes_no_file(capsys, tmp_path, frey_path):
    code, _, err = run_cli(capsys, "train", "--hidden", "8", "--latent", "2", "--steps", "20", "--log-every", "10",
                           "--eval-every", "0", "--quiet", "--data", frey_path, "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
