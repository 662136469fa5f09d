"""The cluster transport: each run's ``TrainingWorker`` as a Ray actor, named after its run id.

Set ``MLP_CLUSTER=HOST:PORT`` (or ``auto`` for a cluster started on this machine with ``ray start
--head``) and the app server trains its runs on the cluster instead of in local processes. The
actor is *detached* and named ``mlp-run-<id>`` in the namespace ``mlp``, so any app server connected
to the same cluster and the same runs folder can attach to a run from its URL (``Registry.get``):
several app servers behind one load balancer serve one class. Ray is optional
(``requirements-cluster.txt``); nothing imports it unless ``MLP_CLUSTER`` is set.

The actor runs the same ``TrainingWorker`` as a local process. It keeps what the updates carry merged
(every event and snapshot, the latest state and weights); each app server watching a run asks for
what is new every half second from a thread of its own (``updates(since_events, since_snapshots)``),
so a page never waits on the cluster. Control calls reach the actor while it trains (it is a threaded
actor). Calls between app servers and actors carry Ray's own serialisation, inside the cluster.

When its run is saved, the app server that started it ends the actor (freeing its CPU); watchers
that come later find the saved file. If that server has gone, the actor ends itself ``LINGER`` seconds
after saving. An app server that stops leaves its runs training on the cluster; another server, or
the same one restarted, attaches to them by id.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from runner.worker import RunSpec

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "mlp"
LINGER = 30.0
"""Seconds an actor whose run is saved waits for its owner to end it before it ends itself."""
POLL_EVERY = 0.5


def actor_name(run_id):
    return f"mlp-run-{run_id}"


def connect(address):
    """Join the Ray cluster at ``address`` ("auto" or HOST:PORT) once per process; returns ray."""
    # Ray's switches for clusters kept on loopback and with token authentication (see the README).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, include_dashboard=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    return ray


class ClusterWorker:
    """The actor: a TrainingWorker training in a thread, and what it published, merged."""

    def __init__(self, spec_data, cache_dir=None):
        from runner.dataset import shared_mnist
        from mlp.training import one_blas_thread
        from runner.worker import TrainingWorker

        one_blas_thread()
        self.spec_data = spec_data
        spec = RunSpec.from_plain(spec_data)
        self.worker = TrainingWorker(spec, shared_mnist(cache_dir))
        self.events, self.snapshots, self.latest = [], [], None
        self.lock = threading.Lock()
        threading.Thread(target=self._train, daemon=True).start()

    def _train(self):
        self.worker.run(self._publish)
        time.sleep(LINGER)                        # let every watcher fetch the final update
        os._exit(0)

    def _publish(self, update):
        with self.lock:
            self.events.extend(update["events"])
            self.snapshots.extend(update["snapshots"])
            params = update["params"] if update["params"] is not None else (self.latest or {}).get("params")
            self.latest = {**update, "params": params}

    def spec(self):
        return self.spec_data

    def command(self, name, value=None):
        self.worker.command(name, value)

    def updates(self, since_events, since_snapshots):
        """Everything new since the caller's cursors, as one update; None before the first one."""
        with self.lock:
            if self.latest is None:
                return None
            return {**self.latest, "events": self.events[since_events:], "snapshots": self.snapshots[since_snapshots:]}


class ClusterTransport:
    """Starts each run's worker as a named, detached Ray actor, and attaches to those of other servers."""

    name = "a Ray cluster"
    outlives_servers = True

    def __init__(self, address, cache_dir=None):
        self.ray = connect(address)
        self.cache_dir = cache_dir
        self._actor_class = self.ray.remote(num_cpus=1, max_concurrency=4)(ClusterWorker)

    def cpus(self):
        return int(self.ray.cluster_resources().get("CPU", 1))

    def start(self, spec, on_update, on_exit):
        actor = self._actor_class.options(name=actor_name(spec.run_id), namespace=NAMESPACE, lifetime="detached",
                                          get_if_exists=False).remote(spec.to_plain(), self.cache_dir)
        return ClusterHandle(self.ray, actor, on_update, on_exit, spec.run_id)

    def find(self, run_id):
        """(spec data, actor) of a run training on the cluster, or None."""
        try:
            actor = self.ray.get_actor(actor_name(run_id), namespace=NAMESPACE)
            return self.ray.get(actor.spec.remote(), timeout=10), actor
        except Exception:                         # no such actor (ValueError), or it just ended
            return None

    def attach(self, actor, on_update, on_exit, run_id):
        return ClusterHandle(self.ray, actor, on_update, on_exit, run_id, owner=False)


class ClusterHandle:
    """An app server's handle on one actor: sends commands, and polls its updates in a thread."""

    def __init__(self, ray, actor, on_update, on_exit, run_id, owner=True):
        self.ray, self.actor, self.owner = ray, actor, owner
        self.pid = None
        self._thread = threading.Thread(target=self._poll, args=(on_update, on_exit),
                                        name=f"cluster-{run_id}", daemon=True)
        self._thread.start()

    def command(self, name, value=None):
        try:
            self.actor.command.remote(name, value)
        except Exception:
            pass                                  # gone: the poller reports why

    def kill(self):
        try:
            self.ray.kill(self.actor)
        except Exception:
            pass

    def _poll(self, on_update, on_exit):
        events = snapshots = 0
        while True:
            try:
                update = self.ray.get(self.actor.updates.remote(events, snapshots), timeout=30)
            except self.ray.exceptions.GetTimeoutError:
                continue                          # not scheduled yet (no free CPU), or busy: ask again
            except Exception as err:              # the actor died (killed, out of memory, its node lost)
                on_exit(f"its Ray actor is gone ({type(err).__name__})")
                return
            if update is not None:
                events += len(update["events"])
                snapshots += len(update["snapshots"])
                on_update(update)
                if update["settled"]:
                    on_exit(None)
                    if self.owner:
                        self.kill()               # its run is saved: free its CPU at once
                    return
            time.sleep(POLL_EVERY)
