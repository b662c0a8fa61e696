"""The run ledger: every training run kept in one SQLite file (``runs.db``), its weight snapshots as
model files beside it.

Where: ``$VAE_RUNS`` when set, else ``$XDG_DATA_HOME/vae-explorer`` (``~/.local/share/vae-explorer``);
the CLI's ``--runs DIR`` sets ``VAE_RUNS``. Inside: ``runs.db`` (WAL mode, so readers never block the
one writer and a killed writer never corrupts it) and ``snapshots/<run id>/step-<N>.npz``.

One ``Ledger`` is one connection: use it from the thread that opened it (sqlite3's rule). Every write
is one short ``BEGIN IMMEDIATE`` transaction, so two training processes writing at once wait for each
other (busy timeout) and lose nothing. A run left "running" by a process that no longer exists (SIGKILL,
power cut) is shown as "crashed" (``reap``). Every failure to open or use the file is a ``LedgerError``
with one line saying why; training goes on without the ledger then (core.recorder).

No NumPy here: ``main.py runs list`` stays fast.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VaeError

SCHEMA_VERSION = 1
DB_NAME = "runs.db"
RUNS_ENV = "VAE_RUNS"
STATUSES = ("running", "finished", "stopped", "interrupted", "diverged", "crashed")
MAX_SNAPSHOTS = 30  # a run keeps at most this many weight snapshots: older ones are thinned
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    heartbeat REAL NOT NULL,
    parent INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    parent_step INTEGER,
    kind TEXT,
    dataset TEXT,
    fingerprint TEXT,
    settings TEXT NOT NULL,
    data TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    segments TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    command TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    pid_start TEXT,
    last_step INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS tags (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, tag TEXT NOT NULL,
                                 PRIMARY KEY (run, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, wall REAL NOT NULL,
    total REAL, rec REAL, kl REAL, objective REAL, kl_weight REAL, PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evals (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, wall REAL NOT NULL,
    value REAL, PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, path TEXT NOT NULL,
    bytes INTEGER NOT NULL, PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
"""
HISTORY_KEYS = ("total", "rec", "kl", "objective", "kl_weight")


class LedgerError(VaeError, ValueError):
    """The ledger cannot be opened or written; the message is one line saying why and what to do."""


def default_dir() -> Path:
    """$VAE_RUNS, else $XDG_DATA_HOME/vae-explorer (XDG's default ~/.local/share)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "vae-explorer"


@functools.cache
def program_version() -> str:
    """The installed vae-explorer version (pyproject's), or 'unknown'."""
    try:
        from importlib.metadata import version

        return version("vae-explorer")
    except Exception:  # noqa: BLE001 - not installed as a package: still record the run
        return "unknown"


def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (/proc/PID/stat field 22): a PID reused by another
    process has another start time. None where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return start is None or _process_start(pid) in (None, start)


def snapshot_every(total_steps: int, log_every: int, keep: int = MAX_SNAPSHOTS) -> int:
    """The default snapshot interval: ``keep`` snapshots over ``total_steps``, on log steps
    (60 000 steps logged every 100: every 2 000 steps, 30 snapshots)."""
    log_every = max(int(log_every), 1)
    every = max(math.ceil(max(total_steps, 1) / keep), log_every)
    return math.ceil(every / log_every) * log_every


def thin(steps: list[int], keep: int = MAX_SNAPSHOTS) -> list[int]:
    """The steps to delete so at most ``keep`` remain: repeatedly the one closest to its predecessor,
    the oldest on ties, never the first or the newest (older snapshots get sparser)."""
    left, drop = sorted(steps), []
    while len(left) > max(keep, 2):
        gaps = [(left[i] - left[i - 1], i) for i in range(1, len(left) - 1)]
        _, i = min(gaps)
        drop.append(left.pop(i))
    return drop


@dataclass
class RunRecord:
    """One row of the ledger as the CLI and GUI show it (``as_json`` is `runs list --json`'s object)."""

    id: int
    status: str
    parent: int | None
    parent_step: int | None
    started: float
    ended: float | None
    kind: str | None
    dataset: str | None
    settings: dict
    data: dict
    metrics: dict
    segments: list
    tags: list[str]
    note: str
    source: str
    command: str
    version: str
    last_step: int
    message: str
    snapshots: list[int] = field(default_factory=list)
    disk_bytes: int = 0

    def as_json(self) -> dict:
        return {"id": self.id, "status": self.status, "parent": self.parent, "parent_step": self.parent_step,
                "started": self.started, "ended": self.ended, "kind": self.kind, "dataset": self.dataset,
                "settings": self.settings, "data": self.data, "metrics": self.metrics, "segments": self.segments,
                "tags": self.tags, "note": self.note, "source": self.source, "command": self.command,
                "version": self.version, "step": self.last_step, "message": self.message,
                "snapshots": self.snapshots, "disk_bytes": self.disk_bytes}

    def value(self, key: str):
        """A metric, a setting or a column by name (for sorting and tables); None when absent."""
        for where in (self.metrics, self.settings):
            if key in where:
                return where[key]
        return self.as_json().get(key)


def compare(records: list[RunRecord]) -> dict:
    """{"runs": [ids], "differs": {setting: [value per run]}, "metrics": {"id": metrics}}: the settings
    (the schema's field names) whose values are not all equal, in the order the first run lists them
    (`runs compare --json`, and the Runs tab's highlighted rows)."""
    keys = list(dict.fromkeys(k for r in records for k in r.settings))
    differs = {}
    for key in keys:
        values = [r.settings.get(key) for r in records]
        if any(v != values[0] for v in values[1:]):
            differs[key] = values
    return {"runs": [r.id for r in records], "differs": differs, "metrics": {str(r.id): r.metrics for r in records}}


_RUN_COLUMNS = ("id, status, parent, parent_step, started, ended, kind, dataset, settings, data, metrics, segments, "
                "note, source, command, version, last_step, message")


class Ledger:
    """The runs database in ``folder`` (default: ``default_dir()``); raises LedgerError when it cannot be
    opened (a file of a newer version, not a database, a folder that cannot be written)."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder).expanduser() if folder is not None else default_dir()
        self.path = self.folder / DB_NAME
        self.conn = self._connect()

    # ------------------------------------------------------------------ opening
    def _connect(self) -> sqlite3.Connection:
        where = f"the run ledger {self.path}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the run ledger's folder {self.folder}: {exc.strerror or exc}; "
                              f"set {RUNS_ENV} or --runs to a writable folder") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise LedgerError(f"{where} is in a read-only folder; set {RUNS_ENV} or --runs to a writable folder")
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open {where}: {exc}") from None
        try:
            self._prepare(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"{where} is damaged or not a run ledger ({exc}); move it away and a new one "
                              "is made") from None
        except LedgerError:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise LedgerError(f"the run ledger {self.path} cannot use write-ahead logging (a network folder?); "
                              f"set {RUNS_ENV} to a local folder")
        # WAL + NORMAL: a killed process never corrupts the file nor loses a commit (a power cut may lose the last)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        found = self._schema_version(conn)
        if found is not None and found > SCHEMA_VERSION:
            raise LedgerError(f"the run ledger {self.path} was written by a newer VAE Explorer (ledger version "
                              f"{found}, this one reads {SCHEMA_VERSION}); update the program or set {RUNS_ENV} "
                              "to another folder")
        if found is None:
            # one transaction: another process opening the new file at once sees no tables or all of them
            conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO info "
                               f"VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;")

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int | None:
        """The file's ledger version, None for an empty file. Read in one read transaction: another process
        creating the tables meanwhile is seen either not at all or whole (two separate reads once saw its
        tables without the version row, and took a new ledger for a damaged one)."""
        conn.execute("BEGIN")
        try:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            row = conn.execute("SELECT value FROM info WHERE key = 'schema_version'").fetchone() \
                if "info" in names else None
        finally:
            conn.execute("COMMIT")
        if not names:
            return None
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise sqlite3.DatabaseError("it has tables but no ledger version") from None

    class _write:  # noqa: N801 - a context manager used like a keyword
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): one writer at a time across processes."""

        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self):
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb):
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def transaction(self):
        """A write transaction (context manager); sqlite3 errors inside become LedgerError."""
        return _Guarded(self)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing a run
    def start_run(self, settings: dict, data: dict | None = None, *, parent: int | None = None,
                  parent_step: int | None = None, tags: Iterable[str] = (), note: str = "", source: str = "",
                  command: str = "", segments: list | None = None, step: int = 0) -> int:
        """Record a new run as "running" by this process; returns its id. ``settings``: the schema's
        {field: value} (e.g. TrainConfig.as_form()); ``data``: the data set's record (Dataset.to_meta())."""
        data = data or {}
        now = time.time()
        pid = os.getpid()
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (status, started, heartbeat, parent, parent_step, kind, dataset, fingerprint, "
                "settings, data, segments, note, source, command, version, host, pid, pid_start, last_step) "
                "VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, parent, parent_step, settings.get("kind"), data.get("name"), data.get("fingerprint"),
                 _dumps(settings), _dumps(data), _dumps(segments or []), note, source, command, program_version(),
                 _host(), pid, _process_start(pid), int(step)))
            run_id = int(cur.lastrowid)
            conn.executemany("INSERT OR IGNORE INTO tags VALUES (?, ?)", [(run_id, t) for t in _clean_tags(tags)])
        return run_id

    def log(self, run_id: int, rows: list[dict], evals: Iterable[tuple[int, float, float]] = ()) -> None:
        """Append loss rows ({'step', 'wall', 'total', 'rec', 'kl', 'objective', 'kl_weight'}) and
        held-out evaluations (step, wall seconds, −ELBO) in one transaction; also the run's heartbeat."""
        rows, evals = list(rows), list(evals)
        last = max([r["step"] for r in rows] + [e[0] for e in evals], default=None)
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [(run_id, int(r["step"]), float(r["wall"]), *(_num(r.get(k)) for k in HISTORY_KEYS))
                              for r in rows])
            conn.executemany("INSERT OR REPLACE INTO evals VALUES (?, ?, ?, ?)",
                             [(run_id, int(s), float(w), _num(v)) for s, w, v in evals])
            conn.execute("UPDATE runs SET heartbeat = ?, last_step = max(last_step, coalesce(?, last_step)) "
                         "WHERE id = ?", (time.time(), last, run_id))

    def add_snapshot(self, run_id: int, step: int, path: str | os.PathLike, keep: int = MAX_SNAPSHOTS) -> list[Path]:
        """Record the model file ``path`` (written by the caller, best inside ``snapshot_dir(run_id)``) as the
        run's weights at ``step``; thins the run to ``keep`` snapshots, deleting the dropped files. Returns
        the deleted files."""
        path = Path(path)
        stored = os.path.relpath(path, self.folder) if path.is_absolute() else str(path)
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                         (run_id, int(step), stored, path.stat().st_size if path.exists() else 0))
            steps = [r[0] for r in conn.execute("SELECT step FROM snapshots WHERE run = ?", (run_id,))]
            dropped = thin(steps, keep)
            files = [self._abs(r[0]) for s in dropped for r in
                     conn.execute("SELECT path FROM snapshots WHERE run = ? AND step = ?", (run_id, s))]
            conn.executemany("DELETE FROM snapshots WHERE run = ? AND step = ?", [(run_id, s) for s in dropped])
        for f in files:  # after the commit: a crash in between leaves a file gc removes, never a dangling row
            f.unlink(missing_ok=True)
        return files

    def finish(self, run_id: int, status: str, metrics: dict | None = None, message: str = "",
               step: int | None = None) -> None:
        """End a run: its status (one of STATUSES but "running"), final metrics and a one-line message."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"status must be one of {', '.join(STATUSES[1:])}; got {status!r}")
        with self.transaction() as conn:
            _merge_metrics(conn, run_id, metrics or {})
            conn.execute("UPDATE runs SET status = ?, ended = ?, heartbeat = ?, message = ?, "
                         "last_step = coalesce(?, last_step) WHERE id = ?",
                         (status, time.time(), time.time(), message, step, run_id))

    def set_metrics(self, run_id: int, metrics: dict) -> None:
        """Merge ``metrics`` into the run's metrics."""
        with self.transaction() as conn:
            _merge_metrics(conn, run_id, metrics)

    def tag(self, run_id: int, tags: Iterable[str], remove: bool = False) -> None:
        """Add (or with ``remove`` take away) tags of a run."""
        with self.transaction() as conn:
            sql = "DELETE FROM tags WHERE run = ? AND tag = ?" if remove else "INSERT OR IGNORE INTO tags VALUES (?, ?)"
            conn.executemany(sql, [(run_id, t) for t in _clean_tags(tags)])

    def set_note(self, run_id: int, note: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET note = ? WHERE id = ?", (note, run_id))

    # ------------------------------------------------------------------ reading
    def reap(self) -> int:
        """Mark runs of this host whose process is gone as "crashed" (ended at their last heartbeat);
        returns how many."""
        host = _host()
        rows = self._read("SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ?", (host,))
        dead = [r[0] for r in rows if r[1] is None or not _process_alive(int(r[1]), r[2])]
        if dead:
            with self.transaction() as conn:
                conn.executemany("UPDATE runs SET status = 'crashed', ended = heartbeat, message = "
                                 "'the training process ended without finishing the run' "
                                 "WHERE id = ? AND status = 'running'", [(i,) for i in dead])
        return len(dead)

    def runs(self, kind: str | None = None, dataset: str | None = None, status: str | None = None,
             tag: str | None = None, ids: Iterable[int] | None = None, sort: str | None = None,
             descending: bool = False) -> list[RunRecord]:
        """The runs matching every filter given, oldest first, or sorted by a metric/setting/column
        (runs without it last)."""
        self.reap()
        where, params = [], []
        for column, value in (("kind", kind), ("dataset", dataset), ("status", status)):
            if value is not None:
                where.append(f"r.{column} = ?")
                params.append(value)
        if tag is not None:
            where.append("r.id IN (SELECT run FROM tags WHERE tag = ?)")
            params.append(tag)
        if ids is not None:
            ids = [int(i) for i in ids]
            where.append(f"r.id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        sql = (f"SELECT {', '.join('r.' + c.strip() for c in _RUN_COLUMNS.split(','))}, "
               "(SELECT group_concat(tag, char(31)) FROM tags WHERE run = r.id), "
               "(SELECT group_concat(step) FROM (SELECT step FROM snapshots WHERE run = r.id ORDER BY step)), "
               "(SELECT coalesce(sum(bytes), 0) FROM snapshots WHERE run = r.id) FROM runs r"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.id")
        records = [_record(row) for row in self._read(sql, params)]
        if sort:
            present = [r for r in records if r.value(sort) is not None]
            present.sort(key=lambda r: _sort_key(r.value(sort)), reverse=descending)
            records = present + [r for r in records if r.value(sort) is None]
        return records

    def run(self, run_id: int) -> RunRecord:
        """One run (LedgerError when there is none with that id)."""
        found = self.runs(ids=[run_id])
        if not found:
            raise LedgerError(f"there is no run {run_id} in the run ledger {self.path}")
        return found[0]

    def history(self, run_id: int, keys: tuple[str, ...] = HISTORY_KEYS) -> dict[str, list]:
        """{'step', 'wall', 'total', 'rec', 'kl', 'objective', 'kl_weight'}: the logged losses, and
        {'eval_step', 'eval_wall', 'eval'}: the held-out −ELBO, each a list in step order."""
        columns = ("step", "wall", *(k for k in keys if k in HISTORY_KEYS))  # names checked: no SQL from callers
        rows = self._read(f"SELECT {', '.join(columns)} FROM history WHERE run = ? ORDER BY step", (run_id,))
        out = {k: list(v) for k, v in zip(columns, zip(*rows, strict=True) if rows else [()] * len(columns),
                                          strict=True)}
        evals = self._read("SELECT step, wall, value FROM evals WHERE run = ? ORDER BY step", (run_id,))
        for key, values in zip(("eval_step", "eval_wall", "eval"), zip(*evals, strict=True) if evals else [()] * 3,
                               strict=True):
            out[key] = list(values)
        return out

    def snapshot_path(self, run_id: int, step: int | None = None) -> tuple[int, Path]:
        """(step, model file) of the run's snapshot at ``step`` (None: its latest); LedgerError when the
        run has no snapshot there (the message lists the steps it has)."""
        rows = self._read("SELECT step, path FROM snapshots WHERE run = ? ORDER BY step", (run_id,))
        if not rows:
            self.run(run_id)  # names a missing run
            raise LedgerError(f"run {run_id} has no weight snapshots")
        if step is None:
            return int(rows[-1][0]), self._abs(rows[-1][1])
        for s, p in rows:
            if s == step:
                return int(s), self._abs(p)
        steps = ", ".join(str(r[0]) for r in rows)
        raise LedgerError(f"run {run_id} has no snapshot at step {step}; it has steps {steps}")

    def snapshot_dir(self, run_id: int) -> Path:
        """The folder for a run's snapshot files (created)."""
        folder = self.folder / "snapshots" / str(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def data_version(self) -> int:
        """Changes when any connection commits (PRAGMA data_version): a cheap 'anything new?' poll."""
        return int(self._read("PRAGMA data_version")[0][0])

    # ------------------------------------------------------------------ removing
    def remove(self, run_ids: Iterable[int]) -> int:
        """Delete runs with their history and snapshot files; children keep their history (parent becomes
        null). Returns the bytes freed."""
        ids = [int(i) for i in run_ids]
        for i in ids:
            self.run(i)
        freed = 0
        with self.transaction() as conn:
            files = [self._abs(p) for i in ids for (p,) in
                     conn.execute("SELECT path FROM snapshots WHERE run = ?", (i,))]
            conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
        for f in files:
            freed += _unlink(f)
        for i in ids:
            _rmdir(self.folder / "snapshots" / str(i))
        return freed

    def gc(self, keep_snapshots: int | None = None) -> dict:
        """Reclaim disk: snapshot files no row names (left by a crash), and with ``keep_snapshots`` each
        finished run thinned to that many. Returns {'files': n, 'bytes': freed}."""
        known = {self._abs(p) for (p,) in self._read("SELECT path FROM snapshots")}
        orphans = [f for f in (self.folder / "snapshots").glob("*/*") if f.is_file() and f not in known]
        freed = sum(_unlink(f) for f in orphans)
        count = len(orphans)
        if keep_snapshots is not None:
            for run_id, in self._read("SELECT id FROM runs WHERE status != 'running'"):
                steps = [s for (s,) in self._read("SELECT step FROM snapshots WHERE run = ?", (run_id,))]
                for step in thin(steps, keep_snapshots):
                    _, path = self.snapshot_path(run_id, step)
                    with self.transaction() as conn:
                        conn.execute("DELETE FROM snapshots WHERE run = ? AND step = ?", (run_id, step))
                    freed += _unlink(path)
                    count += 1
        with self.transaction() as conn:
            conn.execute("DELETE FROM history WHERE run NOT IN (SELECT id FROM runs)")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"files": count, "bytes": freed}

    # ------------------------------------------------------------------ helpers
    def _abs(self, stored: str) -> Path:
        return self.folder / stored

    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise LedgerError(f"the run ledger {self.path} could not be read: {exc}") from None


class _Guarded:
    """Ledger.transaction(): BEGIN IMMEDIATE … COMMIT, with sqlite3 errors turned into LedgerError."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.inner = Ledger._write(ledger.conn)

    def __enter__(self) -> sqlite3.Connection:
        try:
            return self.inner.__enter__()
        except sqlite3.Error as exc:
            raise LedgerError(f"the run ledger {self.ledger.path} could not be written: {exc}") from None

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self.inner.__exit__(exc_type, exc, tb)
        except sqlite3.Error as err:
            raise LedgerError(f"the run ledger {self.ledger.path} could not be written: {err}") from None
        if isinstance(exc, sqlite3.Error):
            raise LedgerError(f"the run ledger {self.ledger.path} could not be written: {exc}") from None
        return False


def _merge_metrics(conn: sqlite3.Connection, run_id: int, metrics: dict) -> None:
    row = conn.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        conn.execute("UPDATE runs SET metrics = ? WHERE id = ?", (_dumps({**json.loads(row[0]), **metrics}), run_id))


def _record(row: tuple) -> RunRecord:
    (run_id, status, parent, parent_step, started, ended, kind, dataset, settings, data, metrics, segments, note,
     source, command, version, last_step, message, tags, snaps, disk) = row
    return RunRecord(id=run_id, status=status, parent=parent, parent_step=parent_step, started=started, ended=ended,
                     kind=kind, dataset=dataset, settings=json.loads(settings), data=json.loads(data),
                     metrics=json.loads(metrics), segments=json.loads(segments),
                     tags=sorted(tags.split("\x1f")) if tags else [], note=note, source=source, command=command,
                     version=version, last_step=last_step, message=message,
                     snapshots=[int(s) for s in snaps.split(",")] if snaps else [], disk_bytes=int(disk))


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def _dumps(value) -> str:
    return json.dumps(_finite(value), allow_nan=False, default=_plain)


def _finite(value):
    """``value`` with NaN and ±inf floats as None (JSON has no NaN; a diverged metric is 'no value')."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a NumPy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plain(value):
    """JSON for NumPy scalars and the like (settings and metrics may hold them)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _num(value) -> float | None:
    """A finite float, else None (NaN never reaches JSON or the curves)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clean_tags(tags: Iterable[str]) -> list[str]:
    return sorted({str(t).strip() for t in tags if str(t).strip()})


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
        return size
    except OSError:
        return 0


def _rmdir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
