"""Process-wide resources (the dataset, the job registry) and per-session state (the current run).

The current run is the one network every page looks at: the run last started, uploaded or picked,
a saved run, or a pretrained model shipped in ``models/``. It lives under one session key
(``CURRENT``), is read with ``current_run_id()`` and ``current_run()``, and is changed with
``set_current_run()``; the Train page also keeps it in its URL (``?run=...``) so that a refresh or a
shared link finds it again.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import mlp
from mlp import compiled
from mlp.config import check_layers
from runner import dataset as shared_data
from runner.classes import Classroom, measurer
from runner.database import open_database
from runner.digits import DigitStore
from runner.jobs import Job, Registry, default_max_running
from runner.learn import LESSONS_DIR, Progress, RunRecord, Tutor, records_of
from runner.local import LocalTransport
from runner.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
RUNS_DIR = Path(os.environ.get("MLP_RUNS_DIR", ROOT / "runs"))
MAX_RUNNING = int(os.environ.get("MLP_MAX_RUNNING") or default_max_running())
"""How many runs may train at the same time on this server (default: its CPU cores); later ones queue."""
ABANDON_AFTER = float(os.environ.get("MLP_ABANDON_AFTER", "600"))
"""Seconds a paused run may sit unwatched before it is stopped and saved."""
MODELS_DIR = ROOT / "models"
SHIPPED = "model:"
"""Prefix of the ids of the pretrained models shipped in models/ (saved runs have hex ids)."""
DEFAULT_RUN = "model:wide"
"""What a session that has chosen no run yet looks at, on every page: the best shipped reader."""
CURRENT = "current_run"
"""The session key of the current run's id: its one home."""


@st.cache_resource(show_spinner="Loading MNIST…")
def _dataset():
    """MNIST, checked once per server process, as read-only memory maps of the cache that the
    training workers map too (``runner.dataset``): one copy in memory for them all."""
    return shared_data.shared_mnist()


def dataset():
    """The dataset, or a page that says what is wrong with it and how to fix it (then stops)."""
    try:
        return _dataset()
    except mlp.DataError as err:
        st.error(f"**The MNIST data cannot be loaded.** {err}")
        st.stop()


CLUSTER = os.environ.get("MLP_CLUSTER")
"""HOST:PORT (or "auto") of a Ray cluster to train on; unset: worker processes on this machine."""


def transport():
    """Where runs train: a Ray cluster if MLP_CLUSTER says so, else local worker processes."""
    if CLUSTER:
        from runner.cluster import ClusterTransport   # Ray is imported only then

        return ClusterTransport(CLUSTER)
    return LocalTransport(shared_data.cache_folder())


_made: list[Registry] = []
"""Every registry this process made (one per runs folder), for ``shutdown``."""


@st.cache_resource
def _registry(runs_dir, max_running):
    where = transport()
    compiled.warm_in_background()              # once per server: the kernels' cache, for the workers
    if hasattr(where, "prepare"):
        where.prepare()                        # a worker started ahead, so a run starts at once
    if CLUSTER and not os.environ.get("MLP_MAX_RUNNING"):
        max_running = where.cpus()             # the cluster's cores, not this machine's
    registry = Registry(RunStore(runs_dir), where, max_running, ABANDON_AFTER)
    _made.append(registry)
    atexit.register(registry.shutdown)         # a stopping server saves its unfinished runs
    return registry


def shutdown():
    """Save every unfinished run of this process, marked "interrupted" (the server is stopping).
    ``app.py``'s lifespan calls it: under ``st.App`` the server ends by re-raising SIGTERM once it
    has shut down, so ``atexit`` handlers never run."""
    for registry in _made:
        registry.shutdown()


def registry() -> Registry:
    dataset()
    return _registry(str(RUNS_DIR), MAX_RUNNING)


def store() -> RunStore:
    return registry().store


@st.cache_resource
def _digit_store(runs_dir):
    return DigitStore(runs_dir)


def digit_store() -> DigitStore:
    """The learners' own digit collections, kept in the runs folder."""
    return _digit_store(str(RUNS_DIR))


DATABASE_URL = os.environ.get("MLP_DATABASE_URL") or ""
"""A PostgreSQL server for the classes (``runner.database``); unset: ``classes.sqlite`` in the runs folder."""


@st.cache_resource(show_spinner=False)
def _classroom(runs_dir, url):
    return Classroom(open_database(runs_dir, url))


def classroom() -> Classroom:
    """The classes, challenges and leaderboards, shared by every app server on the same database.
    Raises ``runner.database.Unavailable`` (not cached: the next run tries again) when it cannot be
    opened."""
    return _classroom(str(RUNS_DIR), DATABASE_URL)


LESSONS = Path(os.environ.get("MLP_LESSONS_DIR", LESSONS_DIR))
"""The folder of the lessons of the Learn page (``runner.learn``): the project's own, unless set."""


def _network_of(run: RunRecord):
    """A lesson check's look at one of the learner's runs: its weights now (live) or as saved."""
    if run.live:
        job = registry().get(run.id)
        network = job.network() if job is not None else None
        if network is None:
            raise ValueError(f"the run “{run.name}” has no weights yet")
        return network
    path = store().path(run.id)
    version = path.stat()
    return _saved(str(path), (version.st_ino, version.st_size, version.st_mtime_ns)).network


def own_collections(person):
    """``person``'s own digit collections that can be used (not damaged)."""
    return [c for c in digit_store().list() if c.problem is None and person.owns(c.owner)]


def leaderboard(challenge_id):
    """A challenge's leaderboard, its entries whose runs have ended measured first."""
    x_test, y_test = dataset()[2:]
    classroom().score_pending(challenge_id, measurer(registry(), store(), x_test, y_test))
    return classroom().leaderboard(challenge_id)


def _challenges_of(person):
    """[(class, its latest challenge, its leaderboard)] of the classes ``person`` is in."""
    room, found = classroom(), []
    for info in room.joined(person):
        challenge = room.challenge(info.id)
        if challenge is not None:
            found.append((info, challenge, leaderboard(challenge.id)))
    return found


@st.cache_resource(show_spinner=False)
def _tutor(runs_dir, url, folder):
    return Tutor(Progress(_classroom(runs_dir, url).db),
                 lambda person, since: records_of(store(), registry(), person.owner, since), _network_of,
                 lambda: dataset()[2:], own_collections, _challenges_of, folder=folder)


def tutor() -> Tutor:
    """The lessons and everyone's progress along them (in the class database: raises
    ``runner.database.Unavailable`` as ``classroom`` does)."""
    return _tutor(str(RUNS_DIR), DATABASE_URL, str(LESSONS))


MY_DIGITS = "current_collection"
"""The session key of the current digit collection's id (its one home; the URL carries it as ?digits=)."""


def current_collection():
    """The id of the session's digit collection, adopting a linked one (``?digits=ID``), or None
    (also when it has been deleted or its file cannot be read: My digits says why)."""
    linked = st.query_params.get("digits")
    if st.session_state.get(MY_DIGITS) is None and linked and digit_store().exists(linked):
        st.session_state[MY_DIGITS] = linked
    chosen = st.session_state.get(MY_DIGITS)
    return chosen if chosen and digit_store().usable(chosen) else None


def set_current_collection(collection_id):
    st.session_state[MY_DIGITS] = collection_id


# ---- shipped models -----------------------------------------------------------------------------
def shipped_models():
    """{id: file} of the pretrained models in models/, e.g. {"model:wide": .../models/wide.npz}."""
    return {f"{SHIPPED}{path.stem}": path for path in sorted(MODELS_DIR.glob("*.npz"))}


@st.cache_resource(show_spinner=False)
def _shipped(path, version):
    """A shipped model, loaded once per process and shared: pages must not change it."""
    return mlp.load(path, with_extras=True, check_sizes=check_layers)


@st.cache_resource(show_spinner=False, max_entries=4)
def _saved(path, version):
    """A saved run's file, loaded once per version of the file and shared: pages must not change it."""
    return mlp.load(path, with_extras=True, check_sizes=check_layers)


def saved_file(run_id):
    """The checked contents (``mlp.io.SavedModel``) of a shipped model or a saved run, loaded once per
    version of its file; None when there is no such file. Raises ValueError if it is damaged."""
    path = model_file(run_id)
    if path is None:
        return None
    try:
        version = path.stat()
    except FileNotFoundError:
        return None
    load = _shipped if str(run_id).startswith(SHIPPED) else _saved
    return load(str(path), (version.st_ino, version.st_size, version.st_mtime_ns))


def model_file(run_id):
    """The file behind a shipped model or a saved run, or None (a run still training)."""
    if str(run_id).startswith(SHIPPED):
        return shipped_models().get(run_id)
    return store().path(run_id) if store().exists(run_id) else None


# ---- the current run ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CurrentRun:
    """The network a page looks at, with what it needs to show it.

    snapshots (k, n_params) and snapshot_epochs (k,) always hold at least one entry: a model saved
    without snapshots has its final weights as its only one. live: the run is still training (the
    network is a copy taken between two of its batches).
    """

    id: str
    network: mlp.Network
    meta: mlp.RunMeta
    snapshots: np.ndarray
    snapshot_epochs: np.ndarray
    live: bool

    @property
    def name(self):
        return self.meta.name


def current_run_id():
    return st.session_state.get(CURRENT)


def set_current_run(run_id):
    st.session_state[CURRENT] = run_id


def current_job() -> Job | None:
    """The job behind the current run, if it was trained on this server since it started."""
    run_id = current_run_id()
    return registry().get(run_id) if run_id else None


def current_run() -> CurrentRun | None:
    """The current run, or None when there is none or it has gone. Raises ValueError (with the
    reason) when its file is damaged."""
    run_id = current_run_id()
    if run_id is None:
        return None
    job = registry().get(run_id)
    if job is not None and not job.saved:
        network = job.network()
        if network is None:                    # queued: nothing to show yet
            return None
        return CurrentRun(run_id, network, job.meta(), *job.snapshot_arrays(), live=True)
    path = model_file(run_id)
    if path is None:
        return None
    try:
        version = path.stat()
        load = _shipped if str(run_id).startswith(SHIPPED) else _saved
        saved = load(str(path), (version.st_ino, version.st_size, version.st_mtime_ns))
    except FileNotFoundError:                  # deleted (by another session) since it was listed
        return None
    except OSError as err:
        raise ValueError(f"{path.name} cannot be read ({err.strerror or err})") from None
    meta = mlp.RunMeta.from_dict(saved.meta, fallback_name=_shipped_name(run_id, path))
    snapshots, epochs = saved.snapshots, saved.snapshot_epochs
    if snapshots is None:
        snapshots = saved.network.params[None]
        epochs = np.array([float(meta.epochs_done)])
    return CurrentRun(run_id, saved.network, meta, snapshots, epochs, live=False)


def _shipped_name(run_id, path):
    return f"pretrained: {path.stem}" if str(run_id).startswith(SHIPPED) else f"run {run_id}"


def adopt_linked_run():
    """On a page opened from a link (or refreshed) with ``?run=ID`` and no current run yet, make
    that run current if this server knows it (a run, or a shipped model such as ``model:seed``)."""
    linked = st.query_params.get("run")
    if current_run_id() is None and linked and (linked in shipped_models() or registry().get(linked)
                                                or store().exists(linked)):
        set_current_run(linked)
