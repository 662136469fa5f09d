"""The Class page and the challenge on Train (AppTest): a teacher makes a class, students join by code,
the dashboard lists them with their runs, a run over budget is refused before it starts, the leaderboard
hides the private half until the reveal; faults of the class database are said, not raised."""
import time

import pytest

import mlp
from apptest_helpers import BROWSER_A, BROWSER_B, as_teacher, learner, open_page, registry, shown, wait_until
from mlp.runs import RunMeta, Status
from runner.classes import Budget, JoinRefused
from runner.database import Unavailable
from runner.store import RunStore

CLASS, TRAIN, EVALUATE = "pages/class.py", "pages/train.py", "pages/evaluate.py"
HOSTILE = "**Bo** <b>b</b> :red[x]"
SMALL = {"train_size": "2000", "epochs": "2", "batch_size": "32", "layers": "784-16-10", "optimizer": "adam",
         "lr": "0.003", "activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"}


def _classroom():
    from ui import state

    return state.classroom()


def make_class(monkeypatch, title="Year 10"):
    """A teacher's session that made a class on the page; returns (session, ClassInfo)."""
    teacher = open_page(CLASS, token=as_teacher(monkeypatch))
    teacher.text_input(key="new_class_title").set_value(title)
    teacher.button[0].click().run()               # the form's submit button: "Make the class"
    [info] = _classroom().classes()
    assert f"give your students the code {info.shown_code}" in shown(teacher.success)
    assert teacher.metric[0].value == info.shown_code and f"?code={info.code}" in teacher.code[0].value
    return teacher, info


def join(token, code, name, query=None):
    student = open_page(CLASS, token=token, query=query)
    if code is not None:
        student.text_input(key="join_code").set_value(code)
    student.text_input(key="join_name").set_value(name)
    student.button[0].click().run()
    return student


def test_students_join_by_code_and_the_dashboard_lists_them_as_typed(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    alice = join(BROWSER_A, None, "Alice", query={"code": info.code.lower()})    # from the join link
    assert alice.text_input(key="join_code").value == info.shown_code
    assert "You joined “Year 10”" in shown(alice.success) and "as **Alice**" in shown(alice.markdown)
    bob = join(BROWSER_B, info.shown_code, HOSTILE)
    assert "You joined" in shown(bob.success)
    teacher.run()
    table = next(df.value for df in teacher.dataframe)
    assert table["student"].tolist() == [HOSTILE, "Alice"] and table["status"].tolist() == ["no run yet"] * 2
    assert "Students (2)" in shown(teacher.subheader)
    assert not teacher.exception and not any("<b>" in m.value and "\\<" not in m.value for m in teacher.markdown)


def test_a_wrong_code_is_refused_then_paused_and_a_learner_cannot_make_a_class(runs_dir, monkeypatch):
    _, info = make_class(monkeypatch)
    alice = join(BROWSER_A, "ZZZ-ZZ2" if info.code != "ZZZZZ2" else "ZZZ-ZZ3", "Alice")
    assert "Not joined: no class has the code" in shown(alice.error) and "9 tries left" in shown(alice.error)
    for _ in range(9):
        alice.button[0].click().run()
    alice.text_input(key="join_code").set_value(info.code).run()
    alice.button[0].click().run()
    assert "too many wrong class codes from you: try again in 10 minutes" in shown(alice.error)
    assert _classroom().roster(info.id) == []
    assert "new_class_title" not in [t.key for t in alice.text_input]     # no class-making form for a learner


def test_a_challenge_run_over_budget_is_refused_and_one_within_it_is_entered(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    join(BROWSER_A, info.code, "Alice")
    teacher.text_input(key="ch_title").set_value("Small and quick")
    teacher.number_input(key="ch_weights").set_value(15_000)
    teacher.number_input(key="ch_epochs").set_value(3)
    teacher.multiselect(key="ch_fixed").set_value(["activation"])
    teacher.selectbox(key="ch_preset").set_value("fast")
    next(b for b in teacher.button if b.label == "Start the challenge").click().run()
    challenge = _classroom().challenge(info.id)
    assert challenge.title == "Small and quick" and challenge.budget.fixed == {"activation": "leaky_relu"}

    student = open_page(CLASS, token=BROWSER_A)
    assert "Challenge: Small and quick" in shown(student.subheader)
    next(b for b in student.button if b.label == "Train a run for this challenge").click().run()
    student.switch_page(TRAIN).run()
    assert student.selectbox(key="challenge_entry").value == challenge.id
    assert "Over the budget" in shown(student.warning) and "activation is sigmoid" in shown(student.warning)
    student.button(key="start").click().run()
    assert "Not started: this run is over the challenge's budget" in shown(student.error)
    assert "the challenge allows at most 3" in shown(student.error) and registry().jobs() == []

    within = open_page(TRAIN, token=BROWSER_A, query={**SMALL, "activation": "leaky_relu"})
    within.selectbox(key="challenge_entry").set_value(challenge.id).run()
    assert "Over the budget" not in shown(within.warning)
    within.button(key="start").click().run()
    job = registry().get(within.session_state["current_run"])
    assert job.challenge == challenge.id and _classroom().pending(challenge.id) == [job.id]
    assert "public half of the test set" in shown(within.caption)
    assert job.join(120)
    within.switch_page(EVALUATE).run()
    assert [m.value for m in within.metric][2] == "5,000"            # the public half only
    assert "class challenge run" in shown(within.info)


def _finished_entry(challenge, person, public_private, run_id):
    """A challenge run of ``person`` saved as finished, with made-up weights and scores."""
    from ui import state

    _classroom().enter(challenge.id, run_id, mlp.TrainConfig(epochs=2), person)
    RunStore(state.RUNS_DIR).save(run_id, mlp.Network((784, 16, 16, 10), seed=int(run_id[-1])),
                                  RunMeta("entry", Status.DONE, owner=person.owner, challenge=challenge.id))
    _classroom().record(challenge.id, run_id, public_private)


def leaderboard(at):
    return next(df.value for df in at.dataframe if "public half" in df.value.columns)


def test_the_leaderboard_shows_the_public_half_then_the_reveal_shows_who_climbed(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    join(BROWSER_A, info.code, "Alice")
    join(BROWSER_B, info.code, "Bob")
    from runner.identity import Identities
    from ui import state

    challenge = _classroom().set_challenge(info.id, Identities(state.RUNS_DIR, "the teacher's key").of_token("c0" * 16),
                                           "Best", Budget(max_epochs=5), time.time() + 600)
    _finished_entry(challenge, learner(BROWSER_A), (0.95, 0.90), "aaaaaaaaaaa1")
    _finished_entry(challenge, learner(BROWSER_B), (0.93, 0.96), "bbbbbbbbbbb2")
    student = open_page(CLASS, token=BROWSER_A)
    board = leaderboard(student)
    assert board["student"].tolist() == ["Alice (you)", "Bob"] and "private half" not in board.columns
    teacher.run()
    next(b for b in teacher.button if b.label == "Reveal the private half").click().run()
    assert "The private half is revealed" in shown(teacher.success)
    board = leaderboard(teacher)
    assert board["private rank"].tolist() == [2, 1] and board["moved"].tolist() == ["▼ 1", "▲ 1"]


def test_the_teacher_stops_a_students_run_and_removes_the_student(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    join(BROWSER_A, info.code, "Alice")
    student = open_page(TRAIN, token=BROWSER_A, query={**SMALL, "epochs": "60", "batch_size": "1"})
    student.button(key="start").click().run()
    job = registry().get(student.session_state["current_run"])
    assert wait_until(lambda: job.samples_seen > 0, timeout=60)
    teacher.run()
    table = next(df.value for df in teacher.dataframe)
    assert table["status"].tolist() == ["running"] and table["open"].tolist() == [f"train?run={job.id}"]
    teacher.button(key="stop_student_run").click().run()
    assert "Alice's run is stopping" in shown(teacher.success)
    assert job.join(60) and job.status == Status.STOPPED
    teacher.button(key="remove_student").click().run()
    assert "Alice is no longer in the class; their runs stay theirs" in shown(teacher.success)
    assert _classroom().roster(info.id) == [] and registry().store.exists(job.id)
    assert registry().store.info(job.id).owner == learner(BROWSER_A).owner


def test_a_class_database_that_cannot_be_used_is_said_on_the_page(runs_dir, monkeypatch):
    from ui import state

    def unavailable():
        raise Unavailable("classes.sqlite is locked by another process (waited 5 s); nothing was changed")

    monkeypatch.setattr(state, "classroom", unavailable)
    at = open_page(CLASS)
    assert "The class database cannot be used: classes.sqlite is locked" in shown(at.error)
    at.switch_page(TRAIN).run()                     # Train still trains, without a challenge to enter
    assert not at.exception and "challenge_entry" not in [s.key for s in at.selectbox]


def test_a_database_that_goes_away_mid_dashboard_is_said_and_the_dashboard_comes_back(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    join(BROWSER_A, info.code, "Alice")
    room = _classroom()
    real = room.roster

    def gone(class_id):
        raise Unavailable("PostgreSQL at db:5432 cannot be reached or used (server closed the connection "
                          "unexpectedly); nothing was changed: try again in a moment")

    monkeypatch.setattr(room, "roster", gone)
    teacher.run()
    assert "The dashboard cannot be refreshed: PostgreSQL at db:5432 cannot be reached" in shown(teacher.warning)
    assert not teacher.exception
    monkeypatch.setattr(room, "roster", real)
    teacher.run()
    assert "cannot be refreshed" not in shown(teacher.warning)
    assert next(df.value for df in teacher.dataframe)["student"].tolist() == ["Alice"]


def test_a_closed_class_refuses_its_code(runs_dir, monkeypatch):
    teacher, info = make_class(monkeypatch)
    teacher.checkbox(key=f"confirm_close_{info.id}").check()
    teacher.button(key=f"close_{info.id}").click().run()
    assert "The class is closed" in shown(teacher.success) and "was closed" in shown(teacher.info)
    alice = join(BROWSER_A, info.code, "Alice")
    assert "has been closed by its teacher" in shown(alice.error)
    with pytest.raises(JoinRefused, match="closed"):                  # the service refuses it, not only the page
        _classroom().join(learner(BROWSER_A), info.code, "Alice")
    assert _classroom().roster(info.id) == []


def test_how_it_computes_measures_a_challenge_run_on_the_public_half_only(runs_dir, mnist):
    """Before: switching units off on a challenge run showed the whole test set's accuracy, from which
    the private half's follows."""
    from mlp import analysis
    from ui import state

    network = mlp.load("models/seed.npz")
    run_id = "c0ffee0c0ffe"
    RunStore(state.RUNS_DIR).save(run_id, network, RunMeta("in a challenge", Status.DONE, owner=learner(BROWSER_A).owner,
                                                          challenge="abcdefabcdef", config=mlp.TrainConfig().to_dict()))
    at = open_page("pages/computes.py", query={"run": run_id})
    x_test, y_test = mnist[2][::2], mnist[3][::2]
    assert f"Test accuracy (public half) with every unit: **{network.accuracy(x_test, y_test):.2%}**" in shown(at.caption)
    at.multiselect(key="cs_off_widget").set_value([(0, 4)]).run()
    expected = analysis.without_units(network, {(0, 4)}).accuracy(x_test, y_test)
    summary = next(m.value.replace("**", "") for m in at.markdown if "switched off" in m.value)
    assert f"test accuracy (public half) {expected:.2%}" in summary.replace("\\", "")
    assert f"{network.accuracy(mnist[2], mnist[3]):.2%}" not in shown(at.caption, at.markdown)
