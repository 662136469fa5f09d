"""Lessons 1, 3 and 7 in a real browser (Playwright, Debian's Chromium), as a learner goes through them:
predict, Set it up, train, be checked; two wrong tries bring the hint; progress survives a reload and
a restart of the server.

Lesson 1's seed run (all 60,000 images) trains while lessons 3 and 7 (1,000 images each) are done:
the learner's Train page leaves it training when a lesson sets up a new run."""
import re

from playwright.sync_api import expect

from conftest import button, nav, require_chromium, start_server, stop_server, wait_for_app, wait_until_saved


def main(page):
    return page.get_by_test_id("stMainBlockContainer")


def open_lesson(page, title):
    nav(page, "Learn")
    main(page).get_by_text(title, exact=False).first.click()
    wait_for_app(page)
    expect(main(page).get_by_role("heading", name=title)).to_be_visible()


def predict_and_set_up(page, option):
    main(page).get_by_text(option, exact=True).click()
    wait_for_app(page)
    button(page, "Lock in my prediction").click()
    wait_for_app(page)
    expect(main(page).get_by_text(f"Your prediction: {option}")).to_be_visible()
    button(page, "Set it up").click()
    wait_for_app(page)
    expect(page).to_have_url(re.compile(r"/train\?"))


def train(page, name):
    """Start a run called ``name`` and wait until it is saved (the page may still show the previous
    run's "Saved" for a moment after the click: the new run's name is what says it has started)."""
    page.get_by_placeholder("name for the next run (optional)").fill(name)
    page.get_by_placeholder("name for the next run (optional)").press("Enter")
    wait_for_app(page)
    button(page, "Start").click()
    expect(main(page).get_by_text(name).first).to_be_visible(timeout=20_000)
    wait_until_saved(page)


def slider(page, label):
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def set_select_slider(page, label, keys, tab=None):
    if tab:
        page.get_by_role("tab", name=tab).click()
    handle = slider(page, label)
    handle.focus()
    for key in keys:
        handle.press(key)
    wait_for_app(page)


def checked(page):
    """The lesson's verdict box (the success or the info under "Checked on your runs")."""
    return main(page).get_by_test_id("stAlertContainer")


def test_lessons_1_3_and_7_as_a_learner_goes_through_them(browser, tmp_path):
    require_chromium()
    runs = tmp_path / "runs"
    proc, url = start_server(tmp_path, runs, MLP_MAX_RUNNING="2")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        # 1. the seed network: predicted, set up, started, and paused while the next lessons are done (its
        # fifteen epochs take about 4 s with the compiled kernels, less than opening the Learn page may)
        page.goto(f"{url}/learn?lesson=seed")
        wait_for_app(page)
        expect(main(page).get_by_role("button", name="Set it up")).to_be_disabled()   # predict first
        predict_and_set_up(page, "Above 80%")
        expect(page).to_have_url(re.compile(r"lr=0\.02.*train_size=60000"))
        button(page, "Start").click()
        expect(page.get_by_text("training", exact=True).first).to_be_visible(timeout=20_000)
        button(page, "Pause").click()
        expect(page.get_by_text("paused", exact=True).first).to_be_visible(timeout=10_000)
        seed_run = re.search(r"run=([0-9a-f]{12})", page.url).group(1)
        nav(page, "Learn")
        expect(checked(page).get_by_text(re.compile(r"is still training \(\d+ of 15 epochs done\)"))).to_be_visible()

        # 3. the learning rate: too small, two wrong tries (the hint), then one that diverges
        open_lesson(page, "3. The learning rate")
        predict_and_set_up(page, "It stays where it started, about 10%: the weights hardly move")
        expect(page).to_have_url(re.compile(r"lr=1e-05.*train_size=1000"))
        train(page, "tiny rate")
        open_lesson(page, "3. The learning rate")
        expect(checked(page).get_by_text(
            re.compile(r"“tiny rate” shows one end\. Still missing: a run that diverged"))).to_be_visible()
        nav(page, "Train")                                          # as it was set up
        for steps, name in ((["End", "ArrowLeft"], "rate 5"), (["ArrowLeft", "ArrowLeft"], "rate 1")):  # both learn
            set_select_slider(page, "Learning rate", steps, tab="Optimisation")
            train(page, name)
        open_lesson(page, "3. The learning rate")
        expect(main(page).get_by_text(re.compile(r"Hint \(after 2 tries\)"))).to_be_visible()
        nav(page, "Train")
        set_select_slider(page, "Learning rate", ["End"], tab="Optimisation")          # 10: it diverges
        button(page, "Start").click()
        expect(page.get_by_text("diverged", exact=True).first).to_be_visible(timeout=30_000)
        open_lesson(page, "3. The learning rate")
        expect(checked(page).get_by_text(re.compile(r"Passed\. At a learning rate of 1e-05, your run .* went from"))) \
            .to_be_visible(timeout=10_000)
        expect(main(page).get_by_text(re.compile(r"You predicted It stays where it started.*: right"))).to_be_visible()

        # 7. overfitting: the gap on 1,000 images, then L2 narrows it
        open_lesson(page, "7. Overfitting")
        predict_and_set_up(page, "More than 10 points: it learns the 1,000 images almost perfectly")
        train(page, "no L2")
        open_lesson(page, "7. Overfitting")
        expect(checked(page).get_by_text(
            re.compile(r"“no L2” shows a gap of \d+\.\d points\. Now the same with L2"))).to_be_visible()
        nav(page, "Train")
        set_select_slider(page, "L2 weight decay", ["End", "ArrowLeft", "ArrowLeft", "ArrowLeft"], tab="Optimisation")
        expect(page).to_have_url(re.compile(r"l2=0\.03"))
        train(page, "with L2")
        open_lesson(page, "7. Overfitting")
        expect(checked(page).get_by_text(re.compile(r"Passed\. On 1,000 images .* the gap narrowed to"))) \
            .to_be_visible()

        # 1 again: resumed, the seed run passes 94% (at its ninth epoch), and the check sees it without a reload
        page.goto(f"{url}/train?run={seed_run}")
        wait_for_app(page)
        button(page, "Resume").click()
        expect(page.get_by_text("training", exact=True).first).to_be_visible(timeout=10_000)
        open_lesson(page, "1. The seed network, reproduced")
        expect(checked(page).get_by_text(re.compile(r"Passed\. Your run .* passed 94\.00% after epoch \d+, with "
                                                    r"94\.\d\d%"))).to_be_visible(timeout=120_000)
        expect(main(page).get_by_text("3 of 10 lessons passed")).to_be_visible()
        page.reload()
        wait_for_app(page)
        expect(main(page).get_by_text("3 of 10 lessons passed")).to_be_visible()
    finally:
        stop_server(proc)
    proc, url = start_server(tmp_path, runs)                         # a restart: the same browser
    try:
        page.goto(f"{url}/learn?lesson=lr")
        wait_for_app(page)
        expect(main(page).get_by_text("3 of 10 lessons passed")).to_be_visible()
        expect(checked(page).get_by_text(re.compile(r"Passed\. At a learning rate of 1e-05"))).to_be_visible()
        page.screenshot(path=str(tmp_path / "learn-after-restart.png"), full_page=True)
    finally:
        context.close()
        stop_server(proc)
