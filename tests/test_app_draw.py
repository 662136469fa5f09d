"""The Draw page with a drawing injected as the canvas's value (AppTest never renders the canvas)."""
import base64
import io

import numpy as np
from PIL import Image

import mlp

from apptest_helpers import open_page, plain

DRAW = "pages/draw.py"


def png_data_url(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def drawing(image, objects=1):
    return {"drawing": {"raw": {"objects": [{"type": "path"}] * objects}, "data": png_data_url(image)},
            "backgroundFit": None}


def canvas_with(box):
    image = np.zeros((280, 280, 4), np.uint8)
    image[..., 3] = 255
    top, bottom, left, right = box
    image[top:bottom, left:right, :3] = 255
    return image


def test_before_any_training_the_page_uses_a_shipped_model_and_asks_for_a_drawing(runs_dir):
    at = open_page(DRAW)
    assert at.selectbox(key="run_picker").value == "model:wide"
    assert any("Draw a digit in the black square" in plain(i.value) for i in at.info)
    assert not at.get("plotly_chart")


def test_an_injected_drawing_is_read_with_probabilities_and_preview(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))     # a "1"
    at.run()
    assert not at.exception
    headline = [plain(m.value) for m in at.markdown if plain(m.value).startswith("### The network reads")]
    assert headline and headline[0].startswith("### The network reads **1**")
    keys = {chart.proto.id for chart in at.get("plotly_chart")}
    assert len(at.get("plotly_chart")) >= 4 and keys
    previews = at.get("image")
    assert len(previews) == 2 and "MNIST recipe: reads 1" in previews[0].proto.imgs[0].caption
    assert any("plain resize: reads" in p.proto.imgs[0].caption for p in previews)
    at.selectbox(key="explain_digit").set_value(7).run()
    assert any("digit 7's score before squashing" in plain(c.value) for c in at.caption)


def test_a_stray_dot_gets_an_i_dont_know_not_an_error(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((130, 140, 130, 140)))
    at.run()
    assert not at.exception
    assert any(plain(m.value).startswith("### I don't know · best guess") for m in at.markdown)
    assert any("Not sure" in plain(w.value) and "dot" in plain(w.value) for w in at.warning)
    assert not any(plain(m.value).startswith("### The network reads") for m in at.markdown)


def test_the_i_dont_know_threshold_is_a_control(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))     # a clear "1"
    at.run()
    assert any(plain(m.value).startswith("### The network reads **1**") for m in at.markdown)
    at.slider(key="unsure_below").set_value(100).run()                            # demand certainty
    heading = [plain(m.value) for m in at.markdown if m.value.startswith("###")]
    assert heading[0].startswith("### I don't know · best guess **1**")
    assert any("under the 100% asked for" in plain(w.value) for w in at.warning)


def test_the_pixel_map_explains_the_score_before_squashing(runs_dir):
    """A confident answer saturates the probability (its gradient is ~0: the colour scale read "30n");
    the logit's gradient × input stays readable, and is what the page draws."""
    from ui import draw, state

    network = state._shipped(str(state.shipped_models()["model:wide"]), 0).network
    x = mlp.canvas_to_mnist(canvas_with((40, 240, 130, 150)))
    assert network.forward(x[None])[0, 1] > 0.99
    squashed = np.zeros((1, 10), np.float32)
    squashed[0, 1] = 1
    probability_map = network.input_gradient(x[None], squashed)[0] * x
    score_map = draw.pixel_contributions(network, x, 1)
    assert np.abs(score_map).max() > 100 * np.abs(probability_map).max()
    # ...and it is the gradient of the logit: central differences on inked pixels, in float64
    net64 = mlp.Network(network.sizes, network.activation, network.output, network.loss_name, dtype=np.float64)
    net64.params[...] = network.params
    x64 = x.astype(np.float64)

    def logit(v):
        return (net64.forward_all(v[None])[-2] @ net64.weights[-1] + net64.biases[-1])[0, 1]

    gradient = net64.input_gradient(x64[None], squashed.astype(np.float64), before_squashing=True)[0]
    for i in np.flatnonzero(x > 0.5)[:8]:
        step = np.zeros(784)
        step[i] = 1e-6
        numeric = (logit(x64 + step) - logit(x64 - step)) / 2e-6
        assert abs(numeric - gradient[i]) < 1e-5 * max(1.0, abs(numeric)), (i, numeric, gradient[i])


def test_a_cleared_canvas_asks_again(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))
    at.run()
    at.button(key="clear").click().run()
    assert at.session_state["canvas_gen"] == 1
    assert any("Draw a digit in the black square" in plain(i.value) for i in at.info)
    empty = canvas_with((0, 0, 0, 0))
    at.session_state["canvas_1"] = drawing(empty, objects=0)                   # reset with the bin button
    at.run()
    assert any("Draw a digit in the black square" in plain(i.value) for i in at.info)


def test_the_drawing_flows_through_the_network_diagram_and_reaches_how_it_computes(runs_dir):
    import json

    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))     # a "1"
    at.run()
    x = at.session_state["drawing_input"]
    assert x.shape == (784,) and x.max() > 0.5
    network = mlp.load("models/wide.npz")
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    diagram = next(s for s in specs if any(t.get("customdata") and isinstance(t["customdata"][0], list)
                                           for t in s["data"]))
    outputs = next(t for t in diagram["data"] if t.get("mode") == "text" and len(t["text"]) == 10)
    assert "<b>1: " in outputs["text"][1]                    # the answer in bold, as on the heading
    nodes = [t for t in diagram["data"] if t.get("customdata")]
    assert sum(len(t["customdata"]) for t in nodes) == 256 + 128 + 10
    assert int(network.predict(x[None])[0]) == 1
    at.switch_page("pages/computes.py").run()
    at.segmented_control(key="cs_source").set_value("my drawing").run()
    assert not at.exception and at.selectbox(key="cs_drawing_label").value == 1
