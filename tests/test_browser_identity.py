"""Three browsers on one server (Playwright, Debian's Chromium): student A, student B and a teacher.

B can watch A's run and open it by link, but has no control of it; B fine-tunes a copy of their own;
the teacher stops and deletes A's run; A stays A across a reload. (A across a server restart:
``test_browser_hardening.py``.)"""
import re

import numpy as np
from playwright.sync_api import expect

from conftest import TEACHER_KEY, browser_person, button, wait_for_app, wait_until_saved
from runner.digits import DigitStore

LONG = "train_size=60000&epochs=200"                # the seed network: ~0.3 s an epoch, so it still trains when stopped


def identity_cookie(context):
    (cookie,) = [c for c in context.cookies() if c["name"] == "mlp_owner"]
    return cookie


def open_panel(page):
    page.get_by_test_id("stSidebar").get_by_test_id("stPopoverButton").first.click()


def test_three_browsers_a_student_another_student_and_a_teacher(browser, streamlit_server):
    url, runs = streamlit_server["url"], streamlit_server["runs"]
    contexts = {who: browser.new_context(viewport={"width": 1500, "height": 1100}) for who in "ABT"}
    a, b, t = (contexts[who].new_page() for who in "ABT")

    # A starts a long run and pauses it (so it holds no core while the browsers work); A has a collection.
    # A's browser has its own HttpOnly, Lax cookie.
    a.goto(f"{url}/train?{LONG}")
    wait_for_app(a)
    button(a, "Start").click()
    expect(a.get_by_text("training", exact=True)).to_be_visible(timeout=20_000)
    button(a, "Pause").click()
    expect(a.get_by_text("paused", exact=True)).to_be_visible(timeout=20_000)
    expect(a).to_have_url(re.compile(r"run=[0-9a-f]{12}"))
    run_id = re.search(r"run=([0-9a-f]{12})", a.url).group(1)
    cookie_a = identity_cookie(contexts["A"])
    assert cookie_a["httpOnly"] and cookie_a["sameSite"] == "Lax" and re.fullmatch(r"[0-9a-f]{32}", cookie_a["value"])
    assert cookie_a["value"] not in a.content() and cookie_a["value"] not in a.url
    assert a.evaluate("document.cookie").find(cookie_a["value"]) == -1          # no page script can read it
    digits = DigitStore(runs)                          # A's collection (Draw's Keep: test_browser_my_digits)
    collection = digits.create(browser_person(a, runs), "A's digits")
    digits.add(collection, np.full(784, 0.5), np.zeros((280, 280)), 1, browser_person(a, runs))
    a.goto("about:blank")                              # a page not in use polls nothing

    # B, fresh: none of A's work by default; by link, A's run read-only, without controls.
    b.goto(f"{url}/my_digits")
    wait_for_app(b)
    expect(b.get_by_text("You have no collection yet")).to_be_visible()
    b.goto(f"{url}/train?run={run_id}")
    wait_for_app(b)
    expect(b.get_by_text(re.compile(r"This run is another learner's .*you can watch it"))).to_be_visible()
    expect(button(b, "Train my own")).to_be_visible()          # drawn with the controls' row, in its place
    assert [button(b, control).count() for control in ("Pause", "Resume", "Step one epoch", "Stop")] == [0] * 4
    expect(b.get_by_text("paused", exact=True)).to_be_visible()
    b.get_by_role("tab", name="Optimisation").click()
    lr = b.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
    expect(lr).to_be_disabled()
    b.goto(f"{url}/my_digits?digits={collection}")
    wait_for_app(b)
    expect(b.get_by_text(re.compile(r"This collection is another learner's"))).to_be_visible()
    expect(b.get_by_label("Name", exact=True)).to_be_disabled()
    assert button(b, "Delete").count() == 0                    # (the gallery is drawn with the name)

    b.goto("about:blank")

    # The teacher enters the key once on the identity panel, then stops A's run from its link.
    t.goto(url)
    wait_for_app(t)
    open_panel(t)
    t.get_by_label("Teacher key", exact=True).fill(TEACHER_KEY)
    t.get_by_role("button", name="Become a teacher").click()
    expect(t.get_by_text("You are a teacher on this server")).to_be_visible(timeout=10_000)
    t.goto(f"{url}/train?run={run_id}")
    wait_for_app(t)
    expect(t.get_by_text(re.compile(r"as a teacher you may change it"))).to_be_visible()
    button(t, "Stop").click()
    expect(t.locator(".stMarkdownBadge").filter(has_text=re.compile(r"^stopped$"))).to_be_visible(timeout=30_000)
    t.goto("about:blank")

    # A's page says it stopped, and A's list shows it as A's.
    a.goto(f"{url}/train?run={run_id}")
    wait_for_app(a)
    expect(a.locator(".stMarkdownBadge").filter(has_text=re.compile(r"^stopped$"))).to_be_visible(timeout=20_000)
    expect(a.get_by_test_id("stDataFrame").filter(has_text="you")).to_be_visible()

    # B fine-tunes a copy of their own from A's saved run; it is B's.
    b.goto(f"{url}/train?run={run_id}&train_size=1000&epochs=1")
    wait_for_app(b)
    b.get_by_role("radio", name="Everything on this server").first.click()      # A's run in B's list
    wait_for_app(b)
    for control in ("Rename", "Delete"):                                        # shown, but not B's to use
        expect(b.get_by_test_id("stPopover").filter(has_text=control).get_by_role("button").first).to_be_disabled()
    button(b, "Fine-tune a copy of my own").click()
    wait_for_app(b)
    button(b, "Start").click()
    wait_until_saved(b)
    expect(b.get_by_text(re.compile(r"Fine-tuning: started from"))).to_be_visible(timeout=20_000)
    copy_id = re.search(r"run=([0-9a-f]{12})", b.url).group(1)
    assert copy_id != run_id

    # A stays A after a reload (the same cookie); B's copy is B's.
    a.reload()
    wait_for_app(a)
    assert identity_cookie(contexts["A"])["value"] == cookie_a["value"]
    expect(a.get_by_test_id("stDataFrame").filter(has_text="owner")).to_contain_text("you", timeout=20_000)
    b.goto(f"{url}/train")
    wait_for_app(b)
    expect(b.get_by_test_id("stDataFrame").filter(has_text="owner")).to_contain_text("you")

    # The teacher deletes A's run.
    t.goto(f"{url}/train?run={run_id}")
    wait_for_app(t)
    t.get_by_role("radio", name="Everything on this server").first.click()
    wait_for_app(t)
    t.get_by_test_id("stPopover").filter(has_text="Delete").get_by_role("button", name="Delete").click()
    t.get_by_test_id("stPopoverBody").get_by_role("button", name="Delete").click()
    expect(t.get_by_text(re.compile(r"Deleted “"))).to_be_visible(timeout=10_000)
    assert not (runs / f"{run_id}.npz").exists() and (runs / f"{copy_id}.npz").exists()
    for context in contexts.values():
        context.close()
