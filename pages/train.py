"""Train: choose hyperparameters, start/pause/stop a run, watch it learn, keep and compare runs."""
import streamlit as st

import ui
from ui import controls, live, runs_panel, state
from ui.markdown import escape

ui.ensure_navigation()

st.title("Train")
state.dataset()
state.adopt_linked_run()
controls.init_controls()
for problem in st.session_state.get("url_problems", []):
    st.warning(f"From the link: {escape(problem)}")
live.training_area(controls.settings_panel, runs_panel.runs_section)
