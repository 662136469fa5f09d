"""Many sessions on one server, and a server restart, in a real browser."""
import json
import signal

import numpy as np
from playwright.sync_api import expect

from conftest import button, require_chromium, start_server, stop_server, wait_for_app

SHORT = "train?train_size=3000&epochs=4&layers=784-16-10&activation=relu&output=softmax&loss=cross_entropy" \
        "&optimizer=adam&lr=0.003&batch_size=16&init=he"
LONG = "train?train_size=60000&epochs=200"       # still training when the test stops it


def test_several_sessions_train_at_once_and_the_rest_wait_their_turn(browser, streamlit_server):
    pages = [browser.new_page() for _ in range(2)]             # the test server trains one run at a time
    try:
        for page in pages:
            page.goto(f"{streamlit_server['url']}/{LONG}")
            wait_for_app(page)
            button(page, "Start").click()
        expect(pages[1].get_by_text("Waiting for a free training slot")).to_be_visible(timeout=20_000)
        expect(pages[1].get_by_text("number 1 in the queue")).to_be_visible()
        expect(pages[0].get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
        # The waiting session stays usable: another page answers while the run trains.
        pages[1].get_by_test_id("stSidebarNav").get_by_role("link", name="Home", exact=True).click()
        expect(pages[1].get_by_role("heading", name="Train a neural network from scratch")).to_be_visible(
            timeout=5_000)
        pages[1].go_back()
        button(pages[0], "Stop").click()        # frees the slot: the waiting run starts
        expect(pages[1].get_by_text("training", exact=True)).to_be_visible(timeout=30_000)
        for page in pages:
            if page is pages[1]:
                button(page, "Stop").click()
            expect(page.get_by_text("Saved to the runs list below.")).to_be_visible(timeout=30_000)
    finally:
        for page in pages:
            page.close()


def test_a_restart_keeps_finished_and_interrupted_runs(browser, tmp_path):
    require_chromium()
    runs = tmp_path / "runs"
    proc, url = start_server(tmp_path, runs)
    page = browser.new_page()
    try:
        page.goto(f"{url}/{SHORT}")
        wait_for_app(page)
        button(page, "Start").click()
        expect(page.get_by_text("Saved to the runs list below.")).to_be_visible(timeout=60_000)
        page.goto(f"{url}/{LONG}")
        wait_for_app(page)
        button(page, "Start").click()
        expect(page.get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
        page.wait_for_timeout(2000)
    finally:
        # SIGTERM mid-run: a clean shutdown, after which uvicorn (st.App's server) re-raises the signal
        assert stop_server(proc) == -signal.SIGTERM
    statuses = {}
    for path in runs.glob("*.npz"):
        with np.load(path, allow_pickle=False) as f:
            statuses[path.stem] = json.loads(str(f["meta"]))["status"]
    assert sorted(statuses.values()) == ["done", "interrupted"]

    cookie = [c["value"] for c in page.context.cookies() if c["name"] == "mlp_owner"]
    proc, url = start_server(tmp_path, runs)
    try:
        page.goto(f"{url}/train")
        wait_for_app(page)
        table = page.get_by_test_id("stDataFrame").first              # (the runs list shows "mine")
        expect(table).to_contain_text("interrupted")
        expect(table).to_contain_text("done")
        expect(table).to_contain_text("you")                         # the same browser is the same learner
        assert [c["value"] for c in page.context.cookies() if c["name"] == "mlp_owner"] == cookie
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Hidden weights", exact=True).click()
        wait_for_app(page)
        expect(page.get_by_text("hidden units in the first layer")).to_be_visible()
        page.screenshot(path=str(tmp_path / "after-restart.png"), full_page=True)
    finally:
        page.close()
        stop_server(proc)
