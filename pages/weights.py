"""Hidden weights: what each hidden unit looks for, how it grew during training, and deeper layers."""
import streamlit as st

import ui
from ui import computes, hidden_units, picker

ui.ensure_navigation()

st.title("Hidden weights")
run = picker.run_picker()
playing = hidden_units.playing()


@st.fragment(run_every=0.7 if playing else None)
def units():
    index = hidden_units.replay_controls(run.snapshot_epochs)
    if hidden_units.playing() != playing:
        st.rerun()                          # play started or ended: rerun the page to (un)schedule frames
    params = run.snapshots[index]
    dead, checked = hidden_units.dead_units(run.network, params)
    unit = hidden_units.unit_grid(run.network, params, dead[0] if dead else None)
    if dead:
        hidden_units.dead_summary(dead, checked)
    st.divider()
    hidden_units.unit_detail(run.network, params, unit)
    if len(run.network.sizes) > 2:
        computes.switch_unit(run, float(run.snapshot_epochs[index]), computes.network_at(run, index), unit)


units()
st.divider()
st.subheader("Deeper layers, now and at initialisation")
hidden_units.deeper_layers(run.network, run.network.params, run.snapshots[0])
