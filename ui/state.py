"""Process-wide resources (the dataset, the job registry) and per-session state (the chosen run)."""
from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

import streamlit as st
import threadpoolctl

import mlp
from mlp.jobs import Registry
from mlp.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
RUNS_DIR = Path(os.environ.get("MLP_RUNS_DIR", ROOT / "runs"))
MAX_RUNNING = int(os.environ.get("MLP_MAX_RUNNING", "2"))
"""How many runs may train at the same time on this server; later ones wait in a queue."""
ABANDON_AFTER = float(os.environ.get("MLP_ABANDON_AFTER", "600"))
"""Seconds a paused run may sit unwatched before it is stopped and saved."""
MODELS_DIR = ROOT / "models"
SHIPPED = "model:"
"""Prefix of the ids of the pretrained models shipped in models/ (saved runs have hex ids)."""


@st.cache_resource(show_spinner="Loading MNIST…")
def _dataset():
    """MNIST, loaded once per server process and shared read-only by every session and job."""
    arrays = mlp.load_mnist()
    for array in arrays:
        array.setflags(write=False)
    return arrays


def dataset():
    """The dataset, or a page that says what is wrong with it and how to fix it (then stops)."""
    try:
        return _dataset()
    except mlp.DataError as err:
        st.error(f"**The MNIST data cannot be loaded.** {err}")
        st.stop()


@st.cache_resource
def _registry(runs_dir, max_running):
    # Several runs share the server's few cores: one BLAS thread each keeps them from fighting
    # over the cores (and leaves the web server room to answer).
    threadpoolctl.threadpool_limits(1, user_api="blas")
    # Training threads hold the interpreter lock between NumPy calls; handing it over every 1 ms
    # instead of every 5 ms lets page scripts of other users through sooner.
    sys.setswitchinterval(0.001)
    registry = Registry(_dataset(), RunStore(runs_dir), max_running, ABANDON_AFTER)
    atexit.register(registry.shutdown)         # a stopping server saves its unfinished runs
    return registry


def registry() -> Registry:
    dataset()
    return _registry(str(RUNS_DIR), MAX_RUNNING)


def store() -> RunStore:
    return registry().store


# ---- shipped models -----------------------------------------------------------------------------
def shipped_models():
    """{id: file} of the pretrained models in models/, e.g. {"model:wide": .../models/wide.npz}."""
    return {f"{SHIPPED}{path.stem}": path for path in sorted(MODELS_DIR.glob("*.npz"))}


@st.cache_resource(show_spinner=False)
def _shipped(path, modified):
    """A shipped model, loaded once per process and shared: pages must not change it."""
    return mlp.load(path, with_extras=True)


def model_file(run_id):
    """The file behind a shipped model or a saved run, or None (a run still training)."""
    if str(run_id).startswith(SHIPPED):
        return shipped_models().get(run_id)
    return store().path(run_id) if store().exists(run_id) else None


# ---- the chosen run: the model the other pages look at ------------------------------------------
def chosen_run_id():
    return st.session_state.get("chosen_run")


def choose_run(run_id):
    st.session_state["chosen_run"] = run_id


def chosen_model():
    """(network, meta, snapshots, snapshot_epochs, live) for the chosen run, or None.

    A run still training is read through its lock: the network is a copy taken between two batches,
    its snapshots those taken so far.
    """
    run_id = chosen_run_id()
    if run_id is None:
        return None
    job = registry().get(run_id)
    if job is not None and not job.saved:
        t = job.trainer
        meta = {"name": job.name, "config": job.config.to_dict(), "status": job.status,
                "history": [e.to_dict() for e in t.history]}
        return t.copy_network(), meta, *t.snapshot_arrays(), True
    path = model_file(run_id)
    if path is None:
        return None
    if str(run_id).startswith(SHIPPED):
        return (*_shipped(str(path), path.stat().st_mtime), False)
    return (*store().load(run_id), False)
