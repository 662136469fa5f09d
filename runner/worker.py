"""One run's training, wherever it runs: the same class in a local worker process or as a Ray actor.

A ``TrainingWorker`` owns a ``Trainer``. Its ``run(publish)`` trains, calls ``publish(update)`` after
every training event and every control command, and saves the run to the run store when it ends.
``command(name, value)`` controls it from another thread. An *update* is a plain dict (it crosses
process boundaries):

    status, epoch, samples_seen, elapsed, lr, error, saved, settled   the run's state now
    unsaved     None, or why the run could not be saved (its network is then only in memory)
    events      the training events (``Event.to_dict()``) since the previous update
    snapshots   [(epoch, params float32)] the weight snapshots since the previous update
    params      float32 (n_params,): the weights now (at training events and at the end)

The transports only carry commands in and updates out: ``runner.local`` through pipes to a process
of its own, ``runner.cluster`` through a Ray actor. What a page sees is assembled from the updates by
``runner.jobs.Job``, which never waits on a busy worker.

Control, and what each command does in each state (tested in ``tests/test_jobs.py``):

    pause   running -> paused at the next batch; otherwise nothing
    resume  paused or waiting after a step -> running to the last epoch; otherwise nothing
    step    running or paused -> trains to the end of the current epoch, then waits;
            waiting after a step -> trains one more epoch, then waits
    stop    any unfinished state -> stopped at the next batch, and saved (a value: its message);
            every command after it is ignored
    set_lr  any unfinished state -> the next batch uses the new learning rate
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import asdict, dataclass

import numpy as np

from mlp import Network, RunMeta, Status, TrainConfig, Trainer, TrainingDiverged
from mlp.data import tested_rows
from mlp.digits import fingerprint, training_split

COMMANDS = ("pause", "resume", "step", "stop", "interrupt", "set_lr")


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to train one run and save it: plain data, so it can be sent."""

    run_id: str
    name: str
    config: TrainConfig
    runs_dir: str
    until_epoch: int | None = None
    lr: float | None = None            # a learning rate set while the run was still queued
    created: float = 0.0
    inputs: dict | None = None
    """Fine-tuning (see ``fine_tune_inputs``): the starting weights and the learner's digits, as arrays,
    so that a worker anywhere (a process, a Ray actor on another machine) needs no file of ours."""
    owner: str | None = None           # who started it (``runner.identity``): saved with the run
    owner_name: str | None = None
    challenge: str | None = None
    """The class challenge it is entered in (``runner.classes``): it is then tested on the public half
    of the test set only, so no number of it shows the private half."""
    time_budget: float | None = None
    """Seconds of training after which it stops itself (a challenge's budget), or None."""

    def to_plain(self):
        """The spec as plain data (the config as its dict), for any transport to send."""
        return {**asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_plain(cls, plain):
        return cls(**{**plain, "config": TrainConfig.from_dict(plain["config"])})


def fine_tune_inputs(config, base=None, digits=None):
    """What a fine-tuning run needs besides MNIST, as plain data for ``RunSpec.inputs``.

    base: (name, Network) to start from, or None; digits: (name, images (m, 784), labels (m,)) or None.
    The digits are split once, from the run's seed (``mlp.digits.training_split``); their fingerprint
    is kept with the run, so that its script (``mlp.export``) can tell whether the collection changed.
    """
    inputs = {}
    if base is not None:
        name, network = base
        if (list(network.sizes), network.activation, network.output, network.loss_name) != \
                (list(config.layers), config.activation, config.output, config.loss):
            raise ValueError(f"this run's network ({'-'.join(map(str, config.layers))}, {config.activation}/"
                             f"{config.output}, {config.loss}) is not the one it starts from ({name})")
        inputs.update(base_name=name, base_params=network.params.astype(np.float32))
    if digits is not None:
        name, images, labels = digits
        split = training_split(images, labels, config.seed, config.holdout)
        inputs.update(digits_name=name, extra_x=split.images, extra_y=split.labels, holdout_x=split.held_images,
                      holdout_y=split.held_labels, digits_sha256=fingerprint(images, labels))
    return inputs or None


class TrainingWorker:
    """Trains one run (see the module's docstring). Control methods may be called from any thread."""

    def __init__(self, spec: RunSpec, data):
        self.spec = spec
        inputs = spec.inputs or {}
        network = None
        if inputs.get("base_params") is not None:
            c = spec.config
            network = Network(c.layers, c.activation, c.output, c.loss, c.init, seed=c.seed)
            network.params[...] = inputs["base_params"]
        extra = (inputs["extra_x"], inputs["extra_y"]) if inputs.get("extra_x") is not None else None
        x_train, y_train, x_test, y_test = data
        rows = tested_rows(spec.challenge)          # a challenge's run never sees the private half
        data = (x_train, y_train, x_test[rows], y_test[rows])
        # compile=False: a run never waits for a compiler (the server warms the cache; mlp.compiled)
        self.trainer = Trainer(spec.config, data, network=network, extra=extra, compile=False)
        self.fine_tune = None
        if inputs:
            self.fine_tune = self._measure_fine_tune("before")
        if spec.lr is not None:
            self.trainer.set_lr(spec.lr)
        self.error = None
        self.saved = False
        self.unsaved = None                    # why saving failed, if it did
        self._failed = self._interrupted = self._stopping = False
        self._target = spec.until_epoch or spec.config.epochs
        self._wake = threading.Event()
        self._waiting = False
        self._sent_events = self._sent_snapshots = 0
        self._publish_lock = threading.Lock()
        self._publish = None

    # ---- state ---------------------------------------------------------------------------------
    @property
    def status(self):
        """running, paused (also: waiting after a step), stopped, done, diverged, failed, interrupted."""
        if self._failed:
            return Status.FAILED
        status = self.trainer.status
        if status == Status.READY:             # waiting for a command after a step, or about to start
            status = Status.PAUSED if self._waiting or self.trainer.on_hold else Status.RUNNING
        return Status.INTERRUPTED if status == Status.STOPPED and self._interrupted else status

    def update(self, settled=False, with_params=False):
        """What happened since the previous update (see the module's docstring). Call it through
        ``_emit`` (one caller at a time)."""
        t = self.trainer
        with t.lock:
            events = [e.to_dict() for e in t.progress[self._sent_events:]]
            snapshots = [(s.epoch, s.params) for s in t.snapshots[self._sent_snapshots:]]
            params = t.network.params.copy() if with_params or events or settled else None
        self._sent_events += len(events)
        self._sent_snapshots += len(snapshots)
        return {"status": self.status, "epoch": t.epoch, "samples_seen": t.samples_seen, "elapsed": t.elapsed,
                "lr": t.lr, "error": self.error or t.error, "saved": self.saved, "unsaved": self.unsaved,
                "settled": settled, "engine": t.engine,
                "events": events, "snapshots": snapshots, "params": params}

    # ---- control -------------------------------------------------------------------------------
    def command(self, name, value=None):
        """pause, resume, step, stop, interrupt or set_lr (with ``value``); see the module's table."""
        t = self.trainer
        if t.finished or self._stopping or name not in COMMANDS:
            return                              # a stop wins over anything that follows it
        if name == "pause":
            t.pause()
        elif name == "resume":
            self._set_target(self.spec.config.epochs)
        elif name == "step":
            self._set_target(t.epoch + 1)
        elif name in ("stop", "interrupt"):
            self._stopping = True
            self._interrupted = self._interrupted or name == "interrupt"
            self.error = str(value) if value else self.error
            t.stop()
            self._wake.set()
        elif name == "set_lr":
            t.set_lr(float(value))
        self._emit()

    def _set_target(self, epoch):
        self._target = min(epoch, self.spec.config.epochs)
        self.trainer.set_target(self._target)
        self.trainer.resume()
        self._wake.set()

    # ---- running -------------------------------------------------------------------------------
    def run(self, publish):
        """Train until the run ends (waiting between epochs after a step), then save it; ``publish``
        receives every update, the last one with ``settled`` True."""
        self._publish = publish
        self._emit(with_params=True)
        try:
            while not self.trainer.finished:
                for _ in self.trainer.events(self._target):
                    self._emit()
                    self._stop_at_budget()
                if self.trainer.finished:
                    break
                self._waiting = True            # reached the end of a step: wait for the next command
                self._emit()
                self._wake.wait()
                self._wake.clear()
                self._waiting = False
        except TrainingDiverged:
            pass                                # the trainer keeps the explanation in .error
        except Exception as err:                # a bug must not go unreported: the page shows it
            self._failed = True
            self.error = f"Training failed: {err!r}"
            traceback.print_exc()
        finally:
            self._save()
            self._emit(settled=True)

    def _stop_at_budget(self):
        budget = self.spec.time_budget
        if budget and self.trainer.elapsed >= budget and not self._stopping:
            self.command("stop", f"Stopped at the challenge's budget of {budget:g} s of training: what it had "
                                 "learned by then is its result.")

    def _emit(self, **what):
        """Publish an update; one at a time, so no event or snapshot is sent twice or skipped."""
        with self._publish_lock:
            if self._publish is not None:
                self._publish(self.update(**what))

    def _measure_fine_tune(self, when):
        """Accuracy on the held-out digits and on the MNIST test set, before or after training."""
        inputs, t = self.spec.inputs, self.trainer
        result = dict(self.fine_tune or {"start_from": inputs.get("base_name", ""),
                                         "my_digits": inputs.get("digits_name", ""),
                                         "held_out": int(len(inputs.get("holdout_y", ())))})
        if inputs.get("digits_sha256"):
            result["digits_sha256"] = inputs["digits_sha256"]
        with t.lock:
            result[f"mnist_{when}"] = t.network.accuracy(t.x_test, t.y_test)
            if result["held_out"]:
                result[f"held_out_{when}"] = t.network.accuracy(inputs["holdout_x"], inputs["holdout_y"])
        return result

    def _save(self):
        from runner.store import RunStore

        t = self.trainer
        if not t.samples_seen:
            return                               # nothing trained, nothing worth keeping
        try:
            if self.fine_tune is not None:
                self.fine_tune = self._measure_fine_tune("after")
            spec = self.spec
            meta = RunMeta.of_training(spec.name, self.status, spec.created or time.time(), t.results(),
                                       finished=time.time(), error=t.error or self.error, fine_tune=self.fine_tune,
                                       owner=spec.owner, owner_name=spec.owner_name, challenge=spec.challenge)
            RunStore(spec.runs_dir).save(spec.run_id, t.copy_network(), meta, *t.snapshot_arrays())
            self.saved = True
        except Exception as err:                # a full disk, a read-only folder, anything: say so
            self.unsaved = save_failure(err)
            traceback.print_exc()


def save_failure(err):
    """Why a run could not be saved, in words a page can show."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
    return f"It could not be saved to the runs folder ({reason}); its network is only in this server's memory."
