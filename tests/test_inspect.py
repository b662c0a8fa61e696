"""core.inspection: the inspector's statistics against a direct NumPy computation on small models."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.factories import small_model

from core.inspection import (
    Inspector,
    diagnose,
    histogram,
    inspect_model,
    layer_histograms,
    layer_names,
    snapshot_json,
)
from core.optim import make_optimizer
from core.train import Trainer


def faces(n: int = 200, seed: int = 0) -> np.ndarray:
    """Synthetic 'faces' in [0, 1]: a few smooth prototypes plus noise, so units see varied inputs."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 1, (5, 560))
    mix = rng.dirichlet(np.ones(5), size=n)
    return np.clip(mix @ protos + 0.1 * rng.standard_normal((n, 560)), 0, 1)


def direct_forward(model, x: np.ndarray, eps: np.ndarray | None) -> dict:
    """Every layer's activation input and output, computed here in float64 without the engine."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in model.params_numpy().items()}
    centre = getattr(model.config, "input_centre", None)  # a model may see x − the mean training face
    out, h = {}, x - (np.asarray(centre) if centre is not None else 0.0)
    for i in range(len(model.config.hidden)):
        out[f"enc{i}.pre"] = h @ p[f"enc{i}.W"] + p[f"enc{i}.b"]
        h = out[f"enc{i}"] = np.maximum(out[f"enc{i}.pre"], 0)
    if model.is_vae:
        out["mean"] = h @ p["mean.W"] + p["mean.b"]
        out["logvar"] = h @ p["logvar.W"] + p["logvar.b"]
        z = out["mean"] + np.exp(0.5 * out["logvar"]) * eps
    else:
        out["code.pre"] = h @ p["code.W"] + p["code.b"]
        z = out["code"] = np.maximum(out["code.pre"], 0)
    d = z
    for i in range(len(model.config.hidden)):
        out[f"dec{i}.pre"] = d @ p[f"dec{i}.W"] + p[f"dec{i}.b"]
        d = out[f"dec{i}"] = np.maximum(out[f"dec{i}.pre"], 0)
    out["out"] = 1 / (1 + np.exp(-(d @ p["out.W"] + p["out.b"])))
    return out


def layer(snap: dict, name: str) -> dict:
    return next(row for row in snap["layers"] if row["name"] == name)


@pytest.mark.parametrize("centred", [False, True])
def test_forward_backward_records_the_pass_it_makes(centred):
    model = small_model(hidden=(16, 8), latent=4)
    x = faces(32)
    if centred:
        model.set_input_centre(x.mean(axis=0))
    eps = np.random.default_rng(1).standard_normal((32, 4))
    record: dict = {}
    model.forward_backward(x, eps=eps, compute_loss=False, record=record)
    expected = direct_forward(model, x, eps)
    assert set(expected) <= set(record)
    for key, want in expected.items():
        np.testing.assert_allclose(np.asarray(record[key]), want, rtol=1e-10, atol=1e-12, err_msg=key)


def one_inspected_step(model, x, eps, lr=0.01, window=20):
    """The Trainer's order on a log step, by hand: record, before_update, an SGD step, after_update."""
    record = direct_forward(model, x, eps)
    model.forward_backward(x, eps=eps, compute_loss=False)
    inspector = Inspector(window=window)
    inspector.before_update(model, record)
    before = model.params_numpy()
    grads = {k: np.array(v) for k, v in model.grads.items()}
    model.flat -= lr * model.grad_flat
    return inspector.after_update(model), record, before, grads


def test_layer_statistics_match_numpy():
    model = small_model(hidden=(16,), latent=4)
    x, eps = faces(64), np.random.default_rng(2).standard_normal((64, 4))
    snap, rec, before, grads = one_inspected_step(model, x, eps, lr=0.01)
    assert [row["name"] for row in snap["layers"]] == ["enc0", "mean", "logvar", "dec0", "out"] == layer_names(model)
    for name in ("enc0", "dec0"):
        row, pre, post = layer(snap, name), rec[f"{name}.pre"], rec[name]
        assert row["kind"] == "relu" and row["units"] == 16
        assert row["act_mean"] == pytest.approx(post.mean(), rel=1e-12)
        assert row["act_std"] == pytest.approx(post.std(), rel=1e-12)
        counts, edges = np.histogram(pre, bins=40, range=(pre.min(), pre.max()))
        pre_hist, post_hist = layer_histograms(row)
        np.testing.assert_array_equal(pre_hist[0], counts)
        np.testing.assert_allclose(pre_hist[1], edges)
        assert post_hist[0].sum() == post.size
        active = (pre > 0).sum(axis=0)
        assert row["dead"] == int((active == 0).sum())
        assert row["rare"] == int(((active > 0) & (active < 0.01 * 64)).sum())
        assert row["active_share"] == pytest.approx((pre > 0).mean())
    for name in layer_names(model):
        row = layer(snap, name)
        w_before = before[f"{name}.W"]
        assert row["weight_norm"] == pytest.approx(np.linalg.norm(w_before), rel=1e-12)
        assert row["grad_norm"] == pytest.approx(np.linalg.norm(grads[f"{name}.W"]), rel=1e-12)
        step = np.linalg.norm(model.params[f"{name}.W"] - w_before)
        assert row["update_ratio"] == pytest.approx(step / np.linalg.norm(w_before), rel=1e-9)
        assert row["update_ratio"] == pytest.approx(0.01 * row["grad_norm"] / row["weight_norm"], rel=1e-9)
    probs = rec["out"]
    assert layer(snap, "out")["saturated"] == pytest.approx(np.mean((probs < 0.01) | (probs > 0.99)))
    assert layer(snap, "mean")["act_mean"] == pytest.approx(rec["mean"].mean())
    kl = 0.5 * (rec["mean"] ** 2 + np.exp(rec["logvar"]) - 1 - rec["logvar"])
    np.testing.assert_allclose(snap["kl_per_unit"], kl.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(snap["sigma_per_unit"], np.exp(0.5 * rec["logvar"]).mean(axis=0), rtol=1e-12)
    assert snap["active_units"] == int((rec["mean"].var(axis=0) > 0.01).sum())


def test_histogram_equals_numpys_and_training_histograms_sample_the_batch():
    rng = np.random.default_rng(5)
    for values in (rng.standard_normal(5000).astype(np.float32), np.repeat(np.linspace(-1, 1, 41), 3)):
        counts, edges = histogram(values, bins=40)
        want, want_edges = np.histogram(values, bins=40, range=(values.min(), values.max()))
        np.testing.assert_array_equal(counts, want)  # values on bin edges included
        np.testing.assert_allclose(edges, want_edges, rtol=1e-6, atol=1e-7)
    for trial in range(300):  # values on or next to bin edges, both float types, many scales
        dtype = (np.float32, np.float64)[trial % 2]
        values = (rng.standard_normal(rng.integers(2, 50)) * rng.uniform(1e-3, 1e3) + rng.uniform(-1e3, 1e3))
        values = values.astype(dtype)
        inner = np.linspace(float(values.min()), float(values.max()), 41, dtype=dtype)[1:-1]
        values = np.concatenate([values, inner, np.nextafter(inner, -np.inf)])  # on and just below the edges
        want = np.histogram(values, bins=40, range=(float(values.min()), float(values.max())))[0]
        np.testing.assert_array_equal(histogram(values, bins=40)[0], want)
    model = small_model(hidden=(512,), latent=4)  # 4096 values = the first 8 of 64 images
    x, eps = faces(64), np.zeros((64, 4))
    snap, rec, _, _ = one_inspected_step(model, x, eps)
    pre = rec["enc0.pre"][:8]
    np.testing.assert_array_equal(layer_histograms(layer(snap, "enc0"))[0][0],
                                  np.histogram(pre, bins=40, range=(pre.min(), pre.max()))[0])
    assert layer(snap, "enc0")["act_mean"] == pytest.approx(rec["enc0"].mean(), rel=1e-12)  # the whole batch


def test_histogram_of_constant_values_and_of_nothing():
    counts, edges = histogram(np.full(10, 3.0), bins=4)
    assert counts.sum() == 10 and edges[0] < 3.0 < edges[-1]
    counts, _ = histogram(np.array([np.nan, np.inf]), bins=4)
    assert counts.sum() == 0


def plant_dead_units(model, layer_name: str, units: list[int]) -> None:
    """Zero a unit's weights and bias: its activation input is 0 for every image, so it never fires."""
    model.params[f"{layer_name}.W"][:, units] = 0
    model.params[f"{layer_name}.b"][units] = 0


@pytest.mark.parametrize("centred", [False, True])
def test_planted_dead_units_are_counted_over_the_data_set(centred):
    model = small_model(hidden=(16,), latent=4)
    X = faces(300)
    if centred:
        model.set_input_centre(X.mean(axis=0))
    baseline = layer(inspect_model(model, X), "enc0")
    plant_dead_units(model, "enc0", [2, 5, 11])
    snap = inspect_model(model, X)
    row = layer(snap, "enc0")
    direct = (direct_forward(model, X, np.zeros((300, 4)))["enc0.pre"] > 0).sum(axis=0)
    assert row["dead"] == int((direct == 0).sum()) == baseline["dead"] + 3
    assert f"enc0: {row['dead']} of 16 units are dead (never active on any face)" in snap["diagnoses"]
    assert snap["source"] == "data set" and snap["images"] == 300


def test_a_unit_active_on_one_face_in_three_hundred_is_rare():
    model = small_model(hidden=(16,), latent=4)
    X = faces(300)
    W, b = model.params["enc0.W"], model.params["enc0.b"]
    W[:, 7] = X[42] - X.mean(axis=0)  # largest for face 42: put the threshold just below its value
    scores = X @ W[:, 7]
    b[7] = -0.5 * (np.sort(scores)[-1] + np.sort(scores)[-2])
    row = layer(inspect_model(model, X), "enc0")
    direct = (direct_forward(model, X, np.zeros((300, 4)))["enc0.pre"] > 0).sum(axis=0)
    assert direct[7] == 1
    assert row["rare"] == int(((direct > 0) & (direct < 3)).sum()) >= 1


def test_inspect_model_leaves_the_model_alone_and_matches_chunks():
    model = small_model(hidden=(16,), latent=4)
    X = faces(300)
    flat, grad = model.flat.copy(), model.grad_flat.copy()
    whole, chunked = inspect_model(model, X, chunk=1000), inspect_model(model, X, chunk=37)
    np.testing.assert_array_equal(model.flat, flat)
    np.testing.assert_array_equal(model.grad_flat, grad)
    for a, b in zip(whole["layers"], chunked["layers"], strict=True):
        for key in ("dead", "rare", "weight_norm", "grad_norm"):
            assert a[key] == b[key], (a["name"], key)
        assert a["act_mean"] == pytest.approx(b["act_mean"], rel=1e-9)
        assert a["act_std"] == pytest.approx(b["act_std"], rel=1e-9)
    rec = direct_forward(model, X, np.zeros((300, 4)))
    assert layer(whole, "enc0")["act_std"] == pytest.approx(rec["enc0"].std(), rel=1e-9)
    assert layer(chunked, "enc0")["active_share"] == pytest.approx((rec["enc0.pre"] > 0).mean())
    np.testing.assert_array_equal(layer(chunked, "enc0")["unit_active"], (rec["enc0.pre"] > 0).sum(axis=0))
    kl = 0.5 * (rec["mean"] ** 2 + np.exp(rec["logvar"]) - 1 - rec["logvar"])
    np.testing.assert_allclose(chunked["kl_per_unit"], kl.mean(axis=0), rtol=1e-9)


def test_collapsed_latent_units_are_diagnosed():
    model = small_model(hidden=(16,), latent=4)
    for head in ("mean", "logvar"):  # three units ignore x and equal the prior: KL 0, no variance
        model.params[f"{head}.W"][:, :3] = 0
        model.params[f"{head}.b"][:3] = 0
    snap = inspect_model(model, faces(100))
    assert snap["active_units"] == 1
    np.testing.assert_allclose(snap["kl_per_unit"][:3], 0, atol=1e-12)
    assert "3 of 4 latent units are inactive (posterior collapse)" in snap["diagnoses"]


def test_update_ratio_diagnoses_in_words():
    snap = {"source": "training", "images": 640, "kl_per_unit": None, "active_units": None,
            "layers": [{"name": "out", "units": 560, "dead": None, "rare": None, "saturated": 0.0,
                        "update_ratio": 0.3, "grad_norm": 5.0, "weight_norm": 20.0},
                       {"name": "enc0", "units": 200, "dead": 57, "rare": 0, "saturated": None,
                        "update_ratio": 2e-6, "grad_norm": 0.5, "weight_norm": 20.0},
                       {"name": "mean", "units": 16, "dead": None, "rare": None, "saturated": None,
                        "update_ratio": 4e-10, "grad_norm": 3e-9, "weight_norm": 3.0}]}
    found = diagnose(snap)
    assert "update/weight ratio of out.W is 3e-1: learning rate probably too high" in found
    assert "update/weight ratio of enc0.W is 2e-6: learning rate probably too low" in found
    assert "enc0: 57 of 200 units are dead (never active on the last 640 training images)" in found
    # a layer without gradient is not blamed on the learning rate
    assert "mean.W gets almost no gradient (‖∇W‖/‖W‖ = 1e-9): it has stopped learning" in found
    assert not any("ratio of mean.W" in line for line in found)
    snap["layers"][0]["update_ratio"] = 1e-3
    assert not any("out.W" in line for line in diagnose(snap))


def test_dead_units_during_training_count_over_the_window():
    model = small_model(hidden=(16,), latent=4)
    inspector = Inspector(window=2)
    X = faces(64)
    live, off = X[:32], np.zeros((32, 560))
    model.params["enc0.b"][:] = -1.0  # on zero images every unit is off; on faces some are on
    for batch in (live, off, off):
        eps = np.zeros((len(batch), 4))
        model.forward_backward(batch, eps=eps, compute_loss=False)
        inspector.before_update(model, direct_forward(model, batch, eps))
        snap = inspector.after_update(model)
    on_faces = (direct_forward(model, live, np.zeros((32, 4)))["enc0.pre"] > 0).any(axis=0)
    assert on_faces.sum() > 0
    assert layer(snap, "enc0")["dead"] == 16  # the face batch has left the 2-step window
    np.testing.assert_array_equal(layer(snap, "enc0")["unit_active"], 0)
    assert snap["images"] == 64


def test_ae_and_learned_variance_models():
    ae = small_model(kind="ae", hidden=(16,), latent=4)
    snap = inspect_model(ae, faces(50))
    assert snap["kl_per_unit"] is None and snap["active_units"] is None
    assert layer(snap, "code")["kind"] == "relu" and layer(snap, "code")["dead"] is not None
    gauss = small_model(likelihood="gaussian-learned", hidden=(16,), latent=4)
    snap = inspect_model(gauss, faces(50))
    assert [row["name"] for row in snap["layers"]][-1] == "out_logvar"
    assert layer(snap, "out_logvar")["grad_norm"] > 0


def test_snapshot_json_has_the_documented_shape():
    import json

    snap = inspect_model(small_model(hidden=(16,), latent=4), faces(50))
    data = json.loads(json.dumps(snapshot_json(snap)))
    first = data["layers"][0]
    assert first["name"] == "enc0" and first["units"] == 16
    for key in ("dead", "rare", "act_mean", "act_std", "weight_norm", "grad_norm"):
        assert key in first
    assert len(data["kl_per_unit"]) == 4


def test_trainer_log_steps_carry_inspection_without_changing_training():
    X = faces(128).astype(np.float32)

    def run(with_inspector: bool):
        model = small_model(hidden=(16,), latent=4, dtype="float32")
        trainer = Trainer(model, make_optimizer("adam", model, lr=1e-3), X, batch_size=32, log_every=5,
                          eval_every=0)
        if with_inspector:
            trainer.inspector = Inspector()
        logs = []
        trainer.run(20, on_log=logs.append)
        return model, logs

    plain, plain_logs = run(False)
    inspected, logs = run(True)
    np.testing.assert_array_equal(plain.flat, inspected.flat)
    assert all("inspect" not in s for s in plain_logs)
    assert [s["inspect"]["step"] for s in logs] == [5, 10, 15, 20]
    snap = logs[-1]["inspect"]
    assert snap["images"] == 4 * 32
    assert all(0 < row["update_ratio"] < 1 for row in snap["layers"])


def test_subnormal_weights_are_reported():
    model = small_model(hidden=(16,), latent=4, dtype="float32")
    model.params["enc0.W"][:5, 0] = 1e-40  # below float32's smallest normal number (1.2e-38)
    snap = inspect_model(model, faces(20))
    line = next(line for line in snap["diagnoses"] if line.startswith("subnormal weights"))
    assert ": 5 of enc0.W;" in line and "dec0.W" not in line


def test_history_keeps_ratios_kl_and_active_units_over_steps():
    from core.inspection import SnapshotHistory

    history = SnapshotHistory(capacity=4)

    def snap(step):
        return {"step": step, "layers": [{"name": "enc0", "update_ratio": step * 1e-4}],
                "kl_per_unit": np.array([step, 0.0]), "active_units": 1}

    for step in (10, 20, 30, 40):
        history.add(snap(step))
    np.testing.assert_array_equal(history.steps, [10, 20, 30, 40])
    np.testing.assert_allclose(history.ratios("enc0"), [1e-3, 2e-3, 3e-3, 4e-3])
    assert history.kl.shape == (4, 2) and list(history.active) == [1, 1, 1, 1]
    history.add(snap(50))  # over capacity: every other step kept, the run's whole span still there
    np.testing.assert_array_equal(history.steps, [10, 30, 50])
    assert history.kl.shape == (3, 2)
    history.add(snap(10))  # a new run
    np.testing.assert_array_equal(history.steps, [10])


def test_overhead_benchmark_runs_both_trainers():
    from benchmarks.inspector import overhead_ratio

    ratio = overhead_ratio(faces(256).astype(np.float32), reps=1, steps=20, log_every=10, keep_weights=True)
    assert 0 < ratio < 10  # a number, not a timing claim (the machine is shared)


def test_weight_images_show_first_and_last_layer_weights_as_faces():
    from core.inspection import weight_image

    model = small_model(hidden=(5,), latent=4)
    W = model.params_numpy()["enc0.W"]
    image, caption = weight_image(W, "enc0", (28, 20))
    assert image.shape == (2 * 29 + 1, 3 * 21 + 1)  # 5 faces: 3 columns (⌈√(5·28/20)⌉) × 2 rows, one cell blank
    face1 = image[1:29, 22:42]  # row 0, column 1: unit 1, scaled to its own largest |w|
    np.testing.assert_allclose(face1, 0.5 + 0.5 * W[:, 1].reshape(28, 20) / np.abs(W[:, 1]).max())
    assert np.all(image[30:58, 43:63] == 1.0) and "enc0.W" in caption and "input" in caption
    out_image, caption = weight_image(model.params_numpy()["out.W"], "out", (28, 20))
    assert out_image.shape == image.shape and "output" in caption
    middle, caption = weight_image(model.params_numpy()["mean.W"], "mean", (28, 20))
    assert middle.shape == (4, 5) and middle.min() >= 0 and middle.max() <= 1


def test_elu_units_die_only_where_their_gradient_vanishes():
    model = small_model(hidden=(16,), latent=4, enc_activation="elu", dec_activation="elu")
    X = faces(200)
    W, b = model.params["enc0.W"], model.params["enc0.b"]
    W[:, [3, 8]] = 0
    b[3], b[8] = -20.0, -3.0  # elu'(−20) = 2e-9: dead; elu'(−3) = 0.05: never on, but still learning
    snap = inspect_model(model, X)
    row = layer(snap, "enc0")
    pre = direct_forward(model, X, np.zeros((200, 4)))["enc0.pre"]
    assert row["kind"] == "elu"
    assert row["dead"] == int((pre < np.log(1e-3)).all(axis=0).sum()) >= 1  # elu' = exp(pre) < 1e-3 everywhere
    assert row["never_on"] == int((pre <= 0).all(axis=0).sum()) >= 2
    assert f"enc0: {row['dead']} of 16 units are dead (their elu passes no gradient for any face)" in snap["diagnoses"]
    assert f"enc0: {row['never_on']} of 16 elu units never have an input > 0 on any face (they still pass gradient)" \
        in snap["diagnoses"]


def test_elu_units_in_training_snapshots_count_never_on_apart_from_dead():
    model = small_model(hidden=(16,), latent=4, enc_activation="elu", dec_activation="elu")
    W, b = model.params["enc0.W"], model.params["enc0.b"]
    W[:, [3, 8]] = 0
    b[3], b[8] = -20.0, -3.0  # dead, and never on but learning
    x, eps = faces(64), np.zeros((64, 4))
    record: dict = {}
    model.forward_backward(x, eps=eps, compute_loss=False, record=record)
    inspector = Inspector()
    inspector.before_update(model, record)
    row = layer(inspector.after_update(model), "enc0")
    pre = np.asarray(record["enc0.pre"])
    assert row["dead"] == int((pre < np.log(1e-3)).all(axis=0).sum()) >= 1
    assert row["never_on"] == int((pre <= 0).all(axis=0).sum()) >= 2
    assert row["never_on"] > row["dead"]


def test_weights_are_copied_at_most_every_interval():
    model = small_model(hidden=(16,), latent=4)
    x, eps = faces(32), np.zeros((32, 4))

    def snapshots(inspector, n):
        out = []
        for _ in range(n):
            record: dict = {}
            model.forward_backward(x, eps=eps, compute_loss=False, record=record)
            inspector.before_update(model, record)
            model.flat -= 0.01 * model.grad_flat
            out.append(inspector.after_update(model))
        return out

    every = snapshots(Inspector(keep_weights=True, weights_every_s=0.0), 2)
    np.testing.assert_array_equal(every[-1]["weights"]["enc0"], model.params["enc0.W"])  # a copy, current
    assert not np.shares_memory(every[-1]["weights"]["enc0"], model.flat)
    throttled = snapshots(Inspector(keep_weights=True, weights_every_s=3600.0), 2)
    assert throttled[0]["weights"] is throttled[1]["weights"]  # the first copy, reused within the hour
    assert "weights" not in snapshots(Inspector(), 1)[0]
