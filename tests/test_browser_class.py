"""A class in three browsers (Playwright, Debian's Chromium): a teacher and two students.

The teacher makes a class and sets a challenge; the students join by code (one by the join link);
the dashboard shows both, live; a challenge run over budget is refused before it starts; the
leaderboard orders the finished runs by the public half; the reveal shows the private half."""
import re

from playwright.sync_api import expect

from conftest import TEACHER_KEY, browser_person, button, nav, wait_for_app, wait_until_saved
from runner.classes import Classroom
from runner.database import open_database
from runner.identity import Identities
from runner.store import RunStore

WITHIN = ("train_size=3000&epochs=2&layers=784-16-10&activation=relu&output=softmax&loss=cross_entropy"
          "&optimizer=adam&lr=0.003&batch_size=32&init=he&shuffle=1")


def become_teacher(page, url, runs):
    """The teacher key entered once (the identity panel's part is test_browser_identity's)."""
    page.goto(url)
    wait_for_app(page)
    identities = Identities(runs, TEACHER_KEY)
    identities.claim_teacher(browser_person(page, runs), TEACHER_KEY)


def join(page, url, name, code=None, link=None):
    page.goto(link or f"{url}/class")
    wait_for_app(page)
    if code:
        page.get_by_label("Class code", exact=True).fill(code)
    page.get_by_label("Your name in the class", exact=True).fill(name)
    button(page, "Join").click()
    expect(page.get_by_text(re.compile(r"You joined “Period 3”"))).to_be_visible(timeout=10_000)


def challenge_run(page, url, settings):
    """From a Train page with ``settings``, to the Class page's "Train a run for this challenge", back
    on Train with the challenge chosen; returns the Train page."""
    page.goto(f"{url}/train?{settings}")
    wait_for_app(page)
    nav(page, "Class")
    button(page, "Train a run for this challenge").click()
    wait_for_app(page)
    expect(page.get_by_text("Enter the next run in")).to_be_visible(timeout=10_000)


def bens_run(room, challenge, runs, ben):
    """A finished challenge run of Ben's, entered and saved as his worker would have."""
    import mlp
    from mlp.data import TEST_HALVES
    from mlp.runs import RunMeta
    from runner.store import new_run_id

    config = mlp.TrainConfig(layers=(784, 12, 10), activation="relu", output="softmax", loss="cross_entropy",
                             optimizer="adam", lr=0.003, batch_size=32, epochs=2, init="he", train_size=3000, seed=7)
    x_train, y_train, x_test, y_test = mlp.load_mnist()
    public = TEST_HALVES["public"]
    trainer = mlp.Trainer(config, (x_train, y_train, x_test[public], y_test[public])).run()
    run_id = new_run_id()
    room.enter(challenge.id, run_id, config, ben)
    RunStore(runs).save(run_id, trainer.copy_network(), RunMeta.of_training(
        "Ben's run", trainer.status, 0.0, trainer.results(), owner=ben.owner, owner_name=ben.name,
        challenge=challenge.id))


def in_order(grid, names):
    """``names`` in the order the dataframe ``grid`` shows them (its cells' text, row by row)."""
    text = grid.text_content()
    return sorted(names, key=text.index)


def test_a_teacher_and_two_students_run_a_class_challenge(browser, streamlit_server):
    url, runs = streamlit_server["url"], streamlit_server["runs"]
    contexts = [browser.new_context(viewport={"width": 1500, "height": 1100}) for _ in range(3)]
    teacher, ana, ben = (c.new_page() for c in contexts)

    become_teacher(teacher, url, runs)
    teacher.goto(f"{url}/class")
    wait_for_app(teacher)
    teacher.get_by_label("New class", exact=True).fill("Period 3")
    button(teacher, "Make the class").click()
    expect(teacher.get_by_text(re.compile(r"“Period 3” is ready"))).to_be_visible(timeout=10_000)
    code = teacher.get_by_test_id("stMetricValue").first.inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{3}-[2-9A-HJKMNP-Z]{3}", code)
    link = teacher.get_by_test_id("stCode").first.inner_text().strip()
    assert link.endswith(f"/class?code={code.replace('-', '')}")
    teacher.get_by_label("Title", exact=True).fill("Small and quick")
    teacher.get_by_label("Most epochs", exact=True).fill("3")
    button(teacher, "Start the challenge").click()
    expect(teacher.get_by_text(re.compile(r"The challenge “Small and quick” is on"))).to_be_visible(timeout=10_000)

    join(ana, url, "Ana", link=link)                     # the join link fills in the code
    join(ben, url, "Ben <i>", code=code.lower())
    dashboard = teacher.get_by_test_id("stDataFrame").filter(has_text="Test accuracy so far")
    expect(dashboard).to_contain_text("Ana", timeout=15_000)          # polled in: no reload
    expect(dashboard).to_contain_text("Ben <i>")

    # Ben's first try, with the seed's 15 epochs, is over budget: refused before it starts, saying which limit.
    button(ben, "Train a run for this challenge").click()
    wait_for_app(ben)
    expect(ben.get_by_text(re.compile(r"Over the budget, so it would not start"))).to_be_visible(timeout=10_000)
    button(ben, "Start").click()
    expect(ben.get_by_text(re.compile(r"Not started: this run is over the challenge's budget: it trains 15 "
                                      r"epochs; the challenge allows at most 3"))).to_be_visible(timeout=10_000)
    ben_owner = browser_person(ben, runs).owner
    assert all(info.owner != ben_owner for info in RunStore(runs).list())          # nothing started, nothing kept

    # Ana trains a run within the budget from her page; Ben's finished one is put in the runs folder as a
    # run of his (trained by the engine, as his worker would). The dashboard shows both, polled in.
    challenge_run(ana, url, WITHIN)
    button(ana, "Start").click()
    expect(ana.get_by_text(re.compile(r"A class challenge run: its test accuracy is measured on the public half"))
           ).to_be_visible(timeout=20_000)
    room = Classroom(open_database(runs))
    [info] = room.classes()
    challenge = room.challenge(info.id)
    bens_run(room, challenge, runs, browser_person(ben, runs))
    wait_until_saved(ana, timeout=120_000)
    expect(dashboard).not_to_contain_text(re.compile(r"running|queued|no run yet"), timeout=20_000)
    expect(dashboard).to_contain_text(re.compile(r"Ana\s*done.*Ben <i>\s*done", re.S))

    # The leaderboard: both, ordered by the public half, the private half hidden; then the reveal.
    board = teacher.get_by_test_id("stDataFrame").filter(has_text="Public half")
    expect(board).to_contain_text("Ben <i>", timeout=20_000)
    expect(board).to_contain_text("Ana")
    expect(board).not_to_contain_text("Private half")
    expected = [s.name for s in room.leaderboard(challenge.id)]
    assert in_order(board, ["Ana", "Ben <i>"]) == expected and len(expected) == 2
    publics = [s.public for s in room.leaderboard(challenge.id)]
    assert publics == sorted(publics, reverse=True)
    button(teacher, "Reveal the private half").click()
    expect(teacher.get_by_text("The private half is revealed")).to_be_visible(timeout=10_000)
    expect(board).to_contain_text("Private half", timeout=10_000)
    expect(board).to_contain_text("Moved")
    mine = ana.get_by_test_id("stDataFrame").filter(has_text="Public half")       # Ana's page, polled too
    nav(ana, "Class")
    expect(mine).to_contain_text("Private half", timeout=10_000)
    expect(mine).to_contain_text("Ana (you)")
    assert all(s.private is not None for s in room.leaderboard(challenge.id))
    for context in contexts:
        context.close()
