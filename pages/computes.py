"""How it computes: the network as a graph, one step of backprop under a microscope, and the map of
what each layer sees, for any run at any moment of its training."""
import streamlit as st

import ui
from ui import computes, picker

ui.ensure_navigation()

st.title("How it computes")
run = picker.run_picker()


def inside(index, epoch, network):
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


computes.replayed(run, computes.SNAPSHOT, inside)
