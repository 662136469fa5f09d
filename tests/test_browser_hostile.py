"""What a new user and a mischievous one trip on, in a real browser: controls acting on the wrong run,
labels cut at some window sizes, and a finished run that redraws the whole page under the user's click."""
import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect

import mlp
from conftest import browser_person, button, require_chromium, start_server, stop_server, wait_for_app, wait_until_saved
from runner.store import RunStore, new_run_id
from mlp.runs import RunMeta

LONG = "train?train_size=60000&epochs=200"       # still training when the test stops it
SHORT = "train?train_size=2000&epochs=2&layers=784-16-10&activation=relu&output=softmax&loss=cross_entropy" \
        "&optimizer=adam&lr=0.003&batch_size=16&init=he"


@pytest.fixture
def own_server(tmp_path):
    """A server of this test's own, with its own runs folder and a log of its full script runs."""
    require_chromium()
    runs, log = tmp_path / "runs", tmp_path / "timing.log"
    proc, url = start_server(tmp_path, runs, MLP_TIMING_LOG=str(log))
    yield {"url": url, "runs": runs, "log": log}
    stop_server(proc)


def pick(page, label, option, tries=3):
    """Choose ``option`` in the selectbox labelled ``label`` (its text starts with the label; several
    selectboxes contain the word). A click that lands while the page redraws can close the list
    again, so the list is opened until the option shows."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=re.compile(rf"^{re.escape(label)}")).first
    for attempt in range(tries):
        box.click()
        try:
            page.get_by_role("option", name=option).first.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
    wait_for_app(page)


def test_rename_then_delete_acts_on_the_run_it_shows(browser, own_server):
    """Before: after a rename, Delete said "Delete junk-B for good?" and deleted another run."""
    store = RunStore(own_server["runs"])
    ids = {}
    page = browser.new_page()
    try:
        page.goto(f"{own_server['url']}/train")
        wait_for_app(page)
        owner = browser_person(page, own_server["runs"]).owner          # the runs are this browser's
        for i, name in enumerate(("run-A", "run-B", "run-C")):          # run-C is the newest: first in the list
            ids[name] = new_run_id()
            store.save(ids[name], mlp.Network([784, 8, 10]), RunMeta(name, "done", created=1000.0 + i, owner=owner))
        page.reload()
        wait_for_app(page)
        pick(page, "Run", re.compile(r"^run-B ·"))
        for new_name in ("junk-B", "junk-B2"):                       # a second rename in a row, too
            page.get_by_test_id("stPopover").filter(has_text="Rename").get_by_role("button").first.click()
            page.get_by_label("New name").fill(new_name)
            page.get_by_role("button", name="Save name").click()
            wait_for_app(page)
            expect(page.get_by_text(f"Renamed to “{new_name}”.")).to_be_visible()
            page.keyboard.press("Escape")
        assert store.info(ids["run-B"]).name == "junk-B2"
        assert store.info(ids["run-A"]).name == "run-A" and store.info(ids["run-C"]).name == "run-C"
        page.get_by_test_id("stPopover").filter(has_text="Delete").get_by_role("button").first.click()
        expect(page.get_by_text("Delete junk-B2 for good?")).to_be_visible()
        page.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete").click()
        wait_for_app(page)
        expect(page.get_by_text("Deleted “junk-B2”.")).to_be_visible()
    finally:
        page.close()
    assert sorted(r.name for r in store.list()) == ["run-A", "run-C"]


CUT_LABELS = """() => {
    const cut = [];
    const width = document.documentElement.clientWidth;
    const main = document.querySelector("[data-testid='stMainBlockContainer']");
    for (const el of main.querySelectorAll("button, [role='tab'], [data-testid='stPageLink-NavLink']")) {
        const box = el.getBoundingClientRect();
        if (!el.offsetParent || box.width === 0) continue;            // hidden (another tab's panel)
        const text = el.innerText.trim();
        if (!text) continue;
        const clipped = [el, ...el.querySelectorAll("*")].some(e => e.scrollWidth > e.clientWidth + 1
            && getComputedStyle(e).overflowX !== "visible");
        if (clipped || box.left < -1 || box.right > width + 1) cut.push(text + " @" + Math.round(box.width));
    }
    return cut;
}"""

SIZES = [(390, 844), (1024, 768), (1280, 800)]
"""Where labels were found cut before; wider windows (1400, 1920) give every label more room and
never cut one."""


def test_every_button_and_tab_label_is_whole_from_phone_to_desktop(browser, own_server):
    """Before: at 1280×800 the Train page's buttons read "S…", "Step on…", "P…"; at 1024×768 Hidden
    weights' "Play" was cut. The Home page's links read "Look at its hidden u" at 1280×800 when a
    fifth one joined them in columns."""
    page = browser.new_page()
    try:
        page.goto(f"{own_server['url']}/{LONG}")
        wait_for_app(page)
        button(page, "Start").click()                               # the row of run buttons is widest now
        expect(button(page, "Pause")).to_be_visible(timeout=20_000)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(150)
            assert page.evaluate(CUT_LABELS) == [], (width, "Train")
        button(page, "Stop").click()
        expect(page.get_by_text("Saved to the runs list below.")).to_be_visible(timeout=20_000)
        for path in ("weights", "evaluate", "draw", "computes", ""):
            page.goto(f"{own_server['url']}/{path}")
            wait_for_app(page)
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(150)
                assert page.evaluate(CUT_LABELS) == [], (width, path or "home")
    finally:
        page.close()


def full_runs(log):
    """The Train page's full script runs so far, from the server's timing log."""
    return sum(1 for line in log.read_text().splitlines() if line.startswith("Train\t")) if log.exists() else 0


def test_a_finishing_run_redraws_its_part_of_the_page_only_and_stops_polling(browser, own_server):
    """Before: when a run was saved the page ran a full rerun of itself, and a click on another page in
    that instant was lost (the page's own rerun won). Now the training area redraws itself as a fragment,
    then stops asking the server for reruns."""
    page = browser.new_page()
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(time.monotonic())))
    try:
        page.goto(f"{own_server['url']}/{SHORT}")
        wait_for_app(page)
        button(page, "Start").click()
        expect(page.get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
        wait_for_app(page)                  # the full run that drew "training" has ended and logged itself
        runs_while_training = full_runs(own_server["log"])
        wait_until_saved(page)
        expect(page.get_by_text("Saved to the runs list below.")).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_contain_text("relu")   # the new run is listed
        expect(page.get_by_test_id("stTabs").get_by_role("tab", name="Network")).to_be_enabled()
        page.wait_for_timeout(2500)
        assert full_runs(own_server["log"]) == runs_while_training     # no page-initiated full rerun
        quiet_from = time.monotonic()
        page.wait_for_timeout(3000)
        assert [t for t in sent if t > quiet_from] == []                 # and no more polling
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Hidden weights", exact=True).click()
        wait_for_app(page)
        expect(page.get_by_role("heading", name="Hidden weights")).to_be_visible()
    finally:
        page.close()
