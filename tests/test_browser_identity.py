"""Three browsers on one server (Playwright, Debian's Chromium): student A, student B and a teacher.

B can watch A's run and open it by link, but has no control of it; B fine-tunes a copy of their own;
the teacher stops and deletes A's run; A stays A across a reload and a server restart."""
import re

import pytest
from playwright.sync_api import expect

from conftest import button, require_chromium, start_server, stop_server, wait_for_app, wait_until_saved
from test_browser_my_digits import keep_a_drawing

LONG = "train_size=10000&epochs=60"                 # the seed network: ~0.4 s an epoch, it trains a while
KEY = "the class key"


@pytest.fixture
def server(tmp_path):
    require_chromium()
    runs = tmp_path / "runs"
    state = {"runs": runs, "folder": tmp_path}
    state["proc"], state["url"] = start_server(tmp_path, runs, MLP_TEACHER_KEY=KEY, MLP_MAX_RUNNING="2")
    yield state
    stop_server(state["proc"])


def identity_cookie(context):
    (cookie,) = [c for c in context.cookies() if c["name"] == "mlp_owner"]
    return cookie


def nav(page, name):
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    wait_for_app(page)


def open_panel(page):
    page.get_by_test_id("stSidebar").get_by_test_id("stPopoverButton").first.click()


def test_three_browsers_a_student_another_student_and_a_teacher(browser, server):
    url = server["url"]
    contexts = {who: browser.new_context(viewport={"width": 1500, "height": 1100}) for who in "ABT"}
    a, b, t = (contexts[who].new_page() for who in "ABT")

    # A starts a long run and keeps a drawing; A's browser has its own HttpOnly, Lax cookie.
    a.goto(f"{url}/train?{LONG}")
    wait_for_app(a)
    button(a, "Start").click()
    expect(a.get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
    expect(a).to_have_url(re.compile(r"run=[0-9a-f]{12}"))
    run_id = re.search(r"run=([0-9a-f]{12})", a.url).group(1)
    cookie_a = identity_cookie(contexts["A"])
    assert cookie_a["httpOnly"] and cookie_a["sameSite"] == "Lax" and re.fullmatch(r"[0-9a-f]{32}", cookie_a["value"])
    assert cookie_a["value"] not in a.content() and cookie_a["value"] not in a.url
    assert a.evaluate("document.cookie").find(cookie_a["value"]) == -1          # no page script can read it
    nav(a, "Draw")
    keep_a_drawing(a, [(140, 40), (140, 240)], 1, 1)
    collection = a.evaluate("new URLSearchParams(location.search).get('digits')")

    # B, fresh: none of A's work by default; by link, A's run read-only, without controls.
    b.goto(f"{url}/my_digits")
    wait_for_app(b)
    expect(b.get_by_text("You have no collection yet")).to_be_visible()
    b.goto(f"{url}/train?run={run_id}")
    wait_for_app(b)
    expect(b.get_by_text(re.compile(r"This run is another learner's .*you can watch it"))).to_be_visible()
    for control in ("Pause", "Resume", "Step one epoch", "Stop"):
        expect(button(b, control)).to_have_count(0)
    b.get_by_role("tab", name="Optimisation").click()
    lr = b.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
    expect(lr).to_be_disabled()
    b.goto(f"{url}/my_digits?digits={collection}")
    wait_for_app(b)
    expect(b.get_by_text(re.compile(r"This collection is another learner's"))).to_be_visible()
    expect(b.get_by_label("Name", exact=True)).to_be_disabled()
    expect(button(b, "Delete")).to_have_count(0)

    # The teacher enters the key once on the identity panel, then stops A's run from its link.
    t.goto(url)
    wait_for_app(t)
    open_panel(t)
    t.get_by_label("Teacher key", exact=True).fill(KEY)
    t.get_by_role("button", name="Become a teacher").click()
    expect(t.get_by_text("You are a teacher on this server")).to_be_visible(timeout=10_000)
    t.goto(f"{url}/train?run={run_id}")
    wait_for_app(t)
    expect(t.get_by_text(re.compile(r"as a teacher you may change it"))).to_be_visible()
    button(t, "Stop").click()
    expect(t.get_by_text("stopped", exact=True)).to_be_visible(timeout=30_000)

    # A's page says it stopped, and A's list shows it as A's.
    a.goto(f"{url}/train?run={run_id}")
    wait_for_app(a)
    expect(a.get_by_text("stopped", exact=True)).to_be_visible(timeout=20_000)
    expect(a.get_by_test_id("stDataFrame").filter(has_text="you")).to_be_visible()

    # B fine-tunes a copy of their own from A's saved run; it is B's.
    b.goto(f"{url}/train?run={run_id}&train_size=1000&epochs=1")
    wait_for_app(b)
    button(b, "Fine-tune a copy of my own").click()
    wait_for_app(b)
    button(b, "Start").click()
    wait_until_saved(b)
    expect(b.get_by_text(re.compile(r"Fine-tuning: started from"))).to_be_visible(timeout=20_000)
    copy_id = re.search(r"run=([0-9a-f]{12})", b.url).group(1)
    assert copy_id != run_id

    # A stays A after a reload and a server restart (the same cookie, the same runs).
    a.reload()
    wait_for_app(a)
    assert identity_cookie(contexts["A"])["value"] == cookie_a["value"]
    stop_server(server["proc"])
    server["proc"], url = start_server(server["folder"], server["runs"], MLP_TEACHER_KEY=KEY)
    a.goto(f"{url}/train")
    wait_for_app(a)
    assert identity_cookie(contexts["A"])["value"] == cookie_a["value"]
    table = a.get_by_test_id("stDataFrame").first
    expect(table).to_contain_text("you", timeout=20_000)
    b.goto(f"{url}/train")
    wait_for_app(b)
    expect(b.get_by_test_id("stDataFrame").first).to_contain_text("you")     # B's copy, B's

    # The teacher (still a teacher after the restart) deletes A's run.
    t.goto(f"{url}/train?run={run_id}")
    wait_for_app(t)
    t.get_by_role("radio", name="Everything on this server").first.click()
    wait_for_app(t)
    t.get_by_test_id("stPopover").filter(has_text="Delete").get_by_role("button", name="Delete").click()
    t.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete").click()
    expect(t.get_by_text(re.compile(r"Deleted “"))).to_be_visible(timeout=10_000)
    assert not (server["runs"] / f"{run_id}.npz").exists() and (server["runs"] / f"{copy_id}.npz").exists()
    for context in contexts.values():
        context.close()
