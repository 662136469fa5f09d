"""The lessons' service (runner.learn): lesson files read strictly (a malformed one is unavailable with
the reason, the rest work), progress kept per person in the class database (SQLite and PostgreSQL),
predict-then-see (only runs after the answer count), a passed lesson keeping its numbers, a deleted
run named, a teacher's assignments, and the run service's records of a learner's runs."""
import re
import shutil
import time

import pytest

import mlp
from conftest import ALICE, BOB, TEACHER
from mlp.presets import PRESETS
from mlp.runs import RunMeta, Status
from mlp.training import Event
from runner.classes import ClassClosed, Classroom, NotTeacher
from runner.learn import (LESSONS_DIR, MAX_ACTIONS, PASSED, SKIPPED, Progress, RunRecord, Tutor, load_lessons,
                          records_of)
from runner.store import RunStore

SMALL = PRESETS["seed"].config.replace(train_size=1000, epochs=1)


@pytest.fixture
def room(database):
    return Classroom(database)                 # makes the tables (the class database's one schema)


@pytest.fixture
def progress(room):
    return Progress(room.db)


def record(lr, accuracy, created, status=Status.DONE, start=0.092, name=None):
    event = Event("epoch", 1.0, 1000, 0.1, lr, 0.1, accuracy, 0.1, accuracy)
    return RunRecord(f"{int(created * 1000):012x}", name or f"lr {lr:g}", status, created, SMALL.replace(lr=lr),
                     (event,) if status != Status.DIVERGED else (), start_accuracy=start,
                     error="Training diverged in epoch 1." if status == Status.DIVERGED else None)


class Runs:
    """A learner's runs as the run service would list them (the test changes ``runs``)."""

    def __init__(self):
        self.runs = []

    def __call__(self, person, since):
        return [r for r in self.runs if r.created >= since]


@pytest.fixture
def tutor(progress):
    return Tutor(progress, Runs())


def lesson(tutor, lesson_id="lr"):
    return tutor.lesson(lesson_id)


# ---- lesson files ----------------------------------------------------------------------------------------
BROKEN = {
    "should start with a front matter": lambda text: text.split("---", 2)[2],
    "front matter: goal: is missing": lambda text: re.sub(r"\ngoal:.*", "", text, count=1),
    "“nogoal: See": lambda text: text.replace("\ngoal:", "\nnogoal:", 1),
    "Predict: no option is marked": lambda text: text.replace("- [x]", "- [ ]"),
    "more than one option is marked": lambda text: text.replace("- [ ]", "- [x]", 1),
    "the section “Hint” is missing": lambda text: text.split("## Hint")[0],
    "unknown section": lambda text: text.replace("## Task", "## Tasks"),
    "lr='fast' ignored": lambda text: text.replace("&lr=0.00001", "&lr=fast"),
    "page: should be one of": lambda text: text.replace("page: train", "page: nowhere"),
    "larger than 64 kB": lambda text: text + "x" * 70_000,
}


def test_a_malformed_lesson_is_unavailable_with_its_reason_and_the_rest_work(tmp_path):
    folder = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, folder)
    text = (folder / "03-lr.md").read_text()
    for i, (reason, breaks) in enumerate(BROKEN.items(), start=11):
        (folder / f"{i}-broken{i}.md").write_text(breaks(text))
        shutil.copy(folder / "03-lr.py", folder / f"{i}-broken{i}.py")
    (folder / "30-nocheck.md").write_text(text)
    (folder / "31-syntax.md").write_text(text)
    (folder / "31-syntax.py").write_text("def check(work:\n")
    (folder / "32-binary.md").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (folder / "33-lr.md").write_text(text)
    (folder / "33-lr.py").write_text("")
    lessons = {l.number: l for l in load_lessons(folder)}
    assert all(lessons[n].available for n in range(1, 11))
    for i, reason in enumerate(BROKEN, start=11):
        assert not lessons[i].available
        assert reason in lessons[i].problem, (reason, lessons[i].problem)
    assert "its check, 30-nocheck.py, is missing" in lessons[30].problem
    assert "does not load (SyntaxError" in lessons[31].problem
    assert "not UTF-8" in lessons[32].problem
    assert "another lesson is also called “lr”" in lessons[33].problem


def test_an_edited_lesson_is_read_again_without_a_restart(tmp_path, progress):
    folder = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, folder)
    tutor = Tutor(progress, Runs(), folder=folder)
    assert tutor.lesson("lr").available
    time.sleep(0.01)
    (folder / "03-lr.py").write_text("raise RuntimeError('half edited')\n")
    assert "RuntimeError: half edited" in tutor.lesson("lr").problem
    assert tutor.lesson("seed").available


def test_a_check_that_fails_says_so_and_loses_nothing(tmp_path, progress):
    folder = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, folder)
    (folder / "03-lr.py").write_text("def check(work):\n    return 1 / 0\n")
    tutor = Tutor(progress, Runs(), folder=folder)
    state = progress.predict(ALICE, tutor.lesson("lr"), 0, now=10.0)
    verdict = tutor.check(ALICE, tutor.lesson("lr"), state)
    assert not verdict.passed and "could not be computed (ZeroDivisionError" in verdict.text
    assert progress.of(ALICE.owner)["lr"].state == "open"


# ---- predict, then see ---------------------------------------------------------------------------------
def test_only_runs_after_the_prediction_count_and_the_answer_stays(tutor, progress):
    runs = tutor.runs_of
    runs.runs = [record(1e-5, 0.086, 5.0), record(10.0, 0.0, 6.0, Status.DIVERGED)]    # before answering
    assert tutor.check(ALICE, lesson(tutor), progress.of(ALICE.owner).get("lr")) is None
    state = progress.predict(ALICE, lesson(tutor), 0, now=10.0)
    assert progress.predict(ALICE, lesson(tutor), 2, now=11.0).answer == 0         # predict once, then see
    verdict = tutor.check(ALICE, lesson(tutor), state)
    assert not verdict.passed and "Still missing" in verdict.text
    with pytest.raises(ValueError):
        progress.predict(ALICE, lesson(tutor, "seed"), 7)
    runs.runs += [record(1e-5, 0.086, 20.0, name="tiny"), record(0.1, 0.147, 21.0), record(1.0, 0.5, 22.0)]
    verdict = tutor.check(ALICE, lesson(tutor), progress.of(ALICE.owner)["lr"])
    assert not verdict.passed and verdict.tries == 2                           # the hint shows from here
    runs.runs.append(record(10.0, 0.0, 23.0, Status.DIVERGED, name="huge"))
    verdict = tutor.check(ALICE, lesson(tutor), progress.of(ALICE.owner)["lr"])
    assert verdict.passed and "“huge” diverged" in verdict.text
    kept = progress.of(ALICE.owner)["lr"]
    assert kept.state == PASSED and kept.summary == verdict.text and set(kept.uses.values()) == {"tiny", "huge"}
    runs.runs = []                                                             # every run deleted: still passed
    assert tutor.check(ALICE, lesson(tutor), progress.of(ALICE.owner)["lr"]).text == verdict.text
    assert "lr" not in progress.of(BOB.owner)                                  # progress is per person


def test_a_run_the_lesson_was_using_that_is_deleted_is_named(tutor, progress):
    state = progress.predict(ALICE, lesson(tutor), 0, now=10.0)
    tutor.runs_of.runs = [record(1e-5, 0.086, 20.0, name="my tiny rate")]
    assert not tutor.check(ALICE, lesson(tutor), state).passed
    assert list(progress.of(ALICE.owner)["lr"].uses.values()) == ["my tiny rate"]
    tutor.runs_of.runs = []
    verdict = tutor.check(ALICE, lesson(tutor), progress.of(ALICE.owner)["lr"])
    assert "Your run “my tiny rate”, which this lesson was using, has been deleted: train it again." in verdict.text


def test_a_run_still_training_or_failed_is_named_with_what_to_do(tutor, progress):
    state = progress.predict(ALICE, lesson(tutor, "overfit"), 2, now=10.0)
    few = PRESETS["fast"].config.replace(train_size=1000, epochs=20)
    tutor.runs_of.runs = [RunRecord("a" * 12, "going", Status.RUNNING, 20.0, few, live=True)]
    verdict = tutor.check(ALICE, lesson(tutor, "overfit"), state)
    assert verdict.waiting and "Your run “going” is still training (0 of 20 epochs done)" in verdict.text
    tutor.runs_of.runs = [RunRecord("b" * 12, "broke", Status.FAILED, 20.0, few, error="the worker died")]
    verdict = tutor.check(ALICE, lesson(tutor, "overfit"), state)
    assert not verdict.waiting and "Your run “broke” failed (the worker died): it shows nothing" in verdict.text


def test_skip_and_take_up_again_and_a_passed_lesson_stays_passed(tutor, progress):
    progress.skip(ALICE, "seed")
    assert progress.of(ALICE.owner)["seed"].state == SKIPPED
    progress.reopen(ALICE, "seed")
    assert progress.of(ALICE.owner)["seed"].state == "open"
    progress.mark_passed(ALICE, "unit", "cost 20 points", {})
    progress.skip(ALICE, "unit")
    assert progress.of(ALICE.owner)["unit"].state == PASSED


def test_actions_are_checked_kept_newest_first_and_bounded(progress):
    good = {"run": "model:seed", "run_name": "pretrained: seed", "epoch": 15.0, "off": [[0, 3]], "full": 0.9,
            "without": 0.8}
    for i in range(MAX_ACTIONS + 5):
        progress.record(ALICE, "units_off", {**good, "without": i / 100}, now=100.0 + i)
    kept = progress.actions(ALICE.owner, 0.0)
    assert len(kept) == MAX_ACTIONS and kept[0].data["without"] == (MAX_ACTIONS + 4) / 100
    assert progress.actions(ALICE.owner, 150.0) == kept[:5] and progress.actions(BOB.owner, 0.0) == []
    for bad in ({**good, "full": 1.5}, {**good, "off": "all"}, {**good, "extra": 1}, {"run": "x"}):
        with pytest.raises(ValueError, match="units_off action"):
            progress.record(ALICE, "units_off", bad)
    with pytest.raises(ValueError, match="not an action"):
        progress.record(ALICE, "pressed_done", {})


def test_rows_written_by_hand_are_read_back_checked(progress, room):
    with room.db.transaction() as tx:
        tx.execute("INSERT INTO lesson_progress VALUES (?, 'seed', -3, 'NaN', 'won', NULL, NULL, '[1, 2')",
                   (ALICE.owner,))
        tx.execute("INSERT INTO lesson_actions VALUES (?, 'units_off', 5.0, '{\"run\": 1}')", (ALICE.owner,))
    state = progress.of(ALICE.owner)["seed"]
    assert (state.answer, state.answered, state.state, state.uses) == (None, None, "open", {})
    assert progress.actions(ALICE.owner, 0.0) == []


# ---- a teacher's assignments ------------------------------------------------------------------------------
def test_a_teacher_assigns_lessons_and_the_students_see_them(room, progress):
    info = room.create(TEACHER, "Year 10")
    room.join(ALICE, info.code, "Alice")
    with pytest.raises(NotTeacher):
        room.assign(info.id, ["seed"], ALICE)
    with pytest.raises(ValueError):
        room.assign(info.id, ["../etc"], TEACHER)
    room.assign(info.id, ["seed", "lr", "seed"], TEACHER)
    assert room.assigned(info.id) == ["lr", "seed"]
    assert room.assigned_to(ALICE) == {"lr": ["Year 10"], "seed": ["Year 10"]} and room.assigned_to(BOB) == {}
    room.assign(info.id, ["overfit"], TEACHER)                                # replaces the list
    assert room.assigned(info.id) == ["overfit"]
    progress.mark_passed(ALICE, "overfit", "a gap of 14 points", {})
    assert progress.of_many([ALICE.owner, BOB.owner]) == {ALICE.owner: progress.of(ALICE.owner), BOB.owner: {}}
    room.close(info.id, TEACHER)
    with pytest.raises(ClassClosed):
        room.assign(info.id, ["seed"], TEACHER)
    assert room.assigned_to(ALICE) == {}


# ---- the run service's records of a learner's runs ---------------------------------------------------------
def test_records_are_read_from_the_saved_runs_of_their_owner_only(tmp_path, small_mnist):
    store = RunStore(tmp_path)
    trainer = mlp.Trainer(SMALL.replace(train_size=500), small_mnist)
    trainer.run()

    class NoJobs:
        def jobs(self):
            return []

    for owner, created in ((ALICE, 10.0), (ALICE, 30.0), (BOB, 30.0)):
        meta = RunMeta.of_training("a run", Status.DONE, created, trainer.results(), owner=owner.owner)
        store.save(f"{int(created) + len(owner.name):012x}", trainer.network, meta)
    found = records_of(store, NoJobs(), ALICE.owner, since=20.0)
    assert [r.created for r in found] == [30.0] and found[0].config == SMALL.replace(train_size=500)
    assert found[0].accuracies == [e.test_accuracy for e in trainer.history] and not found[0].live
    assert found[0].start_accuracy == trainer.progress[0].test_accuracy
    assert len(records_of(store, NoJobs(), ALICE.owner)) == 2
