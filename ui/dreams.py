"""The Dreams and adversaries page's sections: the gallery of dreams (the ten digits, or a hidden unit),
replayed step by step and sent through the network diagram, and the adversarial nudge of a test digit
or a drawing. Arrays come from ``mlp.dreams`` and ``mlp.adversarial``; figures from ``ui.charts``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import streamlit as st

import ui
from mlp import adversarial, analysis, dreams
from ui import background, charts, computes, state
from ui.controls import Steps

SNAPSHOT = "dr_snapshot"
VIEWS = ("Dreams", "Adversarial nudges")
VIEW = "dr_view"
WHAT = ("the ten digits", "a hidden unit")
REGULARISER_LABELS = {"none": "none", "l2": "L2", "smoothing": "smoothing"}
FRAMES = 16
PLAIN = {"displaylogo": False, "displayModeBar": False}
ANY = "any"
"""The nudge's target meaning any digit but the one it is read as."""
PERSIST = {"persist_state": "session"}

CONTROLS = {"dr_steps": Steps(low=1, high=dreams.MAX_STEPS, step=1),
            "dr_strength": Steps(low=0.0, high=dreams.MAX_STRENGTH, step=0.1),
            "dr_eps": Steps(low=0.0, high=adversarial.MAX_EPSILON, step=0.01),
            "dr_nudge_steps": Steps(low=1, high=adversarial.MAX_STEPS, step=1)}
"""Each numeric control and the values it shows: exactly the range its function accepts."""
DEFAULTS = {"dr_what": WHAT[0], "dr_start": "blank", "dr_regulariser": "smoothing", "dr_strength": 1.0,
            "dr_steps": 150, "dr_eps": 0.1, "dr_nudge_steps": 20, "dr_source": "test digit", "dr_index": 0,
            "dr_start_index": 0}
LINKED = {"dream_steps": "dr_steps", "strength": "dr_strength", "eps": "dr_eps", "steps": "dr_nudge_steps"}
"""Link parameters (``?eps=0.05&steps=40``) and the control each one sets."""


# ---- a link's values ---------------------------------------------------------------------------------
def _read_link(name, raw):
    """(the control's value for the link's ``raw`` text, a note or None): clamped into the control's range
    and moved to its nearest step, each with a note; not a number: the control keeps its value."""
    key = LINKED[name]
    steps = CONTROLS[key]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        return None, f"{name}={raw!r} ignored: not a number"
    low, high = steps.bounds
    note = None
    if not low <= value <= high:
        clamped = min(max(value, low), high)
        note = f"{name}={value:g} is outside {low:g} to {high:g}; using {clamped:g}"
        value = clamped
    fitted, moved = steps.fit(value)
    if moved and note is None:
        note = f"{name}={value:g} is between this control's steps; using {fitted:g}"
    return fitted, note


def linked_settings():
    """Set the controls from the link's values, once per link; returns the notes to warn with."""
    asked = {name: st.query_params[name] for name in LINKED if name in st.query_params}
    if st.session_state.get("dr_link_seen") != asked:
        notes = []
        for name, raw in asked.items():
            value, note = _read_link(name, raw)
            if value is not None:
                st.session_state[LINKED[name]] = value
            if note:
                notes.append(note)
        st.session_state["dr_link_seen"], st.session_state["dr_link_notes"] = asked, notes
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    return st.session_state["dr_link_notes"]


# ---- when no gradient gets through ---------------------------------------------------------------------
WHY_ZERO = {"sigmoid": "saturated: their outputs round to exactly 0 or 1, where the slope a(1 - a) is 0",
            "tanh": "saturated: their outputs round to exactly -1 or 1, where the slope 1 - a² is 0",
            "relu": "switched off: their weighted sum is below 0, where a ReLU's slope is 0",
            "leaky_relu": "at a slope of exactly 0"}


def zero_gradient_warning(network, x, what):
    """Say that the gradient is exactly zero (so ``what``, in words), and why, in place of a picture that
    would not change."""
    shares = dreams.vanished_slopes(network, x)
    layers = [f"{share:.0%} of hidden layer {l + 1}'s units" for l, share in enumerate(shares) if share > 0]
    if layers:
        reason = (f"Backprop multiplies by every unit's slope on its way back to the pixels, and here "
                  f"{' and '.join(layers)} are {WHY_ZERO[network.activation]}.")
    else:
        reason = ("The output layer's units are saturated: their outputs round to their limits, so their slope "
                  "is 0 and nothing flows back.")
    st.warning(f"**The gradient is zero**, so {what}: no pixel moves the score at all. {reason} "
               "This is the vanishing gradient that also stops such a network from learning: weights this large "
               "(or a learning rate that was too high) saturate its units.", icon=":material/trending_flat:")


# ---- dreams --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DreamShown:
    """A dream with what the page shows of it: the network's probabilities at every kept frame
    (k, n, 10), and the names of the units dreamt of (n,)."""

    dream: dreams.Dream
    probabilities: np.ndarray
    names: tuple


def _dream_task(network, chosen, progress):
    result = dreams.dream(network, chosen.start, chosen.units, chosen.layer, chosen.regulariser, chosen.strength,
                          chosen.steps, frames=FRAMES, progress=progress)
    k, n = result.frames.shape[:2]
    probabilities = analysis.as_probabilities(network.forward(result.frames.reshape(k * n, 784))).reshape(k, n, 10)
    return DreamShown(result, probabilities, chosen.names)


@dataclass(frozen=True)
class DreamSettings:
    """What to dream of and how, as the controls say: row i climbs unit ``units[i]`` of ``layer`` (None:
    the output layer, so digits), named ``names[i]``, from ``start`` (n, 784); ``origin`` says where
    the start came from (what it is, and which test image), for the task's key."""

    units: tuple
    layer: int | None
    names: tuple
    start: np.ndarray
    origin: tuple
    regulariser: str
    strength: float
    steps: int

    def key(self, network):
        """The background task's key: these settings on this network (its architecture and weights:
        two untrained networks of one seed share their weights, not their activations)."""
        return ("dream", _version(network), self.units, self.layer, self.origin, self.regulariser, self.strength,
                self.steps)


def _version(network):
    return (network.sizes, network.activation, network.output, network.loss_name, hash(network.params.tobytes()))


def _hidden_units(network):
    return [(l, j) for l in range(len(network.sizes) - 2) for j in range(network.sizes[l + 1])]


def _unit_name(unit):
    return f"hidden {unit[0] + 1} · unit {unit[1]}"


def _clicked_node(network):
    """A node clicked on the dream's diagram: a hidden unit is dreamt of next, an output node brings the
    ten digits back."""
    points = st.session_state["dr_diagram"].selection.points
    if points and "customdata" in points[0]:
        layer, unit = (int(v) for v in points[0]["customdata"])
        if layer < len(network.sizes) - 2:
            st.session_state["dr_what"], st.session_state["dr_unit"] = WHAT[1], (layer, unit)
        else:
            st.session_state["dr_what"] = WHAT[0]
        st.session_state["dr_rerun"] = True


def _dream_controls(network) -> DreamSettings:
    """The dream's controls, and the settings they give."""
    x_test = state.dataset()[2]
    hidden = _hidden_units(network)
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    what = row.segmented_control("Dream of", WHAT, key="dr_what", **PERSIST) or WHAT[0]
    if what == WHAT[1] and not hidden:
        st.info("This network has no hidden layer: it dreams of the ten digits only.")
        what = WHAT[0]
    if what == WHAT[1]:
        node = st.session_state.get("cs_node")                 # a unit clicked on How it computes
        if st.session_state.get("dr_unit") not in hidden:
            st.session_state["dr_unit"] = tuple(node) if node is not None and tuple(node) in hidden else hidden[0]
        unit = row.selectbox("Hidden unit", hidden, key="dr_unit", format_func=_unit_name,
                             help="Or click a hidden node on the diagram below.")
        units, layer, names = (unit[1],), unit[0], (_unit_name(unit),)
    else:
        units, layer, names = tuple(range(10)), None, tuple(str(d) for d in range(10))
    start = row.segmented_control("Start from", dreams.STARTS, key="dr_start", **PERSIST) or "blank"
    image, origin = None, (start,)
    if start == "test image":
        index = row.number_input(f"Test image (0–{len(x_test) - 1:,})", 0, len(x_test) - 1, key="dr_start_index",
                                 width=180, **PERSIST)
        image, origin = x_test[index], (start, int(index))
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    regulariser = row.segmented_control(
        "Regulariser", dreams.REGULARISERS, key="dr_regulariser", format_func=REGULARISER_LABELS.get, **PERSIST,
        help="What the dream pays for its pixels: nothing, their size (L2), or their jumps between neighbours "
        "(smoothing). It decides whether a dream looks like a digit.") or "none"
    steps = CONTROLS["dr_strength"]
    strength = row.slider("Strength", steps.low, steps.high, step=steps.step, key="dr_strength", width=220,
                          disabled=regulariser == "none", **PERSIST)
    steps = CONTROLS["dr_steps"]
    count = row.slider("Steps", steps.low, steps.high, step=steps.step, key="dr_steps", width=220, **PERSIST)
    return DreamSettings(units, layer, names, dreams.start_images(start, len(units), seed=0, image=image), origin,
                         regulariser, float(strength), int(count))


def dream_section(run, epoch, network):
    chosen = _dream_controls(network)
    task = background.start(chosen.key(network), _dream_task, network.copy(), chosen)
    what = "the ten digits" if chosen.layer is None else chosen.names[0]
    background.wait_and_show(task, f"Dreaming of {what}", lambda shown: _show_dreams(run, network, shown))


def _labels(shown, digits):
    """(k, n) tile labels: what the network reads at each frame (digits) or the unit's z (a hidden unit)."""
    d = shown.dream
    if not digits:
        return [[f"z = {d.score[s, i]:.2f}" for i in range(len(shown.names))] for s in d.frame_steps]
    return [[f"{name} → {p[i].argmax()} · {p[i].max():.0%}" for i, name in enumerate(shown.names)]
            for p in shown.probabilities]


def _show_dreams(run, network, shown):
    d = shown.dream
    digits = len(shown.names) == 10 and shown.names[0] == "0"
    if d.flat.all():
        zero_gradient_warning(network, d.frames[0, 0], "the dream's score cannot climb")
    columns = 5 if len(shown.names) > 1 else 1
    st.plotly_chart(charts.dream_animation(d.frames, d.frame_steps, _labels(shown, digits), columns=columns,
                                                 compact=ui.narrow()),
                    key="dr_gallery", config=PLAIN)
    if digits:
        read = [int(p.argmax()) for p in shown.probabilities[-1]]
        right = sum(r == i for i, r in enumerate(read))
        st.caption("Each tile is the input that drives one digit's score up most from the chosen start; above it, "
                   "the digit dreamt of → what the network reads in it · how sure it is. "
                   f"It reads {right} of the ten dreams as their own digit. The score is the digit's log-odds "
                   "against the nine others. Press Replay to watch them grow.")
    else:
        st.caption("The input that drives this unit's weighted sum z up most from the chosen start. Press Replay to "
                   "watch it grow.")
    st.plotly_chart(charts.dream_climb(d.score, shown.names, "score after each step (it never falls)"),
                    key="dr_climb", config=PLAIN)
    _follow(run, network, shown)


def _follow(run, network, shown):
    """Send one dream through the network diagram (its hidden nodes can be clicked to dream of them)."""
    st.subheader("A dream, flowing through the network")
    choice = 0
    if len(shown.names) > 1:
        choice = st.selectbox("Dream", list(range(len(shown.names))), key="dr_follow",
                              format_func=lambda i: f"the dream of {shown.names[i]}")
    x = shown.dream.images[choice]
    example = computes.Example(np.asarray(x, np.float32), int(choice) if len(shown.names) == 10 else None,
                               f"the dream of {shown.names[choice]}", ("dream", x.tobytes()))
    computes.diagram(network, example, computes.units_off(run.id), key="dr_diagram",
                     on_select=lambda: _clicked_node(network))
    st.caption("Click a hidden node to dream of that unit instead; an output node brings the ten digits back.")
    if st.session_state.pop("dr_rerun", False):
        st.rerun()


# ---- adversarial nudges --------------------------------------------------------------------------------
def _nudge_input(network):
    """(x (784,), the digit to move away from, a name) or None: a test digit, or the Draw page's drawing."""
    _, _, x_test, y_test = state.dataset()
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    source = row.segmented_control("Nudge", ("test digit", "my drawing"), key="dr_source", **PERSIST) or "test digit"
    if source == "my drawing":
        x = computes.drawing()
        if x is None:
            return None
        return x, int(network.predict(x[None])[0]), "your drawing"
    index = row.number_input(f"Test digit (0–{len(y_test) - 1:,})", 0, len(y_test) - 1, key="dr_index", width=180,
                             **PERSIST)
    row.button("Another at random", key="dr_random", icon=":material/casino:", on_click=computes.draw_at_random,
               args=("dr_index", len(y_test)))
    return x_test[index], int(y_test[index]), f"test digit {index}"


def _nudge_controls():
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    target = row.selectbox("Make it read", [ANY, *range(10)], key="dr_target", width=200,
                           format_func=lambda t: "any wrong digit" if t == ANY else f"a {t}")
    steps = CONTROLS["dr_eps"]
    epsilon = row.slider("Budget ε", steps.low, steps.high, step=steps.step, key="dr_eps", width=240, **PERSIST,
                         help="The most any pixel may change (pixels run from 0, black, to 1, white).")
    steps = CONTROLS["dr_nudge_steps"]
    count = row.slider("Steps", steps.low, steps.high, step=steps.step, key="dr_nudge_steps", width=240, **PERSIST,
                       help="Signed gradient steps, each of 2.5 ε / steps; it stops at the first that fools.")
    return None if target == ANY else int(target), float(epsilon), int(count)


def nudge_section(run, epoch, network):
    chosen = _nudge_input(network)
    if chosen is None:
        return
    x, digit, name = chosen
    target, epsilon, steps = _nudge_controls()
    before = analysis.as_probabilities(network.forward(x[None]))[0]
    reads = int(before.argmax())
    if target is None and reads != digit:
        st.info(f"The network already misreads {name} (a {digit}) as a {reads}: nothing to nudge. Pick another.",
                icon=":material/info:")
        return
    if target is not None and reads == target:
        st.info(f"The network already reads {name} as a {target}. Pick another target.", icon=":material/info:")
        return
    result = adversarial.nudge(network, x[None], [digit], epsilon, steps, target)
    after = analysis.as_probabilities(network.forward(result.nudged))[0]
    change = result.change[0]
    _summary(network, x, digit, name, target, epsilon, steps, result, after)
    original, middle, nudged = st.columns(3)
    with original:
        st.markdown(f"**Original**: reads {reads} ({before[reads]:.0%})")
        st.image(x.reshape(28, 28), clamp=True, width=168)
        st.plotly_chart(charts.probability_bars(before, digit, reads, labels=True), key="dr_before", config=PLAIN)
    with middle:
        st.markdown(f"**Change** (red brighter, blue darker, ±{epsilon:g})")
        st.plotly_chart(charts.change_image(change.reshape(28, 28), epsilon), key="dr_change", config=PLAIN)
    with nudged:
        now = int(after.argmax())
        st.markdown(f"**Nudged**: reads {now} ({after[now]:.0%})")
        st.image(result.nudged[0].reshape(28, 28), clamp=True, width=168)
        st.plotly_chart(charts.probability_bars(after, digit, now, labels=True), key="dr_after", config=PLAIN)


def _summary(network, x, digit, name, target, epsilon, steps, result, after):
    counts = adversarial.changed_pixels(result.change[0], epsilon)
    wanted = "any wrong digit" if target is None else f"a {target}"
    now = int(after.argmax())
    moved = (f"{counts['any']} of the 784 pixels changed, the largest by {np.abs(result.change).max():.3f} "
             f"(the budget ε allowed {epsilon:g})")
    moved += (f"; {counts['full'] or 'none'} by the whole budget, {counts['half']} by at least half of it."
              if counts["half"] else ".")
    if result.fooled[0]:
        taken = int(result.steps_taken[0])
        st.success(f"**Fooled** after {taken} step{'s' if taken != 1 else ''}: the network now reads {name} as a "
                   f"**{now}** ({after[now]:.0%} sure). {moved}", icon=":material/theater_comedy:")
        return
    aim = digit if target is None else target
    if not network.loss_input_gradient(x[None], [aim]).any():
        zero_gradient_warning(network, x, "the digit cannot be nudged")
        return
    st.info(f"**Not fooled** within ε = {epsilon:g} and {steps} steps: it still reads a {now} ({after[now]:.0%}), not "
            f"{wanted}. {moved} Try a larger budget or more steps.", icon=":material/shield:")
