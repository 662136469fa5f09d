"""What a user does on the Train page, in a real browser (Playwright driving Debian's Chromium)."""
import re

from playwright.sync_api import expect

from conftest import button, wait_for_app, wait_until_saved

LONG_RUN = "train?train_size=60000&epochs=200"      # the seed network on 60,000 images: ~0.3 s an epoch,
# so the run outlasts the test (60 epochs of 10,000 did not, once measuring a progress event got cheaper)


def metric(page, label):
    card = page.get_by_test_id("stMetric").filter(has=page.get_by_text(label, exact=True)).first
    return card.get_by_test_id("stMetricValue").inner_text()


def curve_points(page):
    chart = page.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").first
    return chart.evaluate("el => (el.data && el.data[0] && el.data[0].x) ? el.data[0].x.length : 0")


def points_after(page, condition, timeout=20.0):
    """The chart's point count once ``condition(count)`` holds (or the last count after ``timeout`` s)."""
    for _ in range(int(timeout / 0.25)):
        count = curve_points(page)
        if condition(count):
            return count
        page.wait_for_timeout(250)
    return curve_points(page)


def click_plot(page, chart, x, y):
    """Click a Plotly chart at data coordinates (x, y), using the chart's own axis mapping."""
    at = chart.locator(".js-plotly-plot").evaluate(
        """(el, p) => { const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis, r = el.getBoundingClientRect();
                       return {x: r.left + xa._offset + xa.l2p(p[0]), y: r.top + ya._offset + ya.l2p(p[1])}; }""",
        [x, y])
    page.mouse.click(at["x"], at["y"])


def nav(page, name):
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()


def test_train_watch_pause_switch_refresh_stop_and_find_it_saved(page, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server['url']}/{LONG_RUN}")
    wait_for_app(page)
    expect(page.get_by_role("tab", name="Data")).to_be_visible()
    button(page, "Start").click()
    status = page.get_by_text("training", exact=True)
    expect(status).to_be_visible(timeout=20_000)

    # The curve gains points while it trains.
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=20_000)
    first = points_after(page, lambda n: n > 0)
    assert points_after(page, lambda n: n > first) > first
    expect(page).to_have_url(re.compile(r"run=[0-9a-f]{12}"))
    run_id = re.search(r"run=([0-9a-f]{12})", page.url).group(1)

    # Pause: the epoch stops moving. Step one epoch: it trains to this epoch's end and waits there
    # (before: it went on to the last epoch). The learning rate changes while it waits. Resume: it moves.
    button(page, "Pause").click()
    expect(page.get_by_text("paused", exact=True)).to_be_visible(timeout=10_000)
    page.wait_for_timeout(1500)
    held = metric(page, "Epoch")
    page.wait_for_timeout(2000)
    assert metric(page, "Epoch") == held
    button(page, "Step one epoch").click()
    epoch_metric = page.get_by_test_id("stMetric").filter(has=page.get_by_text("Epoch", exact=True))
    expect(epoch_metric.get_by_test_id("stMetricValue")).to_have_text(f"{int(float(held)) + 1}.00",
                                                                      timeout=20_000)
    page.wait_for_timeout(2000)
    assert metric(page, "Epoch") == f"{int(float(held)) + 1}.00"
    expect(page.get_by_text("paused", exact=True)).to_be_visible()
    page.get_by_role("tab", name="Optimisation").click()
    lr = page.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
    lr.focus()
    lr.press("ArrowRight")                                       # 0.02 -> 0.03, taken by the run
    expect(page.get_by_text(re.compile(r"lr now 0\.03"))).to_be_visible(timeout=10_000)
    held = metric(page, "Epoch")
    button(page, "Resume").click()
    expect(page.get_by_text("training", exact=True)).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("stMetric").filter(has=page.get_by_text("Epoch", exact=True))
           .get_by_test_id("stMetricValue")).not_to_have_text(held, timeout=10_000)

    # Another page and back: the run kept training and is shown where it is.
    nav(page, "Home")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Train a neural network from scratch")).to_be_visible()
    before = float(held)
    page.wait_for_timeout(1500)
    nav(page, "Train")
    expect(page.get_by_text("training", exact=True)).to_be_visible(timeout=10_000)
    assert float(metric(page, "Epoch")) > before

    # A refresh starts a new browser session; the URL brings it back to the same run.
    page.reload()
    expect(page.get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
    assert run_id in page.url
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "train-page.png"), full_page=True)

    # Stop: the run is saved and listed.
    button(page, "Stop").click()
    status_line = page.get_by_test_id("stMarkdownContainer").get_by_text("stopped", exact=True)
    expect(status_line.first).to_be_visible(timeout=15_000)             # (not the runs list's cell)
    expect(page.get_by_text("Saved to the runs list below.")).to_be_visible(timeout=15_000)
    assert (streamlit_server["runs"] / f"{run_id}.npz").exists()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()


def test_look_inside_a_short_run(page, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server['url']}/train?train_size=3000&epochs=3&layers=784-16-10&activation=relu"
              "&output=softmax&loss=cross_entropy&optimizer=adam&lr=0.003&batch_size=16&init=he")
    wait_for_app(page)
    button(page, "Start").click()
    wait_until_saved(page)

    nav(page, "Hidden weights")
    wait_for_app(page)
    expect(page.get_by_text("16 hidden units in the first layer", exact=False)).to_be_visible()
    slider = page.get_by_test_id("stSlider").filter(has_text="Weights after epoch").get_by_role("slider")
    slider.focus()
    slider.press("Home")                                      # back to the initial weights
    wait_for_app(page)
    expect(page.get_by_test_id("stSlider").filter(has_text="Weights after epoch")).to_contain_text("0")
    unit = page.get_by_test_id("stSelectbox").filter(has_text="Unit")
    unit.click()
    page.get_by_role("option", name="7", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Training digits that excite unit 7 most")).to_be_visible()
    grid = page.get_by_test_id("stPlotlyChart").first
    centre = grid.locator(".js-plotly-plot").evaluate("el => [el.data[1].x[5], el.data[1].y[5]]")
    click_plot(page, grid, *centre)                            # clicking a unit's tile opens it
    expect(page.get_by_text("Training digits that excite unit 5 most")).to_be_visible(timeout=10_000)
    page.screenshot(path=str(tmp_path / "weights-page.png"), full_page=True)

    nav(page, "Evaluate")
    wait_for_app(page)
    expect(page.get_by_text("Mistakes, most confident first")).to_be_visible()
    expect(page.get_by_text("Test accuracy", exact=True)).to_be_visible()
    click_plot(page, page.get_by_test_id("stPlotlyChart").first, 9, 4)      # the cell true 4, predicted 9
    expect(page.get_by_text("true 4, predicted 9").first).to_be_visible(timeout=10_000)
    expect(page.get_by_text("true 7,")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "evaluate-page.png"), full_page=True)

