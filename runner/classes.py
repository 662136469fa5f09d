"""A teacher's classes: join codes, rosters, a challenge with a budget, and its fair leaderboard.

Everything here lives in the shared database (``runner.database``: SQLite in the runs folder, or
PostgreSQL), so every app server of a class sees the same class. Nothing here knows about Streamlit;
every change takes the person asking (``by``) and checks, here, that they may make it.

**Classes.** A teacher makes a class and gets a code of ``CODE_LENGTH`` characters from an alphabet
without look-alikes (no 0/O, 1/I/L), shown grouped (``K7Q-2XM``) and read case-insensitively.
31⁶ ≈ 8.9·10⁸ codes are too many to guess only because wrong codes are counted: ``JOIN_TRIES``
per person in ``JOIN_WINDOW`` seconds (and ``SERVER_JOIN_TRIES`` for the whole server), then a
pause that says how long. A student joins with the code and a display name unique in the class.
Closing a class expires its code; removing a student takes them off the roster and leaderboard.
Neither touches a run: runs belong to the people who trained them (``runner.identity``).

**A challenge.** A title, a budget (``Budget``: the most weights, epochs and training seconds, and
settings held fixed) and an end time. A run entered for it is checked against the budget before it
starts (``enter``), trains without seeing the private half, and is stopped at the time budget
(``RunSpec.time_budget``). The test set is split in two fixed halves (``mlp.data.TEST_HALVES``):
the even-numbered test images are the *public* half, the odd-numbered ones the *private* half.
During the challenge every number shown of a challenge run is measured on the public half; the
leaderboard ranks each student's best finished run by it. When the teacher reveals the private
half, the same runs are ranked on it too, and the board shows who climbed and who fell: what
choosing among many runs by one test set does (the Kaggle public/private split).
"""
from __future__ import annotations

import json
import math
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field, replace

from mlp.config import TrainConfig
from mlp.data import TEST_HALVES
from mlp.runs import Status
from runner.database import Conflict, Database, Unavailable
from runner.identity import Person, display_name

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
JOIN_TRIES = 10
JOIN_WINDOW = 600.0
SERVER_JOIN_TRIES = 300
"""At most JOIN_TRIES wrong codes per person, and SERVER_JOIN_TRIES in all, in JOIN_WINDOW seconds."""
MAX_SECONDS = 24 * 3600
FIXABLE = ("layers", "activation", "output", "loss", "optimizer", "lr", "lr_decay", "batch_size", "init", "l2",
           "shuffle", "seed", "train_size", "dropout", "shift", "rotation", "scaling", "elastic")
"""The settings a challenge may hold fixed (the epochs are a limit of the budget instead)."""
SCHEMA_VERSION = 2
"""1: classes, members, challenges and entries; 2: lessons (``runner.learn``): each person's progress,
their actions a lesson checks, and the lessons a teacher assigned a class."""
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS classes (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, title TEXT NOT NULL, "
    "teacher TEXT NOT NULL, teacher_name TEXT, created DOUBLE PRECISION NOT NULL, closed DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS members (class_id TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, "
    "name_key TEXT NOT NULL, joined DOUBLE PRECISION NOT NULL, PRIMARY KEY (class_id, owner), "
    "UNIQUE (class_id, name_key))",
    "CREATE INDEX IF NOT EXISTS members_of ON members (owner)",
    "CREATE TABLE IF NOT EXISTS code_tries (who TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS code_tries_at ON code_tries (at)",
    "CREATE TABLE IF NOT EXISTS challenges (id TEXT PRIMARY KEY, class_id TEXT NOT NULL, title TEXT NOT NULL, "
    "budget TEXT NOT NULL, ends DOUBLE PRECISION NOT NULL, revealed DOUBLE PRECISION, "
    "created DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS challenges_of ON challenges (class_id, created)",
    "CREATE TABLE IF NOT EXISTS entries (challenge_id TEXT NOT NULL, run_id TEXT NOT NULL, owner TEXT NOT NULL, "
    "entered DOUBLE PRECISION NOT NULL, settings TEXT NOT NULL, state TEXT NOT NULL, "
    "public DOUBLE PRECISION, private DOUBLE PRECISION, PRIMARY KEY (challenge_id, run_id))",
    "CREATE INDEX IF NOT EXISTS entries_by ON entries (challenge_id, owner, public)",
    "CREATE TABLE IF NOT EXISTS lesson_progress (owner TEXT NOT NULL, lesson TEXT NOT NULL, answer INTEGER, "
    "answered DOUBLE PRECISION, state TEXT NOT NULL, finished DOUBLE PRECISION, summary TEXT, uses TEXT, "
    "PRIMARY KEY (owner, lesson))",
    "CREATE TABLE IF NOT EXISTS lesson_actions (owner TEXT NOT NULL, kind TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lesson_actions_of ON lesson_actions (owner, kind, at)",
    "CREATE TABLE IF NOT EXISTS assignments (class_id TEXT NOT NULL, lesson TEXT NOT NULL, "
    "assigned DOUBLE PRECISION NOT NULL, PRIMARY KEY (class_id, lesson))",
)
LESSON_ID = re.compile(r"[a-z][a-z0-9_]{0,30}")
"""A lesson's id, as ``runner.learn`` reads it from its file name."""
MAX_ASSIGNED = 100
PENDING, SCORED, VOID = "pending", "scored", "void"
"""An entry's state: its run has not ended yet; it is measured on both halves; it will never count
(diverged, failed, deleted)."""


def new_id():
    return secrets.token_hex(6)


def normal_code(text):
    """A code as typed ("k7q 2xm", "K7Q-2XM") in its stored form ("K7Q2XM"), or "" if it cannot be one."""
    code = "".join(ch for ch in str(text or "").upper() if not ch.isspace() and ch != "-")
    return code if len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code) else ""


def grouped(code):
    """"K7Q2XM" as it is shown and read out: "K7Q-2XM"."""
    return f"{code[:3]}-{code[3:]}"


class JoinRefused(ValueError):
    """A code that does not open a class (wrong, expired, too many tries) or a name that is taken."""


class ClassClosed(ValueError):
    """The class was closed (perhaps by another session a moment ago); nothing was changed."""


class OverBudget(ValueError):
    """A run that the challenge does not allow; the message names every limit it is over."""


class NotTeacher(PermissionError):
    def __init__(self, action):
        super().__init__(action)
        self.action = action

    def __str__(self):
        return f"only a teacher may {self.action}"


@dataclass(frozen=True)
class ClassInfo:
    id: str
    code: str
    title: str
    teacher: str                  # the owner id of the teacher who made it
    teacher_name: str | None
    created: float
    closed: float | None = None

    @property
    def is_open(self):
        return self.closed is None

    @property
    def shown_code(self):
        return grouped(self.code)


@dataclass(frozen=True)
class Member:
    class_id: str
    owner: str
    name: str
    joined: float


@dataclass(frozen=True)
class Budget:
    """What a challenge allows: at most ``max_weights`` weights, ``max_epochs`` epochs and
    ``max_seconds`` of training (None: no limit), with the settings in ``fixed`` held at its values."""

    max_weights: int | None = None
    max_epochs: int | None = None
    max_seconds: float | None = None
    fixed: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, limit in (("weights", self.max_weights), ("epochs", self.max_epochs), ("seconds", self.max_seconds)):
            if limit is not None and not (isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0):
                raise ValueError(f"the largest number of {name} should be above 0, got {limit!r}")
        if self.max_seconds is not None and self.max_seconds > MAX_SECONDS:
            raise ValueError(f"a challenge's training time is at most {MAX_SECONDS // 3600} hours")
        unknown = set(self.fixed) - set(FIXABLE)
        if unknown:
            raise ValueError(f"a challenge cannot fix {', '.join(sorted(unknown))}")
        TrainConfig.from_dict(self.fixed).validate()          # the fixed values must be a setup that trains

    def problems(self, config: TrainConfig):
        """Why ``config`` is over this budget, one sentence per limit (empty: it is within it)."""
        said = []
        if self.max_weights is not None and config.weights > self.max_weights:
            said.append(f"its network has {config.weights:,} weights; the challenge allows at most "
                        f"{self.max_weights:,}")
        if self.max_epochs is not None and config.epochs > self.max_epochs:
            said.append(f"it trains {config.epochs} epochs; the challenge allows at most {self.max_epochs}")
        for name, value in self.fixed.items():
            mine = getattr(config, name)
            if (list(mine) if name == "layers" else mine) != value:
                said.append(f"its {name} is {_shown(mine)}; the challenge fixes it at {_shown(value)}")
        if config.start_from or config.my_digits:
            said.append("it is fine-tuned; a challenge run starts from scratch on MNIST alone")
        return said

    def lines(self):
        """The budget in words, one limit a line."""
        said = [f"at most {self.max_weights:,} weights" if self.max_weights else "any number of weights",
                f"at most {self.max_epochs} epochs" if self.max_epochs else "any number of epochs"]
        if self.max_seconds:
            said.append(f"at most {self.max_seconds:g} s of training (a run is stopped there)")
        said += [f"{name} fixed at {_shown(value)}" for name, value in self.fixed.items()]
        return said

    def to_json(self):
        return json.dumps({"max_weights": self.max_weights, "max_epochs": self.max_epochs,
                           "max_seconds": self.max_seconds, "fixed": self.fixed}, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        return cls(data.get("max_weights"), data.get("max_epochs"), data.get("max_seconds"), data.get("fixed") or {})

    @classmethod
    def fixing(cls, names, values: TrainConfig, **limits):
        """A budget that holds the settings ``names`` at their values in ``values``."""
        plain = values.to_dict()
        return cls(fixed={name: plain[name] for name in names}, **limits)


def _shown(value):
    if isinstance(value, (list, tuple)):
        return "-".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Challenge:
    id: str
    class_id: str
    title: str
    budget: Budget
    ends: float
    revealed: float | None
    created: float

    def under_way(self, now=None):
        return (time.time() if now is None else now) < self.ends and self.revealed is None


@dataclass(frozen=True)
class Standing:
    """One student's line on a leaderboard: their best finished run by the public half.
    private and private_rank are None until the teacher reveals the private half; climbed is how
    many places they moved up from the public ranking to the private one (negative: fell)."""

    rank: int
    owner: str
    name: str
    run_id: str
    settings: str
    public: float
    entered: float
    runs: int
    private: float | None = None
    private_rank: int | None = None

    @property
    def climbed(self):
        return None if self.private_rank is None else self.rank - self.private_rank


def _ranks(values):
    """Competition ranks (1, 2, 2, 4) of ``values``, highest first."""
    first = {}
    for place, value in enumerate(sorted(values, reverse=True), start=1):
        first.setdefault(value, place)
    return [first[v] for v in values]


class Classroom:
    """The classes of this server (or of every server sharing ``db``)."""

    def __init__(self, db: Database):
        self.db = db
        db.migrate(SCHEMA_VERSION, SCHEMA)

    # ---- classes --------------------------------------------------------------------------------
    def create(self, by: Person, title, now=None) -> ClassInfo:
        """A new class taught by ``by`` (a teacher), with a fresh code."""
        _check_teacher(by, "make a class")
        title = _title(title, "a class")
        now = time.time() if now is None else now
        for _ in range(20):                   # a code already taken (one in ~10⁸): draw another
            info = ClassInfo(new_id(), "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
                             title, by.owner, by.name, now)
            try:
                with self.db.transaction() as tx:
                    tx.execute("INSERT INTO classes VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (info.id, info.code, info.title, info.teacher, info.teacher_name, now, None))
                return info
            except Conflict:
                continue
        raise Unavailable("no free class code could be drawn; try again")

    def get(self, class_id) -> ClassInfo | None:
        with self.db.transaction(write=False) as tx:
            row = tx.one("SELECT * FROM classes WHERE id = ?", (str(class_id),))
        return ClassInfo(*row) if row else None

    def classes(self, teacher=None) -> list[ClassInfo]:
        """Every class (or those made by the owner id ``teacher``), newest first."""
        with self.db.transaction(write=False) as tx:
            rows = (tx.rows("SELECT * FROM classes WHERE teacher = ? ORDER BY created DESC", (teacher,))
                    if teacher else tx.rows("SELECT * FROM classes ORDER BY created DESC"))
        return [ClassInfo(*row) for row in rows]

    def joined(self, person: Person) -> list[ClassInfo]:
        """The classes ``person`` is a student of, newest first."""
        with self.db.transaction(write=False) as tx:
            return self._joined(tx, person)

    def _joined(self, tx, person):
        rows = tx.rows("SELECT c.* FROM classes c JOIN members m ON m.class_id = c.id WHERE m.owner = ? "
                       "ORDER BY c.created DESC", (person.owner,))
        return [ClassInfo(*row) for row in rows]

    def close(self, class_id, by: Person, now=None):
        """Close a class: its code stops working; its roster, challenges and runs stay. True if
        this call closed it, False if it was closed already."""
        _check_teacher(by, "close a class")
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            self._class_of(tx, class_id)
            return tx.execute("UPDATE classes SET closed = ? WHERE id = ? AND closed IS NULL", (now, class_id)) == 1

    def _class_of(self, tx, class_id, must_be_open=False):
        row = tx.one("SELECT * FROM classes WHERE id = ?", (str(class_id),))
        if row is None:
            raise KeyError(f"there is no class {class_id}")
        info = ClassInfo(*row)
        if must_be_open and not info.is_open:
            raise ClassClosed(f"the class “{info.title}” is closed: nothing was changed")
        return info

    # ---- students --------------------------------------------------------------------------------
    def join(self, by: Person, code, name, now=None) -> ClassInfo:
        """Join the open class whose code is ``code`` as ``name`` (unique in the class, case aside);
        joining again changes one's name. Raises JoinRefused (a wrong code counts as a try) or
        ValueError for a name that cannot be one."""
        name = display_name(name)
        now = time.time() if now is None else now
        wanted = normal_code(code)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM code_tries WHERE at < ?", (now - JOIN_WINDOW,))
            self._check_tries(tx, by.owner, now)
            row = tx.one("SELECT * FROM classes WHERE code = ?", (wanted,)) if wanted else None
            if row is None:
                tx.execute("INSERT INTO code_tries VALUES (?, ?)", (by.owner, now))
                left = JOIN_TRIES - tx.one("SELECT COUNT(*) FROM code_tries WHERE who = ?", (by.owner,))[0]
                refusal = (f"no class has the code {_as_typed(code)}: check it with your teacher "
                           f"({left} {'try' if left == 1 else 'tries'} left before a pause)")
            else:
                info = ClassInfo(*row)
                refusal = None if info.is_open else f"the class “{info.title}” has been closed by its teacher"
                if refusal is None:
                    refusal = self._enrol(tx, info, by, name, now)
        if refusal:                   # after the transaction, so that a wrong try is kept
            raise JoinRefused(refusal)
        return info

    def _check_tries(self, tx, who, now):
        mine = tx.one("SELECT COUNT(*), MIN(at) FROM code_tries WHERE who = ?", (who,))
        everyone = tx.one("SELECT COUNT(*), MIN(at) FROM code_tries")
        for (count, first), limit, whose in ((mine, JOIN_TRIES, "from you"), (everyone, SERVER_JOIN_TRIES, "on this server")):
            if count >= limit:
                wait = max(1, math.ceil((first + JOIN_WINDOW - now) / 60))
                raise JoinRefused(f"too many wrong class codes {whose}: try again in {wait} "
                                  f"minute{'s' if wait != 1 else ''}")

    def _enrol(self, tx, info, by, name, now):
        key = unicodedata.normalize("NFKC", name).casefold()     # "ADA", "ada" and "ａｄａ" are one name
        taken = tx.one("SELECT owner FROM members WHERE class_id = ? AND name_key = ?", (info.id, key))
        if taken and taken[0] != by.owner:
            return f"someone in “{info.title}” is already called {name}: choose another name"
        if tx.execute("UPDATE members SET name = ?, name_key = ? WHERE class_id = ? AND owner = ?",
                      (name, key, info.id, by.owner)) == 0:
            tx.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?)", (info.id, by.owner, name, key, now))
        return None

    def roster(self, class_id) -> list[Member]:
        """The class's students, by name."""
        with self.db.transaction(write=False) as tx:
            rows = tx.rows("SELECT class_id, owner, name, joined FROM members WHERE class_id = ? ORDER BY name_key",
                           (str(class_id),))
        return [Member(*row) for row in rows]

    def member(self, class_id, owner) -> Member | None:
        with self.db.transaction(write=False) as tx:
            row = tx.one("SELECT class_id, owner, name, joined FROM members WHERE class_id = ? AND owner = ?",
                         (str(class_id), owner))
        return Member(*row) if row else None

    def remove(self, class_id, owner, by: Person):
        """Take a student off the roster (their runs stay theirs). True if this call removed them,
        False if they were gone already."""
        _check_teacher(by, "remove a student")
        with self.db.transaction() as tx:
            self._class_of(tx, class_id)
            return tx.execute("DELETE FROM members WHERE class_id = ? AND owner = ?", (class_id, owner)) == 1

    # ---- lessons --------------------------------------------------------------------------------------
    def assign(self, class_id, lessons, by: Person, now=None):
        """Make ``lessons`` (lesson ids, ``runner.learn``) the ones the class is assigned, in place of
        those before. Raises NotTeacher, KeyError (no such class), ClassClosed, ValueError."""
        _check_teacher(by, "assign lessons")
        lessons = list(dict.fromkeys(str(l) for l in lessons))
        if any(not LESSON_ID.fullmatch(l) for l in lessons) or len(lessons) > MAX_ASSIGNED:
            raise ValueError("those are not lessons of the path")
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            self._class_of(tx, class_id, must_be_open=True)
            tx.execute("DELETE FROM assignments WHERE class_id = ?", (class_id,))
            tx.many("INSERT INTO assignments VALUES (?, ?, ?)", [(class_id, l, now) for l in lessons])

    def assigned(self, class_id) -> list[str]:
        """The lesson ids assigned to the class."""
        with self.db.transaction(write=False) as tx:
            return [r[0] for r in tx.rows("SELECT lesson FROM assignments WHERE class_id = ? ORDER BY lesson",
                                          (str(class_id),))]

    def assigned_to(self, person: Person) -> dict[str, list[str]]:
        """{lesson id: titles of the open classes of ``person``'s that assigned it}."""
        found = {}
        with self.db.transaction(write=False) as tx:
            for info in self._joined(tx, person):
                if info.is_open:
                    for (lesson,) in tx.rows("SELECT lesson FROM assignments WHERE class_id = ?", (info.id,)):
                        found.setdefault(lesson, []).append(info.title)
        return found

    # ---- the challenge -----------------------------------------------------------------------------
    def set_challenge(self, class_id, by: Person, title, budget: Budget, ends, now=None) -> Challenge:
        """Set the class's challenge (one under way at a time). Raises ClassClosed, ValueError."""
        _check_teacher(by, "set a challenge")
        now = time.time() if now is None else now
        title = _title(title, "a challenge")
        if not (isinstance(ends, (int, float)) and math.isfinite(ends) and ends > now):
            raise ValueError("a challenge must end in the future")
        challenge = Challenge(new_id(), class_id, title, budget, float(ends), None, now)
        with self.db.transaction() as tx:
            self._class_of(tx, class_id, must_be_open=True)
            current = self._latest(tx, class_id)
            if current is not None and current.under_way(now):
                raise Conflict(f"the challenge “{current.title}” is still under way: end it or reveal it first")
            tx.execute("INSERT INTO challenges VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (challenge.id, class_id, title, budget.to_json(), challenge.ends, None, now))
        return challenge

    def _challenge_of(self, tx, challenge_id):
        challenge = _challenge(tx.one("SELECT * FROM challenges WHERE id = ?", (str(challenge_id),)))
        if challenge is None:
            raise KeyError(f"there is no challenge {challenge_id}")
        return challenge

    def _latest(self, tx, class_id):
        row = tx.one("SELECT * FROM challenges WHERE class_id = ? ORDER BY created DESC LIMIT 1", (class_id,))
        return _challenge(row)

    def challenge(self, class_id) -> Challenge | None:
        """The class's latest challenge (under way, ended or revealed), or None."""
        with self.db.transaction(write=False) as tx:
            return self._latest(tx, str(class_id))

    def challenges_for(self, person: Person, now=None) -> list[tuple[ClassInfo, Challenge]]:
        """The challenges under way in the open classes ``person`` is a student of."""
        now = time.time() if now is None else now
        found = []
        with self.db.transaction(write=False) as tx:          # one transaction: Train asks on every run
            for info in self._joined(tx, person):
                challenge = self._latest(tx, info.id) if info.is_open else None
                if challenge is not None and challenge.under_way(now):
                    found.append((info, challenge))
        return found

    def end(self, challenge_id, by: Person, reveal=False, now=None):
        """End the challenge now (no more runs may enter); reveal=True also shows the private half."""
        _check_teacher(by, "reveal a challenge" if reveal else "end a challenge")
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            self._challenge_of(tx, challenge_id)
            tx.execute("UPDATE challenges SET ends = ? WHERE id = ? AND ends > ?", (now, challenge_id, now))
            if reveal:
                tx.execute("UPDATE challenges SET revealed = ? WHERE id = ? AND revealed IS NULL", (now, challenge_id))

    def enter(self, challenge_id, run_id, config: TrainConfig, by: Person, now=None) -> Challenge:
        """Enter the run ``run_id`` (about to start with ``config``) of ``by`` in the challenge.
        Raises OverBudget naming every limit it is over, JoinRefused when ``by`` is not a student
        of the class, ClassClosed or ValueError when the challenge is over: before anything is kept."""
        now = time.time() if now is None else now
        with self.db.transaction() as tx:
            challenge = self._challenge_of(tx, challenge_id)
            self._class_of(tx, challenge.class_id, must_be_open=True)
            if not challenge.under_way(now):
                raise ValueError(f"the challenge “{challenge.title}” is over: no more runs may enter it")
            if tx.one("SELECT 1 FROM members WHERE class_id = ? AND owner = ?", (challenge.class_id, by.owner)) is None:
                raise JoinRefused("only the class's students may enter its challenge: join the class first")
            problems = challenge.budget.problems(config)
            if problems:
                raise OverBudget("this run is over the challenge's budget: " + "; ".join(problems))
            tx.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (challenge.id, run_id, by.owner, now, config.summary(), PENDING, None, None))
        return challenge

    def withdraw(self, challenge_id, run_id):
        """Forget an entry whose run never started (the run service refused it after all)."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM entries WHERE challenge_id = ? AND run_id = ?", (challenge_id, run_id))

    def pending(self, challenge_id) -> list[str]:
        """The run ids of entries not measured yet."""
        with self.db.transaction(write=False) as tx:
            return [r[0] for r in tx.rows("SELECT run_id FROM entries WHERE challenge_id = ? AND state = ?",
                                          (challenge_id, PENDING))]

    def record(self, challenge_id, run_id, halves):
        """Keep what a run scored: ``halves`` (public, private) accuracies, or None when it will never
        count (it diverged, failed or was deleted)."""
        with self.db.transaction() as tx:
            if halves is None:
                tx.execute("UPDATE entries SET state = ? WHERE challenge_id = ? AND run_id = ?",
                           (VOID, challenge_id, run_id))
            else:
                tx.execute("UPDATE entries SET state = ?, public = ?, private = ? WHERE challenge_id = ? AND run_id = ?",
                           (SCORED, float(halves[0]), float(halves[1]), challenge_id, run_id))

    def score_pending(self, challenge_id, measure):
        """Measure every entry whose run has ended since last asked: ``measure(run_id)`` returns
        (public, private), None while the run goes on, or VOID when it will never count."""
        for run_id in self.pending(challenge_id):
            halves = measure(run_id)
            if halves is not None:
                self.record(challenge_id, run_id, None if halves == VOID else halves)

    def leaderboard(self, challenge_id) -> list[Standing]:
        """Each current student's best measured run, ranked by the public half (ties: the earlier
        run first); with the private half and its ranks once the challenge is revealed."""
        with self.db.transaction(write=False) as tx:
            challenge = self._challenge_of(tx, challenge_id)
            rows = tx.rows(
                "SELECT b.owner, m.name, b.run_id, b.settings, b.public, b.private, b.entered, b.runs FROM ("
                "  SELECT owner, run_id, settings, public, private, entered,"
                "    ROW_NUMBER() OVER (PARTITION BY owner ORDER BY public DESC, entered ASC, run_id) AS k,"
                "    COUNT(*) OVER (PARTITION BY owner) AS runs"
                "  FROM entries WHERE challenge_id = ? AND state = ?) b "
                "JOIN members m ON m.class_id = ? AND m.owner = b.owner "
                "WHERE b.k = 1 ORDER BY b.public DESC, b.entered ASC, b.run_id",
                (challenge.id, SCORED, challenge.class_id))
        ranks = _ranks([r[4] for r in rows])
        revealed = challenge.revealed is not None
        private_ranks = _ranks([r[5] for r in rows]) if revealed else [None] * len(rows)
        return [Standing(rank, owner, name, run_id, settings, public, entered, runs,
                         private if revealed else None, private_rank)
                for rank, private_rank, (owner, name, run_id, settings, public, private, entered, runs)
                in zip(ranks, private_ranks, rows)]


# ---- the run service's side: entering runs, measuring them, the dashboard -------------------------------
def start_entry(classroom: Classroom, registry, challenge_id, config: TrainConfig, by: Person, name=None,
                until_epoch=None):
    """Check ``config`` against the challenge and, only if it is within the budget, start it as an
    entry (a ``runner.jobs.Job``). Raises what ``Classroom.enter`` raises, or ConfigError, having
    started and kept nothing."""
    from runner.store import new_run_id

    config.validate()
    run_id = new_run_id()
    challenge = classroom.enter(challenge_id, run_id, config, by)
    try:
        return registry.submit(config, by, name=name, until_epoch=until_epoch, run_id=run_id,
                               challenge=challenge.id, time_budget=challenge.budget.max_seconds)
    except BaseException:
        classroom.withdraw(challenge.id, run_id)
        raise


COUNTED = (Status.DONE, Status.STOPPED)
"""How a challenge run must end to count: trained to its last epoch, or stopped (by its student, or
at the time budget). A diverged, failed or interrupted run never counts."""


def measurer(registry, store, x_test, y_test):
    """``measure(run_id)`` for ``Classroom.score_pending``: a saved run's accuracy on each half of
    the test set, None while it trains (or is not saved yet), VOID if it ended without counting."""
    def measure(run_id):
        job = registry.get(run_id)
        if job is not None and not job.settled:
            return None
        if not store.exists(run_id):
            return None if job is None else VOID           # a run that ended unsaved never counts
        try:
            info = store.info(run_id)
            if info.status not in COUNTED:
                return VOID
            network = store.load(run_id).network
        except (ValueError, OSError):
            return VOID
        return tuple(network.accuracy(x_test[half], y_test[half]) for half in
                     (TEST_HALVES["public"], TEST_HALVES["private"]))
    return measure


@dataclass(frozen=True)
class StudentRow:
    """One line of a teacher's dashboard: a student and their current run (the one training, else
    the one started last), or no run (run_id None)."""

    owner: str
    name: str
    run_id: str | None = None
    run_name: str = ""
    status: str = ""
    epoch: float = 0.0
    epochs: int = 0
    test_accuracy: float | None = None
    settings: str = ""
    curve: tuple = ()              # (epoch, test accuracy) points
    challenge: str | None = None
    active: bool = False


def dashboard(roster, jobs, saved) -> list[StudentRow]:
    """The dashboard's rows: ``roster`` (``Member``s), this server's ``jobs`` (``Registry.jobs()``)
    and the saved runs (``RunStore.list()``). Cheap: no file is read that the store has not cached."""
    students = {m.owner for m in roster}
    candidates = {}                    # owner -> {run id: ((active, created), row)}
    for info in saved:
        if info.owner in students and not info.damaged and info.status != Status.UPLOADED:
            candidates.setdefault(info.owner, {})[info.id] = ((False, info.created), _saved_row(info))
    for job in jobs:
        if job.owner in students:
            view = job.view()          # a job's view is fresher than its file, if it has one
            row = _job_row(view)
            candidates.setdefault(job.owner, {})[job.id] = ((row.active, view["created"]), row)
    latest = {owner: max(runs.values(), key=lambda c: c[0]) for owner, runs in candidates.items()}
    rows = []
    for member in roster:
        found = latest.get(member.owner)
        rows.append(replace(found[1], name=member.name) if found else StudentRow(member.owner, member.name))
    return rows


def _saved_row(info):
    config = TrainConfig.from_dict(info.config) if info.config else None
    return StudentRow(info.owner, "", info.id, info.name, str(info.status), float(info.epochs_done),
                      config.epochs if config else info.epochs_done, info.test_accuracy,
                      config.summary() if config else "", info.curve, info.challenge, False)


def _job_row(view):
    config, history = view["config"], view["history"]
    accuracy = history[-1].test_accuracy if history else None
    epoch = view["samples_seen"] / max(1, view["total_samples"]) * config.epochs
    return StudentRow(view["owner"], "", view["id"], view["name"], str(view["status"]), epoch, config.epochs,
                      accuracy, config.summary(), tuple((e.epoch, e.test_accuracy) for e in view["progress"]),
                      view["challenge"], Status(view["status"]).active)


def _challenge(row):
    """A challenge from its row; its budget (JSON) is checked as when it was set."""
    if row is None:
        return None
    cid, class_id, title, budget, ends, revealed, created = row
    try:
        return Challenge(cid, class_id, title, Budget.from_json(budget), ends, revealed, created)
    except (ValueError, TypeError, AttributeError) as err:       # json.JSONDecodeError is a ValueError
        raise Unavailable(f"the challenge “{title}” cannot be read from the class database ({err})") from None


def _check_teacher(by, action):
    if by is None or not by.teacher:
        raise NotTeacher(action)


def _title(text, what):
    try:
        return display_name(text)
    except ValueError:
        raise ValueError(f"{what} needs a title of 1 to 40 characters") from None


def _as_typed(code):
    shown = "".join(ch for ch in str(code or "") if ch.isprintable())[:20]
    return f"“{shown}”" if shown else "(empty)"


__all__ = ["Budget", "Challenge", "ClassClosed", "ClassInfo", "Classroom", "JoinRefused", "Member", "NotTeacher",
           "OverBudget", "Standing", "StudentRow", "dashboard", "grouped", "measurer", "normal_code",
           "start_entry"]
