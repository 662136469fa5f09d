"""Learn: a guided path of lessons, each checked on the learner's own runs."""
import streamlit as st

import ui
from ui import learn

ui.ensure_navigation()

st.title("Learn")
learn.page()
