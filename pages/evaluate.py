"""Evaluate: test accuracy, the confusion matrix, the mistakes, and two runs side by side."""
import streamlit as st

import mlp
import ui
from mlp import analysis
from mlp.config import check_layers
from mlp.data import tested_rows
from ui import charts, evaluation, identity, my_digits, picker, state
from ui.markdown import escape

ui.ensure_navigation()

st.title("Evaluate")
run = picker.run_picker()
_, _, x_test, y_test = state.dataset()
outputs = evaluation.test_outputs(run.id, run.network if run.live else None)
half = tested_rows(run.meta.challenge)
if run.meta.challenge:                  # a class challenge's run: the private half stays out of sight
    outputs, x_test, y_test = outputs[half], x_test[half], y_test[half]
    st.info("A class challenge run: measured here on the public half of the test set (the 5,000 even-numbered "
            "images), as on its leaderboard.", icon=":material/emoji_events:")
counts = evaluation.overview(outputs, y_test)
evaluation.gallery(outputs, x_test, y_test)

st.divider()
st.subheader("On your own digits")
my_digits.evaluation(run.network, float(counts.trace() / counts.sum()))

st.divider()
st.subheader("Compare two runs")
others = [r for r in identity.listed(state.store().list()) if r.id != run.id and not r.damaged]
second = None
if not others:
    st.caption("Save another run to compare its confusion matrix and its robustness with this one.")
else:
    labels = {r.id: f"{r.name} · {r.architecture}{identity.whose_suffix(r.owner, r.owner_name)}" for r in others}
    other = st.selectbox("Compare with", others, key="compare_with", format_func=lambda r: labels[r.id])
    try:
        other_outputs = evaluation.test_outputs(other.id)[half]
    except ValueError as err:
        st.warning(f"{escape(other.name)} cannot be compared: {escape(err)}")
    else:
        other_counts = analysis.confusion_matrix(y_test, other_outputs.argmax(axis=1))
        left, right = st.columns(2)
        left.plotly_chart(charts.confusion_heatmap(counts, run.name), key="compare_left")
        right.plotly_chart(charts.confusion_heatmap(other_counts, other.name), key="compare_right")
        second = other

st.divider()
st.subheader("Robustness: turned, moved and noisy digits")
compared = [(run.id, run.name, run.network)]
if second is not None:
    try:
        compared.append((second.id, second.name, mlp.load(state.model_file(second.id), check_sizes=check_layers)))
    except (ValueError, OSError) as err:
        st.warning(f"{escape(second.name)} cannot be measured: {escape(err)}")
evaluation.robustness(compared)

st.subheader("Adversarial accuracy: digits nudged on purpose")
evaluation.adversarial_robustness(compared)
