"""Training jobs for a server with many users: every run trains in a worker process of its own.

The registry (one per server process) queues runs first come, first served, and lets at most
``max_running`` train at once (by default one per CPU core this process may use). A job is the
server's handle on one run: control methods send commands to its worker, and the worker's updates
(``runner.worker``) are gathered here, so a page reads the last state it was sent and never waits on
a busy worker. Nothing here knows about Streamlit.

Where the worker runs is the transport's business: ``runner.local`` (a process on this machine, the
default) or ``runner.cluster`` (a Ray actor). A worker saves its own run when it ends. If it dies
instead, the job marks the run *failed* with the reason and saves what it had trained up to its last
snapshot; its slot goes to the next run in the queue and nothing else is touched.
"""
from __future__ import annotations

import collections
import os
import threading
import time

import numpy as np

from mlp import Event, Network
from mlp.runs import FINAL, RunMeta, Status
from runner.identity import Person, check_may_change
from runner.store import RUN_ID, RunStore, new_run_id
from runner.worker import RunSpec, save_failure
FORGET_AFTER = 120.0
"""Seconds a saved job stays in the registry, so pages still watching it see its final state; then
the registry forgets it and pages read the saved file."""
UNSAVED_KEPT = 24 * 3600.0
"""Seconds a finished run that could not be saved stays in memory, so its owner can still download it."""


def default_max_running():
    """The CPU cores this process may use (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Job:
    """One run, as the server sees it. Control methods may be called from any thread; each takes the
    person asking (``by``) and raises ``NotYours`` unless they may change the run (its owner, or a
    teacher), changing nothing."""

    def __init__(self, registry, config, name, run_id, until_epoch=None, started_here=True, inputs=None,
                 owner=None, owner_name=None, challenge=None, time_budget=None):
        self.registry, self.config, self.name, self.id = registry, config, name, run_id
        self.inputs = inputs              # fine-tuning's starting weights and digits (RunSpec.inputs)
        self.owner, self.owner_name = owner, owner_name    # who started it (runner.identity)
        self.challenge, self.time_budget = challenge, time_budget  # a class challenge's (RunSpec)
        self.started_here = started_here  # False: started by another app server (on a cluster)
        self.created = time.time()
        self.last_seen = time.time()      # when a page last looked at this job (for the abandon rule)
        self._until, self._lr = until_epoch, None
        self._lock = threading.Lock()
        self._state = {"status": Status.QUEUED, "epoch": 0, "samples_seen": 0, "elapsed": 0.0, "lr": config.lr,
                       "error": None, "saved": False, "unsaved": None}
        self._progress, self._history, self._snapshots, self._params = [], [], [], None
        self._worker = None
        self._cancelled = self._interrupting = False
        self._failure = None
        self._settled = threading.Event()
        self.settled_at = None

    # ---- state ---------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        """Queued, running, paused, stopped, done, diverged, failed or interrupted (``mlp.runs``)."""
        if self._failure is not None:
            return Status.INTERRUPTED if self._interrupting else Status.FAILED
        if self._worker is None:
            return Status.STOPPED if self._cancelled else Status.QUEUED
        return self._state["status"]

    @property
    def active(self):
        return self.status.active

    @property
    def settled(self):
        """True once the run is over and saved (or its saving failed): nothing will change any more."""
        return self._settled.is_set()

    @property
    def saved(self):
        return self._state["saved"]

    @property
    def unsaved(self):
        """None, or why the finished run could not be saved (its network is then only in memory)."""
        return self._state["unsaved"]

    @property
    def error(self):
        return self._failure or self._state["error"]

    @property
    def samples_seen(self):
        return self._state["samples_seen"]

    @property
    def epoch_size(self):
        """Samples in one epoch: the MNIST share, plus the learner's digits times their weight (as
        ``mlp.Trainer`` counts them), so a fine-tuning run's progress ends at 100%."""
        extra = (self.inputs or {}).get("extra_y")
        return self.config.train_size + (0 if extra is None else len(extra) * self.config.my_digits_repeat)

    def view(self):
        """A consistent copy of what a page shows: status, events and figures. Never waits on the worker."""
        self.last_seen = time.time()
        with self._lock:
            s = self._state
            return {"id": self.id, "name": self.name, "status": self.status, "error": self._failure or s["error"],
                    "config": self.config, "progress": list(self._progress), "history": list(self._history),
                    "epoch": s["epoch"], "samples_seen": s["samples_seen"], "elapsed": s["elapsed"], "lr": s["lr"],
                    "total_samples": self.config.epochs * self.epoch_size,
                    "queue_position": self.registry.queue_position(self.id), "saved": s["saved"],
                    "unsaved": s["unsaved"], "settled": self.settled, "challenge": self.challenge,
                    "owner": self.owner, "owner_name": self.owner_name, "created": self.created}

    def network(self):
        """The network as the worker last sent it (a new object), or None before it started."""
        with self._lock:
            params = self._params
        if params is None:
            return None
        c = self.config
        network = Network(c.layers, c.activation, c.output, c.loss, c.init, dtype=np.float32)
        network.params[...] = params
        return network

    def model_bytes(self):
        """The run as a model file made from what the worker last sent (for a run that could not be
        saved: its owner downloads it from memory)."""
        from mlp.io import to_bytes

        network = self.network()
        if network is None:
            return b""
        view = self.view()
        return to_bytes(network, *self.snapshot_arrays(), **self.meta(
            view["status"], [e.to_dict() for e in view["history"]], [e.to_dict() for e in view["progress"]]).to_dict())

    def meta(self, status=None, history=None, progress=None, **more) -> RunMeta:
        """The run's metadata as the server knows it: its events so far (or those given)."""
        if history is None or progress is None:
            view = self.view()
            history = [e.to_dict() for e in view["history"]] if history is None else history
            progress = [e.to_dict() for e in view["progress"]] if progress is None else progress
        results = {"config": self.config.to_dict(), "history": history, "progress": progress,
                   "test_accuracy": history[-1]["test_accuracy"] if history else None}
        return RunMeta.of_training(self.name, status or self.status, self.created, results, owner=self.owner,
                                   owner_name=self.owner_name, challenge=self.challenge, **more)

    def snapshot_arrays(self):
        """The snapshots so far: parameters (k, n_params) and their epochs (k,)."""
        with self._lock:
            snapshots = list(self._snapshots)
        return np.stack([p for _, p in snapshots]), np.array([e for e, _ in snapshots])

    # ---- control -------------------------------------------------------------------------------
    def check_may_change(self, by: Person, action):
        """Raise NotYours unless ``by`` may control this run."""
        check_may_change(by, self.owner, self.owner_name, action)

    def pause(self, by: Person):
        self.check_may_change(by, "pause it")
        self._send("pause")

    def resume(self, by: Person):
        """Carry on to the last epoch, from a pause or from a step."""
        self.check_may_change(by, "resume it")
        self._send("resume")

    def step(self, by: Person):
        """Train to the end of the current epoch (or one more epoch, when waiting), then wait."""
        self.check_may_change(by, "step it")
        if self._worker is None:
            self._until = 1                   # still queued: it trains one epoch once it starts
        self._send("step")

    def stop(self, by: Person, note=None):
        """Stop at the next batch; the run is saved (``note``, if given, is saved as its message)."""
        self.check_may_change(by, "stop it")
        self._stop(note)

    def _stop(self, note=None):
        """Stop, for the server itself (a run abandoned while paused, the server stopping)."""
        if self._worker is None:
            self._cancelled = True
            self.registry.dispatch()
        self._send("stop", note)

    def interrupt(self):
        """Stop because the server is shutting down; the run is saved marked "interrupted"."""
        self._interrupting = True
        if self._worker is None:
            self._cancelled = True
        self._send("interrupt")

    def set_lr(self, by: Person, lr):
        self.check_may_change(by, "change its learning rate")
        if self._worker is None:
            self._lr = float(lr)
            with self._lock:
                self._state["lr"] = float(lr)
        self._send("set_lr", float(lr))

    def join(self, timeout=None):
        """Wait until the run is over and saved (True), or ``timeout`` seconds (False)."""
        if self._worker is None and self._cancelled:
            return True
        return self._settled.wait(timeout)

    def _send(self, name, value=None):
        worker = self._worker
        if worker is not None and not self.settled:
            worker.command(name, value)

    # ---- the worker's side -----------------------------------------------------------------------
    def spec(self):
        return RunSpec(self.id, self.name, self.config, str(self.registry.store.root), self._until, self._lr,
                       self.created, self.inputs, self.owner, self.owner_name, self.challenge, self.time_budget)

    def on_update(self, update):
        """An update from the worker (a thread of the transport calls this). A status the run cannot
        reach from where it is (a final one changing) is not taken."""
        with self._lock:
            if Status(self._state["status"]).may_become(update["status"]):
                self._state["status"] = Status(update["status"])
            for key in ("epoch", "samples_seen", "elapsed", "lr", "error", "saved"):
                self._state[key] = update[key]
            self._state["unsaved"] = update.get("unsaved")
            for event in update["events"]:
                event = Event(**event)
                self._progress.append(event)
                if event.kind == "epoch":
                    self._history.append(event)
            self._snapshots.extend(update["snapshots"])
            if update["params"] is not None:
                self._params = update["params"]

    def on_exit(self, death=None):
        """The worker is gone: after saving its run (``death`` None), or died saying nothing more."""
        if death is not None and not self.started_here:   # attached: its server may have ended it once saved
            try:
                info = self.registry.store.info(self.id)
            except (ValueError, OSError):
                info = None
            if info is not None and info.status in FINAL:
                with self._lock:
                    self._state.update(status=info.status, saved=True)
                death = None
        try:
            if death is not None:
                self._failure = (f"Training stopped: {death}." if self._interrupting else f"Training failed: {death}.")
                if self.started_here:
                    self._save_what_it_had()
        finally:                                       # whatever happened, the slot is freed
            self.settled_at = time.time()
            self._settled.set()
            self.registry.finished(self)

    def _save_what_it_had(self):
        """Save the run as it was at its last snapshot (the worker's own save never came)."""
        with self._lock:
            if not self._snapshots or not self._state["samples_seen"]:
                return
            epoch, params = self._snapshots[-1]
            history = [e.to_dict() for e in self._history if e.epoch <= epoch]
            progress = [e.to_dict() for e in self._progress if e.epoch <= epoch]
            snapshots = list(self._snapshots)
        network = self.network()
        network.params[...] = params
        error = self._failure + f" What it had learned up to epoch {epoch:g} (its last snapshot) is saved."
        meta = self.meta(self.status, history, progress, finished=time.time(), error=error)
        try:
            self.registry.store.save(self.id, network, meta, np.stack([p for _, p in snapshots]),
                                     np.array([e for e, _ in snapshots]))
            with self._lock:
                self._state["saved"] = True
            self._failure = error                      # said only once it is true
        except Exception as err:
            with self._lock:
                self._state["unsaved"] = save_failure(err)


class Registry:
    """Every job of this server process, with a cap on how many train at the same time.

    The abandon rule: a run trains to its last epoch whether or not anyone watches (every run has
    at most 200 epochs, so it ends). A run left *paused* (or waiting after a step) that no page has
    looked at for ``abandon_after`` seconds is stopped and saved, so it cannot hold a training slot
    for ever. On shutdown, ``shutdown()`` saves every unfinished run marked "interrupted".

    transport: ``start(spec, on_update, on_exit)`` returns a worker handle with ``command(name,
    value)``, ``kill()`` and ``pid`` (``runner.local.LocalTransport`` by default).
    """

    def __init__(self, store: RunStore, transport, max_running=None, abandon_after=600.0,
                 forget_after=FORGET_AFTER, watch_every=5.0):
        self.store, self.transport = store, transport
        self.max_running = max(1, int(max_running or default_max_running()))
        self.abandon_after, self.forget_after = float(abandon_after), float(forget_after)
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._running: set[str] = set()
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, args=(watch_every,), name="job-watchdog",
                                          daemon=True)
        self._watchdog.start()

    def submit(self, config, by: Person, name=None, until_epoch=None, inputs=None, run_id=None, challenge=None,
               time_budget=None):
        """Queue a run of ``by`` (it starts when a slot is free). Raises ConfigError if the settings
        are invalid. ``inputs``: what a fine-tuning run starts from (``runner.worker.fine_tune_inputs``);
        ``challenge`` and ``time_budget``: a class challenge's entry (``runner.classes.start_entry``),
        under the ``run_id`` it was entered with."""
        config.validate()
        run_id = run_id or new_run_id()
        job = Job(self, config, name or f"{config.activation} {'-'.join(map(str, config.layers))}",
                  run_id, until_epoch, inputs=inputs, owner=by.owner, owner_name=by.name, challenge=challenge,
                  time_budget=time_budget)
        with self._lock:
            self._jobs[run_id] = job
            self._queue.append(run_id)
        self.dispatch()
        return job

    def get(self, run_id):
        """The job of ``run_id``: one of this server's, or (on a cluster) one that another app server
        started, attached to by its id. None if there is none."""
        job = self._jobs.get(run_id)
        if job is None and hasattr(self.transport, "find") and RUN_ID.fullmatch(str(run_id)):
            job = self._attach(run_id)
        return job

    def _attach(self, run_id):
        found = self.transport.find(run_id)
        if found is None:
            return None
        plain, actor = found
        spec = RunSpec.from_plain(plain)
        job = Job(self, spec.config, spec.name, run_id, started_here=False, owner=spec.owner,
                  owner_name=spec.owner_name, challenge=spec.challenge, time_budget=spec.time_budget)
        job.created = spec.created or job.created
        with self._lock:
            if run_id in self._jobs:
                return self._jobs[run_id]
            self._jobs[run_id] = job
            job._state["status"] = Status.RUNNING     # until its worker says otherwise
            job._worker = self.transport.attach(actor, job.on_update, job.on_exit, run_id)
        return job

    def jobs(self):
        return list(self._jobs.values())

    def active(self):
        return [j for j in self.jobs() if j.active]

    def queue_position(self, run_id):
        """1 for the next job to start, 2 after it...; 0 if not waiting."""
        with self._lock:
            waiting = [i for i in self._queue if not self._jobs[i]._cancelled]
            return waiting.index(run_id) + 1 if run_id in waiting else 0

    def dispatch(self):
        """Start queued jobs while slots are free; drop cancelled ones from the queue."""
        with self._lock:
            while self._queue and (len(self._running) < self.max_running or self._jobs[self._queue[0]]._cancelled):
                job = self._jobs[self._queue.popleft()]
                if job._cancelled or self._closing.is_set():
                    continue
                self._running.add(job.id)
                with job._lock:
                    job._state["status"] = Status.RUNNING     # until its worker says otherwise
                job._worker = self.transport.start(job.spec(), job.on_update, job.on_exit)

    def finished(self, job):
        """A job's worker is gone: free its slot and start the next one."""
        with self._lock:
            self._running.discard(job.id)
        self.dispatch()

    def forget_settled(self, now=None):
        """Drop jobs saved more than ``forget_after`` seconds ago: pages then read their saved files."""
        now = time.time() if now is None else now
        with self._lock:
            for run_id, job in list(self._jobs.items()):
                over = job.settled or (job._cancelled and job._worker is None)
                keep = self.forget_after if job.saved or not job.samples_seen else UNSAVED_KEPT
                if over and now - (job.settled_at or job.created) > keep:
                    del self._jobs[run_id]

    def stop_all(self, timeout=10):
        for job in self.jobs():
            job._stop()
        self._wait_and_kill(timeout)

    def shutdown(self, timeout=20):
        """Save every unfinished run, marked "interrupted" (the server is stopping); leave no worker.
        On a cluster, runs belong to the cluster and go on training: another server attaches to them."""
        self._closing.set()
        if getattr(self.transport, "outlives_servers", False):
            return
        for job in self.jobs():
            if job.active:
                job.interrupt()
        self._wait_and_kill(timeout)
        if hasattr(self.transport, "close"):
            self.transport.close()            # a spare worker waiting for a run ends too

    def _wait_and_kill(self, timeout):
        deadline = time.time() + timeout
        for job in self.jobs():
            if job._worker is not None:
                if not job.join(max(0.0, deadline - time.time())):
                    job._worker.kill()        # its reader then saves what it had
                    job.join(10)

    def abandoned(self, now=None):
        """Jobs paused (or waiting after a step) that no page has looked at for ``abandon_after`` s."""
        now = time.time() if now is None else now
        return [j for j in self.jobs() if j.status == Status.PAUSED and now - j.last_seen > self.abandon_after]

    def _watch(self, every=5.0):
        while not self._closing.wait(every):
            for job in self.abandoned():
                job._stop(f"Stopped after {self.abandon_after / 60:g} minutes paused with nobody watching; "
                         "what it had learned is saved.")
            self.forget_settled()
