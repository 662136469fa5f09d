"""Saved runs: list, choose, rename, delete, download, upload, and compare their curves."""
from __future__ import annotations

import datetime

import streamlit as st

from mlp.config import FIELDS, TrainConfig
from ui import state
from ui.charts import compare_curves

UPLOAD_HELP = "A model .npz saved by this app or by `python -m mlp train --out`."


def _label(run):
    accuracy = f"{run.test_accuracy:.2%}" if run.test_accuracy is not None else "–"
    return f"{run.name} · {run.architecture} · {accuracy} · {run.status}"


def runs_table(runs):
    chosen = state.chosen_run_id()
    rows = [{"": "●" if r.id == chosen else "", "name": r.name, "network": r.architecture,
             "status": r.status, "test accuracy": r.test_accuracy, "epochs": r.epochs_done,
             "saved": datetime.datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M")}
            for r in runs]
    st.dataframe(rows, hide_index=True, key="runs_table",
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})


def manage(runs):
    """Choose a run for the other pages, and rename, download or delete it."""
    store = state.store()
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    current = state.chosen_run_id()
    picked = st.selectbox("Run", ids, index=ids.index(current) if current in ids else 0, key="picked_run",
                          format_func=lambda i: _label(by_id[i]))
    run = by_id[picked]
    cols = st.columns([1.3, 1, 1, 1])
    cols[0].button("Use for the other pages", key="choose_run", on_click=state.choose_run, args=(run.id,),
                   disabled=run.id == current, icon=":material/check:", width="stretch")
    path = store.path(run.id)
    cols[1].download_button("Download .npz", data=path.read_bytes, file_name=f"{run.name}.npz",
                            mime="application/octet-stream", key="download_run", icon=":material/download:",
                            width="stretch", on_click="ignore")
    with cols[2].popover("Rename", icon=":material/edit:", width="stretch"):
        new_name = st.text_input("New name", value=run.name, max_chars=80, key=f"rename_{run.id}")
        if st.button("Save name", key="rename_run"):
            st.session_state["runs_message"] = f"Renamed to “{store.rename(run.id, new_name).name}”."
            st.rerun()
    with cols[3].popover("Delete", icon=":material/delete:", width="stretch"):
        st.write(f"Delete **{run.name}** for good?")
        if st.button("Delete", key="delete_run", type="primary"):
            store.delete(run.id)
            if state.chosen_run_id() == run.id:
                state.choose_run(None)
            st.session_state["runs_message"] = f"Deleted “{run.name}”."
            st.rerun()


def upload():
    uploaded = st.file_uploader("Upload a model (.npz)", type=["npz"], key="upload_model", help=UPLOAD_HELP)
    if uploaded is None or st.session_state.get("uploaded_token") == uploaded.file_id:
        return
    st.session_state["uploaded_token"] = uploaded.file_id
    try:
        info = state.store().import_bytes(uploaded.getvalue(), uploaded.name)
    except ValueError as err:
        st.error(f"That file was refused: {err}", icon=":material/block:")
        return
    state.choose_run(info.id)
    st.success(f"Added “{info.name}” ({info.architecture}) and chose it for the other pages.")


def compare(runs):
    by_id = {r.id: r for r in runs}
    picked = st.multiselect("Compare runs", list(by_id), key="compare_runs", format_func=lambda i: _label(by_id[i]),
                            placeholder="tick runs to overlay their test-accuracy curves")
    if not picked:
        return
    loaded = {i: state.store().meta(i) for i in picked}
    st.plotly_chart(compare_curves([(by_id[i].name, loaded[i].get("history") or []) for i in picked]),
                    key="compare_chart")
    defaults = TrainConfig().to_dict()
    table = {"setting": list(FIELDS) + ["test accuracy"]}
    for i in picked:
        config = {**defaults, **(loaded[i].get("config") or {})}
        values = ["-".join(map(str, config["layers"])) if k == "layers" else str(config[k]) for k in FIELDS]
        accuracy = by_id[i].test_accuracy
        table[by_id[i].name] = values + [f"{accuracy:.2%}" if accuracy is not None else "–"]
    st.dataframe(table, hide_index=True, key="compare_table")


def runs_section():
    st.subheader("Saved runs")
    if "runs_message" in st.session_state:
        st.success(st.session_state.pop("runs_message"))
    runs = state.store().list()
    if runs:
        runs_table(runs)
        manage(runs)
    else:
        st.caption("Finished and stopped runs are saved here.")
    upload()
    if len(runs) > 1:
        compare(runs)
