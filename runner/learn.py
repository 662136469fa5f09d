"""Lessons: a guided path of experiments, each checked on the learner's own runs. No Streamlit.

A lesson is two files side by side in ``runner/lessons/`` (or another folder given to ``load_lessons``):

* ``NN-name.md``, its text: a front matter of ``key: value`` lines between two ``---`` lines (``title``,
  ``goal``, ``page``, and ``setup``, the settings its *Set it up* link opens ``page`` with), then the
  sections ``## Why it matters``, ``## Task``, ``## Predict`` (a question, then its options as
  ``- [ ] …`` lines, the right one ``- [x] …``), ``## Hint`` and, optionally, ``## What it shows``.
* ``NN-name.py``, its check: a function ``check(work: Work) -> Verdict`` that looks at the learner's
  runs and actions (``Work``) and says whether they show what the lesson is about, in the learner's
  own numbers. It is never a button the learner presses to say they did it.

``NN`` orders the path; ``name`` is the lesson's id (in links: ``?lesson=name``). A file that cannot
be read, a section missing, a setup the app would refuse, a check that does not import: that lesson
is listed as unavailable with the reason, and the others work.

**Predict, then see.** A lesson's check counts only the runs started and the actions taken after the
learner answered its question (``Work.since``), so the answer is given before the result is seen.
A finished run that the check looked at and that fell short is a *try*; from the second one on the
lesson shows its hint.

**Progress** (``Progress``) is kept per person (their owner id, ``runner.identity``) in the class
database (``runner.database``; the tables are in ``runner.classes.SCHEMA``), so it survives a
restart and every app server of a class sees it: the question's answer and when it was given,
whether the lesson was passed (with what it showed, in the learner's numbers, so that it stays
true when the runs are deleted) or skipped, and the runs a check rested on so far (so that one
deleted meanwhile is named).
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlp.config import START_FROM, TrainConfig, from_query, to_query
from mlp.presets import PRESETS
from mlp.runs import Status
from mlp.training import Event
from runner.classes import LESSON_ID
from runner.database import Database
from runner.identity import Person

LESSONS_DIR = Path(__file__).resolve().parent / "lessons"
LESSON_FILE = re.compile(rf"(\d{{2}})-({LESSON_ID.pattern})\.md")
"""A lesson's text: ``NN-name.md``, NN its place on the path, name its id (``LESSON_ID``)."""
MAX_LESSON_BYTES = 64_000
MAX_TITLE = 80
MAX_OPTIONS = 6
PAGES = ("train", "weights", "evaluate", "draw", "my_digits", "computes", "class")
"""The pages a lesson's *Set it up* may open (``pages/<name>.py``)."""
VIEWS = ("network", "backprop", "layers")
"""How it computes' views a setup may open (``view=``), in the order of its tabs."""
MINE = "mine"
"""``my_digits=mine`` in a setup: the learner's own newest collection of digits."""
REQUIRED = ("why it matters", "task", "predict", "hint")
OPTIONAL = ("what it shows",)
HINT_AFTER = 2
"""A lesson shows its hint from this many tries that fell short."""
MAX_SUMMARY = 2_000
MAX_ACTIONS = 50
"""Actions kept per person and kind (the newest)."""
ACTION_FIELDS = {
    "units_off": {"run": str, "run_name": str, "epoch": "number", "off": "units", "full": "fraction",
                  "without": "fraction"},
    "gradient": {"run": str, "run_name": str, "epoch": "number", "layer": int, "last_layer": bool, "source": int,
                 "target": int, "label": int, "gradient": "number", "measured": "number"},
}
"""What a page records of each action a lesson checks, and each field's kind: checked when it is
recorded and again when it is read back."""
ACTION_KINDS = tuple(ACTION_FIELDS)
OPEN, PASSED, SKIPPED = "open", "passed", "skipped"


class LessonError(ValueError):
    """A lesson file that cannot be used; the message says what is wrong with it."""


# ---- what a lesson is ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """Asked before the learner runs anything: ``options``, of which ``answer`` (an index) is right."""

    text: str
    options: tuple
    answer: int


@dataclass(frozen=True)
class Lesson:
    """One lesson of the path. ``problem`` is None for a lesson that works, else why it cannot be
    used (then only ``id``, ``number`` and ``title`` are known). ``setup``: the URL parameters its
    *Set it up* link gives ``page``."""

    id: str
    number: int
    title: str
    goal: str = ""
    why: str = ""
    task: str = ""
    question: Question | None = None
    hint: str = ""
    shows: str = ""
    page: str = "train"
    setup: dict = field(default_factory=dict)
    check: Callable | None = None
    problem: str | None = None

    @property
    def available(self):
        return self.problem is None


def load_lessons(folder=LESSONS_DIR) -> list[Lesson]:
    """Every lesson in ``folder``, in path order; an unusable one with its ``problem``."""
    lessons = []
    for path in sorted(Path(folder).glob("*.md")):
        found = LESSON_FILE.fullmatch(path.name)
        if found is None:
            continue
        number, lesson_id = int(found[1]), found[2]
        try:
            lessons.append(_lesson(path, number, lesson_id))
        except LessonError as err:
            lessons.append(Lesson(lesson_id, number, f"{path.name} (unavailable)", problem=str(err)))
    seen = set()
    for i, lesson in enumerate(lessons):
        if lesson.id in seen:
            lessons[i] = Lesson(lesson.id, lesson.number, lesson.title,
                                problem=f"another lesson is also called “{lesson.id}”")
        seen.add(lesson.id)
    return lessons


def _lesson(path, number, lesson_id):
    text = _read_text(path)
    meta, sections = _parse(text)
    page = meta["page"]
    if page not in PAGES:
        raise LessonError(f"page: should be one of {', '.join(PAGES)}, not “{page[:40]}”")
    return Lesson(lesson_id, number, meta["title"], meta["goal"], sections["why it matters"], sections["task"],
                  _question(sections["predict"]), sections["hint"], sections.get("what it shows", ""), page,
                  setup_params(page, meta.get("setup", "")), _check_of(path.with_suffix(".py")))


def _read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_LESSON_BYTES + 1)
    except OSError as err:
        raise LessonError(f"{path.name} cannot be read ({err.strerror or err})") from None
    if len(raw) > MAX_LESSON_BYTES:
        raise LessonError(f"{path.name} is larger than {MAX_LESSON_BYTES // 1000} kB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LessonError(f"{path.name} is not UTF-8 text") from None


def _parse(text):
    """(front matter {key: value}, sections {lower-case heading: text}) of a lesson's Markdown."""
    lines = text.replace("\r\n", "\n").split("\n")
    stripped = [line.strip() for line in lines]
    if stripped[0] != "---" or "---" not in stripped[1:]:
        raise LessonError("it should start with a front matter between two “---” lines")
    end = stripped.index("---", 1)
    meta = {}
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or key not in ("title", "goal", "page", "setup"):
            raise LessonError(f"front matter: “{line.strip()[:60]}” is not one of title:, goal:, page:, setup:")
        meta[key] = value.strip()
    for key in ("title", "goal", "page"):
        if not meta.get(key):
            raise LessonError(f"front matter: {key}: is missing")
    if len(meta["title"]) > MAX_TITLE:
        raise LessonError(f"the title is longer than {MAX_TITLE} characters")
    sections, heading = {}, None
    for line in lines[end + 1:]:
        if line.startswith("## "):
            heading = line[3:].strip().lower()
            if heading not in REQUIRED + OPTIONAL:
                raise LessonError(f"unknown section “{line[3:].strip()[:40]}” (the sections are: "
                                  f"{', '.join(s.capitalize() for s in REQUIRED + OPTIONAL)})")
            if heading in sections:
                raise LessonError(f"the section “{line[3:].strip()}” comes twice")
            sections[heading] = []
        elif heading is not None:
            sections[heading].append(line)
        elif line.strip():
            raise LessonError("text before the first section (each part starts with a “## ” heading)")
    sections = {k: "\n".join(v).strip() for k, v in sections.items()}
    for heading in REQUIRED:
        if not sections.get(heading):
            raise LessonError(f"the section “{heading.capitalize()}” is missing or empty")
    return meta, sections


OPTION = re.compile(r"- \[( |x|X)\] (.+)")


def _question(text):
    question, options, answer = [], [], None
    for line in text.split("\n"):
        found = OPTION.fullmatch(line.strip())
        if found:
            if found[1] != " ":
                if answer is not None:
                    raise LessonError("Predict: more than one option is marked [x]")
                answer = len(options)
            options.append(found[2].strip())
        elif line.strip():
            if options:
                raise LessonError("Predict: the question comes before its options")
            question.append(line.strip())
    if not question:
        raise LessonError("Predict: the question is missing")
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise LessonError(f"Predict: it needs 2 to {MAX_OPTIONS} options (“- [ ] …” lines)")
    if answer is None:
        raise LessonError("Predict: no option is marked as the right one (“- [x] …”)")
    return Question(" ".join(question), tuple(options), answer)


def setup_params(page, setup):
    """The URL parameters a lesson's *Set it up* opens ``page`` with, from its ``setup:`` line
    ("preset=seed&epochs=12"). For Train they are a whole setup (``to_query``): ``preset=`` fills it
    from a preset, the other keys change it as a link's would; anything the Train page would refuse
    makes the lesson unavailable. Other pages take ``run=`` (a shipped model or a run id) and, How it
    computes, ``view=`` (one of ``VIEWS``). ``my_digits=mine`` is the learner's own digits (``MINE``)."""
    try:
        pairs = urllib.parse.parse_qsl(setup.replace(",", "&").replace(" ", ""), strict_parsing=bool(setup))
    except ValueError:
        raise LessonError(f"setup: “{setup[:60]}” should be key=value pairs joined by &") from None
    asked = dict(pairs)
    if len(asked) != len(pairs):
        raise LessonError("setup: a key comes twice")
    if page != "train":
        allowed = {"run", "view"} if page == "computes" else {"run"}
        unknown = set(asked) - allowed
        if unknown:
            raise LessonError(f"setup: the {page} page takes only {', '.join(sorted(allowed))}, not "
                              f"{', '.join(sorted(unknown))}")
        if "run" in asked and not (asked["run"] and START_FROM.fullmatch(asked["run"])):
            raise LessonError(f"setup: run={asked['run'][:40]} is not a run id or model:NAME")
        if "view" in asked and asked["view"] not in VIEWS:
            raise LessonError(f"setup: view should be one of {', '.join(VIEWS)}")
        return asked
    preset = asked.pop("preset", "seed")
    if preset not in PRESETS:
        raise LessonError(f"setup: there is no preset “{preset[:40]}”")
    mine = asked.get("my_digits") == MINE
    if mine:
        asked["my_digits"] = "0" * 12                    # checked as an id; the learner's own replaces it
    config, problems = from_query(asked, base=PRESETS[preset].config)
    if problems:
        raise LessonError("setup: " + "; ".join(problems))
    params = to_query(config)
    if mine:
        params["my_digits"] = MINE
    return params


def _check_of(path):
    """The ``check`` function of a lesson's Python file."""
    if not path.exists():
        raise LessonError(f"its check, {path.name}, is missing")
    spec = importlib.util.spec_from_file_location(f"lesson_check_{path.stem.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:                  # a lesson file a teacher is editing: any fault at all
        raise LessonError(f"its check, {path.name}, does not load ({type(err).__name__}: {err})") from None
    check = getattr(module, "check", None)
    if not callable(check):
        raise LessonError(f"its check, {path.name}, has no function check(work)")
    return check


# ---- what a check looks at ----------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """One of the learner's runs as a check sees it: saved, or still training (``live``)."""

    id: str
    name: str
    status: Status
    created: float
    config: TrainConfig | None
    history: tuple = ()                  # Events, one per finished epoch
    test_accuracy: float | None = None
    error: str | None = None
    fine_tune: dict | None = None
    challenge: str | None = None
    live: bool = False
    start_accuracy: float | None = None  # the untrained network's (on the trainer's 1,000 probe test images)

    @property
    def finished(self):
        """Over, and saved: what it shows will not change."""
        return not self.live and self.status != Status.UPLOADED

    @property
    def accuracies(self):
        """Test accuracy after each finished epoch."""
        return [e.test_accuracy for e in self.history]

    @property
    def gap(self):
        """Train minus test accuracy after its last epoch, in points (None before one ended)."""
        if not self.history:
            return None
        last = self.history[-1]
        return 100 * (last.train_accuracy - last.test_accuracy)

    @property
    def label(self):
        return f"“{self.name}”"


@dataclass(frozen=True)
class Action:
    """Something the learner did on a page that a lesson checks (``ACTION_KINDS``): ``data`` as the
    page recorded it (``Progress.record``)."""

    kind: str
    at: float
    data: dict


@dataclass
class Work:
    """What a check may look at: the learner's runs started since ``since`` (newest first), their
    actions since then, and, on request, a run's network, the test set, their digit collections and
    their class challenges (loaded only when a check asks, by the functions the service gives)."""

    person: Person
    since: float
    runs: list
    actions: list = field(default_factory=list)
    load_network: Callable | None = None
    load_test_set: Callable | None = None
    load_collections: Callable | None = None
    load_challenges: Callable | None = None

    def runs_where(self, test):
        return [r for r in self.runs if test(r)]

    def actions_of(self, kind):
        return [a for a in self.actions if a.kind == kind]

    def network(self, run: RunRecord):
        """The run's final network (a saved run) or its latest weights (a live one)."""
        return self.load_network(run)

    def test_set(self):
        """(x_test (10000, 784), y_test (10000,))."""
        return self.load_test_set()

    def collections(self):
        """The learner's own digit collections (``runner.digits.CollectionInfo``)."""
        return self.load_collections() if self.load_collections else []

    def challenges(self):
        """[(ClassInfo, Challenge, [Standing])] of the classes the learner is in, latest challenge each."""
        return self.load_challenges() if self.load_challenges else []


@dataclass(frozen=True)
class Verdict:
    """A check's answer. ``text`` says, in the learner's numbers, what the runs showed (passed) or
    what is still missing; ``tries``: finished runs it looked at that fell short; ``uses``: the ids
    of the runs it rests on so far; ``waiting``: a run that may still pass is training."""

    passed: bool
    text: str
    tries: int = 0
    uses: tuple = ()
    waiting: bool = False


def passed(text, uses=()):
    return Verdict(True, text, uses=tuple(uses))


def not_yet(text, tries=0, uses=(), waiting=False):
    return Verdict(False, text, tries, tuple(uses), waiting)


def pct(fraction):
    """0.9431 -> "94.31%"."""
    return f"{100 * fraction:.2f}%"


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_ENTRIES = 4096


def cached(key, compute):
    """``compute()``, remembered under ``key`` (the newest ``CACHE_ENTRIES`` of them, for every
    session of this process): for what a check measures on a run's network, which stays the same
    while the run does (put its id, status and epochs done in the key)."""
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = compute()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return value


def still_going(runs):
    """What to say of ``runs`` (a check's candidates, newest first) that show nothing yet: those still
    training, and the newest if it failed or was interrupted; "" when there are none."""
    said = []
    for run in runs:
        if run.live:
            done = len(run.history)
            total = run.config.epochs if run.config else "?"
            said.append(f"Your run {run.label} is still training ({done} of {total} epochs done): the check "
                        "looks at it again as it goes and when it has finished.")
    newest = runs[0] if runs else None
    if newest is not None and not newest.live and newest.status in (Status.FAILED, Status.INTERRUPTED):
        why = f" ({newest.error})" if newest.error else ""
        said.append(f"Your run {newest.label} {newest.status.value}{why}: it shows nothing; start it again with "
                    "Set it up.")
    return " ".join(said[:2])


# ---- progress, kept per person ----------------------------------------------------------------------
@dataclass(frozen=True)
class LessonState:
    """Where a person stands with one lesson."""

    lesson: str
    answer: int | None = None            # the option they predicted
    answered: float | None = None
    state: str = OPEN                    # OPEN, PASSED or SKIPPED
    finished: float | None = None
    summary: str = ""                    # what it showed, in their numbers (once passed)
    uses: dict = field(default_factory=dict)   # {run id: run name} the check rested on

    @property
    def done(self):
        return self.state == PASSED


class Progress:
    """Every person's lessons, in the class database (shared by every app server)."""

    def __init__(self, db: Database):
        self.db = db                      # migrated by runner.classes.Classroom, which owns the schema

    def of(self, owner) -> dict[str, LessonState]:
        with self.db.transaction(write=False) as tx:
            rows = tx.rows("SELECT lesson, answer, answered, state, finished, summary, uses FROM lesson_progress "
                           "WHERE owner = ?", (owner,))
        return {row[0]: _state(row) for row in rows}

    def of_many(self, owners) -> dict[str, dict[str, LessonState]]:
        """{owner: {lesson: LessonState}} for a class's dashboard, in one query."""
        owners = sorted(set(owners))
        found = {owner: {} for owner in owners}
        if not owners:
            return found
        marks = ", ".join("?" * len(owners))
        with self.db.transaction(write=False) as tx:
            rows = tx.rows(f"SELECT owner, lesson, answer, answered, state, finished, summary, uses FROM "
                           f"lesson_progress WHERE owner IN ({marks})", tuple(owners))
        for row in rows:
            found[row[0]][row[1]] = _state(row[1:])
        return found

    def _put(self, tx, owner, lesson_id, **values):
        """Set ``values`` in a person's row of a lesson, made first if it is not there yet."""
        tx.execute("INSERT INTO lesson_progress (owner, lesson, state, uses) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (owner, lesson) DO NOTHING", (owner, lesson_id, OPEN, "{}"))
        sets = ", ".join(f"{k} = ?" for k in values)
        tx.execute(f"UPDATE lesson_progress SET {sets} WHERE owner = ? AND lesson = ?",
                   (*values.values(), owner, lesson_id))

    def predict(self, by: Person, lesson: Lesson, answer, now=None) -> LessonState:
        """Keep ``by``'s answer to the lesson's question. An answer, once given, stays (predict,
        then see); raises ValueError for an option the question does not have."""
        if lesson.question is None or not (isinstance(answer, int) and 0 <= answer < len(lesson.question.options)):
            raise ValueError("that is not one of the question's options")
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            row = tx.one("SELECT answered FROM lesson_progress WHERE owner = ? AND lesson = ?", (by.owner, lesson.id))
            if row is None or row[0] is None:
                self._put(tx, by.owner, lesson.id, answer=answer, answered=now)
        return self.of(by.owner)[lesson.id]

    def skip(self, by: Person, lesson_id, now=None):
        """Skip a lesson (a passed one stays passed)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT state FROM lesson_progress WHERE owner = ? AND lesson = ?", (by.owner, lesson_id))
            if row is None or row[0] != PASSED:
                self._put(tx, by.owner, lesson_id, state=SKIPPED, finished=time.time() if now is None else now)

    def reopen(self, by: Person, lesson_id):
        """Take up a skipped lesson again."""
        with self.db.transaction() as tx:
            tx.execute("UPDATE lesson_progress SET state = ?, finished = NULL WHERE owner = ? AND lesson = ? "
                       "AND state = ?", (OPEN, by.owner, lesson_id, SKIPPED))

    def mark_passed(self, by: Person, lesson_id, summary, uses, now=None):
        with self.db.transaction() as tx:
            self._put(tx, by.owner, lesson_id, state=PASSED, finished=time.time() if now is None else now,
                      summary=str(summary)[:MAX_SUMMARY], uses=json.dumps(uses))

    def remember(self, by: Person, lesson_id, uses):
        """Keep the runs a check rests on so far ({id: name}), so that one deleted later is named."""
        with self.db.transaction() as tx:
            self._put(tx, by.owner, lesson_id, uses=json.dumps(uses))

    def record(self, by: Person, kind, data, now=None):
        """Keep an action of ``by`` that a lesson checks (the newest ``MAX_ACTIONS`` of each kind)."""
        problem = action_problem(kind, data)
        if problem:
            raise ValueError(problem)
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO lesson_actions VALUES (?, ?, ?, ?)", (by.owner, kind, now, json.dumps(data)))
            tx.execute("DELETE FROM lesson_actions WHERE owner = ? AND kind = ? AND at < (SELECT MIN(at) FROM "
                       "(SELECT at FROM lesson_actions WHERE owner = ? AND kind = ? ORDER BY at DESC LIMIT ?) newest)",
                       (by.owner, kind, by.owner, kind, MAX_ACTIONS))

    def actions(self, owner, since) -> list[Action]:
        with self.db.transaction(write=False) as tx:
            rows = tx.rows("SELECT kind, at, data FROM lesson_actions WHERE owner = ? AND at >= ? ORDER BY at DESC",
                           (owner, since))
        found = []
        for kind, at, data in rows:
            try:
                plain = json.loads(data)
            except ValueError:
                continue
            if action_problem(kind, plain) is None and _finite(at):
                found.append(Action(kind, float(at), plain))
        return found


def action_problem(kind, data):
    """Why ``data`` is not a well-formed action of ``kind`` (None: it is)."""
    fields_ = ACTION_FIELDS.get(kind)
    if fields_ is None:
        return f"not an action a lesson checks: {kind!r}"
    if not isinstance(data, dict) or set(data) != set(fields_):
        return f"a {kind} action has the fields {', '.join(fields_)}"
    for name, want in fields_.items():
        value = data[name]
        if want == "number":
            good = type(value) in (int, float) and math.isfinite(value)
        elif want == "fraction":
            good = type(value) in (int, float) and 0 <= value <= 1
        elif want == "units":
            good = (isinstance(value, list) and 0 < len(value) <= 4 * 1024 and
                    all(isinstance(u, list) and len(u) == 2 and all(type(i) is int and 0 <= i < 1024 for i in u)
                        for u in value))
        elif want is str:
            good = isinstance(value, str) and len(value) <= 200
        else:
            good = type(value) is want and (want is not int or 0 <= value < 1024 * 1024)
        if not good:
            return f"a {kind} action's {name} is malformed"
    return None


def _state(row):
    """A LessonState from its row, its values checked (another server, or a hand, may have written it)."""
    lesson, answer, answered, state, finished, summary, uses = row
    try:
        kept = json.loads(uses or "{}")
    except ValueError:
        kept = {}
    if not isinstance(kept, dict):
        kept = {}
    return LessonState(lesson, answer if isinstance(answer, int) and answer >= 0 else None,
                       float(answered) if _finite(answered) else None,
                       state if state in (OPEN, PASSED, SKIPPED) else OPEN,
                       float(finished) if _finite(finished) else None, str(summary or "")[:MAX_SUMMARY],
                       {str(k): str(v)[:80] for k, v in kept.items()})


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


# ---- the service: a lesson checked on a person's runs -------------------------------------------------
class Tutor:
    """The path and each person's progress along it, checked on their runs.

    ``runs_of(person, since)`` gives that person's runs started since then as ``RunRecord``s (saved
    and live, newest first: ``records_of``); ``network_of(run)``, ``test_set()``, ``collections_of(person)`` and
    ``challenges_of(person)`` are what ``Work`` hands a check that asks."""

    def __init__(self, progress: Progress, runs_of, network_of=None, test_set=None, collections_of=None,
                 challenges_of=None, folder=LESSONS_DIR):
        self.progress = progress
        self.runs_of, self.network_of, self.test_set = runs_of, network_of, test_set
        self.collections_of, self.challenges_of = collections_of, challenges_of
        self.folder = Path(folder)
        self._lessons, self._version = [], None

    def lessons(self) -> list[Lesson]:
        """The path, read again whenever one of its files changed (a teacher editing a lesson sees
        it at once, without a restart)."""
        try:
            version = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(self.folder.iterdir())
                            if p.suffix in (".md", ".py"))
        except OSError:
            version = ()
        if version != self._version:
            self._lessons, self._version = load_lessons(self.folder), version
        return self._lessons

    def lesson(self, lesson_id) -> Lesson | None:
        return next((l for l in self.lessons() if l.id == lesson_id), None)

    def work(self, person: Person, since) -> Work:
        """What a check of ``person``'s may look at: their runs and actions since ``since``."""
        collections, challenges = self.collections_of, self.challenges_of
        return Work(person, since, self.runs_of(person, since),
                    self.progress.actions(person.owner, since), self.network_of, self.test_set,
                    (lambda: collections(person)) if collections else None,
                    (lambda: challenges(person)) if challenges else None)

    def check(self, person: Person, lesson: Lesson, state: LessonState | None) -> Verdict | None:
        """The lesson's verdict on ``person``'s runs and actions since they answered its question
        (None before they have). A passed lesson keeps what it showed; a newly passed one is kept."""
        if state is None or state.answered is None or not lesson.available:
            return None
        if state.done:
            return passed(state.summary)
        work = self.work(person, state.answered)
        try:
            verdict = lesson.check(work)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"check() gave {type(verdict).__name__}, not a Verdict")
        except Exception as err:               # a lesson's own check is at fault: say so, lose nothing
            return not_yet(f"This lesson's check could not be computed ({type(err).__name__}: {err}); the "
                           "lesson file needs mending.")
        names = {r.id: r.name for r in work.runs}
        uses = {run_id: names.get(run_id, run_id) for run_id in verdict.uses}
        if verdict.passed:
            self.progress.mark_passed(person, lesson.id, verdict.text, uses)
            return verdict
        gone = {run_id: name for run_id, name in state.uses.items() if run_id not in names}
        if gone:                               # named until the lesson is passed
            verdict = not_yet(f"Your run “{next(iter(gone.values()))}”, which this lesson was using, has been "
                              f"deleted: train it again. {verdict.text}", verdict.tries, verdict.uses, verdict.waiting)
        if {**gone, **uses} != state.uses:
            self.progress.remember(person, lesson.id, {**gone, **uses})
        return verdict


def records_of(store, registry, owner, since=0.0) -> list[RunRecord]:
    """``owner``'s runs started since ``since``, newest first: those training on this server
    (``live``), and the saved ones (a live run's record wins over its file). Only metadata is read,
    once per version of a file."""
    records = {}
    for job in registry.jobs():
        if job.owner == owner and not job.saved and job.created >= since:
            view = job.view()
            records[job.id] = RunRecord(job.id, view["name"], Status(view["status"]), view["created"], view["config"],
                                        tuple(view["history"]), None, view["error"], None, view["challenge"],
                                        live=not job.settled, start_accuracy=_start(view["progress"]))
    for info in store.list():
        if info.owner != owner or info.damaged or info.id in records or info.created < since:
            continue
        try:
            records[info.id] = cached(("record", info.id, info.name, str(info.status), info.epochs_done,
                                          info.test_accuracy, info.created), lambda: _saved_record(store, info))
        except (ValueError, OSError):          # deleted or damaged since it was listed
            continue
    return sorted(records.values(), key=lambda r: r.created, reverse=True)


def _saved_record(store, info):
    meta = store.meta(info.id)
    return RunRecord(info.id, info.name, meta.status, info.created,
                     TrainConfig.from_dict(meta.config) if meta.config else None,
                     tuple(Event(**e) for e in meta.history), meta.test_accuracy, meta.error, meta.fine_tune,
                     meta.challenge, start_accuracy=_start([Event(**e) for e in meta.progress[:1]]))


def _start(progress):
    """The untrained network's test accuracy: the first progress event's, if it is at epoch 0."""
    return progress[0].test_accuracy if progress and progress[0].epoch == 0 else None
