"""Evaluate: test accuracy, the confusion matrix, the mistakes, and two runs side by side."""
import streamlit as st

import ui
from mlp import inspect
from ui import charts, inside, picker, state

ui.ensure_navigation()

st.title("Evaluate")
network, meta, _, _, live = picker.run_picker()
_, _, x_test, y_test = state.dataset()
outputs = inside.test_outputs(state.chosen_run_id(), network, live)
counts = inside.overview(outputs, y_test)
inside.gallery(outputs, x_test, y_test)

st.divider()
st.subheader("Compare two runs")
others = [r for r in state.store().list() if r.id != state.chosen_run_id()]
if not others:
    st.caption("Save another run to compare its confusion matrix with this one.")
else:
    other = st.selectbox("Compare with", others, key="compare_with", format_func=lambda r: f"{r.name} · {r.architecture}")
    other_counts = inspect.confusion_matrix(y_test, inside.test_outputs(other.id, None, False).argmax(axis=1))
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_heatmap(counts, meta.get("name", "this run")), key="compare_left")
    right.plotly_chart(charts.confusion_heatmap(other_counts, other.name), key="compare_right")
