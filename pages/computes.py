"""How it computes: the network as a graph, one step of backprop under a microscope, and the map of
what each layer sees, for any run at any moment of its training."""
import streamlit as st

import ui
from ui import computes, hidden_units, picker

ui.ensure_navigation()

st.title("How it computes")
run = picker.run_picker()
playing = hidden_units.playing(computes.SNAPSHOT)


@st.fragment(run_every=1.0 if playing else None)
def inside():
    index = hidden_units.replay_controls(run.snapshot_epochs, key=computes.SNAPSHOT, label="Network after epoch")
    if hidden_units.playing(computes.SNAPSHOT) != playing:
        st.rerun()
    epoch = float(run.snapshot_epochs[index])
    network = computes.network_at(run, index)
    example = computes.choose_input(network)
    # Only the chosen view is computed and sent: the browser draws one view's charts, not three.
    diagram, step, maps = st.tabs(computes.VIEWS, key=computes.VIEW, on_change="rerun")
    if example is not None and diagram.open:
        with diagram:
            computes.diagram_section(run, epoch, network, example)
    if example is not None and step.open:
        with step:
            computes.microscope(run, epoch, network, example)
    if maps.open:
        with maps:
            computes.layer_maps(run, index, network, example)


inside()
