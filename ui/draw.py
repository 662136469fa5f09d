"""The Draw page's pieces: the canvas, and what the network makes of the drawing."""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mlp import analysis
from mlp.preprocess import canvas_to_mnist, drawing_problems, plain_resize
from ui import charts

CANVAS = 280
DEFAULT_UNSURE = 60
"""Per cent confidence below which the page says "I don't know" until the user moves the control."""
RECIPES = {"MNIST recipe": canvas_to_mnist, "plain resize": plain_resize}
TOP_UNITS = 8


def clear():
    st.session_state["canvas_gen"] += 1        # a new key mounts a fresh, empty canvas


def canvas():
    """The drawing area and its controls. Returns the RGBA image, or None while nothing is drawn."""
    st.session_state.setdefault("canvas_gen", 0)
    st.session_state.setdefault("stroke", 18)
    width = st.slider("Stroke width", 6, 40, key="stroke", help="MNIST's strokes are about 2 of its 28 pixels wide.")
    result = st_canvas(stroke_width=width, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS, width=CANVAS, drawing_mode="freedraw", update_streamlit=True,
                       return_image_data=True, key=f"canvas_{st.session_state['canvas_gen']}")
    st.button("Clear", key="clear", icon=":material/delete:", on_click=clear)
    st.caption("White ink on black, like MNIST. The network reads it as soon as a stroke ends.")
    drawn = bool((result.json_data or {}).get("objects"))
    return result.image_data if drawn else None


def _enlarged(x):
    return np.kron(x.reshape(28, 28), np.ones((6, 6), np.float32))


def _predict(network, x):
    return analysis.as_probabilities(network.forward(x[None]))[0]


def read(network, image):
    """Prediction, both preprocessings side by side, and the "I don't know" threshold."""
    if image is None or canvas_to_mnist(image) is None:
        st.info("Draw a digit in the black square, with the mouse or a finger.", icon=":material/draw:")
        return None
    controls = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")
    recipe = controls.segmented_control("Preprocessing", list(RECIPES), key="recipe", default="MNIST recipe",
                                        help="MNIST's recipe crops, scales to 20 px and centres the ink; "
                                        "a plain resize shrinks the whole canvas.") or "MNIST recipe"
    st.session_state.setdefault("unsure_below", DEFAULT_UNSURE)
    threshold = controls.slider("Say \"I don't know\" below", 0, 100, key="unsure_below", format="%d%%",
                                width=220, help="The page answers only when the network's confidence "
                                "is at least this; below it, it says it is not sure.") / 100
    inputs = {name: prepare(image) for name, prepare in RECIPES.items()}
    probabilities = {name: _predict(network, x) for name, x in inputs.items()}
    x, p = inputs[recipe], probabilities[recipe]
    digit = int(p.argmax())
    verdict(digit, float(p[digit]), drawing_problems(image), threshold)
    st.plotly_chart(charts.probability_bars(p, None, digit, height=200, labels=True), key="probabilities",
                    config={"displayModeBar": False})
    columns = st.columns(2)
    for column, name in zip(columns, RECIPES):
        guess = int(probabilities[name].argmax())
        column.image(_enlarged(inputs[name]), clamp=True, width=168,
                     caption=f"{name}: reads {guess} ({probabilities[name][guess]:.0%})"
                     + (" ← shown above" if name == recipe else ""))
    st.caption("What the network receives: 28×28 pixels. Compare the two recipes: the network learned "
               "digits that are centred and 20 pixels tall.")
    return x, digit


def verdict(digit, confidence, problems, threshold):
    """The heading and, when the page is not sure, the reason: they always say the same thing."""
    if problems or confidence < threshold:
        st.markdown(f"### I don't know · best guess **{digit}**, {confidence:.0%}")
        reason = (" and ".join(problems) + ". Try drawing a single digit, large." if problems else
                  f"the network is only {confidence:.0%} sure, under the {threshold:.0%} asked for.")
        st.warning(f"Not sure: {reason}", icon=":material/help:")
    else:
        st.markdown(f"### The network reads **{digit}** · {confidence:.0%} sure")


def explain(network, x, digit):
    """The hidden units this drawing excites, and which pixels push a digit's score up or down."""
    hidden = network.hidden_activations(x[None])
    if hidden:
        first = hidden[0][0]
        top = np.argsort(-first, kind="stable")[:TOP_UNITS]
        st.markdown("**Hidden units that fired most**")
        st.plotly_chart(charts.activation_bars(first, top), key="activations", config={"displayModeBar": False})
        images = analysis.unit_images(network.weights[0][:, top])
        labels = [f"unit {j} · {first[j]:.2f}" for j in top]
        st.plotly_chart(charts.unit_grid(images, labels, analysis.colour_limit(images), min(len(top), 8)),
                        key="top_units", config={"displayModeBar": False})
    target = st.selectbox("Explain the score of digit", list(range(10)), index=digit, key="explain_digit")
    score = "logit" if network.output == "softmax" else "weighted sum before the sigmoid"
    st.plotly_chart(charts.pixel_map(pixel_contributions(network, x, target), target), key="pixel_map",
                    config={"displayModeBar": False})
    st.caption(f"Gradient × input of digit {target}'s score before squashing (its {score}, which unlike "
               f"the probability does not flatten out when the network is sure): red pixels of your drawing "
               f"raise it, blue ones lower it.")


def pixel_contributions(network, x, digit):
    """Gradient × input (28, 28) of ``digit``'s output score before squashing, for input x (784,)."""
    unit_vector = np.zeros((1, 10), network.dtype)
    unit_vector[0, digit] = 1.0
    gradient = network.input_gradient(x[None], unit_vector, before_squashing=True)[0]
    return (gradient * x).reshape(28, 28)
