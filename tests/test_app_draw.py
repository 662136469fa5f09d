"""The Draw page with a drawing injected as the canvas's value (AppTest never renders the canvas)."""
import base64
import io

import numpy as np
from PIL import Image

from apptest_helpers import open_page

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
    assert at.selectbox(key="page_run").value == "model:wide"
    assert any("Draw a digit in the black square" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_an_injected_drawing_is_read_with_probabilities_and_preview(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))     # a "1"
    at.run()
    assert not at.exception
    headline = [m.value for m in at.markdown if m.value.startswith("### The network reads")]
    assert headline and headline[0].startswith("### The network reads **1**")
    keys = {chart.proto.id for chart in at.get("plotly_chart")}
    assert len(at.get("plotly_chart")) >= 4 and keys
    previews = at.get("image")
    assert len(previews) == 2 and "MNIST recipe: reads 1" in previews[0].proto.imgs[0].caption
    assert any("plain resize: reads" in p.proto.imgs[0].caption for p in previews)
    at.selectbox(key="explain_digit").set_value(7).run()
    assert any("raise the output for 7" in c.value for c in at.caption)


def test_a_stray_dot_gets_a_low_confidence_answer_not_an_error(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((130, 140, 130, 140)))
    at.run()
    assert not at.exception
    assert any("Low confidence" in w.value and "dot" in w.value for w in at.warning)


def test_a_cleared_canvas_asks_again(runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))
    at.run()
    at.button(key="clear").click().run()
    assert at.session_state["canvas_gen"] == 1
    assert any("Draw a digit in the black square" in i.value for i in at.info)
    empty = canvas_with((0, 0, 0, 0))
    at.session_state["canvas_1"] = drawing(empty, objects=0)                   # reset with the bin button
    at.run()
    assert any("Draw a digit in the black square" in i.value for i in at.info)
