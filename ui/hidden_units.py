"""The Hidden weights page's sections: the unit grid with its replay, one unit in detail, dead units,
and the deeper layers. Arrays come from ``mlp.analysis``; figures from ``ui.charts``."""
from __future__ import annotations

import streamlit as st

import ui

import mlp
from mlp import analysis
from ui import charts, state

UNITS_PER_PAGE = 64
COLUMNS = 8
NARROW_COLUMNS = 4
"""Tiles per row on a phone: 8 tiles of a 390-pixel screen are 30 pixels each, their labels overlapping."""
MAX_MATRIX = 128
"""Deeper weight matrices are drawn at most this many units a side (a 1024×1024 heatmap would take
seconds to send and draw): the first 128 units of each layer, and the caption says so."""
DEAD_CHECK_WORK = 2e10
"""Multiply-adds allowed for finding dead units: all 60,000 training images for the presets' networks,
fewer for the largest networks the app accepts (so the page stays fast); the caption gives the count."""


def _play_step(count, key):
    """While playing, each fragment run shows the next snapshot; at the last one it stops."""
    if st.session_state.get(f"{key}_playing"):
        current = st.session_state.get(f"{key}_index", 0)
        if current >= count - 1:
            st.session_state[f"{key}_playing"] = False
        else:
            st.session_state[f"{key}_index"] = current + 1


def _toggle_play(count, key):
    playing = not st.session_state.get(f"{key}_playing", False)
    if playing and st.session_state.get(f"{key}_index", 0) >= count - 1:
        st.session_state[f"{key}_index"] = 0                   # play from the start again
    st.session_state[f"{key}_playing"] = playing


def _moved(key):
    st.session_state[f"{key}_index"] = st.session_state[key]


def playing(key="snapshot"):
    """True while the replay under ``key`` plays (its page then reruns a fragment on a timer)."""
    return bool(st.session_state.get(f"{key}_playing"))


def replay_controls(epochs, key="snapshot", label="Weights after epoch"):
    """The snapshot slider (with its play button); returns the index of the snapshot to show. Each
    page has its own ``key``, so each remembers its own moment, also while the user is on another
    page (the chosen index is kept under ``{key}_index``: Streamlit forgets the state of a widget
    that a run did not draw)."""
    count = len(epochs)
    if st.session_state.get(f"{key}_count") != count:          # a new run, or a live run grew
        st.session_state[f"{key}_count"] = count
        st.session_state[f"{key}_index"] = count - 1
    _play_step(count, key)
    index = min(st.session_state.get(f"{key}_index", count - 1), count - 1)
    st.session_state[key] = index
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    row.button("Pause" if playing(key) else "Play", key=f"{key}_play", on_click=_toggle_play,
               args=(count, key), icon=":material/pause:" if playing(key) else ":material/play_arrow:",
               disabled=count < 2)
    row.select_slider(label, list(range(count)), key=key, format_func=lambda i: f"{epochs[i]:g}",
                      disabled=count < 2, on_change=_moved, args=(key,),
                      help="Replay how the units grew out of random noise: epoch 0 is the initial weights.")
    return index


def _select_unit_from_click():
    points = st.session_state["unit_grid"].selection.points
    if points and "customdata" in points[0]:
        st.session_state["unit"] = st.session_state.get("unit_offset", 0) + int(points[0]["customdata"])


def images_for_dead_check(sizes):
    """How many training images the dead-unit check looks at for a network of these sizes."""
    return int(min(60_000, max(1_000, DEAD_CHECK_WORK // mlp.network.parameter_count(sizes))))


@st.cache_data(max_entries=32, show_spinner="Looking for dead units…")
def _dead_units(sizes, activation, output, loss, params, n_images):
    network = mlp.Network(sizes, activation, output, loss, dtype=params.dtype)
    network.params[...] = params
    return analysis.dead_units(network, state.dataset()[0][:n_images])


def dead_units(network, params):
    """Per hidden layer, which units are dead at these parameters (cached), and on how many images."""
    n = images_for_dead_check(network.sizes)
    return _dead_units(network.sizes, network.activation, network.output, network.loss_name, params, n), n


def dead_summary(dead, n_images):
    """One line per hidden layer: how many of its units are dead."""
    parts = [f"layer {l + 1}: {int(d.sum())} of {len(d)} ({d.mean():.0%})" for l, d in enumerate(dead)]
    st.caption(f"**Dead units** give the same output for every one of {n_images:,} training images (a ReLU "
               "that never fires, or a unit stuck at one end), so the layers after them learn nothing from "
               "them. " + "; ".join(parts) + ".")


def unit_grid(network, params, dead=None):
    """Every first-layer unit's incoming weights, a page at a time; returns the chosen unit.

    dead: a boolean array (units,) marking the first layer's dead units, labelled so in the grid."""
    W0, b0 = analysis.weights_at(params, network.sizes)[0], analysis.biases_at(params, network.sizes)[0]
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
    images = analysis.unit_images(W0[:, shown])
    if scale == "per unit":
        images = images / analysis.colour_limit(images, per_unit=True)[:, None, None]
        limit = 1.0
    else:
        limit = analysis.colour_limit(analysis.unit_images(W0))
    st.session_state.setdefault("unit", 0)
    if st.session_state["unit"] >= units:
        st.session_state["unit"] = 0
    cols[2].selectbox("Unit", list(range(units)), key="unit", help="Or click a unit in the grid.")
    selected = st.session_state["unit"] - start if st.session_state["unit"] in shown else None
    labels = [f"{j} · b {b0[j]:+.2f}" + (" · dead" if dead is not None and dead[j] else "") for j in shown]
    grid = dict(columns=NARROW_COLUMNS, height_per_row=92) if ui.narrow() else dict(columns=COLUMNS)
    st.plotly_chart(charts.unit_grid(images, labels, limit, selected=selected, **grid),
                    key="unit_grid",
                    on_select=_select_unit_from_click, selection_mode="points", config={"displaylogo": False})
    st.caption(f"{units} hidden units in the first layer; red pixels push a unit up, blue ones down, white "
               "ones do not matter. The label gives each unit's bias.")
    return st.session_state["unit"]


def unit_detail(network, params, unit):
    """One unit large: its weights, bias, outgoing weights and the training digits that excite it most."""
    weights = analysis.weights_at(params, network.sizes)
    biases = analysis.biases_at(params, network.sizes)
    image = analysis.unit_images(weights[0][:, [unit]])[0]
    left, right = st.columns([2, 3])
    left.plotly_chart(charts.weight_image(image, analysis.colour_limit(image[None]),
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
    return analysis.top_activating(unit, state.dataset()[0], 0, k)


def deeper_layers(network, params, initial):
    """Weight matrices of the deeper layers as heatmaps (at most MAX_MATRIX units a side), and every
    layer's weights now against at initialisation, as histograms binned here."""
    now = analysis.weights_at(params, network.sizes)
    start = analysis.weights_at(initial, network.sizes)
    for l in range(1, len(now)):
        cols = st.columns(2)
        shown = now[l][:MAX_MATRIX, :MAX_MATRIX]
        title = f"layer {l + 1} weights {now[l].shape}"
        if shown.shape != now[l].shape:
            title += f", first {shown.shape[0]}×{shown.shape[1]} shown"
        cols[0].plotly_chart(charts.matrix_heatmap(shown, title), key=f"matrix_{l}", config={"displaylogo": False})
        cols[1].plotly_chart(charts.histograms(now[l], start[l], f"layer {l + 1} weights"),
                             key=f"histogram_{l}", config={"displaylogo": False})
    st.plotly_chart(charts.histograms(now[0], start[0], "first-layer weights"), key="histogram_0",
                    config={"displaylogo": False})
