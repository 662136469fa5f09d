"""Dreams and adversaries in a real browser: the ten digits dreamt and replayed, a hidden node clicked on
the diagram and dreamt of, then a digit drawn with the mouse on Draw and nudged until the network misreads it."""
import re

from playwright.sync_api import expect

from conftest import nav, wait_for_app
from test_browser_draw import draw


NODE_POSITION = """([layer, unit]) => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        for (const t of gd._fullData || []) {
            const nodes = t.customdata;
            if (!nodes || !Array.isArray(nodes[0]) || nodes[0].length !== 2 || !t.hovertext) continue;
            const i = nodes.findIndex(c => c[0] === layer && c[1] === unit);
            if (i < 0) continue;
            const xa = gd._fullLayout['xaxis' + t.xaxis.slice(1)], ya = gd._fullLayout['yaxis' + t.yaxis.slice(1)];
            const box = gd.getBoundingClientRect();
            return {x: box.left + xa._offset + xa.l2p(t.x[i]), y: box.top + ya._offset + ya.l2p(t.y[i])};
        }
    }
    return null;
}"""
"""Where on the screen a node of the network diagram is: from Plotly's own axes (plotly.js internals)."""


def node_position(page, layer, unit):
    position = page.evaluate(NODE_POSITION, [layer, unit])
    assert position, f"no node ({layer}, {unit}) on the page"
    return position


def test_dream_the_digits_then_fool_the_network_on_a_drawing(page, streamlit_server):
    page.goto(f"{streamlit_server['url']}/dreams?run=model:seed&dream_steps=60")     # 16-16: nodes far apart
    wait_for_app(page)
    expect(page.get_by_text("Press Replay to watch them grow")).to_be_visible(timeout=60_000)
    gallery = page.locator(".js-plotly-plot").filter(has=page.locator("text.slider-label")).first
    expect(gallery.locator("text.slider-label").first).to_have_text("step 60")
    expect(gallery.get_by_text("3 → 3 ·")).to_be_visible()                 # the network reads its dream of 3

    gallery.get_by_text("▶ Replay").click()                                # the climb replays in the browser
    steps = set()
    for _ in range(50):
        steps.add(gallery.locator("text.slider-label").first.text_content())
        if steps - {"step 60"}:
            break
        page.wait_for_timeout(50)
    assert steps - {"step 60"}, "the replay never showed an earlier step"
    expect(gallery.locator("text.slider-label").first).to_have_text("step 60", timeout=15_000)  # it ends on the dream

    # a hidden node clicked on the dream's diagram: the page dreams of that unit instead
    diagram = page.locator(".js-plotly-plot").filter(has=page.get_by_text("hidden 1 (16)")).first
    diagram.scroll_into_view_if_needed()
    page.mouse.click(**node_position(page, 0, 5))
    unit = page.get_by_test_id("stSelectbox").filter(has_text="Hidden unit").first.locator("input")
    expect(unit).to_have_value("hidden 1 · unit 5", timeout=30_000)
    expect(page.get_by_text("The input that drives this unit's weighted sum z up most")).to_be_visible(timeout=60_000)

    nav(page, "Draw")
    canvas = page.locator("[data-testid='stBidiComponentIsolated']").first.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)
    draw(page, canvas, [(140, 40), (140, 240)])                            # a vertical stroke
    heading = page.get_by_role("heading", name=re.compile(r"The network reads \d"))
    expect(heading).to_be_visible(timeout=20_000)
    read = re.search(r"reads (\d)", heading.inner_text()).group(1)

    nav(page, "Dreams and adversaries")
    page.get_by_role("tab", name="Adversarial nudges").click()
    wait_for_app(page)
    page.get_by_test_id("stMainBlockContainer").get_by_text("my drawing", exact=True).click()
    wait_for_app(page)
    fooled = page.get_by_text("Fooled after")
    expect(fooled).to_be_visible(timeout=30_000)
    expect(page.get_by_text("the network now reads your drawing as a")).to_be_visible()
    expect(page.get_by_text(f"Original: reads {read}")).to_be_visible()
