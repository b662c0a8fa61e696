"""``main.py runs list|show|compare|export|rm|gc``: the run ledger (core.ledger) from the command line.

The ``--json`` forms are kept stable (tests hold them): ``list`` prints one JSON array of run objects
(RunRecord.as_json: "id", "status", "parent", "settings", "metrics", "snapshots", …); ``compare`` prints
{"runs": [ids], "differs": {setting: [value per run]}, "metrics": {"id": {…}}}.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

from .common import CliError, add_force, add_runs_arg, positive_int

SUMMARY_COLUMNS = (("id", 4), ("status", 11), ("kind", 4), ("data", 10), ("step", 7), ("beta", 5), ("latent", 6),
                   ("lr", 8), ("test_neg_elbo", 13), ("snaps", 5), ("disk", 8), ("parent", 6), ("tags", 0))
MAX_COMPARE = 8


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="the run ledger: every training run, listed, compared, exported")
    add_runs_arg(p)
    verbs = p.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the runs, filtered and sorted")
    ls.add_argument("--kind", choices=["ae", "vae"], default=None)
    ls.add_argument("--data", default=None, help="data set name, e.g. frey")
    ls.add_argument("--status", default=None, help="running, finished, stopped, interrupted, diverged or crashed")
    ls.add_argument("--tag", default=None)
    ls.add_argument("--sort", default=None, metavar="KEY", help="a metric or setting, e.g. test_neg_elbo or beta")
    ls.add_argument("--desc", action="store_true", help="largest first")
    show = verbs.add_parser("show", help="one run: settings, history summary, snapshots")
    show.add_argument("id", type=positive_int)
    cmp_ = verbs.add_parser("compare", help="2–8 runs: the settings that differ and the metrics side by side")
    cmp_.add_argument("ids", type=positive_int, nargs="+")
    ex = verbs.add_parser("export", help="a run's curves as CSV and/or its weights at a snapshot as a model file")
    ex.add_argument("spec", metavar="ID[@STEP]")
    ex.add_argument("--csv", default=None, metavar="F.csv", help="the loss history")
    ex.add_argument("--model", default=None, metavar="F.npz", help="the snapshot (default: the latest) as a model file")
    add_force(ex, "CSV table or model file")
    rm = verbs.add_parser("rm", help="delete runs and their snapshot files")
    rm.add_argument("ids", type=positive_int, nargs="+")
    gc = verbs.add_parser("gc", help="reclaim disk: stray snapshot files, and with --keep fewer snapshots per run")
    gc.add_argument("--keep", type=positive_int, default=None, metavar="N", help="thin each ended run to N snapshots")
    for verb in (ls, show, cmp_, ex, rm, gc):
        verb.add_argument("--json", action="store_true", help="machine-readable output")
        verb.set_defaults(run=run)


def run(args) -> int:
    from core.ledger import Ledger

    with Ledger() as ledger:  # the folder: --runs (which set $VAE_RUNS), $VAE_RUNS, XDG
        return VERBS[args.verb](ledger, args)


# ------------------------------------------------------------------ verbs
def list_runs(ledger, args) -> int:
    records = ledger.runs(kind=args.kind, dataset=args.data, status=args.status, tag=args.tag, sort=args.sort,
                          descending=args.desc)
    if args.json:
        print(json.dumps([r.as_json() for r in records]))
        return 0
    print(f"{len(records)} runs in {ledger.path}")
    print(_row({name: name for name, _ in SUMMARY_COLUMNS}))
    for r in records:
        print(_row(summary(r)))
    return 0


def show_run(ledger, args) -> int:
    record = ledger.run(args.id)
    out = {**record.as_json(), "history": history_summary(ledger.history(args.id))}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"run {record.id}  {record.status}  {record.kind} on {record.dataset}  step {record.last_step}"
          + (f"  (branched from run {record.parent} at step {record.parent_step})" if record.parent else ""))
    for title, section in (("settings", record.settings), ("metrics", record.metrics), ("history", out["history"])):
        print(f"{title}:")
        for key, value in section.items():
            print(f"  {key:<18}{_fmt(value)}")
    for segment in record.segments:
        changes = ", ".join(f"{k} {_fmt(a)} -> {_fmt(b)}" for k, (a, b) in segment.get("changed", {}).items())
        print(f"from step {segment.get('step')}: {changes}")
    print(f"snapshots ({len(record.snapshots)}, {_size(record.disk_bytes)}): {', '.join(map(str, record.snapshots))}")
    for label, value in (("tags", ", ".join(record.tags)), ("note", record.note), ("command", record.command),
                         ("message", record.message)):
        if value:
            print(f"{label}: {value}")
    return 0


def compare_runs(ledger, args) -> int:
    ids = list(dict.fromkeys(args.ids))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise CliError(f"runs compare takes 2 to {MAX_COMPARE} different run ids; got {len(ids)}")
    records = [ledger.run(i) for i in ids]
    from core.ledger import compare

    out = compare(records)
    if args.json:
        print(json.dumps(out))
        return 0
    width = max([len(k) for k in out["differs"]] + [len(k) for m in out["metrics"].values() for k in m] + [8])
    print(f"{'run':<{width}}" + "".join(f"{i:>14}" for i in ids))
    print("settings that differ:" if out["differs"] else "the settings are the same")
    for key, values in out["differs"].items():
        print(f"{key:<{width}}" + "".join(f"{_fmt(v):>14}" for v in values))
    print("metrics:")
    for key in sorted({k for m in out["metrics"].values() for k in m}):
        print(f"{key:<{width}}" + "".join(f"{_fmt(out['metrics'][str(i)].get(key)):>14}" for i in ids))
    return 0


def export_run(ledger, args) -> int:
    from core.recorder import parse_run_spec

    run_id, step = parse_run_spec(args.spec)
    if not (args.csv or args.model):
        raise CliError("runs export: give --csv F.csv and/or --model F.npz")
    record = ledger.run(run_id)
    written = {}
    if args.csv:
        from core.safe_io import CSV, atomic_write

        text = curves_csv(ledger.history(run_id), int(record.settings.get("batch_size") or 0))
        written["csv"] = str(atomic_write(args.csv, CSV, lambda f: f.write(text.encode()), force=args.force))
    if args.model:
        from core.checkpoint import MODEL_FILE
        from core.safe_io import atomic_write

        found, source = ledger.snapshot_path(run_id, step)
        with open(source, "rb") as src:
            written["model"] = str(atomic_write(args.model, MODEL_FILE, lambda f: shutil.copyfileobj(src, f),
                                                force=args.force))
        written["step"] = found
    print(json.dumps(written) if args.json else "\n".join(f"wrote {v}" for k, v in written.items() if k != "step"))
    return 0


def remove_runs(ledger, args) -> int:
    freed = ledger.remove(args.ids)
    print(json.dumps({"removed": args.ids, "bytes": freed}) if args.json else
          f"removed {len(args.ids)} run(s), freed {_size(freed)}")
    return 0


def collect(ledger, args) -> int:
    out = ledger.gc(args.keep)
    print(json.dumps(out) if args.json else f"removed {out['files']} snapshot file(s), freed {_size(out['bytes'])}")
    return 0


VERBS = {"list": list_runs, "show": show_run, "compare": compare_runs, "export": export_run, "rm": remove_runs,
         "gc": collect}


# ------------------------------------------------------------------ table rows and CSV
def summary(record) -> dict:
    """The table row of one run (column name -> text)."""
    s = record.settings
    return {"id": str(record.id), "status": record.status, "kind": record.kind or "", "data": record.dataset or "",
            "step": str(record.last_step), "beta": _fmt(s.get("beta")), "latent": _fmt(s.get("latent")),
            "lr": _fmt(s.get("lr")), "test_neg_elbo": _fmt(record.metrics.get("test_neg_elbo")),
            "snaps": str(len(record.snapshots)), "disk": _size(record.disk_bytes),
            "parent": "" if record.parent is None else str(record.parent), "tags": ",".join(record.tags)}


def history_summary(history: dict) -> dict:
    evals = [(v, s) for s, v in zip(history["eval_step"], history["eval"], strict=True) if v is not None]
    best = min(evals) if evals else (None, None)
    return {"points": len(history["step"]), "first_step": history["step"][0] if history["step"] else None,
            "last_step": history["step"][-1] if history["step"] else None,
            "last_total": history["total"][-1] if history["total"] else None,
            "evals": len(history["eval"]), "best_eval": best[0], "best_eval_step": best[1]}


def curves_csv(history: dict, batch_size: int) -> str:
    """The loss history as CSV: step, wall_s, images_seen, total, rec, kl, objective, kl_weight, eval_neg_elbo
    (one row per logged or evaluated step; empty cells where a step has no such value)."""
    rows: dict[int, dict] = {}
    for i, step in enumerate(history["step"]):
        rows[step] = {k: history[k][i] for k in ("wall", "total", "rec", "kl", "objective", "kl_weight")}
    for step, wall, value in zip(history["eval_step"], history["eval_wall"], history["eval"], strict=True):
        rows.setdefault(step, {"wall": wall})["eval"] = value
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "wall_s", "images_seen", "total", "rec", "kl", "objective", "kl_weight", "eval_neg_elbo"])
    for step in sorted(rows):
        r = rows[step]
        values = ("" if r.get(k) is None else r[k] for k in ("total", "rec", "kl", "objective", "kl_weight", "eval"))
        w.writerow([step, r.get("wall"), step * batch_size, *values])
    return buf.getvalue()


def _row(cells: dict) -> str:
    return "  ".join(f"{cells[name]:<{width}}" if width else cells[name] for name, width in SUMMARY_COLUMNS).rstrip()


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
