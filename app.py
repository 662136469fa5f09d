"""Entry point: page setup and navigation. Run with `python -m streamlit run app.py`."""
import streamlit as st

import ui

# An emoji favicon is drawn by the browser itself; a ":material/...:" one would be fetched from a font server.
st.set_page_config(page_title="MLP from scratch", page_icon="🧠", layout="wide")

pages = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/weights.py", title="Hidden weights", icon=":material/grid_on:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("pages/my_digits.py", title="My digits", icon=":material/collections_bookmark:"),
    st.Page("pages/computes.py", title="How it computes", icon=":material/account_tree:"),
])
with ui.inside_navigation(), ui.timed_run(pages.title):
    pages.run()
