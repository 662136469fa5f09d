"""Dreams and adversaries: what the network imagines each digit looks like, and how little a digit must
change before the network misreads it, on the current run at any snapshot."""
import streamlit as st

import ui
from ui import computes, dreams, picker
from ui.markdown import escape

ui.ensure_navigation()

st.title("Dreams and adversaries")
run = picker.run_picker()
for note in dreams.linked_settings():
    st.warning(f"From the link: {escape(note)}.", icon=":material/link:")


def inside(index, epoch, network):
    imagined, fooled = st.tabs(dreams.VIEWS, key=dreams.VIEW, on_change="rerun")
    if imagined.open:
        with imagined:
            dreams.dream_section(run, epoch, network)
    if fooled.open:
        with fooled:
            dreams.nudge_section(run, epoch, network)


computes.replayed(run, dreams.SNAPSHOT, inside)
