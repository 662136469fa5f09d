"""Choosing the run that the Weights, Evaluate and Draw pages look at."""
from __future__ import annotations

import streamlit as st

from ui import state


def _options():
    """(run id -> label): runs training now, saved runs (newest first), then the shipped models."""
    options = {}
    for job in state.registry().jobs():
        if not job.saved and job.trainer.samples_seen:
            options[job.id] = f"{job.name} · {'-'.join(map(str, job.config.layers))} · {job.status} (live)"
    for run in state.store().list():
        accuracy = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "–"
        options.setdefault(run.id, f"{run.name} · {run.architecture} · {accuracy}")
    for run_id, path in state.shipped_models().items():
        options[run_id] = f"pretrained: {path.stem} (shipped with the app)"
    return options


def _picked():
    state.choose_run(st.session_state["page_run"])


def run_picker(default=None):
    """A run selector synced with the chosen run; returns ``state.chosen_model()`` or stops the page.

    ``default``: the id to choose when the session has chosen nothing yet (else the first option).
    """
    options = _options()
    if not options:
        st.info("There is no trained network yet: train one on the **Train** page first.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    chosen = state.chosen_run_id()
    if chosen not in options:
        chosen = default if default in options else next(iter(options))
        state.choose_run(chosen)
    st.session_state["page_run"] = chosen
    st.selectbox("Run", list(options), key="page_run", format_func=options.get, on_change=_picked,
                 help="The network this page looks at; the Train page chooses it too.")
    try:
        model = state.chosen_model()
    except ValueError as err:                   # the file was damaged after it was listed
        st.error(f"That run cannot be loaded: {err}")
        st.stop()
    if model is None:
        st.warning("That run is no longer available.")
        st.stop()
    if model[4]:
        st.caption("This run is still training: the page shows it as it is now; rerun to refresh.")
    return model
