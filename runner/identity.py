"""Who is who: a person's identity, and who may change what. No accounts, no Streamlit.

A browser is known by a random token kept in an HttpOnly cookie (``ui.cookie``); a person signed in
through the school's identity provider (``st.login``) by the provider's issuer and subject. Neither
is ever stored: a person's **owner id** is a keyed hash of it (HMAC-SHA-256 under this server's
secret, ``<runs>/.secret``, made once with mode 0600), and that id is what runs and collections
record as their owner. Someone who learns an owner id (it is in every run file) still cannot act
as its owner: acting needs the token itself.

The rule, checked by the run service wherever something is changed (``RunStore``, ``DigitStore``,
``Job``): only the owner, or a teacher, may change a run or a collection. A run saved before runs
had owners belongs to nobody: only a teacher may change it. A teacher is a person who has entered
the server's teacher key (``MLP_TEACHER_KEY``) once; changing the key makes every earlier teacher
a learner again. What a person is called (their display name) and whether they are a teacher is
kept in ``<runs>/people.sqlite``, shared by every server process on the folder.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
import unicodedata
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlp.runs import OWNER

TOKEN = re.compile(r"[0-9a-f]{32}")
"""A browser token as the cookie carries it: 128 random bits in hex. Anything else is ignored."""
MAX_DISPLAY_NAME = 40
KEY_TRIES = 5
KEY_WINDOW = 600.0
"""At most KEY_TRIES wrong teacher keys per person in KEY_WINDOW seconds (and 10 times that per
server), so the key cannot be guessed by trying."""
SCHEMA_VERSION = 1


def new_token():
    return secrets.token_hex(16)


def is_token(value):
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


def display_name(text):
    """A name typed by a person, made safe to keep and show (as text): printable characters, single
    spaces, 1 to 40 long. Raises ValueError when nothing is left."""
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(text or ""))
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise ValueError("a name needs at least one letter or digit")
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise ValueError(f"a name has at most {MAX_DISPLAY_NAME} characters")
    return cleaned


@dataclass(frozen=True)
class Person:
    """Someone using the app. owner: their owner id; name: their display name (None: not given);
    signed_in: known through the identity provider (else: by this browser's cookie)."""

    owner: str
    name: str | None = None
    teacher: bool = False
    signed_in: bool = False

    def __post_init__(self):
        if not OWNER.fullmatch(self.owner):
            raise ValueError("not an owner id")

    def owns(self, owner):
        return owner is not None and hmac.compare_digest(owner, self.owner)

    def may_change(self, owner):
        """True if this person may change something owned by ``owner`` (None: nobody's)."""
        return self.teacher or self.owns(owner)


def called(owner, owner_name, viewer=None):
    """How a list names the owner of something: "you", "Ada", "another learner", "nobody"."""
    if viewer is not None and viewer.owns(owner):
        return "you"
    if owner is None:
        return "nobody"
    return owner_name or "another learner"


def whose(owner, owner_name, viewer=None):
    """How a sentence names the owner of something: "yours", "Ada's", "another learner's (learner
    3f2a)", "nobody's (saved before runs had owners)"."""
    name = called(owner, owner_name, viewer)
    if name == "you":
        return "yours"
    if owner is None:
        return "nobody's (saved before runs had owners)"
    return f"{name}'s" if owner_name else f"{name}'s (learner {owner[:4]})"


class NotYours(PermissionError):
    """A person asked to change something that is not theirs; nothing was changed."""

    def __init__(self, action, owner, owner_name, unowned_because="it was saved before runs had owners"):
        super().__init__(action, owner, owner_name)
        self.action, self.owner, self.owner_name = action, owner, owner_name
        self.unowned_because = unowned_because

    def __str__(self):
        if self.owner is None:
            return f"only a teacher may {self.action}: {self.unowned_because}, so it is nobody's"
        return f"it is {whose(self.owner, self.owner_name)}: only its owner or a teacher may {self.action}"


def check_may_change(person, owner, owner_name, action, **unowned_because):
    """Raise NotYours unless ``person`` may change what ``owner`` owns (``action``: "rename it")."""
    if person is None or not person.may_change(owner):
        raise NotYours(action, owner, owner_name, **unowned_because)


class KeyRefused(ValueError):
    """A teacher key that was not accepted (wrong, too many tries, or none is set on this server)."""


class NotKept(ValueError):
    """A display name or a teacher's status that could not be kept (the people database cannot be
    written: a full disk, a read-only folder); nothing was changed."""


class Identities:
    """The server's secret and what it knows of people (their names, who is a teacher).

    teacher_key: the server's teacher key (from ``MLP_TEACHER_KEY`` or the app's secrets), or None
    when this server has no teacher. teacher_emails: the addresses (``MLP_TEACHERS``) whose owners,
    signed in through the school's identity provider with that address verified, are teachers.
    """

    def __init__(self, runs_dir, teacher_key=None, teacher_emails=()):
        self.teacher_emails = frozenset(e.strip().casefold() for e in teacher_emails if e and e.strip())
        self.folder = Path(runs_dir)
        self.problem = None
        """None, or why identities cannot be kept as they should (a page says so; nothing crashes)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._secret = _server_secret(self.folder / ".secret")
        except (OSError, RuntimeError) as err:
            self._secret = secrets.token_bytes(32)             # this process's own: identities last until a restart
            self.problem = (f"the server's secret cannot be read or made ({_reason(err)}): who is who lasts only "
                            "until the server restarts")
        self._teacher = self._keyed("teacher-key", teacher_key) if teacher_key else None
        self._db_path = self.folder / "people.sqlite"
        try:
            self._create_tables()
        except (sqlite3.Error, OSError, RuntimeError) as err:
            self._db_path = None
            self.problem = self.problem or f"display names and teachers cannot be kept ({_reason(err)})"

    def _create_tables(self):
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")                # kept in the file: set once, here
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise RuntimeError(f"{self._db_path.name} has schema version {version}; this app knows {SCHEMA_VERSION}")
            db.execute("CREATE TABLE IF NOT EXISTS people (owner TEXT PRIMARY KEY, display_name TEXT, "
                       "teacher_key TEXT, seen REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS key_tries (owner TEXT NOT NULL, at REAL NOT NULL)")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def has_teacher_key(self):
        return self._teacher is not None

    def _connect(self):
        return sqlite3.connect(self._db_path, timeout=10, isolation_level=None)

    def _keyed(self, kind, value):
        return hmac.new(self._secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    # ---- who is this --------------------------------------------------------------------------------
    def of_token(self, token):
        """The person behind a browser token, or None if the token is malformed (a new one is due)."""
        return self._person(self._keyed("browser", token)) if is_token(token) else None

    def of_provider(self, issuer, subject, name=None, email=None):
        """A person signed in through the identity provider (``st.user``: its ``iss`` and ``sub``,
        and its ``email`` when the provider verified it): a teacher if that address is listed."""
        if not subject:
            raise ValueError("the identity provider gave no subject for this person")
        person = self._person(self._keyed("oidc", f"{issuer or ''}\n{subject}"), signed_in=True)
        if email and str(email).strip().casefold() in self.teacher_emails:
            person = Person(person.owner, person.name, True, True)
        if person.name is None and name:
            try:
                return self.set_name(person, name)
            except ValueError:
                pass
        return person

    def _person(self, owner, signed_in=False):
        row = None
        if self._db_path is not None:
            try:
                with closing(self._connect()) as db:
                    row = db.execute("SELECT display_name, teacher_key FROM people WHERE owner = ?",
                                     (owner,)).fetchone()
            except sqlite3.Error:                 # unreadable now: a person without a name, not a teacher
                row = None
        name, key = row if row else (None, None)
        teacher = self._teacher is not None and key is not None and hmac.compare_digest(key, self._teacher)
        return Person(owner, name, teacher, signed_in)

    # ---- what they may set ----------------------------------------------------------------------------
    def set_name(self, person, name):
        """Give ``person`` a display name (ValueError if it is not one); returns them renamed."""
        name = display_name(name)
        self._upsert(person.owner, "display_name", name)
        return Person(person.owner, name, person.teacher, person.signed_in)

    def claim_teacher(self, person, key, now=None):
        """Make ``person`` a teacher if ``key`` is this server's teacher key; raises KeyRefused."""
        now = time.time() if now is None else now
        if self._teacher is None:
            raise KeyRefused("this server has no teacher key (set MLP_TEACHER_KEY where it is started)")
        with self._writing() as db:
            db.execute("DELETE FROM key_tries WHERE at < ?", (now - KEY_WINDOW,))
            mine = db.execute("SELECT COUNT(*) FROM key_tries WHERE owner = ?", (person.owner,)).fetchone()[0]
            everyone = db.execute("SELECT COUNT(*) FROM key_tries").fetchone()[0]
            if mine >= KEY_TRIES or everyone >= 10 * KEY_TRIES:
                raise KeyRefused(f"too many wrong keys: try again in {KEY_WINDOW / 60:g} minutes")
            if not hmac.compare_digest(self._keyed("teacher-key", str(key)), self._teacher):
                db.execute("INSERT INTO key_tries VALUES (?, ?)", (person.owner, now))
                raise KeyRefused("that is not this server's teacher key")
        self._upsert(person.owner, "teacher_key", self._teacher)
        return Person(person.owner, person.name, True, person.signed_in)

    def leave_teacher(self, person):
        self._upsert(person.owner, "teacher_key", None)
        return Person(person.owner, person.name, False, person.signed_in)

    @contextmanager
    def _writing(self):
        """A connection to change the people database; NotKept (nothing changed) if it cannot be."""
        if self._db_path is None:
            raise NotKept(f"it cannot be kept: {self.problem}")
        try:
            with closing(self._connect()) as db:
                yield db
        except sqlite3.Error as err:
            raise NotKept(f"it could not be kept ({_reason(err)})") from None

    def _upsert(self, owner, column, value):
        assert column in ("display_name", "teacher_key")
        with self._writing() as db:
            db.execute(f"INSERT INTO people (owner, {column}, seen) VALUES (?, ?, ?) "
                       f"ON CONFLICT(owner) DO UPDATE SET {column} = excluded.{column}, seen = excluded.seen",
                       (owner, value, time.time()))


def _reason(err):
    return (getattr(err, "strerror", None) or str(err) or type(err).__name__).lower()


def _server_secret(path):
    """The server's 32-byte secret: read, or made once (mode 0600) by whichever process comes first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):                        # another process may be writing it this instant
            secret = path.read_bytes()
            if len(secret) == 32:
                return secret
            time.sleep(0.02)
        raise RuntimeError(f"{path} should hold this server's 32-byte secret; delete it to make a new one "
                           "(every browser then gets a new identity)")
    secret = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    return secret
