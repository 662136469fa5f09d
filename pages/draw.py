"""Draw: sketch a digit and watch the network read it, and see why."""
import streamlit as st

import ui
from ui import computes, draw, my_digits, picker

ui.ensure_navigation()

st.title("Draw a digit")
run = picker.run_picker()
left, right = st.columns([2, 3], gap="large")
with left:
    image = draw.canvas()
    my_digits.kept_note()
with right:
    reading = draw.read(run.network, image)
    if reading is not None:
        my_digits.keep_panel(*reading, image, clear=draw.clear)
if reading is not None:
    x, digit = reading
    st.session_state[computes.DRAWING] = x           # How it computes can follow this drawing too
    st.divider()
    draw.explain(run.network, x, digit)
    st.subheader("Your drawing, flowing through the network")
    computes.diagram(run.network, computes.Example(x, None, "your drawing", ("drawing",)),
                     computes.units_off(run.id), key="draw_diagram")
