"""Pictures of every page, taken from the running app in headless Chromium (Debian's /usr/bin/chromium).

    python -m mlp train --preset robust --out /tmp/robust.npz   # once: the robust run Evaluate's picture compares
    python bench/screenshots.py --robust /tmp/robust.npz     # the README's pictures: bench/pictures/*.png
    python bench/screenshots.py --out /tmp/look --sizes 390x844,1280x800,1920x1080 --full
    python bench/screenshots.py --out /tmp/phone --sizes 390x844 --full --phone

It starts the app on 127.0.0.1 with an empty runs folder, trains a seed-preset run on all 60,000 images
from the Train page (the picture of Train is taken while it trains), then visits Hidden weights,
Evaluate (with a cell of the confusion matrix clicked), Draw (a "3" drawn with the mouse), My digits
(that drawing kept), How it computes (the diagram, then one step of backprop applied ten times, then the last
hidden layer's map), Dreams and adversaries (the shipped wide network's dreams, then the drawn 3 nudged until it is
misread), Evaluate's adversarial curves of the ``--robust`` run beside wide (when given) and Home; then Learn
(lesson 3 passed on two runs of the learner's), and Class as a teacher and a student.
The README's pictures are these, at 1280×800: rerun the command after a change to the UI.
"""
import argparse
import math
import re
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

from server import start_server, wait_for_app  # noqa: E402

PICTURES = ROOT / "bench" / "pictures"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def settle(page):
    wait_for_app(page, timeout=60_000)


def main_button(page, name):
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def draw_three(page):
    canvas = page.locator("[data-testid='stBidiComponentIsolated']").first.locator("canvas.upper-canvas")
    canvas.wait_for(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    arcs = [(140 + 55 * math.sin(t * math.pi / 10), 85 - 45 * math.cos(t * math.pi / 10)) for t in range(-6, 11)]
    arcs += [(140 + 60 * math.sin(t * math.pi / 10), 185 - 50 * math.cos(t * math.pi / 10)) for t in range(0, 17)]
    page.mouse.move(box["x"] + arcs[0][0], box["y"] + arcs[0][1])
    page.mouse.down()
    for x, y in arcs[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.mouse.up()
    page.get_by_role("heading", name="The network reads").or_(
        page.get_by_role("heading", name="I don't know")).first.wait_for(timeout=30_000)


def take(page, folder, name, size, full):
    """A picture of the page at ``size``; with ``full``, the window is made as tall as the page (the
    app scrolls inside its main section, so a browser's "full page" shot would stop at the window).
    The mouse is moved off the page first: a hovered element shows its toolbar."""
    page.mouse.move(1, size[1] - 1)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.wait_for_timeout(800)                    # let charts finish drawing
    if full:
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": size[0], "height": min(max(size[1], height + 40), 8000)})
        page.wait_for_timeout(800)
    path = folder / (f"{name}{size[0]}x{size[1]}.png" if name.endswith("-") else f"{name}.png")
    page.screenshot(path=str(path))
    print(path)


def nav(page, name):
    """Go to a page through the sidebar, opening it first where a narrow window keeps it closed."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True)
    on_screen = "e => { const b = e.getBoundingClientRect(); return b.width > 0 && b.right > 0 && b.left < innerWidth; }"
    if not (link.count() and link.evaluate(on_screen)):
        page.get_by_test_id("stExpandSidebarButton").click()
        page.wait_for_timeout(400)                   # the sidebar slides in
    link.click()


def to_top(page, locator):
    locator.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)


def computes(page, every_size):
    """How it computes: the diagram, the microscope after ten steps, the map of the last hidden layer."""
    nav(page, "How it computes")
    settle(page)
    number = page.get_by_label("Test digit number (0–9,999)")
    number.fill("8")
    number.press("Enter")
    settle(page)
    to_top(page, page.get_by_role("tablist"))
    every_size("computes")
    page.get_by_role("tab", name="One step of backprop").click()
    main_button(page, "Apply 10 steps").click()
    settle(page)
    to_top(page, page.get_by_role("heading", name="One weight, by the chain rule"))
    every_size("backprop")
    page.get_by_role("tab", name="What each layer sees").click()
    settle(page)
    to_top(page, page.get_by_role("tablist"))
    every_size("layers")


def pick(page, label, option):
    """Choose ``option`` in the selectbox whose text starts with ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=re.compile(rf"^{re.escape(label)}")).first
    if option not in box.locator("input").first.input_value():            # (not chosen already)
        box.click()
        page.get_by_role("option", name=option).first.click(timeout=10_000)
    settle(page)


def dreams(page, every_size):
    """Dreams and adversaries on the shipped wide network: the ten digits' dreams, then the drawn 3 nudged."""
    nav(page, "Dreams and adversaries")
    settle(page)
    pick(page, "Run", "pretrained: wide (shipped with the app)")
    page.get_by_text("Press Replay to watch them grow").wait_for(timeout=60_000)
    to_top(page, page.get_by_role("tablist"))
    every_size("dreams")
    page.get_by_role("tab", name="Adversarial nudges").click()
    settle(page)
    page.get_by_test_id("stMainBlockContainer").get_by_text("my drawing", exact=True).click()
    settle(page)
    page.get_by_text("Fooled after").wait_for(timeout=30_000)
    to_top(page, page.get_by_role("tablist"))
    every_size("adversary")


def adversarial_curves(page, every_size, runs_dir, robust):
    """Evaluate's adversarial-accuracy curve: a robust preset's run (the file ``robust``, uploaded as this
    browser's) beside the shipped wide network."""
    from runner.identity import Identities
    from runner.store import RunStore

    (token,) = [c["value"] for c in page.context.cookies() if c["name"] == "mlp_owner"]
    person = Identities(runs_dir).of_token(token)
    for path, name in ((Path(robust), "robust.npz"), (ROOT / "models" / "wide.npz", "shipped wide.npz")):
        RunStore(runs_dir).import_bytes(path.read_bytes(), name, person)   # Evaluate compares saved runs
    nav(page, "Evaluate")
    settle(page)
    pick(page, "Run", "robust")
    pick(page, "Compare with", "wide")
    heading = page.get_by_role("heading", name="Adversarial accuracy: digits nudged on purpose")
    page.get_by_text("A change of 0.1 is barely visible").wait_for(timeout=120_000)
    to_top(page, heading)
    every_size("adversarial")


PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.0 Mobile/15E148 Safari/604.1")
"""A phone's User-Agent (with "Mobi"): the app then lays pages out for a phone (``ui.narrow``)."""


def tour(browser, url, folder, sizes, full, phone=False, runs_dir=None, robust=None):
    page = browser.new_page(viewport={"width": sizes[0][0], "height": sizes[0][1]},
                            **({"user_agent": PHONE_AGENT} if phone else {}))

    def every_size(name):
        for size in sizes:
            take(page, folder, name if len(sizes) == 1 and not full else f"{name}-", size, full)

    page.goto(f"{url}/train?epochs=60")
    settle(page)
    main_button(page, "Start").click()
    page.get_by_text("training", exact=True).wait_for(timeout=30_000)
    page.wait_for_timeout(5000)
    every_size("train")
    main_button(page, "Stop").click()
    page.get_by_text("Saved to the runs list below.").wait_for(timeout=120_000)
    settle(page)
    for path, name in (("weights", "weights"), ("evaluate", "evaluate")):
        nav(page, {"weights": "Hidden weights", "evaluate": "Evaluate"}[path])
        settle(page)
        every_size(name)
    nav(page, "Draw")
    settle(page)
    page.set_viewport_size({"width": max(sizes[0][0], 1024), "height": max(sizes[0][1], 800)})
    draw_three(page)
    settle(page)
    every_size("draw")
    main_button(page, "Keep this drawing").click()
    settle(page)
    nav(page, "My digits")
    settle(page)
    every_size("mydigits")
    computes(page, every_size)
    dreams(page, every_size)
    if robust:
        adversarial_curves(page, every_size, runs_dir, robust)
    nav(page, "Home")
    settle(page)
    every_size("home")
    page.close()


def learn_tour(browser, url, folder, sizes, full, phone=False):
    """The Learn page as a learner sees it: lesson 3 passed on their own two runs (one at a learning
    rate too small to do anything in an epoch, one so large it diverged)."""
    agent = {"user_agent": PHONE_AGENT} if phone else {}
    context = browser.new_context(viewport={"width": max(sizes[0][0], 1024), "height": 800}, **agent)
    page = context.new_page()
    page.goto(f"{url}/learn?lesson=lr")
    settle(page)
    page.get_by_test_id("stMainBlockContainer").get_by_text(
        "It stays where it started, about 10%: the weights hardly move", exact=True).click()
    settle(page)
    main_button(page, "Lock in my prediction").click()
    settle(page)
    main_button(page, "Set it up").click()
    settle(page)
    for last in (False, True):
        main_button(page, "Start").click()
        page.get_by_text("Saved to the runs list below.").wait_for(timeout=60_000)
        settle(page)
        if not last:
            page.get_by_role("tab", name="Optimisation").click()
            slider = page.get_by_test_id("stSlider").filter(has_text="Learning rate").get_by_role("slider")
            slider.focus()
            slider.press("End")
            settle(page)
    page.goto(f"{url}/learn?lesson=lr")              # (a fresh load: a phone's sidebar starts closed)
    settle(page)
    page.get_by_text("Passed. At a learning rate").wait_for(timeout=30_000)
    for size in sizes:
        take(page, folder, "learn" if len(sizes) == 1 and not full else "learn-", size, full)
    context.close()


CLASS_NAMES = ["Ada", "Alan", "Grace", "Katherine", "Edsger", "Barbara", "Donald", "Frances"]
LONG_RUN = "train?train_size=20000&epochs=40"


def class_tour(browser, url, runs_dir, folder, sizes, full, phone=False):
    """The Class page as a teacher sees it: a class of eight with saved runs, a challenge with its
    leaderboard, and two students training now (their pages started the runs)."""
    from classroom import make_class

    teacher_token, _, students = make_class(runs_dir, len(CLASS_NAMES), names=CLASS_NAMES)
    agent = {"user_agent": PHONE_AGENT} if phone else {}
    for token, _ in students[:2]:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "mlp_owner", "value": token, "url": url}])
        student = context.new_page()
        student.goto(f"{url}/{LONG_RUN}")
        settle(student)
        main_button(student, "Start").click()
        settle(student)
        student.goto("about:blank")
    context = browser.new_context(viewport={"width": sizes[0][0], "height": sizes[0][1]}, **agent)
    context.add_cookies([{"name": "mlp_owner", "value": teacher_token, "url": url}])
    page = context.new_page()
    page.goto(f"{url}/class")
    settle(page)
    page.wait_for_timeout(4000)                     # a few refreshes of the dashboard: curves under way
    for size in sizes:
        take(page, folder, "class" if len(sizes) == 1 and not full else "class-", size, full)
    context.close()
    context = browser.new_context(viewport={"width": sizes[0][0], "height": sizes[0][1]}, **agent)
    context.add_cookies([{"name": "mlp_owner", "value": students[2][0], "url": url}])
    page = context.new_page()                        # a student: the challenge, and a run entered in it
    page.goto(f"{url}/class")
    settle(page)
    for size in sizes:
        take(page, folder, "class-student" if len(sizes) == 1 and not full else "class-student-", size, full)
    main_button(page, "Train a run for this challenge").click()
    settle(page)
    for size in sizes:
        take(page, folder, "class-train" if len(sizes) == 1 and not full else "class-train-", size, full)
    context.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(PICTURES), help="folder for the pictures (default: bench/pictures)")
    parser.add_argument("--sizes", default="1280x800", help="window sizes, e.g. 390x844,1280x800,1920x1080")
    parser.add_argument("--full", action="store_true", help="whole pages instead of the first screen")
    parser.add_argument("--phone", action="store_true", help="say the browser is a phone (its User-Agent)")
    parser.add_argument("--only-class", action="store_true", help="only the Class page")
    parser.add_argument("--only-learn", action="store_true", help="only the Learn page")
    parser.add_argument("--robust", help="a robust-preset run (python -m mlp train --preset robust --out FILE): "
                        "Evaluate's adversarial curves show it beside the shipped wide network")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    from classroom import KEY

    runs_dir = Path(tempfile.mkdtemp()) / "runs"
    proc, url = start_server(runs_dir, MLP_MAX_RUNNING="1", MLP_TEACHER_KEY=KEY,
                             MLP_TIMING_LOG=os.environ.get("MLP_TIMING_LOG", ""))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            if not (args.only_class or args.only_learn):
                tour(browser, url, folder, sizes, args.full, args.phone, runs_dir, args.robust)
            if not args.only_class:
                learn_tour(browser, url, folder, sizes, args.full, args.phone)
            if not args.only_learn:
                class_tour(browser, url, runs_dir, folder, sizes, args.full, args.phone)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
