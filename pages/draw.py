"""Draw: sketch a digit and watch the network read it, and see why."""
import streamlit as st

import ui
from ui import draw, picker

ui.ensure_navigation()

st.title("Draw a digit")
network = picker.run_picker(default="model:wide").network
left, right = st.columns([2, 3], gap="large")
with left:
    image = draw.canvas()
with right:
    reading = draw.read(network, image)
if reading is not None:
    st.divider()
    draw.explain(network, *reading)
