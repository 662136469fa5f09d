"""Dreams and adversaries: what the network imagines each digit looks like, and how little a digit must
change before the network misreads it, on the current run at any snapshot."""
import streamlit as st

import ui
from ui import computes, dreams, hidden_units, picker
from ui.markdown import escape

ui.ensure_navigation()

st.title("Dreams and adversaries")
run = picker.run_picker()
for note in dreams.linked_settings():
    st.warning(f"From the link: {escape(note)}.", icon=":material/link:")
playing = hidden_units.playing(dreams.SNAPSHOT)


@st.fragment(run_every=1.0 if playing else None)
def inside():
    index = hidden_units.replay_controls(run.snapshot_epochs, key=dreams.SNAPSHOT, label="Network after epoch")
    if hidden_units.playing(dreams.SNAPSHOT) != playing:
        st.rerun()
    epoch = float(run.snapshot_epochs[index])
    network = computes.network_at(run, index)
    imagined, fooled = st.tabs(dreams.VIEWS, key=dreams.VIEW, on_change="rerun")
    if imagined.open:
        with imagined:
            dreams.dream_section(run, epoch, network)
    if fooled.open:
        with fooled:
            dreams.nudge_section(run, epoch, network)


inside()
