"""The "How it computes" page's sections: the network diagram, one step of backprop under a
microscope, the map of what each layer sees, and switching units off. Every number comes from
``mlp.trace`` and ``mlp.analysis``; figures from ``ui.network_charts``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

import mlp
import ui
from mlp import analysis
from mlp import trace as tracing
from mlp.config import MAX_LR
from mlp.data import tested_rows
from ui import background, charts, hidden_units, identity, learn, network_charts, state
from ui.errors import failure_text
from ui.markdown import escape

SNAPSHOT = "cs_snapshot"
"""The page's snapshot slider (its own, so it and Hidden weights each remember their moment)."""
SOURCES = ("test digit", "training digit", "my drawing")
DRAWING = "drawing_input"
"""Session key of the Draw page's last drawing as the network receives it (784,), for this page."""
UNITS_OFF = "units_off"
"""Session key: {run id: sorted [(layer, unit), ...]} of the hidden units switched off; shared by the
diagram and the Hidden weights page."""
MAP_DIGITS = 2_000
TERMS_SHOWN = 6
PLAIN = {"displaylogo": False, "displayModeBar": False}


@dataclass(frozen=True)
class Example:
    """The input the page follows: x (784,) in [0, 1], its digit (None for an unlabelled drawing),
    a name to show, and ``key`` (what it is, for caching the applied steps)."""

    x: np.ndarray
    label: int | None
    name: str
    key: tuple


# ---- the network at a snapshot, and the input --------------------------------------------------------
def network_at(run, index):
    """A copy of the run's network with the weights of snapshot ``index``."""
    network = run.network.copy()
    network.params[...] = run.snapshots[index]
    return network


def replayed(run, key, draw):
    """The run at the snapshot its slider (with Play) chooses, kept under ``key``: ``draw(index, epoch,
    network)`` runs in a fragment, which the replay reruns once a second, so only it redraws while playing.
    How it computes and Dreams and adversaries look at a run this way."""
    playing = hidden_units.playing(key)

    @st.fragment(run_every=1.0 if playing else None)
    def at_snapshot():
        index = hidden_units.replay_controls(run.snapshot_epochs, key=key, label="Network after epoch")
        if hidden_units.playing(key) != playing:
            st.rerun()
        draw(index, float(run.snapshot_epochs[index]), network_at(run, index))

    at_snapshot()


def draw_at_random(key, limit):
    """Set the number input ``key`` to a digit drawn at random below ``limit``: the n-th draw of a session
    from ``np.random.default_rng(n)``, so a session's draws can be replayed."""
    draws = f"{key}_draws"
    st.session_state[draws] = st.session_state.get(draws, 0) + 1
    st.session_state[key] = int(np.random.default_rng(st.session_state[draws]).integers(limit))


def drawing():
    """The Draw page's last drawing as the network receives it (784,), or None, saying where to draw one."""
    x = st.session_state.get(DRAWING)
    if x is None:
        st.info("Draw a digit on the **Draw** page first; it appears here.", icon=":material/draw:")
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return None
    return np.asarray(x, np.float32)


def _next_mistake(network, source):
    """Move the chosen index to the next digit (after the current one) that the network gets wrong."""
    x_train, y_train, x_test, y_test = state.dataset()
    X, y = (x_test, y_test) if source == "test digit" else (x_train, y_train)
    start = st.session_state.get("cs_index", 0) + 1
    order = np.r_[start:len(y), 0:start]
    for chunk in np.array_split(order, max(1, len(order) // 5_000)):
        wrong = chunk[network.predict(X[chunk]) != y[chunk]]
        if len(wrong):
            st.session_state["cs_index"] = int(wrong[0])
            return
    st.session_state["cs_no_mistake"] = True


def choose_input(network, allow_drawing=True) -> Example | None:
    """The input chooser: a test digit, a training digit, or the drawing from the Draw page."""
    x_train, y_train, x_test, y_test = state.dataset()
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    source = row.segmented_control("Input", SOURCES if allow_drawing else SOURCES[:2], key="cs_source",
                                   default=SOURCES[0]) or SOURCES[0]
    if source == "my drawing":
        x = drawing()
        if x is None:
            return None
        guess = int(network.predict(x[None])[0])
        label = row.selectbox("Its digit", list(range(10)), index=guess, key="cs_drawing_label",
                              help="What you meant to draw: the target the backprop step aims for.")
        return Example(x, int(label), "your drawing", ("drawing", x.tobytes()))
    X, y = (x_test, y_test) if source == "test digit" else (x_train, y_train)
    st.session_state.setdefault("cs_index", 0)
    if st.session_state["cs_index"] >= len(y):
        st.session_state["cs_index"] = 0
    index = row.number_input(f"{source.capitalize()} number (0–{len(y) - 1:,})", 0, len(y) - 1, key="cs_index",
                             width=220)
    row.button("Another at random", key="cs_random", icon=":material/casino:", on_click=draw_at_random,
               args=("cs_index", len(y)))
    row.button("One it gets wrong", key="cs_mistake", icon=":material/error:", on_click=_next_mistake,
               args=(network, source), help="The next digit, after this one, that the network misreads.")
    if st.session_state.pop("cs_no_mistake", False):
        st.success(f"The network reads every {source} right.")
    return Example(X[index], int(y[index]), f"{source} {index}", (source, int(index)))


# ---- switching units off -----------------------------------------------------------------------------
def units_off(run_id):
    return frozenset(tuple(u) for u in st.session_state.get(UNITS_OFF, {}).get(run_id, ()))


def set_units_off(run_id, units):
    st.session_state.setdefault(UNITS_OFF, {})[run_id] = sorted(set(units))


def toggle_unit(run_id, layer, unit):
    off = set(units_off(run_id))
    off.symmetric_difference_update({(layer, unit)})
    set_units_off(run_id, off)


def _unit_name(unit):
    layer, j = unit
    return f"hidden {layer + 1} · unit {j}"


@st.cache_data(max_entries=64, show_spinner="Measuring the test accuracy…")
def _accuracy(run_id, epoch, off, in_challenge, _network):
    """Test accuracy without the units ``off``, on the images the run is measured on (a class
    challenge's run: the public half, ``mlp.data.tested_rows``)."""
    network = analysis.without_units(_network, off) if off else _network
    x_test, y_test = state.dataset()[2:]
    rows = tested_rows(in_challenge)
    return network.accuracy(x_test[rows], y_test[rows])


def switched_off_summary(run, epoch, network, example=None):
    """What the network answers without the switched-off units: test accuracy (and the input's answer)."""
    off = units_off(run.id)
    in_challenge = bool(run.meta.challenge)
    measured = "test accuracy (public half)" if in_challenge else "test accuracy"
    full = _accuracy(run.id, epoch, frozenset(), in_challenge, network)
    if not off:
        st.caption(f"{measured.capitalize()} with every unit: **{full:.2%}**. Switch units off to see what each is "
                   "worth.")
        return
    without = _accuracy(run.id, epoch, off, in_challenge, network)
    learn.note("units_off", {"run": run.id, "run_name": run.name, "epoch": float(epoch),
                             "off": [list(u) for u in sorted(off)], "full": float(full), "without": float(without)})
    names = ", ".join(_unit_name(u) for u in sorted(off)[:8]) + (" …" if len(off) > 8 else "")
    text = (f"**{len(off)} unit{'s' if len(off) > 1 else ''} switched off** ({names}): {measured} "
            f"**{without:.2%}**, against {full:.2%} with every unit ({100 * (without - full):+.2f} points).")
    if example is not None:
        before = int(network.predict(example.x[None])[0])
        after = int(analysis.without_units(network, off).predict(example.x[None])[0])
        text += f" For {example.name} it answers **{after}** (with every unit: {before})."
    st.markdown(text)


def switch_unit(run, epoch, network, unit):
    """On Hidden weights: switch first-layer ``unit`` off or on, and what that costs."""
    switched = (0, unit) in units_off(run.id)
    st.button(f"Switch unit {unit} back on" if switched else f"Switch unit {unit} off", key="switch_unit",
              icon=":material/power_settings_new:", on_click=toggle_unit, args=(run.id, 0, unit),
              help="It then sends 0 to the next layer, as if cut out; the diagram on How it computes shows it too.")
    switched_off_summary(run, epoch, network)


def units_off_picker(run, network):
    """A multiselect of the switched-off hidden units, kept per run (the weights page shares it)."""
    options = [(l, j) for l in range(len(network.sizes) - 2) for j in range(network.sizes[l + 1])]
    st.session_state["cs_off_widget"] = sorted(units_off(run.id))
    st.multiselect("Switched-off units", options, key="cs_off_widget", format_func=_unit_name,
                   on_change=lambda: set_units_off(run.id, st.session_state["cs_off_widget"]),
                   placeholder="none: click a node, or pick units here",
                   help="A switched-off unit sends 0 to the next layer, as if it were cut out. Nothing saved "
                   "changes.")


def _importance(network, n, progress):
    x_test, y_test = state.dataset()[2:]
    return analysis.unit_importance(network, x_test[:n], y_test[:n], progress=progress)


def importance_ranking(run, epoch, network):
    """The units whose loss costs most accuracy, measured one unit at a time (on request, in the
    background: a wide network takes a while)."""
    n = analysis.images_for_importance(network.sizes)
    key = ("importance", run.id, float(epoch), n)
    if st.button("Rank the units by importance", key="cs_rank", icon=":material/leaderboard:",
                 help=f"Switches each hidden unit off alone and measures the accuracy on {n:,} test digits."):
        st.session_state["cs_ranked"] = key
        background.start(key, _importance, network.copy(), n)
    task = background.find(key) if st.session_state.get("cs_ranked") == key else None
    if task is not None:
        background.wait_and_show(task, "Switching each unit off in turn", lambda costs: _ranking(costs, n))


def _ranking(costs, n):
    ranked = sorted(((float(c), (l, j)) for l, layer in enumerate(costs) for j, c in enumerate(layer)),
                    reverse=True)[:15]
    st.plotly_chart(network_charts.importance_bars([c for c, _ in ranked], [_unit_name(u) for _, u in ranked]),
                    key="cs_importance", config=PLAIN)
    st.caption(f"The {len(ranked)} most important hidden units: accuracy lost on {n:,} test digits when each "
               "one alone is switched off. Many units cost little alone: the network spreads what it knows.")


# ---- the diagram ---------------------------------------------------------------------------------------
def _number(v, digits=3):
    v = float(v) + 0.0                   # -0.0 becomes 0.0: a loss never reads "-0"
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.{digits - 1}e}"


def _factor(v):
    text = _number(v)
    return f"({text})" if v < 0 else text


def unit_computations(network, t, layer):
    """One text per unit of ``layer``: its computation with the live numbers, z = Σ w·a + b and a = f(z)."""
    inputs = t.inputs_to(layer).astype(np.float64)
    W, b = network.weights[layer].astype(np.float64), network.biases[layer].astype(np.float64)
    products = W.T * inputs                               # (fan_out, fan_in): row j holds unit j's w_ij · a_i
    fan_in = len(inputs)
    what = "pixels x" if layer == 0 else f"outputs a of hidden {layer}"
    f = network.layer_activations[layer]
    name = "output" if layer == len(network.weights) - 1 else f"hidden {layer + 1}"
    k = min(TERMS_SHOWN, fan_in)                           # each unit's k largest terms, largest first
    top = np.argpartition(-np.abs(products), k - 1, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(-np.abs(np.take_along_axis(products, top, 1)), axis=1), 1)
    # Python floats from here on: formatting NumPy scalars one by one costs several times more
    top_w, top_in = np.take_along_axis(W.T, top, 1).tolist(), inputs[top].tolist()
    sums, biases, zs, outputs = products.sum(axis=1).tolist(), b.tolist(), t.z[layer].tolist(), t.a[layer].tolist()
    more = fan_in - k
    texts = []
    for j in range(W.shape[1]):
        terms = " + ".join(f"{_factor(w)}×{_factor(v)}" for w, v in zip(top_w[j], top_in[j]))
        z, a = zs[j], outputs[j]
        lines = [f"<b>{name} · unit {j}</b>",
                 f"z = Σ w·a + b over the {fan_in} {what}",
                 f"  = {terms}" + (f" + … ({more} more)" if more > 0 else ""),
                 f"  = {_number(sums[j])} + {_factor(biases[j])} = <b>{_number(z)}</b>"]
        if f.name == "softmax":
            total = float(np.exp(t.z[layer].astype(np.float64) - t.z[layer].max()).sum())
            lines.append(f"a = e^z / Σ e^z = e^{_factor(z - float(t.z[layer].max()))} / {_number(total)} "
                         f"= <b>{_number(a)}</b>  (shifted by the largest z; same ratio)")
        else:
            lines.append(f"a = {network_charts.FORMULA[f.name].replace('z', _factor(z))} = <b>{_number(a)}</b>")
        texts.append("<br>".join(lines))
    return texts


def _select_node():
    points = st.session_state["cs_diagram"].selection.points
    if points and "customdata" in points[0]:
        layer, unit = points[0]["customdata"]
        st.session_state["cs_node"] = (int(layer), int(unit))


def diagram(network, example, off=frozenset(), key="cs_diagram", on_select=None):
    """The network diagram for one input; returns the Trace of the network as drawn (units off)."""
    shown = analysis.without_units(network, off) if off else network
    label = example.label if example.label is not None else int(shown.predict(example.x[None])[0])
    t = tracing.trace(shown, example.x, label)
    hover = [unit_computations(shown, t, l) for l in range(len(shown.weights))]
    probabilities = analysis.as_probabilities(t.a[-1][None])[0]
    figure = network_charts.diagram(shown, t, hover, off, probabilities, compact=ui.narrow())
    if on_select is None:
        st.plotly_chart(figure, key=key, config=PLAIN)
    else:
        st.plotly_chart(figure, key=key, config=PLAIN, on_select=on_select, selection_mode="points")
    caption = ("Lines between layers: red weights excite, blue ones inhibit; thicker is stronger. Nodes glow "
               "with their output (scaled to the layer's largest). Point at a node for its computation.")
    if shown.sizes[1] <= network_charts.IMAGES_UP_TO:
        caption += " Beside each first-layer node, its 784 incoming weights as a 28×28 image."
    else:
        caption += (f" The first layer's {shown.sizes[1]} weight images are on **Hidden weights** (too many to "
                    "show beside their nodes).")
    if any(max(a, b) > network_charts.EVERY_EDGE_UP_TO for a, b in zip(shown.sizes[1:-1], shown.sizes[2:])):
        caption += (f" Between layers wider than {network_charts.EVERY_EDGE_UP_TO} units only each unit's "
                    f"{network_charts.STRONGEST} strongest outgoing weights are drawn.")
    st.caption(caption)
    return t


def diagram_section(run, epoch, network, example):
    off = units_off(run.id)
    diagram(network, example, off, on_select=_select_node)
    node = st.session_state.get("cs_node")
    if node is not None and node[0] < len(network.weights) and node[1] < network.sizes[node[0] + 1]:
        _node_panel(run, network, example, off, node)
    units_off_picker(run, network)
    switched_off_summary(run, epoch, network, example)
    importance_ranking(run, epoch, network)


def _node_panel(run, network, example, off, node):
    layer, unit = node
    shown = analysis.without_units(network, off) if off else network
    label = example.label if example.label is not None else int(shown.predict(example.x[None])[0])
    text = unit_computations(shown, tracing.trace(shown, example.x, label), layer)[unit]
    with st.container(border=True):
        st.markdown(text.replace("<br>", "  \n").replace("<b>", "**").replace("</b>", "**"))
        if layer < len(network.weights) - 1:
            switched = (layer, unit) in off
            st.button("Switch it back on" if switched else "Switch this unit off", key="cs_toggle_node",
                      icon=":material/power_settings_new:", on_click=toggle_unit, args=(run.id, layer, unit))


# ---- one step under the microscope ------------------------------------------------------------------
def _layer_names(network):
    return [f"hidden {l + 1}" for l in range(len(network.sizes) - 2)] + ["output"]


def _lr_at(run, epoch):
    config = run.meta.config or {}
    lr, decay = config.get("lr"), config.get("lr_decay", 1.0)
    if not isinstance(lr, (int, float)) or not 0 < lr <= MAX_LR:
        return 0.01
    return float(min(MAX_LR, max(1e-6, lr * decay ** int(epoch))))


def _optimizer_name(run):
    name = (run.meta.config or {}).get("optimizer")
    return name if name in mlp.OPTIMIZERS else "sgd"


def microscope(run, epoch, network, example):
    """Forward values, loss, δ at every layer, the first layer's gradient images, the update the
    run's optimizer would make, one weight's chain rule, and applying the step to a copy."""
    if example.label is None:
        st.info("Give your drawing a digit above: backprop needs a target.")
        return
    t = tracing.trace(network, example.x, example.label)
    names = _layer_names(network)
    _loss_line(network, t)
    st.plotly_chart(network_charts.forward_backward_bars(t, names), key="cs_bars", config=PLAIN)
    st.caption("Left, forward: what each unit outputs. Right, backward: δ = ∂C/∂z, how much the loss would "
               "change per unit change of the unit's weighted sum; backprop computes it from the output back.")
    _output_table(network, t)
    _gradient_images(network, t)
    optimizer_name = _optimizer_name(run)
    lr = st.number_input("Learning rate for this step", 1e-6, MAX_LR, _lr_at(run, epoch), format="%.5f",
                         key=f"cs_lr_{run.id}", help="The run's own learning rate at this epoch, to start with.")
    optimizer = tracing.new_optimizer(network, optimizer_name)
    update = tracing.step_preview(network, optimizer, t, lr)
    _update_table(network, update, optimizer_name, lr)
    st.subheader("One weight, by the chain rule")
    layer, source, target = _weight_choice(network, t, (run.id, epoch, example.key))
    _chain_rule(run, epoch, network, t, example, layer, source, target, update)
    st.subheader("Apply the step")
    _apply_steps(run, epoch, network, example, optimizer_name, lr)


def _loss_line(network, t):
    a, y = t.a[-1].astype(np.float64), np.eye(10)[t.label]
    guess = int(a.argmax())
    if network.loss_name == "squared_error":
        terms = " + ".join(f"({_number(a[k])} − {int(y[k])})²" for k in range(10))
        formula = f"C = Σₖ (aₖ − yₖ)² = {terms} = **{_number(t.loss)}**"
    else:
        formula = f"C = −log a_{t.label} = −log {_number(a[t.label])} = **{_number(t.loss)}**"
    st.markdown(f"Target **{t.label}**, the network answers **{guess}** ({a[guess]:.0%}). Loss on this example:  \n"
                f"{formula}")


def _output_table(network, t):
    y = np.eye(10)[t.label]
    rows = [{"digit": k, "output a": float(t.a[-1][k]), "target y": int(y[k]),
             "∂C/∂a": float(t.output_error[k]), "δ = ∂C/∂z": float(t.deltas[-1][k])} for k in range(10)]
    how = ("δ = a − y: softmax and cross-entropy's derivatives cancel" if network.output == "softmax"
           and network.loss_name == "cross_entropy" else "δ = ∂C/∂a × the output's slope")
    st.markdown(f"**The error at the output** ({how})")
    number = st.column_config.NumberColumn(format="%.4g")
    st.dataframe(rows, hide_index=True, key="cs_output_table",
                 column_config={"output a": number, "∂C/∂a": number, "δ = ∂C/∂z": number})


def _gradient_images(network, t, most=16):
    """−∂C/∂W for each first-layer unit as a 28×28 image: the direction the step moves its weights."""
    step = -t.dW[0]
    order = np.argsort(-np.abs(t.deltas[0]), kind="stable")[:most]
    images = analysis.unit_images(step[:, order])
    labels = [f"unit {j} · δ {_number(float(t.deltas[0][j]))}" for j in order]
    st.markdown("**What this example asks each first-layer unit to look for** (−∂C/∂w, the way a step moves "
                "its 784 weights)")
    st.plotly_chart(charts.unit_grid(images, labels, analysis.colour_limit(images), 8), key="cs_gradient_images",
                    config=PLAIN)
    shown = "" if len(order) == network.sizes[1] else f" The {len(order)} units with the largest |δ| are shown."
    st.caption("Each image is the input itself times −δ of the unit (∂C/∂w = x × δ): red means *more* weight "
               f"on these pixels, blue *less*; a unit with δ near 0 is asked for nothing.{shown}")


def _update_table(network, update, optimizer_name, lr):
    rows = []
    for name, (dW, db) in zip(_layer_names(network), tracing.per_layer(update, network.sizes)):
        rows.append({"layer": name, "weights changed": int(np.count_nonzero(dW)),
                     "largest |Δw|": float(f"{np.abs(dW).max():.3g}"),
                     "size of the change ‖Δw‖": float(f"{np.linalg.norm(dW):.3g}"),
                     "largest |Δb|": float(f"{np.abs(db).max():.3g}")})
    fresh = {"sgd": "Δ = −lr × ∂C/∂w",
             "momentum": "a first step of momentum from rest: Δ = −lr × ∂C/∂w",
             "adam": "Adam's first step from zero moments: Δ ≈ −lr × sign(∂C/∂w), the same size for every "
             "weight the example touches"}[optimizer_name]
    st.markdown(f"**The update** the run's optimizer (**{optimizer_name}**, lr {lr:g}) would make: {fresh}.")
    st.dataframe(rows, hide_index=True, key="cs_update_table")
    if optimizer_name != "sgd":
        st.caption("The run's own momentum and moment estimates are not saved with it, so this is the step of a "
                   "fresh optimizer.")


def _largest_weight(network, t):
    last = len(network.weights) - 1
    source, target = np.unravel_index(np.abs(t.dW[last]).argmax(), t.dW[last].shape)
    return last, int(source), int(target)


def _weight_choice(network, t, about):
    """Which weight to follow: layer, from unit, to unit. For each new example (or run, or epoch)
    it starts at the output layer's weight with the steepest gradient for that example."""
    names = [f"{'pixels' if l == 0 else _layer_names(network)[l - 1]} → {name}"
             for l, name in enumerate(_layer_names(network))]
    default = _largest_weight(network, t)
    keys = ("cs_w_layer", "cs_w_from", "cs_w_to")
    if st.session_state.get("cs_w_about") != about or any(key not in st.session_state for key in keys):
        st.session_state["cs_w_about"] = about          # (a visit to another page forgets the widgets)
        for key, value in zip(keys, default):
            st.session_state[key] = value
    if st.session_state["cs_w_layer"] >= len(names):
        st.session_state["cs_w_layer"] = default[0]
    row = st.container(horizontal=True, gap="medium")
    layer = row.selectbox("Weights", list(range(len(names))), format_func=names.__getitem__, key="cs_w_layer")
    fan_in, fan_out = network.weights[layer].shape
    for key, limit, fallback in (("cs_w_from", fan_in, default[1]), ("cs_w_to", fan_out, default[2])):
        if st.session_state[key] >= limit:
            st.session_state[key] = fallback if layer == default[0] else 0
    source = row.number_input("From unit" if layer else "From pixel", 0, fan_in - 1, key="cs_w_from", width=150)
    target = row.number_input("To unit", 0, fan_out - 1, key="cs_w_to", width=150)
    return layer, int(source), int(target)


def chain_rule_lines(network, t, layer, source, target):
    """The chain rule for one weight, written out with its numbers: a list of lines (plain text)."""
    c = tracing.chain_rule(network, t, layer, source, target)
    last = len(network.weights) - 1
    a_in = "x" if layer == 0 else "a"
    f = network.layer_activations[layer]
    names = ["the input"] + [f"layer “{n}”" for n in _layer_names(network)]
    source_is = f"pixel {source} of the input" if layer == 0 else f"the output of unit {source} of {names[layer]}"
    lines = [f"w = W[{layer}][{source}, {target}] = {_number(float(network.weights[layer][source, target]))}",
             f"   the weight from {a_in}_{source} ({source_is}) to unit {target} of {names[layer + 1]};",
             f"   z_{target} and a_{target} are that unit's weighted input and output",
             f"∂C/∂w = ∂C/∂a_{target} × ∂a_{target}/∂z_{target} × ∂z_{target}/∂w"]
    if layer == last:
        if network.loss_name == "squared_error":
            lines.append(f"∂C/∂a_{target} = 2(a − y) = 2({_number(float(t.a[layer][target]))} − "
                         f"{int(target == t.label)}) = {_number(c.upstream)}")
        else:
            lines.append(f"∂C/∂a_{target} = −y/a = {_number(c.upstream)}")
    else:
        shown = " + ".join(f"{_factor(w)}×{_factor(d)}" for w, d in c.terms[:TERMS_SHOWN])
        more = f" + … ({len(c.terms) - TERMS_SHOWN} more)" if len(c.terms) > TERMS_SHOWN else ""
        lines.append(f"∂C/∂a_{target} = Σₖ w_{target}ₖ δₖ (what the next layer sends back) = {shown}{more} "
                     f"= {_number(c.upstream)}")
    if c.kind == "elementwise":
        lines.append(f"∂a/∂z = {f.name}'(z) at z = {_number(float(t.z[layer][target]))}: {_number(c.slope)}")
        lines.append(f"δ = ∂C/∂z = {_factor(c.upstream)} × {_factor(c.slope)} = {_number(c.delta)}")
    elif c.kind == "softmax_cross_entropy":
        lines.append(f"softmax with cross-entropy: δ = ∂C/∂z = a − y = {_number(float(t.a[layer][target]))} − "
                     f"{int(target == t.label)} = {_number(c.delta)}")
    else:
        lines.append(f"softmax mixes the outputs: δ = a (∂C/∂a − Σₖ aₖ ∂C/∂aₖ) = {_number(c.delta)}")
    lines.append(f"∂z/∂w = {a_in}_{source} = {_number(c.incoming)}")
    lines.append(f"∂C/∂w = δ × {a_in}_{source} = {_factor(c.delta)} × {_factor(c.incoming)} = {_number(c.gradient)}")
    return c, lines


def _chain_rule(run, epoch, network, t, example, layer, source, target, update):
    c, lines = chain_rule_lines(network, t, layer, source, target)
    measured = tracing.finite_difference(network, example.x, example.label, layer, source, target)
    learn.note("gradient", {"run": run.id, "run_name": run.name, "epoch": float(epoch), "layer": layer,
                            "last_layer": layer == len(network.weights) - 1, "source": source, "target": target,
                            "label": int(example.label), "gradient": float(c.gradient), "measured": float(measured)})
    W_update = tracing.per_layer(update, network.sizes)[layer][0][source, target]
    w = float(network.weights[layer][source, target])
    lines += ["",
              f"backprop's ∂C/∂w            {_number(c.gradient)}",
              f"nudging w by ±0.00001       {_number(measured)}   ((C(w+h) − C(w−h)) / 2h, no backprop"
              + (": a change this small is below what a nudge can measure)" if measured == 0 else ")"),
              f"the step moves w            {_number(w, 7)} → {_number(w + float(W_update), 7)}"]
    st.code("\n".join(lines), language=None, wrap_lines=True)


VIEWS = ("The network", "One step of backprop", "What each layer sees")
VIEW = "cs_view"
"""Session key of the chosen view (a tab's label): only that view is computed and drawn."""
SURE_LOSS = 1e-3
"""Below this loss on the example, the microscope says why a step changes (almost) nothing."""


def _copy_key(run, epoch, example):
    return (run.id, epoch, example.key)


def _apply_steps(run, epoch, network, example, optimizer_name, lr):
    """Apply the step (once, or ten times) to a copy kept for this run, snapshot and example."""
    key = _copy_key(run, epoch, example)
    held = st.session_state.get("cs_copy")
    if held is None or held["key"] != key:
        held = {"key": key, "network": network.copy(), "optimizer": tracing.new_optimizer(network, optimizer_name),
                "losses": [tracing.loss_at(network, example.x, example.label)], "optimizer_name": optimizer_name}
        st.session_state["cs_copy"] = held
    row = st.container(horizontal=True, gap="small")
    for label, times, icon in (("Apply the step", 1, ":material/south_east:"),
                               ("Apply 10 steps", 10, ":material/keyboard_double_arrow_down:")):
        if row.button(label, key=f"cs_apply_{times}", icon=icon):
            for _ in range(times):
                tracing.apply_step(held["network"], held["optimizer"], example.x, example.label, lr)
                held["losses"].append(tracing.loss_at(held["network"], example.x, example.label))
    if row.button("Start again from the run's weights", key="cs_reset", icon=":material/restart_alt:"):
        st.session_state.pop("cs_copy")
        st.rerun()
    losses = held["losses"]
    steps = len(losses) - 1
    cols = st.columns(3)
    cols[0].metric("Loss before", _number(losses[0], 5))
    change = (losses[-1] - losses[0]) / losses[0] if losses[0] else 0.0
    cols[1].metric(f"Loss after {steps} step{'s' if steps != 1 else ''}", _number(losses[-1], 5),
                   delta=f"{change:+.2%}" if steps else None, delta_color="inverse")
    cols[2].metric("It answers", int(held["network"].predict(example.x[None])[0]),
                   help="After the steps applied so far.")
    if losses[0] < SURE_LOSS:
        st.info(f"The network is already sure of this example (its loss is {_number(losses[0])}), so the "
                "gradient is almost zero and a step barely moves anything. Press **One it gets wrong** above "
                "to watch a step that matters.", icon=":material/info:")
    before = analysis.as_probabilities(network.forward(example.x[None]))[0]
    after = analysis.as_probabilities(held["network"].forward(example.x[None]))[0]
    left, right = st.columns(2)
    left.plotly_chart(network_charts.before_after_bars(before, after, example.label), key="cs_before_after",
                      config=PLAIN)
    right.plotly_chart(network_charts.loss_curve(losses), key="cs_loss_curve", config=PLAIN)
    st.caption("The steps change a copy of the network, never the saved run. Apply it again and again to watch "
               "the network memorise this one example (and, on the map and the test set, start to forget others).")
    if steps:
        _save_copy(run, epoch, held, steps, example)


def _save_copy(run, epoch, held, steps, example):
    if st.button("Save this copy as a new run", key="cs_save_copy", icon=":material/save:"):
        name = f"{run.name} + {steps} step{'s' if steps != 1 else ''} on {example.name}"
        x_test, y_test = state.dataset()[2:]
        accuracy = held["network"].accuracy(x_test, y_test)
        try:
            state.store().copy_of(name[:80], held["network"], run.meta.config, accuracy, identity.acting())
        except (OSError, ValueError) as err:
            st.error(f"Not saved: {escape(failure_text(err))}. The copy is still here; try again later.",
                     icon=":material/error:")
            return
        st.success(f"Saved as **{escape(name[:80])}** (test accuracy {accuracy:.2%}); it is in the runs list.")


# ---- what each layer sees ----------------------------------------------------------------------------
def _map_names(network):
    return ["pixels"] + _layer_names(network)


@st.cache_resource(max_entries=1, show_spinner=False)
def _pixel_map():
    """The raw pixels' map is the same for every network: computed once per server."""
    x_test = state.dataset()[2]
    return analysis.pca_map(x_test[:MAP_DIGITS])


def _representations(network, X):
    with np.errstate(over="ignore"):
        return network.forward_all(X)


@st.cache_data(max_entries=64, show_spinner="Mapping what each layer sees…")
def _maps_at(run_id, epoch, _network):
    """Per representation (pixels, each hidden layer, the outputs): its map of the 2,000 test digits
    and its nearest-centre accuracy (centres from 2,000 training digits)."""
    x_train, y_train, x_test, y_test = state.dataset()
    test = _representations(_network, x_test[:MAP_DIGITS])
    train = _representations(_network, x_train[:MAP_DIGITS])
    maps = [_pixel_map()] + [analysis.pca_map(A) for A in test[1:]]
    coords = [m.place(A) for m, A in zip(maps, test)]
    scores = [analysis.nearest_centre_accuracy(a, y_train[:MAP_DIGITS], b, y_test[:MAP_DIGITS])
              for a, b in zip(train, test)]
    return maps, coords, scores


@st.cache_data(max_entries=16, show_spinner="Measuring the untangling over training…")
def _scores_over_time(run_id, epochs, _run):
    return [_maps_at(run_id, float(e), network_at(_run, i))[2] for i, e in enumerate(epochs)]


def _select_dot():
    points = st.session_state["cs_map"].selection.points
    if points and "customdata" in points[0]:
        st.session_state["cs_dot"] = int(points[0]["customdata"])


def layer_maps(run, index, network, example):
    epoch = float(run.snapshot_epochs[index])
    maps, coords, scores = _maps_at(run.id, epoch, network)
    names = _map_names(network)
    y_test = state.dataset()[3][:MAP_DIGITS]
    cols = st.columns(len(names))
    for col, name, score in zip(cols, names, scores):
        col.metric(name, f"{score:.1%}", help="Nearest-centre accuracy: a test digit counts as right when it lies "
                   "nearest the centre of its own digit's training images in this layer's values.")
    st.caption("How separated the digits are in each layer's values (nearest-centre accuracy on "
               f"{MAP_DIGITS:,} test digits): each layer pulls the digits further apart than the raw pixels are.")
    st.session_state.setdefault("cs_map_layer", names[-2] if len(names) > 2 else names[0])
    if st.session_state["cs_map_layer"] not in names:
        st.session_state["cs_map_layer"] = names[0]
    layer = st.segmented_control("Map of", names, key="cs_map_layer") or names[0]
    l = names.index(layer)
    star = None
    if example is not None and example.key[0] == "drawing":
        star = maps[l].place(_representations(network, example.x[None])[l])[0]
    dot = st.session_state.get("cs_dot")
    dot = dot if dot is not None and 0 <= dot < MAP_DIGITS else None
    left, right = st.columns([3, 1])
    left.plotly_chart(network_charts.layer_map(coords[l], y_test, maps[l].explained,
                                               f"{layer} at epoch {epoch:g}: {MAP_DIGITS:,} test digits", star, dot),
                      key="cs_map", on_select=_select_dot, selection_mode="points", config={"displaylogo": False})
    with right:
        if dot is None:
            st.caption("Click a dot to see its digit here.")
        else:
            guess = int(network.predict(state.dataset()[2][dot][None])[0])
            st.image(state.dataset()[2][dot].reshape(28, 28), width=140, clamp=True,
                     caption=f"test image {dot}: a {y_test[dot]}, read as {guess}")
        if star is not None:
            st.caption("★ your drawing, placed on the same map.")
    st.caption("Each dot is one test digit, placed by the two directions along which this layer's values vary "
               "most (PCA). Replay the snapshots above to watch the digits untangle as the network trains.")
    if len(run.snapshot_epochs) > 1:
        over_time = _scores_over_time(run.id, tuple(float(e) for e in run.snapshot_epochs), run)
        st.plotly_chart(network_charts.separation_curves(list(run.snapshot_epochs), list(zip(*over_time)), names,
                                                         now=epoch), key="cs_separation", config=PLAIN)
