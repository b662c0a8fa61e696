"""The training loop: minibatches, optimiser steps, logging, test evaluation, divergence guard.

``Trainer.run`` is used by the CLI and by the GUI's worker thread alike; callbacks receive
plain dicts, and ``should_stop`` lets the caller end the run after the current step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backend import to_numpy
from .config import TrainConfig
from .data import BatchSchedule
from .dataset import FREY_IMAGE_SHAPE, Dataset
from .evaluate import neg_elbo
from .models import Model
from .optim import Optimizer, host_level1
from .parallel import ThreadChoice, blas_threads, parse_threads


def _finite_probe(x, ones) -> float:
    """A sum that is inf or NaN when any entry of the flat vector x is: Σ|x| as one BLAS asum pass on
    host arrays (13 µs on 300k float32 against 27 µs for the dot with ``ones``, measured), else x·ones."""
    level1 = host_level1(x.dtype) if isinstance(x, np.ndarray) and x.flags.c_contiguous else None
    return level1[1](x) if level1 is not None else float(x @ ones)


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of each update of one segment of training (``first_step`` … ``last_step``, the run's
    target): ``lr`` raised linearly from lr/warmup_steps over the segment's first ``warmup_steps`` steps (a fresh
    optimiser's first updates are as large as lr in every parameter: trained weights need them small)."""

    lr: float
    first_step: int
    last_step: int
    warmup_steps: int = 0
    cosine: bool = False  # then decays from lr to 0 at last_step, half a cosine wave

    @classmethod
    def of(cls, config: TrainConfig, first_step: int, last_step: int) -> LRSchedule | None:
        """``config``'s schedule for a segment; None when the learning rate is constant (the optimiser's own)."""
        if not config.lr_warmup_steps and config.lr_schedule == "constant":
            return None
        return cls(config.learning_rate, int(first_step), int(last_step), int(config.lr_warmup_steps),
                   cosine=config.lr_schedule == "cosine")

    def at(self, step: int) -> float:
        """The learning rate of the update that makes step ``step + 1``."""
        lr = self.lr
        if self.warmup_steps:
            lr *= min(1.0, (step - self.first_step + 1) / self.warmup_steps)
        if self.cosine:
            done = (step - self.first_step) / max(self.last_step - self.first_step, 1)
            lr *= 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
        return lr


class TrainingDiverged(RuntimeError):
    """Raised by Trainer.step when a loss or gradient is not finite (weights already restored)."""


def mirror_images(X: np.ndarray, image_shape: tuple[int, int] = FREY_IMAGE_SHAPE) -> np.ndarray:
    """Left-right mirrored copies of images (N, H·W): a mirrored face is still a face."""
    h, w = image_shape
    return np.ascontiguousarray(X.reshape(-1, h, w)[:, :, ::-1].reshape(len(X), -1))


def mirror_faces(X: np.ndarray) -> np.ndarray:
    """Left-right mirrored copies of Frey faces (N, 560)."""
    return mirror_images(X, FREY_IMAGE_SHAPE)


@dataclass
class BestWeights:
    """Early stopping's bookkeeping: the best evaluation so far, the evaluations since, and (with
    ``keep``) a copy of the weights that scored it."""

    patience: int = 0
    keep: bool = False
    step: int = 0
    value: float = math.inf
    evals_since: int = 0
    flat: object = None

    def update(self, step: int, value: float, flat) -> None:
        if value < self.value:
            self.value, self.step, self.evals_since = value, step, 0
            if self.keep:
                if self.flat is None:
                    self.flat = flat.copy()
                else:
                    self.flat[...] = flat
        else:
            self.evals_since += 1

    @property
    def patience_spent(self) -> bool:
        return bool(self.patience and self.evals_since >= self.patience)


@dataclass
class TrainResult:
    status: str  # 'finished', 'stopped' or 'diverged'
    steps_done: int
    message: str
    seconds: float
    history: dict = field(default_factory=dict)
    patience_stop: bool = False  # stopped because the validation −ELBO stopped improving


class Trainer:
    """Trains ``model`` with ``optimizer`` on X_train (N, 560), one minibatch per step.

    Every ``log_every`` steps the batch losses are computed (the gradient never needs them),
    reported, and the weights snapshotted as the last good state. A non-finite loss or
    gradient restores that snapshot and raises TrainingDiverged: nothing non-finite is kept.
    """

    def __init__(self, model: Model, optimizer: Optimizer, X_train: np.ndarray, X_test: np.ndarray | None = None,
                 batch_size: int = 64, seed: int = 0, log_every: int = 50, eval_every: int = 500,
                 mirror: bool = False, weight_decay: float = 0.0, patience: int = 0, keep_best: bool = False,
                 image_shape: tuple[int, int] = FREY_IMAGE_SHAPE, binarize: str = "none",
                 train_ids: np.ndarray | None = None, threads: int | str = 1):
        if log_every <= 0:
            raise ValueError("log_every must be > 0")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight decay must be a number >= 0, got {weight_decay}")
        self.model = model
        self.weight_decay = float(weight_decay)
        self.optimizer = optimizer
        # train_ids: X_train is the whole set and these rows train; batches are taken from it without the copy
        # images[train_ids] would be (the same batches: BatchSchedule indexes the ids it is given)
        X_train = np.asarray(X_train, dtype=np.float32)
        ids = np.arange(len(X_train)) if train_ids is None else np.asarray(train_ids)
        if mirror:
            X_train = np.concatenate([X_train[ids], mirror_images(X_train[ids], image_shape)])
            ids = np.arange(len(X_train))
        self.X_train = model.asarray(X_train)
        self.X_test = X_test  # the test split, or the validation set when early stopping watches it
        # dynamic binarisation: each batch a fresh Bernoulli draw of its pixels (static is done on the data)
        self.dynamic_binarize = binarize == "dynamic"
        self.best = BestWeights(patience=int(patience), keep=bool(keep_best), step=model.step)
        self.inspector = None  # core.inspection's per-layer statistics on log steps (see step())
        self.schedule = BatchSchedule(ids, batch_size, seed)
        self._ones = model.xp.ones_like(model.grad_flat)  # for the per-step finiteness check
        self.log_every = int(log_every)
        self.eval_every = int(eval_every)
        self.lr_schedule: LRSchedule | None = None  # None: the optimiser's learning rate is never touched
        self.history: dict[str, list] = {"step": [], "total": [], "rec": [], "kl": [], "objective": []}
        self.test_history: dict[str, list] = {"step": [], "neg_elbo": []}
        self._snapshot()
        self.threads_setting: int | str = 1
        self.two_threads_possible = False  # NumPy arrays and a BLAS whose thread count can be set
        self.thread_choice: ThreadChoice | None = None  # threads="auto": the measured choice
        self._update_seconds = 0.0  # the last step's pass and update (what thread_choice compares)
        self.set_threads(threads)

    # ------------------------------------------------------------------ threads
    def set_threads(self, threads: int | str) -> None:
        """1, 2 or 'auto' (ThreadChoice: by timing the run's own steps): NumPy's BLAS threads during each
        step (core.parallel). Every count gives bit-identical results; a model on another device than the CPU,
        or a BLAS whose threads cannot be set, always runs one thread. ValueError for other values."""
        setting = parse_threads(threads)
        self.threads_setting = setting
        self.two_threads_possible = setting != 1 and self.model.xp is np and blas_threads().available
        self.thread_choice = ThreadChoice() if self.two_threads_possible and setting == "auto" else None

    @property
    def threads(self) -> int:
        """The thread count the next step runs with."""
        if not self.two_threads_possible:
            return 1
        return self.thread_choice.threads() if self.thread_choice is not None else 2

    def thread_report(self) -> dict:
        """{'setting': 1 | 2 | 'auto', 'threads': count in use, and for 'auto' the steps run at each count,
        the probes run and the last probe's mean step seconds at 1 and 2 threads; 'why_one' when two
        threads were asked for but cannot be used}."""
        report = {"setting": self.threads_setting, "threads": self.threads}
        if self.thread_choice is not None:
            report.update(self.thread_choice.report())
        if self.threads_setting != 1 and not self.two_threads_possible:
            report["why_one"] = "not on the CPU" if self.model.xp is not np else blas_threads().reason
        return report

    def close(self) -> None:
        """NumPy's BLAS back to the thread count it had before training used two (the UI thread's products
        then run as before); the next step sets it again."""
        if self.two_threads_possible:
            blas_threads().restore()

    # ------------------------------------------------------------------ state
    def _snapshot(self) -> None:
        opt, xp = self.optimizer, self.model.xp
        if not hasattr(self, "_good"):
            self._good = {"flat": self.model.flat.copy(), "opt": {k: getattr(opt, k).copy() for k in opt.state_arrays}}
        # later snapshots copy into the same buffers: fresh 1.2 MB copies every log step went back to the OS
        # and were page-faulted in again (measured ~340 µs per copy in training against ~26 µs reused)
        good = self._good
        xp.copyto(good["flat"], self.model.flat)
        for k, arr in good["opt"].items():
            xp.copyto(arr, getattr(opt, k))
        good.update(step=self.model.step, opt_t=opt.t, rng=self.model.noise_rng.bit_generator.state,
                    opt_scalars={k: getattr(opt, k) for k in opt.state_scalars})

    def _restore(self) -> None:
        good, opt = self._good, self.optimizer
        self.model.flat[...] = good["flat"]
        self.model.step = good["step"]
        opt.t = good["opt_t"]
        for k, value in good["opt_scalars"].items():
            setattr(opt, k, value)
        for k, arr in good["opt"].items():
            getattr(opt, k)[...] = arr
        self.model.noise_rng.bit_generator.state = good["rng"]

    @property
    def last_good_step(self) -> int:
        return int(self._good["step"])

    # ------------------------------------------------------------------ one step
    def step(self) -> dict | None:
        """One optimiser step. Returns the batch losses on logging steps (with 'threads': the count this
        step used), else None."""
        threads = self.threads
        if self.model.xp is np:  # also at one thread: another trainer in this process may have left two
            blas_threads().set(threads)
        stats = self._step(threads)
        if self.thread_choice is not None:
            self.thread_choice.record(threads, self._update_seconds)
        return stats

    def _step(self, threads: int) -> dict | None:
        started = time.perf_counter()
        model = self.model
        step = model.step
        log_now = (step + 1) % self.log_every == 0
        idx = self.schedule.batch(step)
        xb = self.X_train[idx if model.xp is np else model.xp.asarray(idx)]
        if self.dynamic_binarize:  # drawn from the step alone, so a resumed run sees the same draws
            u = np.random.default_rng([self.schedule.seed, step, 1]).random(xb.shape, dtype=np.float32)
            xb = model.asarray(model.xp.asarray(u) < xb)
        # on log steps an inspector gets the pass's own activations (no second forward pass)
        record = {} if log_now and self.inspector is not None else None
        stats = model.forward_backward(xb, kl_weight=model.kl_weight_at(step), compute_loss=log_now,
                                       **({"record": record} if record is not None else {}))
        # one reduction catches NaN and inf anywhere in the gradient (ndarray.sum took 54 µs for 300k float32)
        grad_sum = _finite_probe(model.grad_flat, self._ones)
        if not math.isfinite(grad_sum) or (stats is not None and not math.isfinite(stats["objective"])):
            what = "loss" if stats is not None and not math.isfinite(stats["objective"]) else "gradient"
            self._restore()
            raise TrainingDiverged(f"training diverged at step {step + 1}: non-finite {what}; "
                                   f"kept the weights of step {self.last_good_step}")
        if record is not None:
            self.inspector.before_update(model, record)
        if self.weight_decay:
            # L2 penalty ½·wd·‖θ‖² on every parameter: its gradient wd·θ joins the loss gradient
            # before the optimiser sees it (torch.optim's weight_decay does the same)
            model.grad_flat += self.weight_decay * model.flat
        if self.lr_schedule is not None:
            self.optimizer.lr = self.lr_schedule.at(step)
        self.optimizer.step()  # its axpys on NumPy's BLAS threads; a Python helper for the rest lost (core.parallel)
        model.step = step + 1
        # what ThreadChoice compares: the pass and the update, without a log step's snapshot and bookkeeping
        self._update_seconds = time.perf_counter() - started
        if log_now:
            if not math.isfinite(float(model.flat.sum())):
                self._restore()
                raise TrainingDiverged(f"training diverged at step {step + 1}: the weights overflowed; "
                                       f"kept the weights of step {self.last_good_step}")
            stats["step"] = model.step
            stats["kl_weight"] = model.kl_weight_at(step)
            stats["threads"] = threads
            if record is not None:
                stats["inspect"] = self.inspector.after_update(model)
            for key in ("total", "rec", "kl", "objective"):
                self.history[key].append(stats[key])
            self.history["step"].append(model.step)
            self._snapshot()
        return stats

    def evaluate_test(self) -> float | None:
        """−ELBO on X_test (the test split, or the validation set), recorded for early stopping."""
        if self.X_test is None or len(self.X_test) == 0:
            return None
        value = neg_elbo(self.model, self.X_test, seed=0)
        self.test_history["step"].append(self.model.step)
        self.test_history["neg_elbo"].append(value)
        self.best.update(self.model.step, value, self.model.flat)
        return value

    def restore_best(self) -> bool:
        """With keep_best: put the best-scoring weights (and their step) back; True when that changed
        the model. The optimiser's moments belong to later steps then, so the run cannot be resumed."""
        best = self.best
        if not best.keep or best.flat is None or best.step == self.model.step:
            return False
        self.model.flat[...] = best.flat
        self.model.step = best.step
        return True

    def early_stopping_summary(self, patience_stop: bool) -> dict:
        """meta['train']['early_stopping'] of a run with a validation set."""
        return {"best_val_neg_elbo": self.best.value, "best_step": self.best.step, "last_step": self.model.step,
                "patience_stop": bool(patience_stop)}

    @classmethod
    def from_config(cls, model: Model, optimizer: Optimizer, dataset: Dataset, config: TrainConfig,
                    eval_images: np.ndarray | None = None) -> Trainer:
        """A trainer on ``dataset``'s training split as ``config`` says: the last ``val_size`` training
        images held out for validation (X_test is then the validation set, else the test split), weight
        decay, mirroring, patience, keep-best and dynamic binarisation. ``eval_images`` (N, D): what the
        validation/test images are taken from (default the dataset's; a binarised view for dynamic
        binarisation). Raises ConfigError when the sizes do not fit the data."""
        config.check_data(len(dataset.train_ids))
        fit_ids, val_ids = dataset.train_val_ids(config.val_size)
        source = dataset.images if eval_images is None else eval_images
        X_eval = source[val_ids if val_ids is not None else dataset.test_ids]
        return cls(model, optimizer, dataset.images, X_eval, train_ids=fit_ids, batch_size=config.batch_size,
                   seed=config.seed, log_every=config.log_every, eval_every=config.eval_every, mirror=config.mirror,
                   weight_decay=config.weight_decay, patience=config.patience, keep_best=config.keep_best,
                   image_shape=dataset.image_shape, binarize=config.binarize, threads=config.threads)

    # ------------------------------------------------------------------ the loop
    def run(self, n_steps: int, on_log: Callable[[dict], None] | None = None,
            on_eval: Callable[[int, float], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_checkpoint: Callable[[int], None] | None = None, checkpoint_every: int = 0) -> TrainResult:
        """Run ``n_steps`` steps (or until should_stop() is True, checked after every step).

        on_log(stats) gets the batch losses plus 'steps_per_s', 'eta_s', 'done', 'of' (and 'inspect' when
        an inspector is attached). Every ``eval_every`` steps X_test is evaluated (on_eval(step, value));
        with ``patience`` the run stops after that many evaluations without a better value.
        Divergence ends the run with status 'diverged' and the last good weights in place.
        """
        start = time.perf_counter()
        t_last, s_last = start, 0
        done = 0
        status, message = "finished", f"trained {n_steps} steps"
        patience_stop = False
        # The divergence guard reports non-finite values in words; NumPy's overflow warnings would only add noise.
        errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        errstate.__enter__()
        try:
            while done < n_steps:
                stats = self.step()
                done += 1
                if stats is not None and on_log is not None:
                    now = time.perf_counter()
                    rate = (done - s_last) / max(now - t_last, 1e-9)
                    t_last, s_last = now, done
                    stats.update(steps_per_s=rate, eta_s=(n_steps - done) / rate, done=done, of=n_steps)
                    on_log(stats)
                if self.eval_every and self.model.step % self.eval_every == 0:
                    value = self.evaluate_test()
                    if value is not None and on_eval is not None:
                        on_eval(self.model.step, value)
                if checkpoint_every and on_checkpoint and self.model.step % checkpoint_every == 0:
                    on_checkpoint(self.model.step)
                asked = should_stop is not None and should_stop()
                if asked or self.best.patience_spent:
                    status, message = "stopped", f"stopped after {done} of {n_steps} steps"
                    patience_stop = not asked
                    break
            # a run that ends between logging steps has not had its weights checked yet
            if not math.isfinite(float(self.model.flat.sum())):
                self._restore()
                raise TrainingDiverged(f"training diverged by step {self.model.step}: the weights overflowed; "
                                       f"kept the weights of step {self.last_good_step}")
        except TrainingDiverged as exc:
            status, message = "diverged", str(exc)
        finally:
            errstate.__exit__(None, None, None)
            self.close()  # the UI thread's products and the next run start from the BLAS count they had
        return TrainResult(status, done, message, time.perf_counter() - start,
                           {"train": self.history, "test": self.test_history}, patience_stop)


def sample_faces(model: Model, n: int, seed: int = 0) -> np.ndarray:
    """Images decoded from z ~ N(0, I): host float (n, D)."""
    z = np.random.default_rng(seed).standard_normal((n, model.config.latent))
    return to_numpy(model.decode(z))
