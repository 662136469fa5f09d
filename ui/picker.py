"""Choosing the current run: the network the Hidden weights, Evaluate and Draw pages look at."""
from __future__ import annotations

import streamlit as st

from ui import identity, state
from ui.markdown import escape

PICKER = "run_picker"


def _options(current):
    """(run id -> label): this person's runs training now and saved (newest first), everyone else's
    too when the list shows everything, the shipped models, and the current run whoever's it is
    (opened from a link). Damaged files are left out here (the Train page's runs list shows them)."""
    options = {}
    live = [job for job in state.registry().jobs() if not job.saved and (job.samples_seen or job.active)]
    for job in identity.listed(live, keep=(current,)):
        options[job.id] = (f"{job.name} · {'-'.join(map(str, job.config.layers))} · {job.status} (live)"
                           f"{identity.whose_suffix(job.owner, job.owner_name)}")
    saved = [run for run in state.store().list() if not run.damaged]
    for run in identity.listed(saved, keep=(current,)):
        accuracy = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "–"
        options.setdefault(run.id, f"{run.name} · {run.architecture} · {accuracy}{identity.whose_suffix(run.owner, run.owner_name)}")
    for run_id, path in state.shipped_models().items():
        options[run_id] = f"pretrained: {path.stem} (shipped with the app)"
    return options


def _why_not(run_id):
    """Why a linked run is not among the options: its file's problem, or that it is not here."""
    if state.store().exists(run_id):
        try:
            state.store().info(run_id)
        except (ValueError, OSError) as err:
            return f"its file is damaged ({err})"
    return "there is no such run on this server (it was deleted, or the link is mistyped)"


def _picked():
    state.set_current_run(st.session_state[PICKER])


def run_picker() -> state.CurrentRun:
    """A run selector showing the current run; returns ``state.current_run()`` or stops the page
    with a message (never a traceback) when there is nothing to show.

    A session that has chosen nothing yet gets ``state.DEFAULT_RUN`` on every page alike (a shipped
    model, nobody's run); a link (``?run=ID``) to a run that is missing or damaged says so.
    """
    state.adopt_linked_run()
    options = _options(state.current_run_id())
    if not options:
        st.info("There is no trained network yet: train one on the **Train** page first.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    current = state.current_run_id()
    linked = st.query_params.get("run")
    if current not in options:
        if linked and current in (None, linked) and linked not in options:
            st.warning(f"The linked run {escape(linked)} cannot be shown: {escape(_why_not(linked))}. "
                       "Showing another one instead.", icon=":material/link_off:")
        current = state.DEFAULT_RUN if state.DEFAULT_RUN in options else next(iter(options))
        state.set_current_run(current)
    st.session_state[PICKER] = current
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    with row:
        st.selectbox("Run", list(options), key=PICKER, format_func=options.get, on_change=_picked,
                     help="The network this page looks at; the Train page chooses it too.")
        identity.scope_control("picker_scope")
    try:
        run = state.current_run()
    except ValueError as err:                   # the file was damaged after it was listed
        st.error(f"That run cannot be loaded: {escape(err)}. Pick another one above, or delete it on the "
                 "Train page.", icon=":material/broken_image:")
        st.stop()
    if run is None:
        job = state.current_job()
        if job is not None and job.active:     # queued, or its worker is starting
            st.info("This run has not started training yet (it waits for a free training slot): this "
                    "page shows it once it has. Pick another run above meanwhile.", icon=":material/hourglass_top:")
        else:
            st.warning("That run is no longer available: pick another one above.")
        st.stop()
    if run.live:
        st.caption("This run is still training: the page shows it as it is now; rerun to refresh.")
    return run
