"""Hidden weights: what each hidden unit looks for, how it grew during training, and deeper layers."""
import numpy as np
import streamlit as st

import ui
from ui import inside, picker

ui.ensure_navigation()

st.title("Hidden weights")
network, meta, snapshots, epochs, live = picker.run_picker()
if snapshots is None:                       # a model saved without snapshots: only its final weights
    snapshots, epochs = network.params[None], np.array([float(len(meta.get("history") or []))])
playing = bool(st.session_state.get("playing"))


@st.fragment(run_every=0.7 if playing else None)
def units():
    index = inside.replay_controls(epochs)
    if bool(st.session_state.get("playing")) != playing:
        st.rerun()                          # play started or ended: rerun the page to (un)schedule frames
    unit = inside.unit_grid(network, snapshots[index])
    st.divider()
    inside.unit_detail(network, snapshots[index], unit)


units()
st.divider()
st.subheader("Deeper layers, now and at initialisation")
inside.deeper_layers(network, network.params, snapshots[0])
