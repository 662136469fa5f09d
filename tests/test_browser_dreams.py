"""Dreams and adversaries in a real browser: the ten digits dreamt and replayed, then a digit drawn with
the mouse on Draw and nudged until the network misreads it."""
from playwright.sync_api import expect

from conftest import wait_for_app
from test_browser_draw import draw


def nav(page, name):
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    wait_for_app(page)


def test_dream_the_digits_then_fool_the_network_on_a_drawing(page, streamlit_server):
    page.goto(f"{streamlit_server['url']}/dreams?dream_steps=60")
    wait_for_app(page)
    expect(page.get_by_text("Press Replay to watch them grow")).to_be_visible(timeout=60_000)
    gallery = page.locator(".js-plotly-plot").filter(has=page.locator("text.slider-label")).first
    expect(gallery.locator("text.slider-label").first).to_have_text("step 60")
    expect(gallery.get_by_text("3 → 3 ·")).to_be_visible()                 # the wide network reads its dream of 3

    gallery.get_by_text("▶ Replay").click()                                # the climb replays in the browser
    steps = set()
    for _ in range(50):
        steps.add(gallery.locator("text.slider-label").first.text_content())
        if steps - {"step 60"}:
            break
        page.wait_for_timeout(50)
    assert steps - {"step 60"}, "the replay never showed an earlier step"
    expect(gallery.locator("text.slider-label").first).to_have_text("step 60", timeout=15_000)   # and it ends at the dream

    nav(page, "Draw")
    canvas = page.locator("[data-testid='stBidiComponentIsolated']").first.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)
    draw(page, canvas, [(140, 40), (140, 240)])                            # a vertical stroke: "1"
    expect(page.get_by_role("heading", name="The network reads 1")).to_be_visible(timeout=20_000)

    nav(page, "Dreams and adversaries")
    page.get_by_role("tab", name="Adversarial nudges").click()
    wait_for_app(page)
    page.get_by_test_id("stMainBlockContainer").get_by_text("my drawing", exact=True).click()
    wait_for_app(page)
    fooled = page.get_by_text("Fooled after")
    expect(fooled).to_be_visible(timeout=30_000)
    expect(page.get_by_text("the network now reads your drawing as a")).to_be_visible()
    expect(page.get_by_text("Original: reads 1")).to_be_visible()
