"""The Weights and Evaluate pages' sections. Arrays come from ``mlp.inspect``; figures from ``ui.charts``."""
from __future__ import annotations

import numpy as np
import streamlit as st

import mlp
from mlp import inspect
from ui import charts, state

UNITS_PER_PAGE = 64
COLUMNS = 8


# ---- weights ------------------------------------------------------------------------------------
def _play_step(count):
    """While playing, each fragment run shows the next snapshot; at the last one it stops."""
    if st.session_state.get("playing"):
        current = st.session_state.get("snapshot", 0)
        if current >= count - 1:
            st.session_state["playing"] = False
        else:
            st.session_state["snapshot"] = current + 1


def _toggle_play(count):
    playing = not st.session_state.get("playing", False)
    if playing and st.session_state.get("snapshot", 0) >= count - 1:
        st.session_state["snapshot"] = 0                       # play from the start again
    st.session_state["playing"] = playing


def replay_controls(epochs):
    """The snapshot slider (with its play button); returns the index of the snapshot to show."""
    count = len(epochs)
    if st.session_state.get("snapshot_count") != count:        # a new run, or a live run grew
        st.session_state["snapshot_count"] = count
        st.session_state["snapshot"] = count - 1
    _play_step(count)
    left, right = st.columns([1, 6], vertical_alignment="bottom")
    left.button("Pause" if st.session_state.get("playing") else "Play", key="play", on_click=_toggle_play,
                args=(count,), icon=":material/pause:" if st.session_state.get("playing") else
                ":material/play_arrow:", width="stretch", disabled=count < 2)
    right.select_slider("Weights after epoch", list(range(count)), key="snapshot",
                        format_func=lambda i: f"{epochs[i]:g}", disabled=count < 2,
                        help="Replay how the units grew out of random noise: epoch 0 is the initial weights.")
    return st.session_state["snapshot"]


def _select_unit_from_click():
    points = st.session_state["unit_grid"].selection.points
    if points and "customdata" in points[0]:
        st.session_state["unit"] = st.session_state.get("unit_offset", 0) + int(points[0]["customdata"])


def unit_grid(network, params):
    """Every first-layer unit's incoming weights, a page at a time; returns the chosen unit."""
    W0, b0 = inspect.weights_at(params, network.sizes)[0], inspect.biases_at(params, network.sizes)[0]
    units = W0.shape[1]
    pages = -(-units // UNITS_PER_PAGE)
    cols = st.columns([2, 2, 3])
    scale = cols[0].segmented_control("Colour scale", ["shared", "per unit"], key="scale_mode",
                                      default="shared", help="Shared: compare units with each other. "
                                      "Per unit: see each unit's own pattern, however faint.") or "shared"
    page = cols[1].number_input(f"Page (of {pages})", 1, pages, key="unit_page", disabled=pages == 1) - 1
    start = page * UNITS_PER_PAGE
    shown = list(range(start, min(start + UNITS_PER_PAGE, units)))
    st.session_state["unit_offset"] = start
    images = inspect.unit_images(W0[:, shown])
    if scale == "per unit":
        images = images / inspect.colour_limit(images, per_unit=True)[:, None, None]
        limit = 1.0
    else:
        limit = inspect.colour_limit(inspect.unit_images(W0))
    st.session_state.setdefault("unit", 0)
    if st.session_state["unit"] >= units:
        st.session_state["unit"] = 0
    cols[2].selectbox("Unit", list(range(units)), key="unit", help="Or click a unit in the grid.")
    selected = st.session_state["unit"] - start if st.session_state["unit"] in shown else None
    labels = [f"{j} · b {b0[j]:+.2f}" for j in shown]
    st.plotly_chart(charts.unit_grid(images, labels, limit, COLUMNS, selected), key="unit_grid",
                    on_select=_select_unit_from_click, selection_mode="points", config={"displaylogo": False})
    st.caption(f"{units} hidden units in the first layer; red pixels push a unit up, blue ones down, white "
               "ones do not matter. The label gives each unit's bias.")
    return st.session_state["unit"]


def unit_detail(network, params, unit):
    """One unit large: its weights, bias, outgoing weights and the training digits that excite it most."""
    weights = inspect.weights_at(params, network.sizes)
    biases = inspect.biases_at(params, network.sizes)
    image = inspect.unit_images(weights[0][:, [unit]])[0]
    left, right = st.columns([2, 3])
    left.plotly_chart(charts.weight_image(image, inspect.colour_limit(image[None]),
                                          f"unit {unit}: incoming weights (bias {biases[0][unit]:+.3f})"),
                      key="unit_image", config={"displaylogo": False})
    next_is_output = len(network.sizes) == 3
    names = [str(d) for d in range(10)] if next_is_output else [f"h2·{k}" for k in range(weights[1].shape[1])]
    right.plotly_chart(charts.outgoing_bars(weights[1][unit], names), key="unit_outgoing",
                       config={"displaylogo": False})
    right.caption("Its weights to each digit's output." if next_is_output else
                  "Its weights to the units of the second hidden layer.")
    x_train, y_train = state.dataset()[:2]
    top, activations = _top_activating(weights[0][:, unit], biases[0][unit], network.activation)
    st.markdown(f"**Training digits that excite unit {unit} most**")
    st.image([x_train[i].reshape(28, 28) for i in top], width=64, clamp=True,
             caption=[f"{y_train[i]} · {a:.2f}" for i, a in zip(top, activations)])


@st.cache_data(max_entries=64, show_spinner=False)
def _top_activating(incoming, bias, activation, k=12):
    """The 12 training digits that excite a unit with these incoming weights most (cached: the same
    unit of the same run is asked for again and again)."""
    unit = mlp.Network([784, 1, 10], activation=activation, dtype=incoming.dtype)
    unit.weights[0][:, 0], unit.biases[0][0] = incoming, bias
    return inspect.top_activating(unit, state.dataset()[0], 0, k)


def deeper_layers(network, params, initial):
    """Weight matrices of the deeper layers as heatmaps, and every layer's weights now against initially."""
    now = inspect.weights_at(params, network.sizes)
    start = inspect.weights_at(initial, network.sizes)
    for l in range(1, len(now)):
        cols = st.columns(2)
        cols[0].plotly_chart(charts.matrix_heatmap(now[l], f"layer {l + 1} weights {now[l].shape}"),
                             key=f"matrix_{l}", config={"displaylogo": False})
        cols[1].plotly_chart(charts.histograms(now[l], start[l], f"layer {l + 1} weights"),
                             key=f"histogram_{l}", config={"displaylogo": False})
    st.plotly_chart(charts.histograms(now[0], start[0], "first-layer weights"), key="histogram_0",
                    config={"displaylogo": False})


# ---- evaluation ---------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def _saved_outputs(path, modified):
    return mlp.load(path).forward(state.dataset()[2])


def test_outputs(run_id, network, live):
    """The network's outputs on the 10,000 test images (cached for saved runs and shipped models)."""
    path = None if live else state.model_file(run_id)
    if path is None:
        return network.forward(state.dataset()[2])
    return _saved_outputs(str(path), path.stat().st_mtime)


def _select_cell_from_click():
    points = st.session_state["confusion"].selection.points
    if points and "customdata" in points[0]:
        true_digit, predicted = points[0]["customdata"]
        st.session_state["filter_true"], st.session_state["filter_pred"] = int(true_digit), int(predicted)


def overview(outputs, y_test):
    predicted = outputs.argmax(axis=1)
    counts = inspect.confusion_matrix(y_test, predicted)
    accuracy = float(np.trace(counts) / counts.sum())
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{accuracy:.2%}")
    cols[1].metric("Mistakes", f"{int(counts.sum() - np.trace(counts)):,}")
    cols[2].metric("Test images", f"{int(counts.sum()):,}")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.confusion_heatmap(counts), key="confusion", on_select=_select_cell_from_click,
                      selection_mode="points", config={"displaylogo": False})
    left.caption("Click a cell to see its digits below.")
    right.plotly_chart(charts.digit_accuracy_bars(inspect.per_digit_accuracy(counts)), key="per_digit",
                       config={"displaylogo": False})
    return counts


def gallery(outputs, x_test, y_test, per_page=24):
    st.subheader("Mistakes, most confident first")
    digits = [None, *range(10)]
    cols = st.columns(3)
    true_digit = cols[0].selectbox("True digit", digits, key="filter_true", format_func=lambda d: "any" if d is None else str(d))
    predicted = cols[1].selectbox("Predicted digit", digits, key="filter_pred",
                                  format_func=lambda d: "any" if d is None else str(d))
    probabilities = inspect.as_probabilities(outputs)
    wrong = inspect.mistakes(probabilities, y_test, true_digit, predicted)
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
