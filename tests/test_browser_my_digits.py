"""My digits in a real browser: draw two digits and keep them, measure a model on them, fine-tune."""
import math

from playwright.sync_api import expect

from conftest import button, wait_for_app, wait_until_saved
from test_browser_draw import draw


def keep_a_drawing(page, points, digit, count):
    canvas = page.locator("[data-testid='stBidiComponentIsolated']").first.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)
    draw(page, canvas, points)
    expect(page.get_by_role("heading", name=f"The network reads {digit}")).to_be_visible(timeout=20_000)
    button(page, "Keep this drawing").click()
    expect(page.get_by_text(f"Kept as a {digit} in “my digits”, which now holds {count}")).to_be_visible(
        timeout=20_000)


def test_draw_two_digits_keep_them_evaluate_a_model_on_them_and_fine_tune(page, streamlit_server):
    url = streamlit_server["url"]
    page.goto(f"{url}/draw")
    wait_for_app(page)
    keep_a_drawing(page, [(140, 40), (140, 240)], 1, 1)                  # a vertical stroke: "1"
    loop = [(140 + 55 * math.sin(t / 20 * 2 * math.pi), 140 - 90 * math.cos(t / 20 * 2 * math.pi))
            for t in range(22)]
    keep_a_drawing(page, loop, 0, 2)                                     # a closed loop: "0"

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="My digits").click()
    wait_for_app(page)
    expect(page.get_by_text("2 drawings: 1 × 0, 1 × 1.")).to_be_visible()
    collection = page.evaluate("new URLSearchParams(location.search).get('digits')")
    assert collection and len(collection) == 12

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Evaluate").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="On your 2 digits")).to_contain_text("100.0%")

    page.goto(f"{url}/train?start_from=model:fast&my_digits={collection}&optimizer=adam&lr=0.0003"
              "&train_size=1000&epochs=1&batch_size=16&shuffle=1")
    wait_for_app(page)
    button(page, "Start").click()
    wait_until_saved(page)
    expect(page.get_by_text("Fine-tuning: started from pretrained: fast")).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("stDataFrame").filter(has_text="held-out")).to_be_visible()
