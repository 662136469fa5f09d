"""The Draw page's pieces: the canvas, and what the network makes of the drawing."""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mlp import inspect
from mlp.preprocess import canvas_to_mnist, drawing_problems, plain_resize
from ui import charts

CANVAS = 280
LOW_CONFIDENCE = 0.6
RECIPES = {"MNIST recipe": canvas_to_mnist, "plain resize": plain_resize}
TOP_UNITS = 8


def _clear():
    st.session_state["canvas_gen"] += 1        # a new key mounts a fresh, empty canvas


def canvas():
    """The drawing area and its controls. Returns the RGBA image, or None while nothing is drawn."""
    st.session_state.setdefault("canvas_gen", 0)
    st.session_state.setdefault("stroke", 18)
    width = st.slider("Stroke width", 6, 40, key="stroke", help="MNIST's strokes are about 2 of its 28 pixels wide.")
    result = st_canvas(stroke_width=width, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS, width=CANVAS, drawing_mode="freedraw", update_streamlit=True,
                       return_image_data=True, key=f"canvas_{st.session_state['canvas_gen']}")
    st.button("Clear", key="clear", icon=":material/delete:", on_click=_clear)
    st.caption("White ink on black, like MNIST. The network reads it as soon as a stroke ends.")
    drawn = bool((result.json_data or {}).get("objects"))
    return result.image_data if drawn else None


def _enlarged(x):
    return np.kron(x.reshape(28, 28), np.ones((6, 6), np.float32))


def _predict(network, x):
    return inspect.as_probabilities(network.forward(x[None]))[0]


def read(network, image):
    """Prediction, both preprocessings side by side, hidden activations and the pixel map."""
    if image is None or canvas_to_mnist(image) is None:
        st.info("Draw a digit in the black square, with the mouse or a finger.", icon=":material/draw:")
        return None
    recipe = st.segmented_control("Preprocessing", list(RECIPES), key="recipe", default="MNIST recipe",
                                  help="MNIST's recipe crops, scales to 20 px and centres the ink; "
                                  "a plain resize shrinks the whole canvas.") or "MNIST recipe"
    inputs = {name: prepare(image) for name, prepare in RECIPES.items()}
    probabilities = {name: _predict(network, x) for name, x in inputs.items()}
    x, p = inputs[recipe], probabilities[recipe]
    digit = int(p.argmax())
    _verdict(digit, float(p[digit]), drawing_problems(image))
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


def _verdict(digit, confidence, problems):
    st.markdown(f"### The network reads **{digit}** · {confidence:.0%} sure")
    if problems:
        st.warning(f"Low confidence: {' and '.join(problems)}. Try drawing a single digit, large.",
                   icon=":material/help:")
    elif confidence < LOW_CONFIDENCE:
        st.warning(f"Low confidence ({confidence:.0%}): the network is not sure this is a digit it knows.",
                   icon=":material/help:")


def inside(network, x, digit):
    """The hidden units this drawing excites, and which pixels push towards (or against) a digit."""
    hidden = network.hidden_activations(x[None])
    if hidden:
        first = hidden[0][0]
        top = np.argsort(-first, kind="stable")[:TOP_UNITS]
        st.markdown("**Hidden units that fired most**")
        st.plotly_chart(charts.activation_bars(first, top), key="activations", config={"displayModeBar": False})
        images = inspect.unit_images(network.weights[0][:, top])
        labels = [f"unit {j} · {first[j]:.2f}" for j in top]
        st.plotly_chart(charts.unit_grid(images, labels, inspect.colour_limit(images), min(len(top), 8)),
                        key="top_units", config={"displayModeBar": False})
    target = st.selectbox("Explain the score of digit", list(range(10)), index=digit, key="explain_digit")
    unit_vector = np.zeros((1, 10), network.dtype)
    unit_vector[0, target] = 1.0
    contribution = network.input_gradient(x[None], unit_vector)[0] * x
    st.plotly_chart(charts.pixel_map(contribution.reshape(28, 28), target), key="pixel_map",
                    config={"displayModeBar": False})
    st.caption(f"Gradient × input: red pixels of your drawing raise the output for {target}, blue ones "
               "lower it.")
