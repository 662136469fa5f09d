"""The training loop, one step at a time, with events, history, snapshots and control from another thread.

How it works, in short: the trainer cuts the training set into mini-batches; for each batch it runs
the forward pass, backpropagation and one optimizer update. Where the compiled kernels apply
(``mlp.kernels`` through ``mlp.compiled``: one sample per batch on any network, or mini-batches of a
small one, without dropout or augmentation) every batch up to the next event is one compiled call,
the same updates several times faster; every other run with the kernels at hand (the wide network,
dropout, augmentation) takes ``compiled.BatchSteps``, BLAS's matrix products with compiled passes
between them. Without the kernels, plain SGD on one sample at a time with sigmoid
layers and squared error, the seed notebook's setup, goes through ``PerSampleSGD``, a block of
samples per call. Every ``eval_every`` batches
it measures the loss and accuracy on small fixed subsets of the training and test sets and reports a
*progress* event; after every epoch it measures the full test set and reports an *epoch* event.
Events go to a callback or come out of an iterator; the trainer also keeps them in ``progress`` and
``history``.

Another thread may call ``pause()``, ``resume()``, ``stop()`` and ``set_lr()`` at any time; they take
effect between two batches (or between two calls of the compiled steps, a few milliseconds each, or
blocks of at most 32 samples). Read the network while training only
under ``trainer.lock`` (or use ``copy_params()``).
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from .config import MAX_LR, TrainConfig
from .augment import Augmentation, augment
from .losses import one_hot
from .network import Network, Workspace, dropout_masks
from .optimizers import make_optimizer
from .per_sample import PerSampleSGD, applies as per_sample_applies
from . import compiled
from .runs import Status

PROGRESS_EVENTS_PER_EPOCH = 20
AUGMENT_AHEAD = 3
"""How many batches the augmentation thread prepares ahead of training."""
EVAL_SUBSET = 1000
EXPLODE_FACTOR = 4.0
"""Diverged: the training loss grew to more than this many times the untrained network's loss."""
SATURATED = 0.95
"""Stuck: this share of the probe samples get saturated outputs (all 0/1) while accuracy is near chance."""
CHANCE = 0.2
"""Accuracy below this counts as 'near chance' (guessing gets 0.1) for the two rules above."""
MIN_PROBE = 50
"""The two 'stuck' rules need at least this many training samples to judge (a 1-sample set cannot)."""
CALL_WORK = 40_000_000
"""The compiled steps' work per call, in samples × parameters (about 20 ms): a pause, a stop or a new
learning rate waits at most one call, however large the network."""
COMPILED_MINIBATCH_WORK = 64 * 20_000
"""Mini-batches go through the compiled steps while batch × parameters stays under this (784-16-16-10 at
a batch of 64, say); beyond it BLAS's matrix products beat the compiled loops (bench/speed.py)."""


class TrainingDiverged(ArithmeticError):
    """The loss or the weights became infinite or NaN: the learning rate was too large."""

    def __init__(self, message, lr):
        super().__init__(message)
        self.lr = lr


@dataclass(frozen=True)
class Event:
    """What the trainer reports. kind: 'progress' (every eval_every batches) or 'epoch' (end of one).

    epoch is fractional during an epoch (2.5 = halfway through the third). Accuracies are fractions
    in [0, 1]. For 'progress' events the train/test figures are estimates on fixed subsets
    (train_loss is the mean loss of the batches trained since the last event); for 'epoch' events
    test figures cover the whole test set and train_loss is the epoch's mean batch loss.
    """

    kind: str
    epoch: float
    samples_seen: int
    elapsed: float
    lr: float
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Snapshot:
    """A copy of all parameters (laid out like ``Network.params``) at a moment of training."""

    epoch: float
    samples_seen: int
    params: np.ndarray


class Trainer:
    """Trains ``Network`` on ``data = (x_train, y_train, x_test, y_test)`` as ``config`` says.

    eval_every:     batches between progress events (default: about 20 per epoch)
    snapshot_every: batches between weight snapshots, 0 for one per epoch only (plus the initial one)
    fast:           train through the compiled kernels where they apply, else one-sample SGD on
                    sigmoid networks with ``PerSampleSGD`` (the same updates, several times faster);
                    False runs every setup through the general NumPy step
    compile:        False: use the compiled kernels only if that needs no compiling now (a worker's
                    choice: a learner never waits for a compiler; see ``mlp.compiled``)
    extra:          (X (m, 784), y (m,)) more training images (a learner's own digits), each visited
                    ``config.my_digits_repeat`` times per epoch besides the MNIST ones, so that a few
                    dozen drawings weigh against 60,000 images; gathered per batch, never copied
    """

    def __init__(self, config: TrainConfig, data, eval_every=None, snapshot_every=0, network=None,
                 fast=True, extra=None, compile=True):
        x_train, y_train, self.x_test, self.y_test = data
        self.config = config.validate(len(x_train))
        n = config.train_size
        self.x_train, self.y_train = x_train[:n], y_train[:n]
        self.Y_train = one_hot(self.y_train)
        if extra is not None and len(extra[1]):
            self.x_extra = np.asarray(extra[0], np.float32)
            self.y_extra = np.asarray(extra[1], np.int64)
            self.Y_extra = one_hot(self.y_extra)
        else:
            self.x_extra = self.y_extra = self.Y_extra = None
        self.epoch_size = n + (0 if self.x_extra is None else len(self.x_extra) * config.my_digits_repeat)
        self.network = network or Network(config.layers, config.activation, config.output,
                                          config.loss, config.init, seed=config.seed)
        self.kernels = compiled.kernels(self.network.dtype, compile=compile) if fast else None
        self.optimizer = make_optimizer(config.optimizer, self.network.params.size, self.network.dtype,
                                        self.kernels)
        self.lr = config.lr
        # Shuffling has its own stream, so changing `shuffle` never changes the initial weights.
        self.shuffle_rng = np.random.default_rng([config.seed, 1])
        # Dropout masks and augmentation each draw from a stream of their own, fresh every batch.
        self.noise_rng = np.random.default_rng([config.seed, 2])
        self.augment_rng = np.random.default_rng([config.seed, 4])
        self.augmentation = Augmentation.of(config)
        self._augmenter = None          # the thread that augments the next batches (made when needed)
        self._pending = deque()         # ((epoch, batch), future) of the batches being augmented, in order
        self.batches_per_epoch = math.ceil(self.epoch_size / config.batch_size)
        self.eval_every = eval_every or max(1, self.batches_per_epoch // PROGRESS_EVENTS_PER_EPOCH)
        self.snapshot_every = snapshot_every
        pick = np.random.default_rng(12345)   # fixed subsets, the same for every run: curves compare
        self._train_probe = pick.choice(n, min(n, EVAL_SUBSET), replace=False)
        self._test_probe = pick.choice(len(self.y_test), min(len(self.y_test), EVAL_SUBSET), replace=False)
        self._probe_images = None       # the probes' images and digits, gathered at the first measurement
        self._workspaces = {}
        guessing = np.full((1, 10), 0.1, self.network.dtype)       # every digit equally likely
        self._guessing_loss = score(self.network, guessing, np.array([0]))[0]
        self._compiled = self._compiled_steps()
        self._per_sample = (PerSampleSGD(self.network) if fast and self._compiled is None
                            and per_sample_applies(self.config) and self.x_extra is None else None)
        self._rows = None               # the epoch's rows in order, for the compiled steps
        self._batch_steps = (compiled.BatchSteps(self.network, self.optimizer, config.l2, self.kernels)
                             if self.kernels is not None and self._compiled is None and self._per_sample is None
                             else None)

        self.epoch = 0                  # epochs completed
        self.target_epoch = config.epochs   # run() trains until this many are complete
        self.samples_seen = 0
        self.elapsed = 0.0              # seconds spent training (pauses excluded)
        self.status = Status.READY      # then RUNNING, PAUSED, STOPPED, DONE or DIVERGED (mlp.runs)
        self.error = None
        self.progress: list[Event] = []
        self.history: list[Event] = []  # one 'epoch' event per completed epoch
        self.snapshots = [Snapshot(0.0, 0, self.network.params.copy())]
        self.lock = threading.Lock()
        self._go = threading.Event()
        self._go.set()
        self._stop_requested = False
        self._interrupt = False         # set by pause/stop so the hot loop checks one flag only

    def _compiled_steps(self):
        """``compiled.Steps`` for this run if the kernels apply and are at hand, else None."""
        config = self.config
        size = config.batch_size * self.network.params.size
        if (self.kernels is None or config.dropout or self.augmentation.active
                or len(self.network.sizes) - 1 > self.kernels.MAX_LAYERS
                or (config.batch_size > 1 and size > COMPILED_MINIBATCH_WORK)):
            return None
        return compiled.Steps(self.network, self.x_train, self.y_train, self.x_extra, self.y_extra,
                              batch=config.batch_size,
                              optimizer=self.optimizer, l2=config.l2, module=self.kernels)

    # ---- control, callable from any thread ----------------------------------------------------
    def pause(self):
        """Hold before the next batch. Also before training starts (or between two ``run`` calls):
        the next ``run`` then begins paused."""
        if self.status in (Status.RUNNING, Status.READY) and not self._stop_requested:
            self._go.clear()
            self._interrupt = True
            if self.status == Status.RUNNING:
                self.status = Status.PAUSED

    @property
    def on_hold(self):
        """True while paused, or while a pause waits for training to start."""
        return not self._go.is_set()

    def resume(self):
        if not self._go.is_set():
            if self.status == Status.PAUSED:
                self.status = Status.RUNNING
            self._go.set()

    def stop(self):
        self._stop_requested = self._interrupt = True
        self._go.set()

    def set_target(self, epoch):
        """Train until ``epoch`` epochs are complete; may be called while ``events`` runs (from any
        thread): the loop reads it at every epoch's end, so ``set_target(trainer.epoch + 1)`` in the
        middle of an epoch stops at that epoch's end."""
        self.target_epoch = max(1, min(int(epoch), self.config.epochs))

    def set_lr(self, lr):
        """Change the learning rate; the next batch uses it."""
        if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
            raise ValueError(f"learning rate must be above 0 and at most {MAX_LR:g}, got {lr:g}")
        self.lr = float(lr)

    @property
    def finished(self):
        return self.status.final

    def copy_params(self):
        """A consistent copy of the parameters, safe to take while another thread trains."""
        with self.lock:
            return self.network.params.copy()

    def copy_network(self):
        """A copy of the network, taken between two batches: safe while another thread trains."""
        with self.lock:
            return self.network.copy()

    def snapshot_arrays(self):
        """The snapshots so far as arrays: parameters (k, n_params) and their epochs (k,)."""
        with self.lock:
            snapshots = list(self.snapshots)
        return np.stack([s.params for s in snapshots]), np.array([s.epoch for s in snapshots])

    def results(self):
        """What a saved run keeps besides its weights, as plain data: the config, the final test
        accuracy (None before the first epoch ends), and every event."""
        return {"config": self.config.to_dict(), "test_accuracy": self.final_test_accuracy(),
                "history": [e.to_dict() for e in self.history],
                "progress": [e.to_dict() for e in self.progress]}

    def final_test_accuracy(self):
        """The test accuracy of the weights as they are now, on the whole test set: the last epoch's
        score if nothing was trained since, else measured again (a run stopped mid-epoch), so every
        page that shows a saved run shows the same number. None before anything was trained."""
        if not self.samples_seen:
            return None
        final = self.history[-1] if self.history else None
        if final is not None and final.samples_seen == self.samples_seen:
            return final.test_accuracy
        with self.lock:
            return float(self.network.accuracy(self.x_test, self.y_test))

    # ---- running -------------------------------------------------------------------------------
    def run(self, until_epoch=None, callback=None):
        """Train until ``until_epoch`` epochs are complete (default: all of them), or until stopped.

        Calls ``callback(event)`` for every event. Raises TrainingDiverged if the loss blows up.
        """
        for event in self.events(until_epoch):
            if callback is not None:
                callback(event)
        return self

    def events(self, until_epoch=None):
        """Train, yielding each Event as it happens (a generator: training advances as you iterate)."""
        if self.finished:
            return
        self.set_target(until_epoch or self.config.epochs)
        self.status = Status.RUNNING if self._go.is_set() else Status.PAUSED
        with np.errstate(over="ignore", under="ignore"):
            if not self.progress:
                self._record("progress", 0.0, train_loss=None)     # the untrained network
            while self.epoch < self.target_epoch and not self._stop_requested:
                yield from self._epoch()
        if self._stop_requested:
            self.status = Status.STOPPED
        elif self.epoch >= self.config.epochs:
            self.status = Status.DONE
        else:
            self.status = Status.READY

    def _epoch(self):
        n, size = self.epoch_size, self.config.batch_size
        order = self.shuffle_rng.permutation(n) if self.config.shuffle else None
        batches = math.ceil(n / size)
        epoch_loss, chunk_loss, chunk_batches = 0.0, 0.0, 0
        chunk_started = time.perf_counter()
        b = 0                           # batches done this epoch
        while b < batches:
            if self._interrupt:
                self.elapsed += time.perf_counter() - chunk_started
                if not self._wait_if_paused():
                    return
                chunk_started = time.perf_counter()
            end = self._steps_end(b, batches)
            with self.lock:
                chunk_loss += self._train_batches(b, end, order)
            chunk_batches += end - b
            self.samples_seen += min(end * size, n) - b * size
            b = end
            if self.snapshot_every and b % self.snapshot_every == 0 and b < batches:
                self._snapshot(self.epoch + b / batches)
            if chunk_batches == self.eval_every or b == batches:
                self.elapsed += time.perf_counter() - chunk_started
                self._check_loss(chunk_loss / chunk_batches)
                epoch_loss += chunk_loss
                if b < batches:
                    yield self._record("progress", self.epoch + b / batches, chunk_loss / chunk_batches)
                chunk_loss, chunk_batches = 0.0, 0
                chunk_started = time.perf_counter()
        self.epoch += 1
        self._snapshot(float(self.epoch))
        event = self._record("epoch", float(self.epoch), epoch_loss / batches)
        self.history.append(event)
        self.lr *= self.config.lr_decay
        yield event

    @property
    def engine(self):
        """How this run trains, in words (a worker logs it)."""
        if self._compiled is not None:
            return "compiled kernels (mlp.kernels)"
        if self._batch_steps is not None:
            return "compiled passes between BLAS's matrix products (mlp.kernels)"
        if self._per_sample is not None:
            return "NumPy, one-sample blocks (mlp.per_sample)"
        return "NumPy"

    @property
    def batches_per_call(self):
        """The most batches trained between two looks at pause, stop and the learning rate."""
        if self._compiled is not None:
            return max(1, CALL_WORK // (self.config.batch_size * self.network.params.size))
        return 1 if self._per_sample is None else self._per_sample.block

    def _steps_end(self, b, batches):
        """Where the next run of batches from batch b ends: one batch, or with the compiled steps
        ``CALL_WORK``'s worth of them, or with ``PerSampleSGD`` a block of them, never past the next
        progress event or snapshot."""
        if self.batches_per_call == 1:
            return b + 1
        end = min(b + self.batches_per_call, batches, b - b % self.eval_every + self.eval_every)
        if self.snapshot_every:
            end = min(end, b - b % self.snapshot_every + self.snapshot_every)
        return end

    def _train_batches(self, b, end, order):
        """Train batches b to end - 1 of this epoch; return the sum of their mean losses."""
        X, Y = self.x_train, self.Y_train
        if self._compiled is not None:
            if order is None and self._rows is None:
                self._rows = np.arange(self.epoch_size)
            return self._compiled.train(self._rows if order is None else order, b, end, self.lr)
        if self._per_sample is not None:        # batches of one sample: rows b to end - 1
            if order is None:
                return self._per_sample.train(X[b:end], Y[b:end], self.lr, cache_key=(b, end))
            rows = order[b:end]
            return self._per_sample.train(X[rows], Y[rows], self.lr)
        if self.augmentation.active:
            return self._step(*self._augmented(b, order))
        return self._step(*self._batch(b, order))

    def _batch(self, b, order):
        """Inputs and one-hot targets of batch b of this epoch (views where the order allows)."""
        size, start = self.config.batch_size, b * self.config.batch_size
        if self.x_extra is not None:                              # MNIST rows, then the extra ones
            rows = np.arange(start, min(start + size, self.epoch_size)) if order is None else order[start:start + size]
            return self._gather(rows)
        if order is None:
            rows = slice(start, start + size)
        elif size == 1:
            rows = slice(order[start], order[start] + 1)          # a view, not a copy
        else:
            rows = order[start:start + size]
        return self.x_train[rows], self.Y_train[rows]

    def _augmented(self, b, order):
        """Batch b, augmented. The next ``AUGMENT_AHEAD`` batches are augmented meanwhile in a thread
        of its own, so on a machine with a core to spare augmentation costs little time: NumPy
        leaves Python's lock while it works on whole arrays, and a batch that takes longer than a
        step to prepare is made up by the others. The thread prepares them one at a time, in batch
        order, so the augmentation stream draws the same numbers whatever the timing: runs stay
        reproducible."""
        key = (self.epoch, b)
        if self._pending and self._pending[0][0] == key:
            X, Y = self._pending.popleft()[1].result()
        else:
            for _, stale in self._pending:      # (none in a plain run) finish them, in order, first
                stale.result()
            self._pending.clear()
            X, Y = self._augment_batch(b, order)
        following = self._pending[-1][0][1] + 1 if self._pending else b + 1
        ahead = range(following, min(b + 1 + AUGMENT_AHEAD, self.batches_per_epoch))
        if ahead and self._augmenter is None:
            self._augmenter = ThreadPoolExecutor(1, thread_name_prefix="augment")
        for later in ahead:
            self._pending.append(((self.epoch, later), self._augmenter.submit(self._augment_batch, later, order)))
        return X, Y

    def _augment_batch(self, b, order):
        X, Y = self._batch(b, order)
        return augment(X, self.augmentation, self.augment_rng), Y

    def _gather(self, rows):
        """Inputs and one-hot targets of epoch rows ``rows``: row i < n is MNIST's, a later one is
        extra image (i - n) mod m (each extra image stands for ``my_digits_repeat`` rows)."""
        n = len(self.y_train)
        mnist = rows < n
        extra = (rows[~mnist] - n) % len(self.x_extra)
        X = np.concatenate([self.x_train[rows[mnist]], self.x_extra[extra]])
        Y = np.concatenate([self.Y_train[rows[mnist]], self.Y_extra[extra]])
        return X, Y

    def _step(self, X, Y):
        """One update on a batch (already augmented, if asked for): forward pass, backprop, optimizer
        step. Returns the batch loss. With dropout each hidden layer gets a mask."""
        ws = self._workspaces.get(len(X))
        if ws is None:
            ws = self._workspaces[len(X)] = Workspace(self.network.sizes, len(X), self.network.dtype)
        masks = (dropout_masks(self.noise_rng, self.network.sizes, len(X), self.config.dropout, self.network.dtype)
                 if self.config.dropout else None)
        if self._batch_steps is not None:                   # the same step, its small passes compiled
            return self._batch_steps.step(X, Y, self.lr, ws, masks)
        acts = self.network.forward_all(X, out=ws.acts, masks=masks, kept=ws.kept)
        loss = self.network.backprop(acts, Y, ws, self.config.l2, masks)
        self.optimizer.step(self.network.params, ws.grads, self.lr)
        return loss

    def _wait_if_paused(self):
        """Block while paused. Returns False if a stop was requested."""
        self._go.wait()
        self._interrupt = self._stop_requested
        return not self._stop_requested

    # ---- measuring -----------------------------------------------------------------------------
    def _record(self, kind, epoch, train_loss):
        """Measure the network, log an Event (and check it is still learning); return the Event.

        train_loss None means: measure it on the training probe (used before the first step).
        """
        if self._probe_images is None:  # gathered once: a 3 MB copy each time was a tenth of a seed epoch
            self._probe_images = (self.x_train[self._train_probe], self.y_train[self._train_probe],
                                  self.x_test[self._test_probe], self.y_test[self._test_probe])
        train_x, train_y, probe_x, probe_y = self._probe_images
        full = kind == "epoch"
        test_x, test_y = (self.x_test, self.y_test) if full else (probe_x, probe_y)
        with self.lock:
            acts = self.network.forward_all(train_x)
            outputs = acts[-1]
            test_loss, test_accuracy = evaluate(self.network, test_x, test_y)
        probe_loss, train_accuracy = score(self.network, outputs, train_y)
        event = Event(kind, epoch, self.samples_seen, self.elapsed, self.lr,
                      probe_loss if train_loss is None else train_loss, train_accuracy,
                      test_loss, test_accuracy)
        self.progress.append(event)
        if train_accuracy < CHANCE and self.samples_seen and len(train_y) >= MIN_PROBE:
            if saturated_share(outputs) > SATURATED:
                self._diverged("its outputs saturated at 0 or 1, so the gradient vanished and it can no "
                               f"longer learn (accuracy {train_accuracy:.0%})")
            for layer, hidden in enumerate(acts[1:-1], start=1):
                if np.ptp(hidden, axis=0).max(initial=0.0) < 1e-6:
                    self._diverged(f"every unit of hidden layer {layer} now gives the same output for "
                                   f"every image (dead or saturated units), so it can no longer learn "
                                   f"(accuracy {train_accuracy:.0%})")
        return event

    def _snapshot(self, epoch):
        with self.lock:
            self.snapshots.append(Snapshot(epoch, self.samples_seen, self.network.params.copy()))

    def _check_loss(self, loss):
        if not (math.isfinite(loss) and np.isfinite(self.network.params).all()):
            self._diverged(f"the loss became {loss:.3g}")
        untrained = self.progress[0].train_loss
        # A run that starts from trained weights starts with a small loss: measure the explosion
        # against at least the loss of a network that guesses (``_guessing_loss``), not against that.
        if loss > EXPLODE_FACTOR * max(untrained, self._guessing_loss):
            self._diverged(f"the loss exploded to {loss:.3g}, from {untrained:.3g} at the start")

    def _diverged(self, what):
        with self.lock:     # roll back to the last good weights, so nothing trained is lost
            self.network.params[...] = self.snapshots[-1].params
        self.status = Status.DIVERGED
        self.error = (f"Training diverged in epoch {self.epoch + 1}, after {self.samples_seen:,} samples: "
                      f"{what}. The learning rate {self.lr:g} is too large for this setup; try "
                      f"{self.lr / 10:g}. The weights were rolled back to the last snapshot "
                      f"(epoch {self.snapshots[-1].epoch:g}).")
        raise TrainingDiverged(self.error, self.lr)


def saturated_share(outputs, margin=1e-3):
    """Share of rows (samples) whose every output is within ``margin`` of 0 or 1, where the
    sigmoid's slope a(1 - a) is under ``margin``: the gradient through it has all but vanished."""
    near_edge = (outputs < margin) | (outputs > 1 - margin)
    return float(near_edge.all(axis=1).mean()) if len(outputs) else 0.0


def score(network, outputs, y):
    """(mean loss, accuracy) of already computed ``outputs`` (n, 10) for integer labels y (n,)."""
    if not len(y):
        return 0.0, 0.0
    Y = one_hot(y, outputs.dtype)
    loss = network.loss.value_and_grad(outputs, Y, np.empty_like(outputs))
    return loss, float((outputs.argmax(axis=1) == y).mean())


def evaluate(network, X, y, chunk=5000):
    """(mean loss, accuracy) of ``network`` on inputs X (n, 784) and integer labels y (n,)."""
    total_loss, correct = 0.0, 0.0
    for i in range(0, len(y), chunk):
        loss, accuracy = score(network, network.forward(X[i:i + chunk]), y[i:i + chunk])
        total_loss += loss * len(y[i:i + chunk])
        correct += accuracy * len(y[i:i + chunk])
    n = max(len(y), 1)
    return total_loss / n, correct / n


def one_blas_thread():
    """Limit BLAS to one thread: for as long as the returned context is open, or from now on if it is
    never closed. Several runs sharing a machine's cores, or one-sample training (tiny products that a
    second thread only slows), want this. Needs threadpoolctl (in requirements.txt); without it
    nothing changes, and ``import mlp`` needs NumPy alone."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
