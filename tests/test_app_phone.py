"""A phone (a "Mobi" User-Agent) gets layouts that fit 390 pixels (issue 18): four weight tiles a row
instead of eight (30-pixel tiles with overlapping labels before), the robustness panels stacked
(their titles overlapped each other and the toolbar), the diagram's short layer labels."""
import json
from unittest import mock

import pytest

import ui
from apptest_helpers import finish_background, open_page
from test_app_inside import figures, grid

WEIGHTS, EVALUATE, COMPUTES = "pages/weights.py", "pages/evaluate.py", "pages/computes.py"


@pytest.mark.parametrize("agent,phone", [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1", True),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36", True),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", False),
    ("", False)])
def test_a_phone_is_told_by_its_user_agent(agent, phone):
    with mock.patch("streamlit.context") as context:
        context.headers = {"User-Agent": agent}
        assert ui.narrow() is phone


def test_on_a_phone_the_pages_draw_narrow_layouts(runs_dir):
    with mock.patch("ui.narrow", return_value=True):
        at = open_page(WEIGHTS, query={"run": "model:seed"})
        tiles = grid(at)["data"][1]
        assert len({round(x) for x in tiles["x"]}) == 4                 # four tiles a row
        at.switch_page(EVALUATE).run()
        finish_background(at)
        robustness = next(s for s in figures(at).values() if "rotation (degrees)" in json.dumps(s["layout"]))
        assert {t["xaxis"] for t in robustness["data"]} == {"x", "x2", "x3"}
        assert "yaxis3" in robustness["layout"] and robustness["layout"]["yaxis3"]["domain"][1] < 0.5  # stacked
        at.switch_page(COMPUTES).run()
        diagram = next(s for s in figures(at).values() if any(a.get("text") == "out" for a in s["layout"]["annotations"]))
        assert diagram["layout"]["height"] < 540
    at = open_page(WEIGHTS, query={"run": "model:seed"})
    assert len({round(x) for x in grid(at)["data"][1]["x"]}) == 8        # a desktop: eight
