"""The Learn page: the path of lessons (``runner.learn``), one at a time, each checked on the learner's
own runs. The learner predicts, sets it up, trains, and the check (never a button that says "I did
it") says what their runs showed, in their numbers; from the second try that falls short, the hint.

The lesson texts are Markdown written by this project or a teacher (trusted); everything a check
says quotes run names, so it is shown as text (``escape``).
"""
from __future__ import annotations

import streamlit as st

import mlp
import ui
from mlp.config import from_query
from runner.database import Unavailable
from runner.learn import HINT_AFTER, MINE, PAGES, PASSED, SKIPPED, VIEWS, Lesson, LessonState
from ui import identity, state
from ui.markdown import escape

LESSON = "lesson"
"""The query parameter of the lesson the page shows (``?lesson=seed``)."""
CHOSEN = "learn_lesson"
"""Session key of the lesson the page shows (not a widget's, so it outlives a visit to another page)."""
PICK = "learn_pick"
"""The path's radio."""
CHECK_EVERY = 2.0
"""Seconds between two checks while a run of the learner's that the lesson waits for trains."""
GO = "learn_go"
MESSAGE = "learn_message"
NOTED = "learn_noted"
STATUS_ICON = {PASSED: ":material/check_circle:", SKIPPED: ":material/redo:"}


def page():
    try:
        tutor = state.tutor()
        person = identity.me()
        progress = tutor.progress.of(person.owner)
        assigned = state.classroom().assigned_to(person)
    except Unavailable as err:
        st.error(f"The lessons' progress cannot be read: {escape(err)}.", icon=":material/database:")
        st.stop()
    _go_where_set_up()
    lessons = tutor.lessons()
    if not lessons:
        st.info("There are no lessons in this server's lessons folder.")
        st.stop()
    chosen = _chosen(lessons, progress)
    if MESSAGE in st.session_state:
        st.warning(escape(st.session_state.pop(MESSAGE)), icon=":material/info:")
    path, lesson_area = st.columns([1, 2.4], gap="large")
    with path:
        _path(lessons, progress, assigned, chosen)
    with lesson_area:
        _lesson(chosen, progress.get(chosen.id), assigned.get(chosen.id))


# ---- the path -------------------------------------------------------------------------------------------
def _chosen(lessons, progress) -> Lesson:
    """The lesson the link names (``?lesson=``), else the one picked, else the first not yet done."""
    ids = [l.id for l in lessons]
    linked = st.query_params.get(LESSON)
    if linked in ids:
        st.session_state[CHOSEN] = linked
    if st.session_state.get(CHOSEN) not in ids:
        st.session_state[CHOSEN] = next((l.id for l in lessons if l.id not in progress or
                                         progress[l.id].state not in (PASSED, SKIPPED)), ids[0])
    if linked != st.session_state[CHOSEN]:
        st.query_params[LESSON] = st.session_state[CHOSEN]
    st.session_state[PICK] = st.session_state[CHOSEN]
    return next(l for l in lessons if l.id == st.session_state[CHOSEN])


def _label(lesson, state_, assigned):
    icon = ":material/error:" if not lesson.available else STATUS_ICON.get(state_.state if state_ else None)
    return (f"{icon} " if icon else "") + f"{lesson.number}. {lesson.title}" + (" · assigned" if assigned else "")


def _picked():
    st.session_state[CHOSEN] = st.query_params[LESSON] = st.session_state[PICK]


def _path(lessons, progress, assigned, chosen):
    done = sum(1 for l in lessons if progress.get(l.id) and progress[l.id].state == PASSED)
    st.progress(done / len(lessons), text=f"{done} of {len(lessons)} lessons passed")
    labels = {l.id: _label(l, progress.get(l.id), l.id in assigned) for l in lessons}
    st.radio("The path", list(labels), key=PICK, format_func=labels.get, on_change=_picked,
             label_visibility="collapsed")
    if assigned:
        st.caption("“Assigned”: your class's teacher asked for these lessons.")
    if not identity.me().signed_in and identity.cookie_token() is None:
        st.caption("Your browser keeps no identity cookie (are cookies blocked?): your progress lasts until this "
                   "tab is closed or reloaded.")


# ---- one lesson ------------------------------------------------------------------------------------------
def _lesson(lesson: Lesson, mine: LessonState | None, assigned_by):
    st.subheader(f"{lesson.number}. {lesson.title}")
    if not lesson.available:
        st.warning(f"This lesson is unavailable: {escape(lesson.problem)}. The other lessons work.",
                   icon=":material/error:")
        return
    badges = []
    if mine is not None and mine.state == PASSED:
        badges.append(":green-badge[:material/check: passed]")
    elif mine is not None and mine.state == SKIPPED:
        badges.append(":gray-badge[skipped]")
    if assigned_by:
        badges.append(":blue-badge[assigned by " + escape(", ".join(assigned_by)) + "]")
    if badges:
        st.markdown(" ".join(badges))
    st.markdown(f"**Goal:** {lesson.goal}")
    st.markdown("**Why it matters**")
    st.markdown(lesson.why)
    answered = mine is not None and mine.answered is not None
    _prediction(lesson, mine)
    st.markdown("**Your task**")
    st.markdown(lesson.task)
    st.button("Set it up", key=f"set_up_{lesson.id}", type="primary", icon=":material/tune:",
              disabled=not answered, on_click=_set_up, args=(lesson.id,),
              help=f"Opens {_page_title(lesson.page)} with this lesson's settings." if answered else
              "Answer the question first: predict, then see.")
    if answered:
        _check_area(lesson.id)
    _skip_button(lesson, mine)


def _prediction(lesson, mine):
    question = lesson.question
    st.markdown(f"**Predict first:** {question.text}")
    if mine is None or mine.answer is None:
        st.radio("Your prediction", list(range(len(question.options))), index=None, key=f"predict_{lesson.id}",
                 format_func=question.options.__getitem__, label_visibility="collapsed")
        st.button("Lock in my prediction", key=f"lock_{lesson.id}", icon=":material/lock:",
                  disabled=st.session_state.get(f"predict_{lesson.id}") is None, on_click=_predict,
                  args=(lesson.id,))
        st.caption("Runs you start after you answer are what the lesson checks.")
        return
    st.markdown(f"Your prediction: *{_option(question, mine.answer)}*")


def _option(question, answer):
    """An answer's option, or what to say when the lesson file has changed since it was given."""
    return question.options[answer] if answer < len(question.options) else "an option this question no longer has"


def _check_area(lesson_id):
    """The lesson's verdict on the learner's runs; checked again every CHECK_EVERY s while a run it
    waits for trains (a fragment: the rest of the page stays as it is)."""
    tutor = state.tutor()
    waiting = st.session_state.get(f"learn_waiting_{lesson_id}", False)

    @st.fragment(run_every=CHECK_EVERY if waiting else None)
    @ui.timed("Learn (check)")
    def area():
        lesson = tutor.lesson(lesson_id)
        person = identity.me()
        try:
            mine = tutor.progress.of(person.owner).get(lesson_id)
            verdict = tutor.check(person, lesson, mine) if lesson is not None else None
        except Unavailable as err:
            st.warning(f"Your runs cannot be checked just now: {escape(err)}. It tries again.",
                       icon=":material/sync_problem:")
            return
        if verdict is None:
            return
        st.markdown("**Checked on your runs**")
        if verdict.passed:
            st.success("Passed. " + escape(verdict.text), icon=":material/check_circle:")
            _seen(lesson, mine)
        else:
            st.info(escape(verdict.text), icon=":material/hourglass_top:" if verdict.waiting else ":material/science:")
            if verdict.tries >= HINT_AFTER:
                st.warning(f"**Hint** (after {verdict.tries} tries): {lesson.hint}", icon=":material/lightbulb:")
        newly_passed = verdict.passed and mine is not None and mine.state != PASSED
        if newly_passed and tutor.progress.of(person.owner).get(lesson_id, mine).state != PASSED:
            st.error("This pass could not be kept in the class database: it is checked again next time.")
            newly_passed = False                 # (never a rerun that would find the same again)
        if verdict.waiting != waiting or newly_passed:
            st.session_state[f"learn_waiting_{lesson_id}"] = verdict.waiting
            st.rerun(scope="app")              # the path's marks, and whether to keep checking

    area()


def _seen(lesson, mine):
    """Predict, then see: the prediction beside what happened, and what the lesson shows."""
    question = lesson.question
    if mine is not None and mine.answer is not None:
        right = mine.answer == question.answer
        st.markdown(f"You predicted *{_option(question, mine.answer)}*: "
                    + ("**right**." if right else f"the answer was *{question.options[question.answer]}*."))
    if lesson.shows:
        st.markdown("**What it shows**")
        st.markdown(lesson.shows)


def _skip_button(lesson, mine):
    if mine is not None and mine.state == PASSED:
        return
    if mine is not None and mine.state == SKIPPED:
        st.button("Do this lesson after all", key=f"reopen_{lesson.id}", icon=":material/undo:",
                  on_click=_act, args=("reopen", lesson.id))
    else:
        st.button("Skip this lesson", key=f"skip_{lesson.id}", icon=":material/skip_next:",
                  on_click=_act, args=("skip", lesson.id), help="Marks it skipped; you can come back to it.")


# ---- what the buttons do ---------------------------------------------------------------------------------
def _act(action, lesson_id):
    try:
        getattr(state.tutor().progress, action)(identity.acting(), lesson_id)
    except Unavailable as err:
        st.session_state[MESSAGE] = f"Not done: {err}."
        return
    if action == "skip":                         # on to the next lesson not yet done
        st.session_state.pop(CHOSEN, None)
        st.query_params.pop(LESSON, None)


def _predict(lesson_id):
    lesson = state.tutor().lesson(lesson_id)
    answer = st.session_state.get(f"predict_{lesson_id}")
    if lesson is None or answer is None:
        return
    try:
        state.tutor().progress.predict(identity.acting(), lesson, int(answer))
    except (Unavailable, ValueError) as err:
        st.session_state[MESSAGE] = f"Your prediction was not kept: {err}."


def _page_title(page):
    return {"train": "Train", "weights": "Hidden weights", "evaluate": "Evaluate", "draw": "Draw",
            "my_digits": "My digits", "computes": "How it computes", "class": "Class"}[page]


def _set_up(lesson_id):
    """Put the lesson's settings where its page reads them, then (``_go_where_set_up``) open the page,
    its URL carrying them, so the link can be shared."""
    lesson = state.tutor().lesson(lesson_id)
    if lesson is None or not lesson.available:
        return
    params = dict(lesson.setup)
    if lesson.page == "train":
        if params.get("my_digits") == MINE:
            mine = state.own_collections(identity.me())
            if not mine:
                st.session_state[MESSAGE] = ("This lesson trains on your own digits: keep some on Draw first "
                                             "(Keep this drawing), then press Set it up again.")
                return
            chosen = state.current_collection()
            params["my_digits"] = chosen if chosen in {c.id for c in mine} else mine[0].id
        _set_up_train(params)
    else:
        if "run" in params:
            state.set_current_run(params["run"])
        if "view" in params:
            from ui import computes

            st.session_state[computes.VIEW] = computes.VIEWS[VIEWS.index(params.pop("view"))]
    st.session_state[GO] = (f"pages/{lesson.page}.py", params)


def _set_up_train(params):
    from ui import controls

    config, _ = from_query(params, base=mlp.PRESETS["seed"].config)
    state.set_current_run(None)                   # ready for a new run (one training goes on training)
    controls.apply_config(config)
    st.session_state.update(preset=next((n for n, p in mlp.PRESETS.items() if p.config == config), None),
                            controls_ready=True, url_problems=[])
    if config.start_from:
        controls.adopt_base()


def _go_where_set_up():
    if GO in st.session_state:
        page, params = st.session_state.pop(GO)
        assert page in {f"pages/{p}.py" for p in PAGES}
        st.switch_page(page, query_params=params)


# ---- what other pages tell the lessons -------------------------------------------------------------------
def note(kind, data):
    """Keep an action of this session's person that a lesson checks (``runner.learn.ACTION_FIELDS``),
    once per distinct action in a session. A database that cannot be reached loses the note, never
    the page."""
    key = (kind, repr(sorted(data.items())))
    noted = st.session_state.setdefault(NOTED, set())
    if key in noted:
        return
    try:
        state.tutor().progress.record(identity.me(), kind, data)
    except (Unavailable, ValueError):            # (a value no check could use: a NaN gradient)
        return
    noted.add(key)
