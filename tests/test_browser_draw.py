"""Drawing digits with the mouse on the Draw page, in a real browser."""
import math

from playwright.sync_api import expect

from conftest import button, wait_for_app


def draw(page, canvas, points):
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()


def reading(page, digit):
    return page.get_by_role("heading", name=f"The network reads {digit}")


def test_draw_a_one_and_a_zero_then_clear(page, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server['url']}/draw")
    wait_for_app(page)
    expect(page.get_by_text("Draw a digit in the black square")).to_be_visible()
    component = page.locator("[data-testid='stBidiComponentIsolated']").first
    canvas = component.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)

    draw(page, canvas, [(140, 40), (140, 240)])                      # a vertical stroke: "1"
    expect(reading(page, 1)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("What the network receives")).to_be_visible()

    button(page, "Clear").click()
    expect(page.get_by_text("Draw a digit in the black square")).to_be_visible(timeout=20_000)
    canvas = page.locator("[data-testid='stBidiComponentIsolated']").first.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)
    loop = [(140 + 55 * math.sin(t / 20 * 2 * math.pi), 140 - 90 * math.cos(t / 20 * 2 * math.pi))
            for t in range(22)]
    draw(page, canvas, loop)                                            # a closed loop: "0"
    expect(reading(page, 0)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Hidden units that fired most")).to_be_visible()
    page.screenshot(path=str(tmp_path / "draw-page.png"), full_page=True)
