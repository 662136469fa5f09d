"""The Learn page (AppTest): a lesson's link, predict before Set it up, Set it up opening its page with its
settings, checks passed by what the learner does on Hidden weights and in the microscope, a malformed
lesson listed as unavailable, a teacher's assignment and the dashboard's progress, a database gone."""
import shutil


import mlp
from apptest_helpers import BROWSER_A, as_teacher, learner, open_page, plain, shown
from runner.database import Unavailable
from runner.learn import LESSONS_DIR

LEARN, TRAIN, CLASS = "pages/learn.py", "pages/train.py", "pages/class.py"
WEIGHTS, COMPUTES = "pages/weights.py", "pages/computes.py"


def predict(at, lesson_id, option):
    at.radio(key=f"predict_{lesson_id}").set_value(option).run()
    at.button(key=f"lock_{lesson_id}").click().run()
    assert not at.exception, at.exception


def test_a_lesson_link_asks_first_then_sets_train_up_with_its_settings(runs_dir):
    at = open_page(query={"lesson": "overfit"}, token="d0" * 16)         # a browser never seen before
    at.switch_page(LEARN).run()
    assert "7. Overfitting" in shown(at.subheader) and at.query_params["lesson"] == "overfit"
    assert at.button(key="set_up_overfit").disabled                  # predict, then see
    predict(at, "overfit", 2)
    assert "Your prediction: *More than 10 points" in shown(at.markdown)
    assert not at.button(key="set_up_overfit").disabled
    assert "No run on 1,000 images or fewer yet" in plain(shown(at.info))
    at.button(key="set_up_overfit").click().run()
    assert not at.exception, at.exception
    s = at.session_state
    assert (s["train_size"], s["epochs"], s["activation"], s["optimizer"], s["lr"]) == (1000, 20, "leaky_relu",
                                                                                          "adam", 0.003)
    assert at.query_params["train_size"] == "1000" and at.query_params["epochs"] == "20"
    assert at.button(key="start").label == "Start"
    at.switch_page(LEARN).run()                                     # the answer stays, and the lesson
    assert "Your prediction: *More than 10 points" in shown(at.markdown)
    assert not any(r.key == "predict_overfit" for r in at.radio)


def test_switching_a_unit_off_on_hidden_weights_passes_lesson_2(runs_dir, mnist):
    at = open_page(LEARN, query={"lesson": "unit"})
    predict(at, "unit", 2)
    at.button(key="set_up_unit").click().run()
    assert at.selectbox(key="run_picker").value == "model:seed" and at.query_params["run"] == "model:seed"
    at.switch_page(WEIGHTS).run()                     # (AppTest stays on its page after a st.switch_page)
    at.selectbox(key="unit").set_value(8).run()
    at.button(key="switch_unit").click().run()
    at.switch_page(LEARN).run()
    network = mlp.load("models/seed.npz")
    full = network.accuracy(*mnist[2:])
    without = mlp.analysis.without_units(network, {(0, 8)}).accuracy(*mnist[2:])
    passed = plain(shown(at.success))
    assert f"cost {100 * (full - without):.1f} points: {full:.2%} with every unit, {without:.2%} without it" in passed
    assert "You predicted *It depends on the unit" in shown(at.markdown) and "**right**" in shown(at.markdown)
    assert at.radio(key="learn_pick").options[1].startswith(":material/check_circle: 2.")
    assert at.get("progress")[0].proto.text == "1 of 10 lessons passed"


def test_following_the_right_digits_weight_in_the_microscope_passes_lesson_6(runs_dir, mnist):
    at = open_page(LEARN, query={"lesson": "backprop"})
    predict(at, "backprop", 0)                                      # a wrong prediction: it is still kept
    at.button(key="set_up_backprop").click().run()
    assert not at.exception, at.exception
    at.switch_page(COMPUTES).run()
    assert at.selectbox(key="run_picker").value == "model:seed"
    at.number_input(key="cs_index").set_value(8).run()
    label = int(mnist[3][8])
    at.selectbox(key="cs_w_layer").set_value(2).run()
    at.number_input(key="cs_w_from").set_value(3).run()
    at.number_input(key="cs_w_to").set_value((label + 1) % 10).run()   # another digit's unit first: a try
    at.number_input(key="cs_w_to").set_value(label).run()
    at.switch_page(LEARN).run()
    passed = plain(shown(at.success))
    assert f"You followed the weight from hidden unit 3 to output {label} of “seed” for a {label}" in passed
    assert "negative, so the step makes that weight grow" in passed
    assert "the answer was *Negative" in shown(at.markdown)


def test_a_malformed_lesson_is_listed_unavailable_and_the_rest_work(runs_dir, tmp_path, monkeypatch):
    from ui import state

    folder = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, folder)
    (folder / "04-vanishing.md").write_text("no front matter at all")
    monkeypatch.setattr(state, "LESSONS", folder)
    at = open_page(LEARN, query={"lesson": "vanishing"})
    assert at.radio(key="learn_pick").options[3].startswith(":material/error: 4.")
    assert "This lesson is unavailable: it should start with a front matter" in plain(shown(at.warning))
    at.radio(key="learn_pick").set_value("seed").run()
    assert "1. The seed network, reproduced" in shown(at.subheader) and at.query_params["lesson"] == "seed"


def test_a_teacher_assigns_lessons_and_the_dashboard_shows_each_students_progress(runs_dir, monkeypatch):
    from ui import state

    teacher = open_page(CLASS, token=as_teacher(monkeypatch))
    teacher.text_input(key="new_class_title").set_value("Year 10")
    teacher.button[0].click().run()
    [info] = state.classroom().classes()
    student = open_page(CLASS, query={"code": info.code})
    student.text_input(key="join_name").set_value("Ada")
    student.button[0].click().run()
    teacher.run()
    teacher.multiselect(key=f"assign_{info.id}").set_value(["seed", "lr"])
    next(b for b in teacher.button if b.label == "Assign").click().run()
    assert "2 lessons assigned" in shown(teacher.success)
    state.tutor().progress.mark_passed(learner(BROWSER_A), "lr", "it diverged at 10", {})
    state.tutor().progress.skip(learner(BROWSER_A), "unit")
    teacher.run()
    table = next(df.value for df in teacher.dataframe if "lesson detail" in df.value.columns)
    assert table["lessons"].tolist() == [1] and table["lesson detail"].tolist() == ["2 skipped · 3 ✓"]
    student.run()
    assigned = "**Lessons your teacher assigned:** 1. The seed network, reproduced · 3. The learning rate"
    assert assigned in shown(student.markdown)
    learn = open_page(LEARN)
    options = learn.radio(key="learn_pick").options
    assert [o.endswith("· assigned") for o in options[:3]] == [True, False, True]
    assert learn.radio(key="learn_pick").value == "seed"              # the first one not done


def test_the_learn_page_says_when_the_class_database_cannot_be_used(runs_dir, monkeypatch):
    from ui import state

    def unavailable():
        raise Unavailable("classes.sqlite is locked by another process (waited 5 s); nothing was changed")

    monkeypatch.setattr(state, "tutor", unavailable)
    at = open_page(LEARN)
    assert "The lessons' progress cannot be read: classes.sqlite is locked" in plain(shown(at.error))
