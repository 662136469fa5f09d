"""The Class page: a teacher makes a class, watches it train on a live dashboard and runs a challenge;
a student joins with a code, enters runs and sees the leaderboard.

Everything a control does is done by the run service (``runner.classes``, ``runner.jobs``), which
checks who asks: the page only draws. Controls are bound to the ids they were drawn for (a class, a
student, a run), never to a position in a list that may have changed since.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import streamlit as st

from mlp.config import MAX_EPOCHS
from mlp.presets import PRESETS
from runner.classes import (FIXABLE, MAX_SECONDS, Budget, ClassClosed, JoinRefused, NotTeacher, StudentRow,
                            dashboard, grouped, normal_code)
from runner.database import Conflict, Unavailable
from runner.identity import NotKept, NotYours
from runner.learn import PASSED, SKIPPED
import ui
from ui import charts, identity, state
from ui.live import CHALLENGE_ENTRY
from ui.markdown import escape

MESSAGE = "class_message"
CLASS = "class_chosen"
"""Session key: the id of the class the page shows (a teacher's pick, or the student's)."""
DASHBOARD_EVERY = 2.0
"""Seconds between two refreshes of the dashboard and the leaderboard."""
MOST_WEIGHTS = 784 * 1024 + 3 * 1024 * 1024 + 1024 * 10
"""The most weights a network this app trains can have (4 hidden layers of 1,024 units)."""
NO_LIMIT = "0 means no limit."


def _say(kind, text):
    st.session_state[MESSAGE] = (kind, text)


def _show_message():
    if MESSAGE in st.session_state:
        kind, text = st.session_state.pop(MESSAGE)
        {"error": st.error, "success": st.success}.get(kind, st.info)(escape(text))


def _attempt(action, *args, done=None, failed="Not done"):
    """``action(*args)``; its refusal or the database's fault said as a message ("<failed>: <why>."),
    changing nothing; ``done``: the message (or a function of the result giving it) when it worked."""
    try:
        result = action(*args)
    except (JoinRefused, ClassClosed, NotTeacher, NotYours, Conflict, Unavailable, NotKept, KeyError,
            ValueError) as err:
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        _say("error", f"{failed}: {text}" + ("" if text.endswith(".") else "."))
        return None
    if done:
        _say("success", done(result) if callable(done) else done)
    return result


def room():
    """The classroom, or a page that says why the class database cannot be used (then stops)."""
    try:
        return state.classroom()
    except Unavailable as err:
        st.error(f"The class database cannot be used: {escape(err)}.", icon=":material/database:")
        st.stop()


def when(ts, now=None):
    """"in 42 minutes", "3 minutes ago": a time relative to now, to the minute."""
    minutes = round((ts - (time.time() if now is None else now)) / 60)
    if minutes == 0:
        return "now"
    amount = abs(minutes)
    text = f"{amount} minute{'s' if amount != 1 else ''}" if amount < 120 else f"{amount / 60:.0f} hours"
    return f"in {text}" if minutes > 0 else f"{text} ago"


# ---- a student -----------------------------------------------------------------------------------------
def _join():
    person = identity.acting()
    code, name = st.session_state.get("join_code", ""), st.session_state.get("join_name", "")
    info = _attempt(state.classroom().join, person, code, name, failed="Not joined")
    if info is None:
        return
    st.session_state[CLASS] = info.id
    try:
        identity.identities().set_name(person, name)      # the name the teacher knows them by, on their runs too
    except (ValueError, NotKept):
        pass
    _say("success", f"You joined “{info.title}”. Your teacher sees your runs on the class dashboard.")


def join_form():
    """The code (from a join link's ``?code=``, or typed) and the name to join with."""
    linked = st.query_params.get("code")
    if linked and "join_code" not in st.session_state:
        st.session_state["join_code"] = grouped(normal_code(linked)) if normal_code(linked) else linked[:12]
    st.session_state.setdefault("join_name", identity.me().name or "")
    with st.form("join_form", border=True, enter_to_submit=True):
        st.markdown("**Join a class**")
        left, right = st.columns(2)
        left.text_input("Class code", key="join_code", max_chars=12, placeholder="K7Q-2XM",
                        help="Six letters and digits from your teacher; case and the dash do not matter.")
        right.text_input("Your name in the class", key="join_name", max_chars=40, placeholder="e.g. Ada",
                         help="1 to 40 characters, different from everyone else's in the class.")
        st.form_submit_button("Join", type="primary", on_click=_join)


def _enter_challenge(challenge_id):
    st.session_state[CHALLENGE_ENTRY] = challenge_id
    st.session_state["go_train"] = True


def student_view(classroom, person):
    join_form()
    classes = classroom.joined(person)
    if not classes:
        st.caption("Once you join, your class's challenge and leaderboard appear here.")
        return
    labels = {c.id: f"{c.title}{'' if c.is_open else ' (closed)'}" for c in classes}
    chosen = _pick_class(classes, labels, "Your class")
    info = next(c for c in classes if c.id == chosen)
    member = classroom.member(info.id, person.owner)
    st.markdown(f"You are in **{escape(info.title)}** as **{escape(member.name if member else '?')}**, taught by "
                f"{escape(info.teacher_name or 'a teacher')}." + ("" if info.is_open else " The class is closed."))
    _assigned_lessons(classroom, info)
    challenge = classroom.challenge(info.id)
    if challenge is None:
        st.caption("No challenge yet: your teacher sets one here.")
        return
    _challenge_terms(challenge)
    if challenge.under_way() and info.is_open:
        st.button("Train a run for this challenge", key=f"enter_{challenge.id}", type="primary",
                  icon=":material/emoji_events:", on_click=_enter_challenge, args=(challenge.id,))
        if st.session_state.pop("go_train", False):
            st.switch_page("pages/train.py")
    leaderboard_area(challenge.id, person, live=challenge.revealed is None)


def _assigned_lessons(classroom, info):
    assigned = set(classroom.assigned(info.id))
    lessons = [l for l in state.tutor().lessons() if l.id in assigned]
    if lessons:
        st.markdown("**Lessons your teacher assigned:** " + " · ".join(f"{l.number}. {l.title}" for l in lessons))
        st.page_link("pages/learn.py", label="Go to Learn", icon=":material/school:",
                     query_params={"lesson": lessons[0].id})


# ---- a teacher ------------------------------------------------------------------------------------------
def _create():
    title = st.session_state.get("new_class_title", "")
    info = _attempt(state.classroom().create, identity.acting(), title, failed="No class made",
                    done=lambda i: f"“{i.title}” is ready: give your students the code {i.shown_code}.")
    if info is not None:
        st.session_state[CLASS] = info.id
        st.session_state["new_class_title"] = ""


def _close(class_id):
    if not st.session_state.get(f"confirm_close_{class_id}"):
        _say("error", "Not closed: tick “Yes, close it” first.")
        return
    _attempt(state.classroom().close, class_id, identity.acting(),
             done=lambda closed: "The class is closed: its code no longer works; every run stays its student's."
             if closed else "The class was already closed (by another session).")


def _pick_class(classes, labels, label):
    ids = [c.id for c in classes]
    if st.session_state.get(CLASS) not in ids:
        st.session_state[CLASS] = ids[0]
    return st.selectbox(label, ids, key=CLASS, format_func=labels.get)


def teacher_view(classroom, person):
    with st.form("new_class", border=True, enter_to_submit=True):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        left.text_input("New class", key="new_class_title", max_chars=40, placeholder="e.g. Year 10, Tuesday")
        right.form_submit_button("Make the class", type="primary", on_click=_create)
    everyone = st.toggle("Every teacher's classes", key="all_classes",
                         help="Off: the classes you made. Any teacher may look after any class.")
    classes = classroom.classes(None if everyone else person.owner)
    if not classes:
        st.caption("Make a class: you get a code to give your students, and their runs appear here as they train.")
        return
    labels = {c.id: f"{c.title} · {c.shown_code}{'' if c.is_open else ' (closed)'}" for c in classes}
    info = next(c for c in classes if c.id == _pick_class(classes, labels, "Class"))
    _class_header(info)
    dashboard_area(info.id)
    _lessons_section(classroom, info)
    _challenge_section(classroom, info)


def _join_link(code):
    try:
        base = (st.context.url or "").split("?")[0]
    except Exception:
        base = ""
    return f"{base or '/class'}?code={code}"


def _class_header(info):
    if info.is_open:
        left, right = st.columns([1, 2])
        left.metric("Join code", info.shown_code)
        right.caption("Join link (students open it and type their name):")
        right.code(_join_link(info.code), language=None)
        with st.expander("Close the class"):
            st.caption("Its code stops working; the roster, the challenge and every run stay, and runs stay their "
                       "students'.")
            st.checkbox("Yes, close it", key=f"confirm_close_{info.id}")
            st.button("Close the class", key=f"close_{info.id}", on_click=_close, args=(info.id,))
    else:
        st.info(f"This class was closed {when(info.closed)}: its code no longer works.", icon=":material/lock:")


def _stop_run(run_id, name):
    job = state.registry().get(run_id)
    if job is None or not job.active:
        _say("info", f"{name}'s run has already ended: nothing was changed.")
        return
    _attempt(job.stop, identity.acting(), "Stopped by a teacher from the class dashboard.",
             done=f"{name}'s run is stopping; it is saved as it is.")


def _remove(class_id, owner, name):
    _attempt(state.classroom().remove, class_id, owner, identity.acting(),
             done=lambda removed: f"{name} is no longer in the class; their runs stay theirs." if removed
             else f"{name} had already left the class.")


def _sparkline(curve, points=60):
    """A curve's accuracies (%) thinned to about ``points``, start to end, for a table's small chart."""
    values = [100 * a for _, a in curve if a is not None]
    step = max(1, -(-len(values) // points))
    return values[::step] + (values[-1:] if values and (len(values) - 1) % step else [])


def _table(rows: list[StudentRow], lessons=None):
    """The dashboard's rows; ``lessons``: ``_class_lessons``'s (or None)."""
    return [{"student": r.name, "run": r.run_name or "–", "status": r.status or "no run yet",
             "epoch": f"{r.epoch:.1f} / {r.epochs}" if r.run_id else "",
             "test accuracy": None if r.test_accuracy is None else 100 * r.test_accuracy,
             "curve": _sparkline(r.curve), **_lesson_columns(r.owner, lessons),
             "settings": r.settings, "open": f"train?run={r.run_id}" if r.run_id else None} for r in rows]


def _lesson_columns(owner, lessons):
    """How far a student is along the path: lessons passed (of those assigned, if any), and which."""
    if lessons is None:
        return {"lessons": None, "lesson detail": ""}
    mine = lessons.progress.get(owner, {})
    done = sum(1 for l in lessons.counted if mine.get(l.id) and mine[l.id].state == PASSED)
    marks = {PASSED: "✓", SKIPPED: "skipped"}
    detail = " · ".join(f"{l.number} {marks.get(mine[l.id].state, 'started')}" for l in lessons.path if l.id in mine)
    return {"lessons": done, "lesson detail": detail or "not started"}


COLUMNS = {
    "student": st.column_config.TextColumn("Student", pinned=True),
    "status": st.column_config.TextColumn("Status"),
    "epoch": st.column_config.TextColumn("Epoch"),
    "run": st.column_config.TextColumn("Run name"),
    "test accuracy": st.column_config.NumberColumn("Test accuracy", format="%.2f%%",
                                                   help="At the last finished epoch (a challenge run: the public half)"),
    "curve": st.column_config.LineChartColumn("Test accuracy so far", y_min=0, y_max=100, width="medium"),
    "settings": st.column_config.TextColumn("Settings", width="large"),
    "lesson detail": st.column_config.TextColumn("Lessons, one by one", help="✓ passed; started: the question "
                                                 "answered; skipped"),
    "open": st.column_config.LinkColumn("Open", display_text="Open", help="Opens the run on Train, in a new tab"),
}


def dashboard_area(class_id):
    """The roster with every student's current run and curve, refreshed every DASHBOARD_EVERY seconds
    as a fragment (the rest of the page does not rerun), and what a teacher may do about one student."""

    @st.fragment(run_every=DASHBOARD_EVERY)
    def area():
        try:
            roster = state.classroom().roster(class_id)
        except Unavailable as err:
            st.warning(f"The dashboard cannot be refreshed: {escape(err)}. It tries again every "
                       f"{DASHBOARD_EVERY:g} s.", icon=":material/sync_problem:")
            return
        st.subheader(f"Students ({len(roster)})")
        if not roster:
            st.caption("Nobody has joined yet. Students open the join link, or the Class page, and type the code.")
            return
        rows = dashboard(roster, state.registry().jobs(), state.store().list())
        lessons = _class_lessons(class_id, roster)
        columns = {**COLUMNS, "lessons": st.column_config.ProgressColumn(
            "Lessons passed", min_value=0, max_value=max(1, len(lessons.counted) if lessons else 1), format="%d",
            help="Of the lessons assigned" if lessons and lessons.assigned else
            "Of the whole path (no lessons are assigned)")}
        st.dataframe(_table(rows, lessons), key="class_table", hide_index=True, column_config=columns,
                     column_order=["student", "status", "epoch", "test accuracy", "curve", "lessons", "run", "open",
                                   "lesson detail", "settings"],
                     height=min(38 + 35 * len(rows), 600))
        if any(r.curve for r in rows):
            st.plotly_chart(charts.class_curves([(r.name, r.curve) for r in rows if r.curve], legend_below=ui.narrow()),
                            key="class_curves", config={"displaylogo": False})
        _student_actions(class_id, rows)

    area()


class ClassLessons(NamedTuple):
    """What the dashboard shows of the lessons: the path, the lessons a student's count is of (those
    assigned, or the whole path when none are), and every student's progress ({owner: {id: LessonState}})."""

    path: list
    counted: list
    assigned: bool
    progress: dict


def _class_lessons(class_id, roster) -> ClassLessons | None:
    """The class's lessons for the dashboard, or None when they cannot be read."""
    try:
        tutor = state.tutor()
        path, assigned = tutor.lessons(), set(state.classroom().assigned(class_id))
        counted = [l for l in path if l.id in assigned]
        return ClassLessons(path, counted or path, bool(counted), tutor.progress.of_many(m.owner for m in roster))
    except Unavailable:
        return None


def _assign(class_id):
    chosen = st.session_state.get(f"assign_{class_id}") or []
    _attempt(state.classroom().assign, class_id, chosen, identity.acting(), failed="Not assigned",
             done=f"{len(chosen)} lesson{'s' if len(chosen) != 1 else ''} assigned: your students see them marked "
                  "on the Learn page." if chosen else "No lessons are assigned now.")


def _lessons_section(classroom, info):
    """The lessons of the Learn page the class is asked to do (the dashboard shows how far each student is)."""
    if not info.is_open:
        return
    lessons = [l for l in state.tutor().lessons() if l.available]
    key = f"assign_{info.id}"
    if key not in st.session_state:
        assigned = set(classroom.assigned(info.id))
        st.session_state[key] = [l.id for l in lessons if l.id in assigned]        # in the path's order
    with st.form(f"lessons_{info.id}", border=True):
        st.markdown("**Lessons for the class** (on the *Learn* page; each is checked on the student's own runs)")
        st.multiselect("Assigned lessons", [l.id for l in lessons], key=key,
                       format_func={l.id: f"{l.number}. {l.title}" for l in lessons}.get,
                       placeholder="Choose lessons to assign")
        st.form_submit_button("Assign", icon=":material/assignment:", on_click=_assign, args=(info.id,))


def _student_actions(class_id, rows):
    labels = {r.owner: r.name for r in rows}
    owner = st.selectbox("Act on a student", list(labels), key=f"student_{class_id}", format_func=labels.get)
    row = next(r for r in rows if r.owner == owner)
    buttons = st.container(horizontal=True, gap="small")
    buttons.button("Stop their run", key="stop_student_run", icon=":material/stop:", disabled=not row.active,
                   on_click=_stop_run, args=(row.run_id, row.name))
    buttons.button("Remove from the class", key="remove_student", icon=":material/person_remove:",
                   on_click=_remove, args=(class_id, row.owner, row.name),
                   help="They leave the roster and the leaderboard; their runs stay theirs.")


# ---- the challenge ----------------------------------------------------------------------------------------
def _challenge_terms(challenge):
    st.subheader(f"Challenge: {escape(challenge.title)}")
    if challenge.revealed is not None:
        state_line = f"Ended; the private half was revealed {when(challenge.revealed)}."
    elif challenge.under_way():
        state_line = f"Ends {when(challenge.ends)}."
    else:
        state_line = f"Ended {when(challenge.ends)}; the private half is not revealed yet."
    st.markdown(f"{state_line} Budget: " + escape("; ".join(challenge.budget.lines())) + ".")
    st.caption("Runs are ranked by their accuracy on the **public half** of the test set (the 5,000 even-numbered "
               "images), the only one shown until the teacher reveals the **private half** (the odd-numbered ones).")


def _set_challenge(class_id):
    s = st.session_state
    try:
        budget = Budget.fixing(s.get("ch_fixed") or [], PRESETS[s.get("ch_preset", "seed")].config,
                               max_weights=int(s.get("ch_weights") or 0) or None,
                               max_epochs=int(s.get("ch_epochs") or 0) or None,
                               max_seconds=float(s.get("ch_seconds") or 0) or None)
    except ValueError as err:
        _say("error", f"Not set: {err}.")
        return
    ends = time.time() + 60 * float(s.get("ch_minutes") or 45)
    _attempt(state.classroom().set_challenge, class_id, identity.acting(), s.get("ch_title", ""), budget, ends,
             done=lambda c: f"The challenge “{c.title}” is on; it ends {when(c.ends)}.", failed="No challenge set")


def _end(challenge_id, reveal):
    _attempt(state.classroom().end, challenge_id, identity.acting(), reveal,
             done="The private half is revealed: see who climbed and who fell." if reveal
             else "The challenge has ended: no more runs may enter.")


def _challenge_section(classroom, info):
    challenge = classroom.challenge(info.id)
    if challenge is not None:
        _challenge_terms(challenge)
        buttons = st.container(horizontal=True, gap="small")
        if challenge.under_way():
            buttons.button("End the challenge now", key="end_challenge", on_click=_end, args=(challenge.id, False))
        if challenge.revealed is None:
            buttons.button("Reveal the private half", key="reveal_challenge", type="primary",
                           icon=":material/visibility:", on_click=_end, args=(challenge.id, True),
                           help="Ends the challenge and ranks every run on the other half of the test set too.")
        leaderboard_area(challenge.id, None, live=challenge.revealed is None)
    if info.is_open and (challenge is None or not challenge.under_way()):
        _challenge_form(info.id)


def _challenge_form(class_id):
    with st.form("challenge_form", border=True):
        st.markdown("**Set a challenge**")
        st.text_input("Title", key="ch_title", max_chars=40, placeholder="e.g. Best under 15,000 weights")
        a, b, c, d = st.columns(4)
        a.number_input("Most weights", 0, MOST_WEIGHTS, 15_000, step=1000, key="ch_weights", help=NO_LIMIT)
        b.number_input("Most epochs", 0, MAX_EPOCHS, 5, key="ch_epochs", help=NO_LIMIT)
        c.number_input("Most seconds of training", 0, MAX_SECONDS, 120, step=30, key="ch_seconds",
                       help=NO_LIMIT + " A run is stopped there and counts as it is.")
        d.number_input("Ends in (minutes)", 1, 7 * 24 * 60, 45, key="ch_minutes")
        left, right = st.columns([2, 1])
        left.multiselect("Settings held fixed", list(FIXABLE), key="ch_fixed",
                         help="Every run must use these at the values of the preset on the right.")
        right.selectbox("at the values of", list(PRESETS), key="ch_preset", format_func=lambda p: PRESETS[p].title)
        st.form_submit_button("Start the challenge", type="primary", on_click=_set_challenge, args=(class_id,))


def _moved(climbed):
    if climbed is None:
        return ""
    return f"▲ {climbed}" if climbed > 0 else f"▼ {-climbed}" if climbed < 0 else "="


def leaderboard_area(challenge_id, viewer, live=True):
    """The leaderboard, measured afresh as runs end: every DASHBOARD_EVERY seconds (a fragment) while
    ``live`` (until the reveal; a run entered before the end may still finish after it)."""

    @st.fragment(run_every=DASHBOARD_EVERY if live else None)
    def area():
        try:
            board = state.leaderboard(challenge_id)
        except Unavailable as err:
            st.warning(f"The leaderboard cannot be refreshed: {escape(err)}.", icon=":material/sync_problem:")
            return
        st.markdown("**Leaderboard**")
        if not board:
            st.caption("No finished challenge run yet: a run counts once it has ended (finished, or stopped).")
            return
        revealed = board[0].private_rank is not None
        rows = [{"rank": s.rank, "student": s.name + (" (you)" if viewer is not None and viewer.owns(s.owner) else ""),
                 "public half": 100 * s.public, "runs": s.runs, "settings": s.settings,
                 **({"private half": 100 * s.private, "private rank": s.private_rank, "moved": _moved(s.climbed)}
                    if revealed else {})} for s in board]
        order = ["rank", "student", "public half"] + (["private half", "private rank", "moved"] if revealed else []) + \
            ["runs", "settings"]
        st.dataframe(rows, key="leaderboard", hide_index=True, column_order=order, column_config={
            "rank": st.column_config.NumberColumn("Rank"), "student": st.column_config.TextColumn("Student"),
            "settings": st.column_config.TextColumn("Settings"),
            "private rank": st.column_config.NumberColumn("Private rank"),
            "public half": st.column_config.NumberColumn("Public half", format="%.2f%%"),
            "private half": st.column_config.NumberColumn("Private half", format="%.2f%%"),
            "runs": st.column_config.NumberColumn("Runs", help="Finished challenge runs; the best by the public half counts"),
            "moved": st.column_config.TextColumn("Moved", help="Places climbed (▲) or fallen (▼) on the private half"),
        })
        if revealed:
            st.caption("Ranked by the public half while the challenge ran; the private half shows whether a network "
                       "was good or tuned to the half it was measured on.")

    area()


def page():
    classroom = room()
    person = identity.me()
    _show_message()
    if person.teacher:
        teacher_view(classroom, person)
    else:
        student_view(classroom, person)
