"""One command for every VAE Explorer benchmark: ``python benchmarks/run.py [--json] [--quick]``.

Prints a table (or, with --json, exactly one JSON object on stdout) of:
training steps/s of our engine vs PyTorch on the identical VAE and AE, our step over the GEMM floor,
gradcheck wall times, and the GUI latencies (the real widgets offscreen, in a child process: the GUI as it runs).
Keys whose measurement is impossible here (PyTorch or the GUI missing) are null.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, are removed from this process's own environment
(both together, by re-executing itself before NumPy loads) because they slow current OpenBLAS
kernels; --keep-openblas-env keeps them. Tests and CI never change them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--quick", action="store_true", help="few repetitions (a smoke run; numbers are rough)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/PyTorch threads for both sides (default 1: the 2 shared cores here make "
                        "multi-threaded BLAS stall)")
    p.add_argument("--reps", type=int, default=None, help="alternating repetitions (default 9; 3 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    p.add_argument("--no-gui", action="store_true", help="skip the GUI latencies (keys null)")
    p.add_argument("--no-gradcheck", action="store_true", help="skip the gradcheck timings (keys null)")
    p.add_argument("--no-bigdata", action="store_true", help="skip the 70 000-image data set (big_* keys null)")
    p.add_argument("--keep-openblas-env", action="store_true", help=f"keep {'/'.join(OPENBLAS_VARS)} if set")
    return p.parse_args(argv)


def reexec_without_openblas_env(args) -> None:
    """OpenBLAS reads these variables once when it loads, so drop them and restart this script."""
    present = [v for v in OPENBLAS_VARS if v in os.environ]
    if not present or args.keep_openblas_env or "numpy" in sys.modules:
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    env["VAE_BENCH_UNSET_OPENBLAS_ENV"] = ",".join(f"{v}={os.environ[v]}" for v in present)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def machine_name() -> str:
    """CPU model and core count, e.g. 'AMD EPYC, 2 cores'."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def blas_info() -> dict:
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {"blas": pool.get("internal_api"), "blas_version": pool.get("version"),
                    "blas_kernel": pool.get("architecture"), "blas_threads_default": pool.get("num_threads")}
    return {"blas": None, "blas_version": None, "blas_kernel": None, "blas_threads_default": None}


def run_engine(args, reps: int, results: dict) -> None:
    from benchmarks import engine

    X, source = engine.load_faces()
    results["data"] = source
    with_torch = results["torch_version"] is not None
    steps = 40 if args.quick else 300
    for kind in ("vae", "ae"):
        results.update(engine.training_throughput(kind, X, reps, steps, with_torch))
    # both cores (issue 27): ours at threads="auto", PyTorch at the faster of 1 and 2 threads each repetition
    best_reps = reps if args.quick else max(reps, 5)
    for kind in ("vae", "ae"):
        results[f"train_{kind}_load_avg"] = os.getloadavg()[0]
        results[f"train_{kind}_core2_speedup"] = engine.second_core_speedup()
        results.update(engine.training_best(kind, X, best_reps, steps) if with_torch else
                       {f"train_{kind}_ratio_best": None})
    results.update(engine.step_over_gemm_floor(X, reps, steps))
    results["step_2core_load_avg"] = os.getloadavg()[0]
    results["step_2core_core2_speedup"] = engine.second_core_speedup()
    results.update(engine.step_over_2core_floor(X, best_reps, steps))
    from benchmarks import inspector

    results.update(inspector.run(X, reps, steps))
    from benchmarks import runs  # the run ledger (issue 24)

    results.update(runs.run(X, args.quick, with_gui=not args.no_gui))
    from benchmarks import animation  # issue 25: a 60-frame 15×15 grid GIF

    results.update(animation.run(X, 1 if args.quick else 3))
    from benchmarks import bigdata  # issue 15: an MNIST-size set (70 000 × 28×28, made by the benchmark)

    results.update(dict.fromkeys(bigdata.KEYS) if args.no_bigdata else
                   bigdata.run(args.quick, with_torch, with_gui=not args.no_gui))
    for key in ("gradcheck_full_small_s", "gradcheck_direction_s", "gradcheck_full_shipped_s"):
        results[key] = None
    if not args.no_gradcheck:
        results["gradcheck_full_small_s"], results["gradcheck_full_small_cpu_s"] = engine.gradcheck_seconds(
            X, "full", 32, 8, 1 if args.quick else 3)
        results["gradcheck_full_small_one_at_a_time_s"], _ = engine.gradcheck_seconds(X, "full", 32, 8, 1,
                                                                                      batched_full=False)
        results["gradcheck_full_small_speedup"] = (results["gradcheck_full_small_one_at_a_time_s"]
                                                   / results["gradcheck_full_small_s"])
        results["gradcheck_full_shipped_s"], results["gradcheck_full_shipped_cpu_s"] = \
            engine.gradcheck_shipped_seconds(X, ROOT / "model" / "vae_gauss.npz", 1 if args.quick else 3)
        results["gradcheck_direction_s"], results["gradcheck_direction_cpu_s"] = engine.gradcheck_seconds(
            X, "direction", 256, 16, 3 if args.quick else 7, batch=8)


GUI_KEYS = ("slider_p50_ms", "slider_p95_ms", "slider_cpu_p95_ms", "grid15_ms", "ui_stall_p99_ms", "ui_stall_max_ms",
            "ui_stall_idle_p99_ms", "slider_train_p50_ms", "slider_train_p95_ms", "slider_train_cpu_p95_ms",
            "gradcheck_direction_gui_s", "cold_start_s")


def run_gui(args, results: dict) -> None:
    from benchmarks.atlas import KEYS as ATLAS_KEYS

    for key in GUI_KEYS + ATLAS_KEYS:
        results[key] = None
    if args.no_gui:
        return
    try:
        from benchmarks import gui
    except ImportError as exc:  # the GUI or Qt is not importable here
        results["gui_error"] = f"{type(exc).__name__}: {exc}"
        return
    results.update(gui.run_in_own_process(quick=args.quick))
    from benchmarks import atlas  # the latent atlas (issue 14)

    results.update(atlas.run_all(quick=args.quick))


TABLE = [
    ("train_vae_steps_per_s", "VAE 560-256-16 training, ours", "steps/s", None),
    ("train_vae_torch_steps_per_s", "VAE training, PyTorch", "steps/s", None),
    ("train_vae_ratio", "VAE ours / PyTorch", "x", ">= 1.5"),
    ("train_ae_steps_per_s", "AE 560-256-16 training, ours", "steps/s", None),
    ("train_ae_torch_steps_per_s", "AE training, PyTorch", "steps/s", None),
    ("train_ae_ratio", "AE ours / PyTorch", "x", ">= 1.5"),
    ("train_vae_cpu_ratio", "VAE ours / PyTorch, CPU time", "x", None),
    ("train_ae_cpu_ratio", "AE ours / PyTorch, CPU time", "x", None),
    ("train_vae_torch_fused_steps_per_s", "VAE, PyTorch with Adam(fused=True)", "steps/s", None),
    ("train_vae_fused_ratio", "VAE ours / PyTorch fused Adam", "x", None),
    ("train_ae_torch_fused_steps_per_s", "AE, PyTorch with Adam(fused=True)", "steps/s", None),
    ("train_ae_fused_ratio", "AE ours / PyTorch fused Adam", "x", None),
    ("vae_step_cpu_ms", "VAE step (fwd+bwd+Adam), ours, CPU", "ms", None),
    ("gemm_floor_cpu_ms", "its matrix products alone (NumPy), CPU", "ms", None),
    ("gemm_floor_ratio", "step / GEMM floor", "x", "<= 1.8"),
    ("train_vae_best_steps_per_s", "VAE training, ours, threads auto", "steps/s", None),
    ("train_vae_torch_best_steps_per_s", "VAE training, PyTorch at its best of 1, 2 threads", "steps/s", None),
    ("train_vae_ratio_best", "VAE ours / PyTorch, each at its best", "x", ">= 1.5"),
    ("train_ae_best_steps_per_s", "AE training, ours, threads auto", "steps/s", None),
    ("train_ae_torch_best_steps_per_s", "AE training, PyTorch at its best of 1, 2 threads", "steps/s", None),
    ("train_ae_ratio_best", "AE ours / PyTorch, each at its best", "x", ">= 1.5"),
    ("vae_step_auto_ms", "VAE step, ours, threads auto, wall", "ms", None),
    ("gemm_2core_floor_ms", "its matrix products split over 2 cores, wall", "ms", None),
    ("step_vs_2core_floor", "step / 2-core GEMM floor", "x", "<= 1.8"),
    ("inspector_overhead_ratio", "training with the inspector / without, log every 10", "x", ">= 0.9"),
    ("inspector_overhead_ratio_cli", "  the same, log every 100 (CLI default)", "x", ">= 0.9"),
    ("ledger_overhead_ratio", "training with the run ledger / without", "x", ">= 0.97"),
    ("ledger_overhead_cpu_ratio", "  the same in steps per CPU second", "x", None),
    ("ledger_overhead_inrun_ratio", "  1 − share of a run's time inside the recorder", "x", None),
    ("ledger_end_s", "  its end of a run (final snapshot, IWAE, units)", "s", None),
    ("runs_list_1000_s", "main.py runs list --json, 1000 runs", "s", "<= 0.3"),
    ("runs_list_1000_cpu_s", "  the same, CPU time", "s", None),
    ("compare_overlay_ms", "Runs tab: 6 runs × 60 000 steps overlaid", "ms", "<= 100"),
    ("compare_overlay_cpu_ms", "  the same, UI-thread CPU time", "ms", None),
    ("compare_overlay_log10_ms", "  the same logged every 10 steps (10× the points)", "ms", None),
    ("compare_overlay_log10_cpu_ms", "  the same, UI-thread CPU time", "ms", None),
    ("big_load_s", "70 000 × 28×28 IDX .gz loaded", "s", "<= 2"),
    ("big_rss_ratio", "  peak memory of load + training / its float32 size", "x", "<= 4"),
    ("big_encode_s", "  all 70 000 encoded (VAE 784-256-16)", "s", "<= 2"),
    ("big_train_steps_per_s", "  VAE 784-256-16 training, ours", "steps/s", None),
    ("big_train_torch_steps_per_s", "  the same, PyTorch", "steps/s", None),
    ("big_train_ratio", "  ours / PyTorch on 784-pixel images", "x", ">= 1.5"),
    ("big_train_ratio_best", "  the same, each at its best thread count", "x", ">= 1.5"),
    ("big_hover_p95_ms", "  latent map, 70 000 points: hover -> face, p95", "ms", "<= 16"),
    ("big_hover_cpu_p95_ms", "  the same, UI thread CPU time", "ms", None),
    ("big_pan_fps", "  latent map, 70 000 points: pan/zoom", "frames/s", ">= 30"),
    ("big_pan_frame_p95_ms", "  its frame time p95", "ms", None),
    ("big_load_avg", "  load average when the big set's run started", "", None),
    ("gif_export_s", "60-frame 15×15 grid GIF written", "s", "<= 2"),
    ("gif_export_cpu_s", "  its CPU time", "s", None),
    ("gradcheck_full_small_s", "gradcheck full, VAE 560-32-8, batch 4", "s", "<= 1"),
    ("gradcheck_full_small_cpu_s", "gradcheck full, VAE 560-32-8, CPU", "s", None),
    ("gradcheck_full_small_one_at_a_time_s", "  the same one entry at a time (before)", "s", None),
    ("gradcheck_full_small_speedup", "  speed-up of the batching", "x", None),
    ("gradcheck_full_shipped_s", "gradcheck full, model/vae_gauss.npz, batch 4", "s", "<= 30"),
    ("gradcheck_full_shipped_cpu_s", "gradcheck full, model/vae_gauss.npz, CPU", "s", None),
    ("gradcheck_direction_s", "gradcheck direction, VAE 560-256-16", "s", "<= 0.5"),
    ("gradcheck_direction_gui_s", "  the same from the Gradcheck panel", "s", "<= 0.5"),
    ("slider_p50_ms", "latent slider -> face, p50", "ms", None),
    ("slider_p95_ms", "latent slider -> face, p95", "ms", "<= 4"),
    ("slider_cpu_p95_ms", "  its UI-thread CPU time, p95", "ms", None),
    ("grid15_ms", "15x15 latent grid rebuilt", "ms", "<= 30"),
    ("ui_stall_p99_ms", "UI event-loop stall while training, p99", "ms", "<= 50"),
    ("ui_stall_max_ms", "UI event-loop stall while training, max", "ms", None),
    ("ui_stall_idle_p99_ms", "UI event-loop stall, window idle, p99", "ms", None),
    ("slider_train_p95_ms", "latent slider -> face while training, p95", "ms", "<= 4"),
    ("slider_train_cpu_p95_ms", "  its UI-thread CPU time, p95", "ms", None),
    ("cold_start_s", "cold start to first shown window", "s", "<= 1.5"),
    ("hover_decode_p95_ms", "latent map: hover empty space -> face, p95", "ms", "<= 8"),
    ("hover_decode_cpu_p95_ms", "  its UI-thread CPU time, p95", "ms", None),
    ("thumbnails_toggle_ms", "latent map: all 1965 faces on", "ms", "<= 150"),
    ("map_pan_fps", "latent map: pan/zoom with faces on", "fps", ">= 30"),
    ("map_pan_cpu_fps", "  the same from UI-thread CPU time", "fps", None),
    ("map_pan_frame_p95_ms", "  its frame time, p95", "ms", None),
    ("encode_image_ms", "your image dropped -> marked on the map", "ms", "<= 50"),
    ("encode_image_p95_ms", "  the same, p95", "ms", None),
    ("encode_image_faces_on_ms", "  the same with the faces on the map", "ms", None),
]


def threads_text(report: dict | None) -> str:
    """'auto, 2 threads at the end (steps at 1/2 threads: 24/216, 1 probe)' from a Trainer.thread_report()."""
    if not report:
        return "n/a"
    text = f"{report['setting']}, {report['threads']} thread(s) at the end"
    if "steps_at" in report:
        text += (f" (steps at 1/2 threads: {report['steps_at']['1']}/{report['steps_at']['2']}, "
                 f"{report['probes']} probe(s), {report.get('switches', 0)} switch(es))")
    return text


def print_table(results: dict) -> None:
    print(f"VAE Explorer benchmarks  {results['date']}  {results['machine']}")
    print(f"python {results['python']}, numpy {results['numpy_version']} ({results['blas']} {results['blas_version']}, "
          f"kernel {results['blas_kernel']}), torch {results['torch_version']}, threads {results['threads']}, "
          f"data {results.get('data')}, repetitions {results['reps']}")
    if results.get("openblas_env_unset"):
        print(f"unset for this run: {results['openblas_env_unset']}")
    print(f"{'measure':<44}{'value':>12}  {'unit':<8}target")
    for key, label, unit, target in TABLE:
        value = results.get(key)
        if value is None:
            text = "n/a"
        else:
            text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
        print(f"{label:<44}{text:>12}  {unit:<8}{target or ''}")
    for key in ("train_vae", "train_ae", "big_train"):  # the thread counts behind the *_ratio_best keys
        if results.get(f"{key}_torch_best_threads") is not None:
            print(f"{key}: PyTorch's faster thread count per repetition {results[f'{key}_torch_best_threads']}; "
                  f"ours {threads_text(results.get(f'{key}_threads'))}")
    for key in ("train_vae_load_avg", "train_ae_load_avg", "step_2core_load_avg", "big_load_avg"):
        if results.get(key) is not None:
            speedup = results.get(f"{key[:-9]}_core2_speedup")
            print(f"load average (1 min) at the start of {key[:-9]}: {results[key]:.2f}"
                  + ("" if speedup is None else f"; the second core's speedup of one product then {speedup:.2f}×"))


def main(argv=None) -> int:
    args = parse_args(argv)
    reexec_without_openblas_env(args)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from threadpoolctl import threadpool_limits

    reps = args.reps or (3 if args.quick else 9)
    results: dict = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_name(),
        "python": platform.python_version(), "numpy_version": np.__version__, "threads": args.threads,
        "reps": reps, "quick": args.quick, "openblas_env_unset": os.environ.get("VAE_BENCH_UNSET_OPENBLAS_ENV"),
        "torch_version": None,
    }
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            results["torch_version"] = torch.__version__
        except ImportError:
            pass
    import scipy.linalg.blas  # noqa: F401  SciPy's OpenBLAS (data loading, fallbacks) loaded, so the limit below pins it

    with threadpool_limits(limits=args.threads, user_api="blas"):
        results.update(blas_info())
        run_engine(args, reps, results)
        run_gui(args, results)
    if args.json:
        print(json.dumps(results))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
