"""Training jobs for a server with many users: a process-wide registry of runs training in threads.

Each job wraps a ``Trainer`` in its own thread. The registry lets at most ``max_running`` jobs train
at once; later ones wait in a first-come, first-served queue and say so (status "queued"). Finished,
stopped and diverged jobs are saved to the run store, so a browser refresh or a server restart
loses nothing that finished. Nothing here knows about Streamlit: pages read a job's ``view()``.
"""
from __future__ import annotations

import collections
import os
import threading
import time
import traceback

from .runs import RunStore, new_run_id
from .training import Trainer, TrainingDiverged

FINAL = ("stopped", "done", "diverged", "failed", "interrupted")


class Job:
    """One training run in its own thread. Control methods may be called from any thread."""

    def __init__(self, registry, config, name, run_id, until_epoch=None):
        self.registry, self.config, self.name, self.id = registry, config, name, run_id
        self.trainer = Trainer(config, registry.data)
        self.created = time.time()
        self.error = None
        self.saved = False
        self._target = until_epoch or config.epochs
        self._queued = True
        self._cancelled = False
        self._failed = False
        self._interrupted = False
        self.last_seen = time.time()      # when a page last looked at this job (for the abandon rule)
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"job-{run_id}", daemon=True)

    # ---- state ---------------------------------------------------------------------------------
    @property
    def status(self):
        """queued, running, paused, stopped, done, diverged, failed or interrupted."""
        if self._failed:
            return "failed"
        if self._cancelled and self._queued:
            return "stopped"
        if self._queued:
            return "queued"
        status = self.trainer.status
        if status == "ready":      # between epochs, waiting for the next step
            status = "paused" if self._thread.is_alive() else "stopped"
        return "interrupted" if status == "stopped" and self._interrupted else status

    @property
    def active(self):
        return self.status not in FINAL

    @property
    def settled(self):
        """True once the thread is over: a finished run has also been saved (or failed to save)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def view(self):
        """A consistent copy of what a page shows: status, events and figures, safe while training."""
        t = self.trainer
        self.last_seen = time.time()
        with t.lock:
            return {"id": self.id, "name": self.name, "status": self.status, "error": self.error or t.error,
                    "config": self.config, "progress": list(t.progress), "history": list(t.history),
                    "epoch": t.epoch, "samples_seen": t.samples_seen, "elapsed": t.elapsed, "lr": t.lr,
                    "total_samples": self.config.epochs * len(t.y_train),
                    "queue_position": self.registry.queue_position(self.id), "saved": self.saved}

    # ---- control -------------------------------------------------------------------------------
    def start(self):
        self._thread.start()
        return self

    def pause(self):
        self.trainer.pause()

    def resume(self):
        """Carry on to the last epoch, from a pause or from a step."""
        self._target = self.config.epochs
        self.trainer.resume()
        self._wake.set()

    def step(self):
        """Train one more epoch, then wait (also works from a pause)."""
        self._target = min(self.trainer.epoch + 1, self.config.epochs)
        self.trainer.resume()
        self._wake.set()

    def stop(self):
        self._cancelled = True
        self.trainer.stop()
        self._wake.set()
        self.registry.wake_queue()

    def interrupt(self):
        """Stop because the server is shutting down; the run is saved marked "interrupted"."""
        self._interrupted = True
        self.stop()

    def set_lr(self, lr):
        self.trainer.set_lr(lr)

    def join(self, timeout=None):
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---- the thread ----------------------------------------------------------------------------
    def _main(self):
        _lower_priority()
        if not self.registry.acquire_slot(self):
            return
        self._queued = False
        try:
            while not self.trainer.finished:
                self.trainer.run(until_epoch=self._target)
                if self.trainer.finished:
                    break
                self._wake.wait()           # reached the end of a step: wait for the next command
                self._wake.clear()
        except TrainingDiverged:
            pass                             # the trainer keeps the explanation in .error
        except Exception as err:             # a bug must not kill the server: report it on the page
            self._failed = True
            self.error = f"Training failed: {err!r}"
            traceback.print_exc()
        finally:
            self.registry.release_slot()
            self._save()

    def _save(self):
        t = self.trainer
        if not t.samples_seen:
            return                           # nothing trained, nothing worth keeping
        meta = {"name": self.name, "status": self.status, "created": self.created, "finished": time.time(),
                "error": t.error or self.error, "dataset": "mnist", **t.results()}
        try:
            self.registry.store.save(self.id, t.copy_network(), meta, *t.snapshot_arrays())
            self.saved = True
        except OSError as err:
            self.error = f"The run finished but could not be saved: {err}"


def _lower_priority(niceness=10):
    """Let this (training) thread yield the CPU to the server's page scripts: on Linux a thread has
    its own nice value. Elsewhere, or where it is not allowed, nothing changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class Registry:
    """Every job of this server process, with a cap on how many train at the same time.

    The abandon rule: a run trains to its last epoch whether or not anyone watches (every run has
    at most 200 epochs, so it ends). A run left *paused* (or waiting after a step) that no page has
    looked at for ``abandon_after`` seconds is stopped and saved, so it cannot hold a training slot
    for ever. On shutdown, ``shutdown()`` saves every unfinished run marked "interrupted".
    """

    def __init__(self, data, store: RunStore, max_running=2, abandon_after=600.0):
        self.data, self.store, self.max_running = data, store, max(1, int(max_running))
        self.abandon_after = float(abandon_after)
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._running = 0
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="job-watchdog", daemon=True)
        self._watchdog.start()

    def submit(self, config, name=None, until_epoch=None):
        """Create and start a job (it may have to wait for a free slot). Raises ConfigError if invalid."""
        run_id = new_run_id()
        job = Job(self, config, name or f"{config.activation} {'-'.join(map(str, config.layers))}",
                  run_id, until_epoch)
        with self._cond:
            self._jobs[run_id] = job
            self._queue.append(run_id)
        return job.start()

    def get(self, run_id):
        return self._jobs.get(run_id)

    def jobs(self):
        return list(self._jobs.values())

    def active(self):
        return [j for j in self.jobs() if j.active]

    def queue_position(self, run_id):
        """1 for the next job to start, 2 after it...; 0 if not waiting."""
        with self._cond:
            return self._queue.index(run_id) + 1 if run_id in self._queue else 0

    def acquire_slot(self, job):
        """Block until ``job`` is first in the queue and a slot is free. False if it was stopped first."""
        with self._cond:
            while not job._cancelled and (self._queue[0] != job.id or self._running >= self.max_running):
                self._cond.wait()
            self._queue.remove(job.id)
            if job._cancelled:
                self._cond.notify_all()
                return False
            self._running += 1
            self._cond.notify_all()
            return True

    def release_slot(self):
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def wake_queue(self):
        with self._cond:
            self._cond.notify_all()

    def stop_all(self, timeout=10):
        for job in self.jobs():
            job.stop()
        for job in self.jobs():
            job.join(timeout)

    def shutdown(self, timeout=20):
        """Save every unfinished run, marked "interrupted" (the server is stopping)."""
        self._closing.set()
        for job in self.jobs():
            if job.active:
                job.interrupt()
        for job in self.jobs():
            job.join(timeout)

    def abandoned(self, now=None):
        """Jobs paused (or waiting after a step) that no page has looked at for ``abandon_after`` s."""
        now = time.time() if now is None else now
        return [j for j in self.jobs() if j.status == "paused" and now - j.last_seen > self.abandon_after]

    def _watch(self, every=5.0):
        while not self._closing.wait(every):
            for job in self.abandoned():
                job.error = (f"Stopped after {self.abandon_after / 60:g} minutes paused with nobody watching; "
                             "what it had learned is saved.")
                job.stop()
