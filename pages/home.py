"""Home: what this is and where to start."""
from pathlib import Path

import streamlit as st

import ui

from ui import identity, state

ui.ensure_navigation()

st.title("Train a neural network from scratch")
st.markdown((Path(__file__).parent.parent / "ui" / "text" / "home.md").read_text())
links = st.container(horizontal=True, gap="medium")     # wraps on a narrow window instead of cutting a label
links.page_link("pages/learn.py", label="Follow the lessons", icon=":material/school:")
links.page_link("pages/train.py", label="Train a network", icon=":material/model_training:")
links.page_link("pages/weights.py", label="Look at its hidden units", icon=":material/grid_on:")
links.page_link("pages/evaluate.py", label="See where it errs", icon=":material/fact_check:")
links.page_link("pages/draw.py", label="Draw a digit for it", icon=":material/draw:")
links.page_link("pages/computes.py", label="Watch it compute", icon=":material/account_tree:")
links.page_link("pages/dreams.py", label="Fool it", icon=":material/psychology:")

runs = identity.mine_first(state.store().list(), everything=False)
active = state.registry().active()
cols = st.columns(3)
cols[0].metric("Your saved runs", len(runs))
cols[1].metric("Training now on this server", len(active))
best = max((r.test_accuracy for r in runs if r.test_accuracy is not None), default=None)
cols[2].metric("Your best test accuracy", f"{best:.2%}" if best is not None else "–")
