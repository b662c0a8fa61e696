"""Smoke tests of benchmarks/: the one-command script still runs and its JSON keeps its keys.

No timing is asserted (the machine is shared); only that every measurement runs and gives a
number (or null where PyTorch is absent / the part was skipped on purpose).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qt_cleanup import delete_widgets_after_test  # noqa: F401  (autouse: the GUI benchmarks leave no widget behind)

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_KEYS = {
    "torch_version", "threads", "train_vae_steps_per_s", "train_vae_torch_steps_per_s", "train_vae_ratio",
    "train_ae_steps_per_s", "train_ae_torch_steps_per_s", "train_ae_ratio", "gemm_floor_ratio", "slider_p95_ms",
    "grid15_ms", "ui_stall_p99_ms", "cold_start_s", "gradcheck_full_small_s", "gradcheck_direction_s", "gif_export_s",
    "ledger_overhead_ratio", "runs_list_1000_s", "compare_overlay_ms", "train_vae_core2_speedup",
    "step_2core_core2_speedup",
}
HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_quick_json_run_prints_one_object_with_every_key():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", "--reps", "1",
                          "--no-gui", "--no-gradcheck"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)  # exactly one JSON object, nothing else on stdout
    assert REQUIRED_KEYS <= results.keys()
    assert results["threads"] == 1
    for kind in ("vae", "ae"):
        assert results[f"train_{kind}_steps_per_s"] > 0
        torch_keys = [f"train_{kind}_torch_steps_per_s", f"train_{kind}_ratio", f"train_{kind}_torch_fused_steps_per_s",
                      f"train_{kind}_fused_ratio"]
        if HAS_TORCH:
            assert all(results[k] > 0 for k in torch_keys)
        else:
            assert all(results[k] is None for k in torch_keys)
    assert results["torch_version"] is None or isinstance(results["torch_version"], str)
    assert results["gemm_floor_ratio"] > 0
    assert results["step_vs_2core_floor"] > 0 and results["vae_step_auto_threads"]["setting"] == "auto"
    for key in ("train_vae", "train_ae", "big_train"):  # each side at its best thread count (issue 27)
        if HAS_TORCH:
            assert results[f"{key}_ratio_best"] > 0
            assert set(results[f"{key}_torch_best_threads"]) <= {1, 2}
            assert results[f"{key}_threads"]["setting"] == "auto"
        else:
            assert results[f"{key}_ratio_best"] is None
    assert results["gif_export_s"] > 0
    assert results["ledger_overhead_ratio"] > 0 and results["runs_list_1000_s"] > 0
    for skipped in ("compare_overlay_ms", "slider_p95_ms", "grid15_ms", "ui_stall_p99_ms", "cold_start_s",
                    "gradcheck_full_small_s"):
        assert results[skipped] is None


def test_gemm_shapes_are_the_vae_step_products(monkeypatch):
    """The GEMM floors run exactly the products of a real training step: recorded from one Trainer step."""
    import core.layers
    import core.models
    import core.parallel
    from benchmarks.engine import engine_stepper, vae_gemm_shapes

    step = engine_stepper("vae", np.random.default_rng(0).random((200, 560), dtype=np.float32))
    seen = []

    def recording_matmul(a, b, out=None):
        seen.append((a.shape, b.shape, not a.flags.c_contiguous, not b.flags.c_contiguous))
        return core.parallel.matmul(a, b, out=out)

    for module in (core.layers, core.models):
        monkeypatch.setattr(module, "matmul", recording_matmul)
    step()
    step.__self__.close()
    expected = [(a[::-1] if ta else a, b[::-1] if tb else b, ta, tb)
                for a, b, ta, tb in vae_gemm_shapes(n=64, d=560, h=256, latent=16)]
    assert seen == expected and len(seen) == 14


def test_gradcheck_timing_runs_and_checks_the_gradient(frey):
    from benchmarks.engine import gradcheck_seconds

    wall, cpu = gradcheck_seconds(frey, "direction", 32, 8, reps=1)
    assert wall > 0 and cpu > 0


def test_runs_overlay_measurement_draws_six_runs(qapp):
    from benchmarks import runs

    wall, cpu = runs.compare_overlay_ms(reps=1)  # asserts the six curves were drawn
    assert wall > 0 and cpu > 0


@pytest.mark.slow
def test_gui_measurements_run(qapp):
    from benchmarks import gui

    slider = gui.slider_latency(3)
    assert 0 < slider["slider_p50_ms"] <= slider["slider_p95_ms"] and slider["slider_cpu_p95_ms"] > 0
    assert gui.grid_rebuild(1)["grid15_ms"] > 0
    stall = gui.ui_stall(0.4)
    assert stall["ui_stall_p99_ms"] >= 0 and stall["ui_stall_train_logs"] > 0
    assert gui.gradcheck_direction_gui(1)["gradcheck_direction_gui_s"] > 0
    assert gui.cold_start(1)["cold_start_s"] > 0


def test_gui_measurements_run_in_a_process_of_their_own():
    """benchmarks/run.py measures the GUI in a fresh process, as a user runs it (not where its engine parts left
    NumPy's BLAS at two threads); the keys come back, and a process that does not answer is reported."""
    from benchmarks import gui

    results = gui.run_in_own_process(quick=True, only=["grid15"])
    assert set(results) == {"grid15_ms"} and results["grid15_ms"] > 0
    assert "no answer" in gui.run_in_own_process(quick=True, only=["grid15"], timeout_s=0.01)["gui_errors"]["process"]


def test_gui_process_that_prints_no_json_is_reported_not_raised(monkeypatch):
    import subprocess as sp

    from benchmarks import gui

    monkeypatch.setattr(gui.subprocess, "run", lambda *a, **k: sp.CompletedProcess(a, 0, "not json\n", "warning"))
    assert gui.run_in_own_process(quick=True)["gui_errors"]["process"] == "exit 0: warning"


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is a benchmark-only dependency")
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_torch_reference_is_the_identical_network(kind, frey):
    """The PyTorch side of the throughput comparison computes our objective from our weights."""
    import numpy as np
    import torch

    from benchmarks.engine import engine_model
    from benchmarks.torch_ref import from_engine

    model = engine_model(kind)
    x = frey[:64]
    eps = np.random.default_rng(0).standard_normal((64, model.config.latent)).astype(np.float32)
    ours = model.forward_backward(model.asarray(x), model.asarray(eps), compute_loss=True)["objective"]
    theirs = from_engine(model).loss(torch.from_numpy(x), torch.from_numpy(eps) if kind == "vae" else None).item()
    assert theirs == pytest.approx(ours, rel=1e-5)


def test_big_map_measurements_hover_points_and_paint_every_pan_frame(qapp):
    """benchmarks/bigdata.py's GUI half on a smaller set: every hover lands on a point and shows its face,
    every pan frame paints the map (it raises otherwise)."""
    import numpy as np

    from benchmarks import bigdata
    from core.dataset import Dataset

    images = np.random.default_rng(0).random((3000, 28 * 28), dtype=np.float32)
    results = bigdata.gui_speeds(Dataset(images, (28, 28), "noise"), quick=True)
    assert set(results) == set(bigdata.GUI_KEYS)
    assert all(value > 0 for value in results.values())


def test_second_core_speedup_is_a_ratio_of_two_timed_counts_and_gives_the_count_back():
    from benchmarks.engine import second_core_speedup
    from core.parallel import blas_threads

    blas = blas_threads()
    assert blas.available, blas.reason
    speedup = second_core_speedup(seconds=0.05)
    assert 0.05 < speedup < 4  # one product at one thread over at two: never 0, never a count of calls
    assert blas.current == blas.initial
