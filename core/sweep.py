"""Sweeps: many training runs whose settings Optuna chooses, on one machine or many.

A search space is a TOML file (Python's tomllib) with two tables, keyed by the settings as ``train``'s
flags name them without the dashes (``batch-size`` and ``batch_size`` alike; ``model`` is the schema's
``kind``, ``activation`` sets both ``enc_activation`` and ``dec_activation``)::

    [fixed]                                  # every trial uses these
    model = "vae"
    hidden = [64]
    steps = 800
    [search]                                 # Optuna chooses these
    lr = { low = 1e-4, high = 3e-3, log = true }
    latent = { low = 2, high = 16, step = 2 }
    beta = { choices = [0.5, 1.0, 2.0] }     # or simply: beta = [0.5, 1.0, 2.0]

Every name and every value is checked against the settings schema (core.config) before any trial runs.
A trial is one ``core.run.TrainingRun``; its objective is the validation −ELBO of its final weights
(or the training −ELBO), reported along the held-out curve so Optuna's MedianPruner can stop it early.

The study lives in an Optuna RDB storage (SQLite beside the run ledger by default, or any URL Optuna
accepts, e.g. postgresql://…), so several processes, on one machine or many, work on one study. Each
process starts a trial only while the study has fewer than N finished-or-running trials, counted under
a lock held across the count and Optuna's ``ask`` (a file lock for SQLite, an advisory lock for
PostgreSQL): together they finish exactly N. A process that dies stops its heartbeat; after the grace
period the next process that looks fails its trial (Optuna's fail_stale_trials), and the study goes on.

Optuna is imported only inside the functions that need it: without it the space still parses.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import math
import os
import socket
import time
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from .config import TrainConfig
from .errors import ConfigError
from .settings import SETTINGS, check_setting

INSTALL_HINT = ("the sweep command needs Optuna: pip install optuna "
                "(PostgreSQL storage also: pip install psycopg2-binary)")
SAMPLERS = ("tpe", "random", "grid")
METRICS = {"val": "validation −ELBO", "train": "training −ELBO"}
LEDGER_STATUS = {"finished": "finished", "pruned": "stopped", "diverged": "diverged"}
FINISHED = ("COMPLETE", "PRUNED")  # the states that count towards --trials (a FAIL is run again)
DEFAULT_HEARTBEAT_S = 10
VAL_FRACTION = 0.1  # the held-out share of the training split when the space sets no val_size
# a space file's keys are train's flags without the dashes ('-' as '_'): those that are not the setting's own name
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    **{s.flag_name[2:].replace("-", "_"): (n,) for n, s in SETTINGS.items()
       if s.flag_name and s.flag_name[2:].replace("-", "_") != n},
    "activation": ("enc_activation", "dec_activation"),  # train's --activation sets both
}


class SweepError(ConfigError):
    """A sweep the user asked for that cannot run: printed as one line, exit status 2."""


def require_optuna():
    """The optuna module, or SweepError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise SweepError(INSTALL_HINT) from None
    import warnings

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own lines say what happened to each trial
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# ---------------------------------------------------------------------------- the search space
def setting_keys() -> list[str]:
    """train's flag names without the dashes (with '_'): the keys error messages offer. The schema's own
    setting names (e.g. kind for model) are accepted too."""
    renamed = {n for names in KEY_ALIASES.values() for n in names if len(names) == 1}
    return sorted((set(SETTINGS) - renamed) | set(KEY_ALIASES))


def fields_of(key: str, where: str) -> tuple[str, ...]:
    """The schema fields a space key sets (SweepError naming the key and the nearest known ones)."""
    name = str(key).strip().replace("-", "_")
    if name in KEY_ALIASES:
        return KEY_ALIASES[name]
    if name in SETTINGS:
        return (name,)
    near = difflib.get_close_matches(name, setting_keys(), n=2)
    hint = f" (did you mean {' or '.join(near)}?)" if near else ""
    raise SweepError(f"{where}: unknown setting {key!r}{hint}; the settings are train's flags without the dashes: "
                     f"{', '.join(setting_keys())}")


def _canonical(key: str) -> str:
    return str(key).strip().replace("-", "_")


def _check_value(names: tuple[str, ...], value, where: str) -> None:
    for name in names:
        try:
            check_setting(name, value)
        except ConfigError as exc:
            raise SweepError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Param:
    """One searched setting: a range (``low``…``high``, ``log`` scale, ``step``) or ``choices``.
    ``key`` is its name in the space (and Optuna's parameter name); ``names`` the schema fields it sets."""

    key: str
    names: tuple[str, ...]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    @property
    def is_int(self) -> bool:
        return SETTINGS[self.names[0]].kind == "int"

    def suggest(self, trial):
        """Optuna's value for this setting in ``trial`` (a hidden-size list is chosen as its text '64,32')."""
        if self.choices:
            return trial.suggest_categorical(self.key, [_optuna_choice(c) for c in self.choices])
        if self.is_int:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)

    def grid(self) -> list:
        """The values a grid search visits: the choices, or every step of an int range."""
        if self.choices:
            return [_optuna_choice(c) for c in self.choices]
        if self.is_int:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step:
            n = int(round((self.high - self.low) / self.step))
            return [self.low + i * self.step for i in range(n + 1)]
        raise SweepError(f"the grid sampler needs choices or a step for {self.key} (a float range has no grid)")

    def to_dict(self) -> dict:
        if self.choices:
            return {"choices": list(self.choices)}
        d = {"low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d


def _optuna_choice(value):
    """Optuna's categorical values are scalars: a list (hidden sizes) becomes '64,32'."""
    return ",".join(str(v) for v in value) if isinstance(value, list) else value


def _from_optuna(names: tuple[str, ...], value):
    if names == ("hidden",):
        return [int(v) for v in value.split(",")] if isinstance(value, str) else _as_hidden(value)
    return value


def _as_hidden(value):
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


RANGE_KEYS = {"low", "high", "log", "step"}


def _parse_param(key: str, spec, where: str) -> Param:
    names = fields_of(key, where)
    kind = SETTINGS[names[0]].kind
    if isinstance(spec, list):  # the short form of choices
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise SweepError(f"{where}: give a range {{ low = …, high = … }} or {{ choices = [ … ] }}, not {spec!r}")
    unknown = sorted(set(spec) - RANGE_KEYS - {"choices"})
    if unknown:
        raise SweepError(f"{where}: unknown key(s) {', '.join(unknown)}; a range has low, high, log, step; "
                         "a list has choices")
    if "choices" in spec:
        return _parse_choices(key, names, spec, where)
    if kind not in ("int", "float"):
        raise SweepError(f"{where}: {_canonical(key)} takes choices = [ … ], not a range")
    if "low" not in spec or "high" not in spec:
        raise SweepError(f"{where}: a range needs both low and high")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for bound in (low, high):
        _check_value(names, bound, where)
    if not low < high:
        raise SweepError(f"{where}: low must be below high, got {low} and {high}")
    if not isinstance(log, bool):
        raise SweepError(f"{where}: log must be true or false, got {log!r}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 or not math.isfinite(step):
            raise SweepError(f"{where}: step must be a number > 0, got {step!r}")
        if log:
            raise SweepError(f"{where}: a range takes log or step, not both")
    if kind == "int" and step is not None and not isinstance(step, int):
        raise SweepError(f"{where}: {_canonical(key)} is a whole number, so its step must be one, got {step!r}")
    if kind == "float":
        low, high = float(low), float(high)
    return Param(_canonical(key), names, low, high, log, step)


def _parse_choices(key: str, names: tuple[str, ...], spec: dict, where: str) -> Param:
    if set(spec) != {"choices"}:
        raise SweepError(f"{where}: choices cannot be mixed with low/high/log/step")
    choices = spec["choices"]
    if not isinstance(choices, list) or not choices:
        raise SweepError(f"{where}: choices must be a non-empty list, got {choices!r}")
    choices = [_as_hidden(c) if names == ("hidden",) else c for c in choices]
    for value in choices:
        _check_value(names, value, where)
    if len({json.dumps(c) for c in choices}) != len(choices):
        raise SweepError(f"{where}: the choices repeat a value: {choices}")
    return Param(_canonical(key), names, choices=tuple(choices))


@dataclass
class SearchSpace:
    """``fixed`` {schema field: value} and the searched ``params``; ``source`` names the file in messages."""

    fixed: dict = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)
    source: str = "space"
    keys: dict = field(default_factory=dict)  # the fixed table as written (key -> value), for to_dict

    @classmethod
    def parse(cls, text: str, source: str = "space") -> SearchSpace:
        """A space from TOML text (SweepError with one line naming the file, table and key)."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SweepError(f"{source} is not valid TOML: {exc}") from None
        return cls.from_dict(doc, source)

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SweepError(f"cannot read the space file {path}: {exc}") from None
        return cls.parse(text, str(path))

    @classmethod
    def from_dict(cls, doc: dict, source: str = "space") -> SearchSpace:
        unknown = sorted(set(doc) - {"fixed", "search"})
        if unknown:
            raise SweepError(f"{source}: unknown table(s) or key(s) {', '.join(unknown)}: a space file has "
                             "[fixed] and [search]")
        fixed_doc, search_doc = doc.get("fixed", {}), doc.get("search", {})
        if not isinstance(fixed_doc, dict) or not isinstance(search_doc, dict):
            raise SweepError(f"{source}: [fixed] and [search] must be tables")
        if not search_doc:
            raise SweepError(f"{source}: [search] is empty: name at least one setting to search")
        fixed: dict = {}
        for key, value in fixed_doc.items():
            where = f"{source} [fixed] {key}"
            names = fields_of(key, where)
            value = _as_hidden(value) if names == ("hidden",) else value
            _check_value(names, value, where)
            fixed.update({n: value for n in names})
        params = [_parse_param(key, spec, f"{source} [search] {key}") for key, spec in search_doc.items()]
        _check_overlaps(fixed_doc, params, source)
        space = cls(fixed, params, source, dict(fixed_doc))
        space.check()
        return space

    def to_dict(self) -> dict:
        """The space as plain JSON values (stored with the study, compared when another process joins)."""
        return {"fixed": dict(self.keys), "search": {p.key: p.to_dict() for p in self.params}}

    def check(self) -> None:
        """The settings together (steps with epochs, keep_best without val_size…), with each searched
        setting at its first value: SweepError."""
        first = {n: _from_optuna(p.names, _optuna_choice(p.choices[0])) if p.choices else p.low
                 for p in self.params for n in p.names}
        try:
            self.base_config({**self.fixed, **first})
        except ConfigError as exc:
            raise SweepError(f"{self.source}: {exc}") from None

    def suggest(self, trial) -> dict:
        """{space key: Optuna's value} for ``trial``."""
        return {p.key: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list]:
        return {p.key: p.grid() for p in self.params}

    def settings(self, params: dict) -> dict:
        """{schema field: value} of a trial: the fixed settings and Optuna's ``params`` {key: value}."""
        values = dict(self.fixed)
        for p in self.params:
            if p.key in params:
                values.update({n: _from_optuna(p.names, params[p.key]) for n in p.names})
        return values

    @staticmethod
    def base_config(values: dict) -> TrainConfig:
        known = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in values.items() if k in known}).validate()

    def config(self, params: dict, n_train: int) -> TrainConfig:
        """The TrainConfig of a trial on a training split of ``n_train`` images. Without a val_size in
        the space, the last VAL_FRACTION of the training split is held out (the objective needs it)."""
        values = self.settings(params)
        if not values.get("val_size"):
            values["val_size"] = max(1, int(n_train * VAL_FRACTION))
        return self.base_config(values)


def _check_overlaps(fixed_doc: dict, params: list[Param], source: str) -> None:
    seen: dict[str, str] = {}
    for key in fixed_doc:
        for n in fields_of(key, source):
            if n in seen:
                raise SweepError(f"{source}: {key} and {seen[n]} both set {n}")
            seen[n] = f"[fixed] {key}"
    for p in params:
        for n in p.names:
            if n in seen:
                raise SweepError(f"{source}: [search] {p.key} sets {n}, which {seen[n]} already sets")
            seen[n] = f"[search] {p.key}"


# ---------------------------------------------------------------------------- the study's storage
def default_storage(runs_dir: str | Path) -> str:
    """The SQLite URL of the studies' database beside the run ledger."""
    path = Path(runs_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'sweeps.db'}"


def shown_url(url: str) -> str:
    """The storage URL for messages, without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: show it as given, minus credentials
        return url.split("@")[-1]


def driver_url(url: str) -> str:
    """``url`` with a PostgreSQL driver that is installed: SQLAlchemy 2.1 reads postgresql:// as psycopg 3;
    with only psycopg2 (psycopg2-binary) installed it becomes postgresql+psycopg2://."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme == "postgresql" and sep and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return url


def open_storage(url: str, heartbeat_s: int = DEFAULT_HEARTBEAT_S):
    """Optuna's RDBStorage at ``url`` with a heartbeat every ``heartbeat_s`` seconds (a trial whose process
    stops beating for 3 × that is failed); SweepError in one line when it cannot be opened."""
    optuna = require_optuna()
    url = driver_url(url)
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # several processes write: wait for the lock, don't fail
    elif url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    last: Exception | None = None
    for attempt in range(5):  # two processes creating the tables at once: the loser retries
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_s,
                                              grace_period=3 * heartbeat_s)
        except ImportError as exc:
            raise SweepError(f"the storage {shown_url(url)} needs a database driver: {exc} "
                             "(for postgresql:// pip install psycopg2-binary)") from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's and Optuna's errors: one line for the user
            last = exc
            if not _creation_race(exc):
                break
            time.sleep(0.5 * (attempt + 1))
    message = " ".join(str(last).split())[:300]
    raise SweepError(f"cannot open the study storage {shown_url(url)}: {message}")


def claim_file(database: str) -> str:
    """The lock file beside an SQLite study database."""
    return f"{database}.claim-lock"


def claim_key(study_name: str) -> int:
    """The PostgreSQL advisory-lock key of a study."""
    return zlib.crc32(f"vae-explorer sweep {study_name}".encode())


def _creation_race(exc: Exception) -> bool:
    """An error of two processes creating a storage's tables at once (worth a retry)."""
    text = str(exc)
    return type(exc).__name__ == "IntegrityError" or any(
        part in text for part in ("already exists", "locked", "UNIQUE constraint", "duplicate key"))


class ClaimLock:
    """Held while one process counts a study's trials and asks Optuna for the next one, so that several
    processes never start more trials than the study's total. SQLite (one machine): an flock on a file
    beside the database. PostgreSQL: a session advisory lock on a key made from the study name. Other
    databases: no lock (then processes that count at the same moment may start one trial too many each)."""

    def __init__(self, storage, study_name: str):
        # a Study's storage is Optuna's cache over the RDBStorage, which holds the engine
        self.storage, self.study_name = getattr(storage, "_backend", storage), study_name
        self._file = None
        self._conn = None

    def acquire(self) -> ClaimLock:
        url = self.storage.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            self._file = open(claim_file(url.database), "a+")  # noqa: SIM115 - closed in release()
            fcntl.flock(self._file, fcntl.LOCK_EX)
        elif url.get_backend_name() == "postgresql":
            from sqlalchemy import text

            self._conn = self.storage.engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": claim_key(self.study_name)})
        return self

    def release(self) -> None:
        """Idempotent: the objective releases it as soon as its trial exists; the loop again at the end."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            from sqlalchemy import text

            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": claim_key(self.study_name)})
            self._conn.commit()
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ClaimLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass
class StudyPlan:
    """What a study is: its space, total trials, objective metric, sampler and the data it runs on.
    Kept in the study's user attributes so that every process (and --resume) runs the same study."""

    space: SearchSpace
    n_trials: int
    metric: str = "val"
    sampler: str = "tpe"
    prune: bool = False
    data: str = ""  # the data set's fingerprint

    def attrs(self) -> dict:
        return {"space": self.space.to_dict(), "n_trials": self.n_trials, "metric": self.metric,
                "sampler": self.sampler, "prune": self.prune, "data": self.data}

    @classmethod
    def from_attrs(cls, attrs: dict, source: str) -> StudyPlan:
        if "space" not in attrs or "n_trials" not in attrs:
            raise SweepError(f"{source} was not made by main.py sweep (it has no search space or total)")
        return cls(SearchSpace.from_dict(attrs["space"], source), int(attrs["n_trials"]), attrs.get("metric", "val"),
                   attrs.get("sampler", "tpe"), bool(attrs.get("prune", False)), attrs.get("data", ""))


def make_sampler(plan: StudyPlan, seed: int | None = None):
    optuna = require_optuna()
    if plan.sampler == "grid":
        return optuna.samplers.GridSampler(plan.space.grid(), seed=seed)
    if plan.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: a running trial counts as a bad one, so parallel processes spread their suggestions
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(plan: StudyPlan):
    optuna = require_optuna()
    if not plan.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)


PLAN_KEYS = ("space", "n_trials", "metric", "sampler", "prune", "data")  # StudyPlan.attrs()'s keys
PLAN_WAIT_S = 10.0


def stored_plan(storage, name: str, wait_s: float = PLAN_WAIT_S) -> dict:
    """The study's user attributes once its whole plan is there: the process that has just created the study
    writes them one by one after creating it, and another process starting at once may look in between."""
    optuna = require_optuna()
    deadline = time.monotonic() + wait_s
    while True:
        attrs = optuna.load_study(study_name=name, storage=storage).user_attrs
        if all(key in attrs for key in PLAN_KEYS) or time.monotonic() > deadline:
            return attrs
        time.sleep(0.1)


def open_study(storage, name: str, plan: StudyPlan | None, resume: bool, seed: int | None = None,
               n_trials: int | None = None):
    """(optuna Study, StudyPlan). A new study takes ``plan``; an existing one is joined when ``plan`` has
    the same space (another process or machine) or is None with ``resume``; ``n_trials`` sets a new total.
    SweepError otherwise."""
    optuna = require_optuna()
    where = f"study {name!r} in {shown_url(storage.url)}"
    exists = name in optuna.study.get_all_study_names(storage)
    if not exists and (resume or plan is None):
        raise SweepError(f"there is no {where} to resume; start it with --space SPACE.toml --trials N")
    if exists:
        have = StudyPlan.from_attrs(stored_plan(storage, name), where)
        if plan is not None and plan.space.to_dict() != have.space.to_dict():
            raise SweepError(f"the {where} searches another space; resume it without --space, "
                             "or give a new --study name")
        plan = have
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize", load_if_exists=True,
                                sampler=make_sampler(plan, seed), pruner=make_pruner(plan))
    if n_trials is not None and n_trials != plan.n_trials:
        plan.n_trials = n_trials
        if exists:
            study.set_user_attr("n_trials", n_trials)
    if not exists:
        for key, value in plan.attrs().items():
            study.set_user_attr(key, value)
    return study, plan


def trial_counts(study) -> tuple[int, int]:
    """(finished, running) trials of ``study``, after failing those whose process has died."""
    optuna = require_optuna()
    optuna.storages.fail_stale_trials(study)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    return sum(s in FINISHED for s in states), states.count("RUNNING")


# ---------------------------------------------------------------------------- trials
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which process ran a trial (host:pid)

class SweepInterrupted(Exception):
    """A stop signal reached the sweep during a trial: the trial is failed (so --resume runs it again)."""


@dataclass
class TrialOutcome:
    """What one trial did: its value (None when pruned or diverged), steps trained and status."""

    number: int
    params: dict
    value: float | None
    status: str  # finished, pruned, diverged
    steps: int
    seconds: float
    run: object = None  # the core.run.TrainingRun


class SweepWorker:
    """The loop one process runs: claim a trial while the study has fewer than N, train it, tell Optuna."""

    def __init__(self, study, plan: StudyPlan, dataset, should_stop: Callable[[], bool] = lambda: False,
                 on_trial: Callable[[TrialOutcome], None] | None = None, runs_folder=None,
                 warn: Callable[[str], None] | None = None):
        self.study, self.plan, self.dataset = study, plan, dataset
        self.should_stop = should_stop
        self.on_trial = on_trial or (lambda outcome: None)
        self.runs_folder = runs_folder  # the run ledger's folder (None: core.ledger.default_dir())
        self.warn = warn  # one line when the ledger cannot record (the sweep goes on without it)
        self.heartbeat_s = study._storage.get_heartbeat_interval() or DEFAULT_HEARTBEAT_S
        self.done = 0

    def run(self, max_trials: int | None = None) -> int:
        """Run trials until the study has ``plan.n_trials`` finished ones (waiting while other processes run
        the last ones, in case one of them dies), a stop or ``max_trials`` of them here; the number run here."""
        while not self.should_stop() and (max_trials is None or self.done < max_trials):
            lock = ClaimLock(self.study._storage, self.study.study_name).acquire()
            try:
                finished, running = trial_counts(self.study)
                if finished >= self.plan.n_trials:
                    break
                if finished + running >= self.plan.n_trials:
                    lock.release()
                    self._wait()
                    continue
                self.study.optimize(lambda trial, held=lock: self.objective(trial, held), n_trials=1, catch=())
            finally:
                lock.release()
        return self.done

    def _wait(self) -> None:
        """A second (or a stop) before counting again: the last trials may end, or one of them fail."""
        until = time.monotonic() + 1.0
        while time.monotonic() < until and not self.should_stop():
            time.sleep(0.2)

    def objective(self, trial, lock: ClaimLock) -> float:
        lock.release()  # the trial exists (RUNNING): other processes count it from here on
        optuna = require_optuna()
        outcome = self.train(trial)
        self.done += 1
        self.on_trial(outcome)
        if outcome.value is None:
            raise optuna.TrialPruned(outcome.status)
        return outcome.value

    def train(self, trial) -> TrialOutcome:
        """Train one trial's run, recorded in the run ledger (tagged ``study:NAME``) and reporting its
        held-out curve to Optuna (which may prune it)."""
        from .evaluate import neg_elbo
        from .run import TrainingRun

        trial.set_user_attr("worker", WORKER)
        params = self.plan.space.suggest(trial)
        config = self.plan.space.config(params, len(self.dataset.train_ids))
        command = f"main.py sweep --study {self.study.study_name} (trial {trial.number})"
        run = TrainingRun(config, self.dataset, command=command)
        recorder = self.recorder(command)
        run_id = recorder.begin(run)
        if run_id is not None:
            trial.set_user_attr("run", run_id)
        pruned = []

        def on_eval(step: int, value: float) -> None:
            recorder.on_eval(step, value)
            trial.report(value, step)
            if trial.should_prune():
                pruned.append(step)

        result = run.run(on_log=recorder.on_log, on_eval=on_eval,
                         should_stop=lambda: bool(pruned) or self.should_stop())
        if result.status != "diverged" and not pruned and self.should_stop():
            recorder.end(run, "interrupted", measure=False)
            raise SweepInterrupted(f"trial {trial.number} interrupted at step {run.model.step}")
        status, value = "diverged" if result.status == "diverged" else "pruned" if pruned else "finished", None
        if status == "finished":
            final = run.finish(result)
            final["val_neg_elbo"] = neg_elbo(run.model, run.trainer.X_test, seed=0)  # into the ledger's metrics
            value = final["val_neg_elbo"] if self.plan.metric == "val" else final["train_neg_elbo"]
            if not math.isfinite(value):
                status, value = "diverged", None
        trial.set_user_attr("status", status)
        trial.set_user_attr("steps", int(run.model.step))
        recorder.end(run, LEDGER_STATUS[status], measure=status == "finished")
        return TrialOutcome(trial.number, params, value, status, int(run.model.step), result.seconds, run)

    def recorder(self, command: str):
        """The run ledger's recorder of one trial: tagged with the study, a snapshot only at the end (a sweep
        keeps its trials' final weights, not 30 snapshots of each)."""
        from .recorder import Recorder

        return Recorder(self.runs_folder, tags=[f"study:{self.study.study_name}"], source="sweep", command=command,
                        every=2**62, warn=self.warn)


# ---------------------------------------------------------------------------- reading a study
def trial_rows(study) -> list[dict]:
    """Every trial as {"number", "state", "value", "params", "run", "status", "steps"} (JSON values)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        # a pruned trial's value is its last held-out value (Optuna's rule)
        value = t.value if t.value is not None and math.isfinite(t.value) else None
        rows.append({"number": t.number, "state": t.state.name, "value": value, "params": dict(t.params),
                     "run": t.user_attrs.get("run"), "status": t.user_attrs.get("status"),
                     "steps": t.user_attrs.get("steps"), "worker": t.user_attrs.get("worker"),
                     "curve": [[int(s), float(v)] for s, v in sorted(t.intermediate_values.items())]})
    return rows


def best_row(rows: list[dict]) -> dict | None:
    """The complete trial with the lowest value, or None."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
    return min(done, key=lambda r: (r["value"], r["number"])) if done else None


def summary(study) -> dict:
    """{"trials": [...], "best": {...} or None, "study", "n_trials", "metric"}: what --show --json prints."""
    rows = trial_rows(study)
    attrs = study.user_attrs
    return {"study": study.study_name, "n_trials": attrs.get("n_trials"), "metric": attrs.get("metric", "val"),
            "trials": rows, "best": best_row(rows)}


def importances(study) -> dict[str, float]:
    """Optuna's parameter importances of the complete trials ({} with fewer than two or one parameter)."""
    optuna = require_optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial had the same value
        return {}


_STORAGES: dict[str, object] = {}  # url -> RDBStorage, opened once per process (opening checks the schema)


def read_study(url: str, name: str | None) -> dict:
    """What the GUI shows of a storage: {"studies": names, "study": the one read (``name``, else the last),
    "summary": summary() or None, "importances": importances(), "space": the study's stored space}."""
    optuna = require_optuna()
    if url not in _STORAGES:
        _STORAGES[url] = open_storage(url)
    storage = _STORAGES[url]
    names = sorted(optuna.study.get_all_study_names(storage))
    name = name if name in names else (names[-1] if names else None)
    out = {"studies": names, "study": name, "summary": None, "importances": {}, "space": {}}
    if name is not None:
        study = optuna.load_study(study_name=name, storage=storage)
        optuna.storages.fail_stale_trials(study)
        out.update(summary=summary(study), importances=importances(study),
                   space=study.user_attrs.get("space", {}))
    return out


def coordinates(rows: list[dict], space: dict) -> tuple[list[str], list[list[tuple]], list[list[float]]]:
    """A parallel-coordinates view of trials with a value: (axis names: the searched settings then
    "value", each axis's labels as (position in [0, 1], text), one row per trial of positions in [0, 1]).
    A log range is placed on a log scale, a list of choices evenly in its order (each labelled), the
    value between the trials' best and worst."""
    search = space.get("search", {})
    keys = list(search) or sorted({k for r in rows for k in r["params"]})
    done = [r for r in rows if r["value"] is not None]
    values = [r["value"] for r in done]
    lo_v, hi_v = (min(values), max(values)) if values else (0.0, 1.0)
    labels, scales = [], []
    for key in keys:
        spec = search.get(key, {})
        if "choices" in spec:
            choices = [_optuna_choice(c) for c in spec["choices"]]
            scales.append(lambda v, c=choices: c.index(v) / max(len(c) - 1, 1) if v in c else 0.5)
            labels.append([(i / max(len(choices) - 1, 1), f"{c:g}" if isinstance(c, float) else str(c))
                           for i, c in enumerate(choices)])
            continue
        seen = [r["params"][key] for r in done if key in r["params"]]
        lo, hi = spec.get("low", min(seen, default=0.0)), spec.get("high", max(seen, default=1.0))
        if spec.get("log"):
            scales.append(lambda v, a=math.log(lo), b=math.log(hi): (math.log(v) - a) / ((b - a) or 1.0))
        else:
            scales.append(lambda v, a=lo, b=hi: (v - a) / ((b - a) or 1.0))
        labels.append([(0.0, f"{lo:.3g}"), (1.0, f"{hi:.3g}")])
    positions = []
    for r in done:
        line = [scale(r["params"][k]) if k in r["params"] else 0.5 for k, scale in zip(keys, scales, strict=True)]
        positions.append([*line, (r["value"] - lo_v) / ((hi_v - lo_v) or 1.0)])
    return [*keys, "value"], [*labels, [(0.0, f"{lo_v:.2f}"), (1.0, f"{hi_v:.2f}")]], positions
