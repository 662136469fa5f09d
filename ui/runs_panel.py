"""Saved runs: list, open, rename, delete, download, upload, compare their curves, and download as code.

Every control here acts on the run it shows, by id: the id is bound to the control when it is drawn
(``args=(run_id,)``), never read back from a selectbox inside the callback, so a rename or any other
rerun between the drawing and the click cannot point it at another run.
"""
from __future__ import annotations

import datetime

import streamlit as st

from mlp.config import FIELDS, TrainConfig
from runner.identity import NotYours
from runner.store import RunGone
from ui import export, identity, state
from ui.errors import failure_text
from ui.charts import compare_curves
from ui.markdown import escape

UPLOAD_HELP = "A model .npz saved by this app or by `python -m mlp train --out`."
MANAGED = "managed_run"
"""Session key: the id of the run the manage controls show (the selectbox's own key mirrors it)."""
MANAGE_PICKER = "manage_picker"
FOLLOWED = "managed_follows"
"""Session key: the saved current run the manage controls last followed; when a new one appears (a
run trained and saved, another opened), the controls show it."""


def _label(run):
    if run.damaged:
        return f"{run.name} · damaged"
    accuracy = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "–"
    return f"{run.name} · {run.architecture} · {accuracy} · {run.status}"


def runs_table(runs):
    current = state.current_run_id()
    rows = [{"": "●" if r.id == current else "", "name": r.name, "owner": identity.owner_label(r.owner, r.owner_name),
             "network": r.architecture, "status": r.status, "test accuracy": r.test_accuracy, "epochs": r.epochs_done,
             "saved": datetime.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")}
            for r in runs]
    st.dataframe(rows, hide_index=True, key="runs_table",
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})


def _message(text):
    st.session_state["runs_message"] = text


def _open(run_id):
    state.set_current_run(run_id)


def _rename(run_id):
    new_name = st.session_state.get(f"rename_{run_id}", "")
    try:
        info = state.store().rename(run_id, new_name, identity.acting())
    except (NotYours, RunGone, ValueError, OSError) as err:
        _message(("error", f"Could not rename it: {failure_text(err)}. Nothing was changed."))
        return
    _message(("success", f"Renamed to “{info.name}”."))


def _delete(run_id, name):
    """Delete the run the control showed (``name``: as it was shown, since it may be gone now)."""
    try:
        deleted = state.store().delete(run_id, identity.acting())
    except NotYours as err:
        _message(("error", f"Could not delete “{name}”: {err}. Nothing was changed."))
        return
    except OSError as err:
        _message(("error", f"Could not delete “{name}”: {failure_text(err)}. Nothing was changed."))
        return
    if state.current_run_id() == run_id:
        state.set_current_run(None)
    st.session_state.pop(MANAGED, None)
    _message(("success", f"Deleted “{name}”.") if deleted else
             ("error", f"“{name}” was already deleted (by another session)."))


def _managed_changed():
    st.session_state[MANAGED] = st.session_state[MANAGE_PICKER]


def manage(runs):
    """Pick a saved run, then open it (make it current), rename, download or delete it."""
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    wanted, current = st.session_state.get(MANAGED), state.current_run_id()
    if current in by_id and current != st.session_state.get(FOLLOWED):
        wanted = current                     # a new current run (saved after training, opened): follow it
        st.session_state[FOLLOWED] = current
    elif wanted not in by_id:
        wanted = current if current in by_id else ids[0]
    st.session_state[MANAGED] = st.session_state[MANAGE_PICKER] = wanted
    st.selectbox("Run", ids, key=MANAGE_PICKER, format_func=lambda i: _label(by_id[i]),
                 on_change=_managed_changed)
    run = by_id[wanted]
    if run.damaged:
        st.error(f"This file cannot be used: {escape(run.problem)}", icon=":material/broken_image:")
    row = st.container(horizontal=True, gap="small")
    row.button("Open", key="open_run", on_click=_open, args=(run.id,), icon=":material/check:",
               disabled=run.damaged or run.id == state.current_run_id(),
               help="Make it the current run: every page then looks at it.")
    path = state.store().path(run.id)
    allowed = identity.me().may_change(run.owner)
    not_allowed = None if allowed else (
        "Only a teacher may change a file that cannot be read." if run.damaged else
        f"It is {identity.whose_text(run.owner, run.owner_name)}: only its owner or a teacher may change it.")
    if not run.damaged:
        row.download_button("Download .npz", data=lambda: path.read_bytes(), file_name=f"{run.name}.npz",
                            mime="application/octet-stream", key="download_run",
                            icon=":material/download:", on_click="ignore")
        with row.popover("Rename", icon=":material/edit:", disabled=not allowed, help=not_allowed):
            st.text_input("New name", value=run.name, max_chars=80, key=f"rename_{run.id}")
            st.button("Save name", key="rename_run", on_click=_rename, args=(run.id,))
    with row.popover("Delete", icon=":material/delete:", disabled=not allowed, help=not_allowed):
        st.markdown(f"Delete **{escape(run.name)}** for good?")
        st.button("Delete", key="delete_run", type="primary", on_click=_delete, args=(run.id, run.name))
    if not allowed and not run.damaged:
        st.caption(f"{escape(run.name)} is {escape(identity.whose_text(run.owner, run.owner_name))}: open it to "
                   "look at it, compare with it or fine-tune a copy of your own.")


def upload():
    uploaded = st.file_uploader("Upload a model (.npz)", type=["npz"], key="upload_model", help=UPLOAD_HELP)
    if uploaded is None or st.session_state.get("uploaded_token") == uploaded.file_id:
        return
    st.session_state["uploaded_token"] = uploaded.file_id
    try:
        info, notices = state.store().import_bytes(uploaded.getvalue(), uploaded.name, identity.acting())
    except ValueError as err:
        st.error(f"That file was refused: {escape(err)}", icon=":material/block:")
        return
    except OSError as err:
        st.error(f"That file could not be saved: {escape(failure_text(err))}. Nothing was changed.",
                 icon=":material/error:")
        return
    state.set_current_run(info.id)
    st.session_state[MANAGED] = info.id
    st.success(f"Added “{escape(info.name)}” ({info.architecture}) and opened it.")
    for notice in notices:
        st.warning(f"From the uploaded file: {escape(notice)}", icon=":material/info:")


def compare(runs):
    by_id = {r.id: r for r in runs if not r.damaged}
    if "compare_runs" in st.session_state:           # runs deleted since: out of the widget's value
        st.session_state["compare_runs"] = [i for i in st.session_state["compare_runs"] if i in by_id]
    picked = st.multiselect("Compare runs", list(by_id), key="compare_runs", format_func=lambda i: _label(by_id[i]),
                            placeholder="tick runs to overlay their test-accuracy curves")
    if not picked:
        return
    loaded = {}
    for i in picked:
        try:
            loaded[i] = state.store().meta(i)
        except (ValueError, OSError) as err:            # damaged or deleted since it was listed
            st.warning(f"{escape(by_id[i].name)} is left out: {escape(err)}")
    if not loaded:
        return
    st.plotly_chart(compare_curves([(by_id[i].name, list(meta.history)) for i, meta in loaded.items()]),
                    key="compare_chart")
    defaults = TrainConfig().to_dict()
    table = {"setting": list(FIELDS) + ["test accuracy"]}
    for i, meta in loaded.items():
        config = {**defaults, **(meta.config or {})}
        values = ["-".join(map(str, config["layers"])) if k == "layers" else str(config[k]) for k in FIELDS]
        accuracy = by_id[i].test_accuracy
        table[by_id[i].name] = values + [f"{accuracy:.2%}" if accuracy is not None else "–"]
    st.dataframe(table, hide_index=True, key="compare_table")


def runs_section(config=None, job=None):
    """The saved runs, the upload, the comparison and the downloads as code (``config``: the settings the
    page's controls describe; ``job``: the current run's, if it is training)."""
    st.subheader("Saved runs")
    if "runs_message" in st.session_state:
        kind, text = st.session_state.pop("runs_message")
        (st.error if kind == "error" else st.success)(escape(text))
    identity.scope_control("runs_scope")
    listed = state.store().list()
    runs = identity.listed(listed, keep=(state.current_run_id(),))
    if runs:
        runs_table(runs)
        manage(runs)
    elif listed:
        st.caption("You have no saved runs yet: yours are saved here when they finish or are stopped. Choose "
                   "*Everything on this server* to see everyone's.")
    else:
        st.caption("Finished and stopped runs are saved here.")
    upload()
    if len(runs) > 1:
        compare(runs)
    export.as_code(config, runs, job)
