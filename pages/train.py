"""Train: choose hyperparameters, start/pause/stop a run, watch it learn, keep and compare runs."""
import streamlit as st

import ui
from ui import controls, live, runs_panel, state

ui.ensure_navigation()

st.title("Train")
state.dataset()
controls.init_controls()
for problem in st.session_state.get("url_problems", []):
    st.warning(f"From the link: {problem}")

job = live.attached_job()
training = live.is_active(job)
settings, progress = st.columns([2, 3], gap="large")
with settings, st.container(border=True):
    controls.preset_picker(disabled=training)
    config = controls.controls(disabled=training, on_lr_change=live.set_live_lr)
    controls.explain(config)
    if training:
        st.caption("The settings are locked while a run trains, except the learning rate, "
                   "which the run takes at its next batch.")
controls.share_link(config if not training else job.config, job.id if job else None)
with progress:
    live.buttons(config, job)
    live.live_view(job)
st.divider()
runs_panel.runs_section()
