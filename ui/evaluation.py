"""The Evaluate page's sections: accuracy, the confusion matrix and the gallery of mistakes."""
from __future__ import annotations

import numpy as np
import streamlit as st

import mlp
import ui
from mlp import adversarial, analysis, augment
from mlp.config import check_layers
from ui import background, charts, state


@st.cache_data(max_entries=16, show_spinner=False)
def _saved_outputs(path, modified):
    return mlp.load(path, check_sizes=check_layers).forward(state.dataset()[2])


def test_outputs(run_id, network=None):
    """The outputs (10000, 10) on the test images of a run's network: computed for a live one
    (``network`` given), cached for saved runs and shipped models. Raises ValueError when the run's
    file is damaged or gone."""
    path = state.model_file(run_id) if network is None else None
    if network is not None:
        return network.forward(state.dataset()[2])
    if path is None:
        raise ValueError("it is no longer saved")
    try:
        return _saved_outputs(str(path), path.stat().st_mtime)
    except OSError as err:
        raise ValueError(f"it cannot be read ({err.strerror or err})") from None


def _select_cell_from_click():
    points = st.session_state["confusion"].selection.points
    if points and "customdata" in points[0]:
        true_digit, predicted = points[0]["customdata"]
        st.session_state["filter_true"], st.session_state["filter_pred"] = int(true_digit), int(predicted)


def overview(outputs, y_test):
    predicted = outputs.argmax(axis=1)
    counts = analysis.confusion_matrix(y_test, predicted)
    accuracy = float(np.trace(counts) / counts.sum())
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{accuracy:.2%}")
    cols[1].metric("Mistakes", f"{int(counts.sum() - np.trace(counts)):,}")
    cols[2].metric("Test images", f"{int(counts.sum()):,}")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.confusion_heatmap(counts), key="confusion", on_select=_select_cell_from_click,
                      selection_mode="points", config={"displaylogo": False})
    left.caption("Click a cell to see its digits below.")
    right.plotly_chart(charts.digit_accuracy_bars(analysis.per_digit_accuracy(counts)), key="per_digit",
                       config={"displaylogo": False})
    return counts


def gallery(outputs, x_test, y_test, per_page=24):
    st.subheader("Mistakes, most confident first")
    digits = [None, *range(10)]
    cols = st.columns(3)
    true_digit = cols[0].selectbox("True digit", digits, key="filter_true", format_func=lambda d: "any" if d is None else str(d))
    predicted = cols[1].selectbox("Predicted digit", digits, key="filter_pred",
                                  format_func=lambda d: "any" if d is None else str(d))
    probabilities = analysis.as_probabilities(outputs)
    wrong = analysis.mistakes(probabilities, y_test, true_digit, predicted)
    pages = max(1, -(-len(wrong) // per_page))
    page = cols[2].number_input(f"Page (of {pages})", 1, pages, key="gallery_page") - 1
    if not len(wrong):
        st.info("No mistakes with these filters.")
        return []
    shown = wrong[page * per_page:(page + 1) * per_page]
    st.image([mistake_card(x_test[i], probabilities[i], int(y_test[i])) for i in shown], width=150,
             caption=[f"true {y_test[i]}, predicted {probabilities[i].argmax()} "
                      f"({probabilities[i].max():.0%})" for i in shown])
    st.caption("Each card: the test image, and the network's probability for every digit 0-9 "
               "(green: the true digit, red: its guess).")
    return shown


def mistake_card(x, probabilities, true_digit, scale=3, bar_width=6, height=84):
    """One test digit and its ten probability bars, drawn as a single small RGB image."""
    digit = np.kron(x.reshape(28, 28), np.ones((scale, scale)))
    card = np.full((height, 28 * scale + 8 + 10 * bar_width, 3), 255, np.uint8)
    card[:, :28 * scale] = (np.clip(digit, 0, 1) * 255).astype(np.uint8)[..., None]
    guess = int(probabilities.argmax())
    for d, p in enumerate(probabilities):
        colour = (44, 160, 44) if d == true_digit else (214, 39, 40) if d == guess else (170, 170, 170)
        left = 28 * scale + 8 + d * bar_width
        top = height - max(1, int(round(p * (height - 2))))
        card[top:, left:left + bar_width - 1] = colour
    return card


ROBUSTNESS_DIGITS = 2_000


def _measure_each(named_networks, measure, digits, progress):
    """[(name, ``measure(network, X, y, progress=...)``)] of each (name, network), one after the other, on
    the first ``digits`` test images; ``progress`` is told the share of the whole done."""
    _, _, x_test, y_test = state.dataset()
    X, y, results = x_test[:digits], y_test[:digits], []
    for i, (name, network) in enumerate(named_networks):
        share = lambda f, i=i: progress((i + f) / len(named_networks))   # noqa: E731
        results.append((name, measure(network, X, y, progress=share)))
    return results


def _in_background(kind, runs, measure, digits, label, chart):
    """``measure`` each (id, name, network) of ``runs`` in the background (``_measure_each``), once per
    version of their weights, and ``chart`` the results once there, with a progress bar meanwhile."""
    key = (kind,) + tuple((run_id, name, _version(run_id, network)) for run_id, name, network in runs)
    task = background.start(key, _measure_each, [(name, network.copy()) for _, name, network in runs], measure,
                            digits)
    background.wait_and_show(task, label, chart)


def _version(run_id, network):
    """What identifies these weights: the saved file's version, or (a run still training) its numbers."""
    path = state.model_file(run_id)
    if path is not None and path.exists():
        return path.stat().st_mtime_ns
    return hash(network.params.tobytes())


def robustness(runs):
    """Test accuracy of each (id, name, network) in ``runs`` against rotation, shift and pixel noise,
    so a learner sees what augmentation buys. Measured in the background (about a second a network
    on two cores), once per version of the weights."""
    _in_background("robustness", runs, augment.robustness, ROBUSTNESS_DIGITS,
                   f"Turning, moving and blurring {ROBUSTNESS_DIGITS:,} test digits", _robustness_chart)


def _robustness_chart(results):
    st.plotly_chart(charts.robustness_curves(results, stacked=ui.narrow()), key="robustness", config={"displaylogo": False})
    st.caption(f"Accuracy on the first {ROBUSTNESS_DIGITS:,} test digits, every one turned, moved or blurred by the "
               "same amount. A network trained with augmentation (Train, *Data*) holds up further "
               "from the centred, upright digits it was shown.")


def adversarial_robustness(runs):
    """Accuracy of each (id, name, network) in ``runs`` on test digits nudged within a growing budget ε
    (``mlp.adversarial``), beside the robustness curves: measured in the background, once per version
    of the weights (a few seconds for the largest networks the app accepts)."""
    _in_background("adversarial", runs, adversarial.adversarial_accuracy, adversarial.CURVE_DIGITS,
                   f"Nudging {adversarial.CURVE_DIGITS:,} test digits against the network", _adversarial_chart)


def _adversarial_chart(results):
    st.plotly_chart(charts.adversarial_curves(results), key="adversarial", config={"displaylogo": False})
    st.caption(f"Accuracy on the first {adversarial.CURVE_DIGITS:,} test digits when each may be changed by up to ε "
               f"per pixel, in the direction that hurts most ({adversarial.CURVE_STEPS} signed gradient steps, "
               "stopping once the network misreads it). A change of 0.1 is barely visible to us. See one digit "
               "fooled on **Dreams and adversaries**.")
