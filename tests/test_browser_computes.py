"""How it computes, in a real browser: pick a digit, point at a node and read its computation, switch
it off from the diagram, apply a backprop step and see the loss go down."""
import re

from playwright.sync_api import expect

import mlp
from mlp import trace as tracing
from conftest import button, wait_for_app


def metric_value(page, label):
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    return float(metric.get_by_test_id("stMetricValue").inner_text())


def test_pick_a_digit_point_at_a_node_switch_it_off_and_step_downhill(page, streamlit_server):
    page.goto(f"{streamlit_server['url']}/computes?run=model:seed")       # a link opens that model
    wait_for_app(page)
    number = page.get_by_label("Test digit number (0–9,999)")
    number.fill("8")
    number.press("Enter")
    wait_for_app(page)

    # point at the first hidden layer's first node: its computation, with the engine's numbers
    network = mlp.load("models/seed.npz")
    x_test, y_test = mlp.load_mnist()[2:]
    t = tracing.trace(network, x_test[8], y_test[8])
    node = page.locator(".js-plotly-plot").first.locator("g.scatterlayer path.point").first
    node.scroll_into_view_if_needed()
    box = node.bounding_box()                   # Plotly's drag layer lies on top: point with the mouse
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    hover = page.locator(".hoverlayer .hovertext").first
    expect(hover).to_contain_text("hidden 1 · unit 0", timeout=10_000)
    lines = hover.locator("tspan.line").all_text_contents()           # an SVG label: one tspan a line
    assert "z = Σ w·a + b over the 784 pixels x" in lines
    z = float(re.search(r"= (-?[0-9.e+-]+)$", lines[3]).group(1))      # "  = Σ w·a + b = z"
    assert lines[4].startswith("a = σ(")
    assert abs(z - float(t.z[0][0])) < 5e-3 * max(1.0, abs(float(t.z[0][0])))

    # click it: its computation in a panel, and a switch
    page.mouse.click(*centre)
    switch = button(page, "Switch this unit off")
    expect(switch).to_be_visible(timeout=10_000)
    switch.click()
    wait_for_app(page)
    expect(page.get_by_text("1 unit switched off")).to_be_visible(timeout=10_000)

    # one step of backprop, applied to a copy: the loss on this example goes down
    page.get_by_role("tab", name="One step of backprop").click()
    apply = button(page, "Apply the step")
    apply.scroll_into_view_if_needed()
    apply.click()
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Loss after 1 step")).to_be_visible(timeout=10_000)
    assert metric_value(page, "Loss after 1 step") < metric_value(page, "Loss before")
