"""What app servers share: one small interface over SQLite (the default) and PostgreSQL.

A classroom is shared by every app-server process that serves it, so it lives in a database, not in
a process: by default a SQLite file in the runs folder (the standard library's ``sqlite3``, in WAL
mode so readers never wait for a writer, safe for several processes on one machine), or, when
``MLP_DATABASE_URL`` names one, a PostgreSQL server (psycopg 3), for app servers on several
machines. Code above this module writes one dialect, the common part of both:

- placeholders are ``?`` (turned into psycopg's ``%s`` here), and SQL text holds no ``%``;
- types are TEXT, INTEGER and DOUBLE PRECISION; ids are made by the caller, never by the database;
- every statement runs inside ``transaction()``: all of it happens, or none of it does.

Faults become two exceptions with messages a page can show as they are: ``Unavailable`` (the file
is locked by another process past the wait, the folder cannot be written, the server went away:
nothing was changed, try again) and ``Conflict`` (a uniqueness rule said no: someone else got there
first; nothing was changed).
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing, contextmanager
from pathlib import Path

WAIT_SECONDS = 5.0
"""How long a statement waits for a lock another process holds before giving up (Unavailable)."""


class Unavailable(RuntimeError):
    """The database cannot be used just now; nothing was changed. ``str()`` says why, in words."""


class Conflict(ValueError):
    """A change broke a uniqueness rule (another session got there first); nothing was changed."""


class Transaction:
    """The statements of one transaction (see ``Database.transaction``)."""

    def __init__(self, cursor, paramstyle):
        self._cursor, self._pg = cursor, paramstyle == "format"

    def _sql(self, sql):
        return sql.replace("?", "%s") if self._pg else sql

    def execute(self, sql, params=()):
        self._cursor.execute(self._sql(sql), tuple(params))
        return self._cursor.rowcount

    def many(self, sql, rows):
        self._cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def rows(self, sql, params=()):
        self._cursor.execute(self._sql(sql), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def one(self, sql, params=()):
        found = self.rows(sql, params)
        return found[0] if found else None


class Database:
    """A database of either kind. ``where``: how messages name it ("classes.sqlite", "PostgreSQL
    at 127.0.0.1:5432"). Made with ``open_database``."""

    kind = "?"
    where = "?"

    @contextmanager
    def transaction(self, write=True):
        """A ``Transaction``, committed when the block ends and rolled back if it raises.
        write=False: only reads (on SQLite it then never waits for a writer)."""
        raise NotImplementedError

    def migrate(self, version, statements):
        """Make the tables (``statements``: CREATE TABLE/INDEX IF NOT EXISTS ...) and record the
        schema ``version``; raise Unavailable if the database was made by a newer version."""
        with self.transaction() as tx:
            self._lock_schema(tx)
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            found = tx.one("SELECT MAX(version) FROM schema_version")
            if found and found[0] is not None and found[0] > version:
                raise Unavailable(f"{self.where} holds schema version {found[0]}; this app knows up to {version} "
                                  "(an older app on a newer database)")
            for statement in statements:
                tx.execute(statement)
            if not found or found[0] != version:
                tx.execute("DELETE FROM schema_version")
                tx.execute("INSERT INTO schema_version VALUES (?)", (version,))

    def _lock_schema(self, tx):
        """Two servers starting at once make the tables one after the other."""

    def close(self):
        pass


class SQLiteDatabase(Database):
    """A SQLite file. Each transaction opens its own connection: cheap, and safe across threads."""

    kind = "sqlite"

    def __init__(self, path, wait=WAIT_SECONDS):
        self.path, self.wait = Path(path), float(wait)
        self.where = self.path.name
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")        # kept in the file from then on
        except (sqlite3.Error, OSError) as err:
            raise Unavailable(self._reason(err)) from None

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=self.wait, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = %d" % int(self.wait * 1000))
        return db

    def _reason(self, err):
        text = str(err).lower()
        if "locked" in text or "busy" in text:
            return (f"{self.where} is locked by another process (waited {self.wait:g} s); nothing was changed: "
                    "try again in a moment")
        return f"{self.where} cannot be used ({text or type(err).__name__}); nothing was changed"

    @contextmanager
    def transaction(self, write=True):
        try:
            db = self._connect()
        except (sqlite3.Error, OSError) as err:
            raise Unavailable(self._reason(err)) from None
        with closing(db):
            cursor = db.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield Transaction(cursor, "qmark")
                cursor.execute("COMMIT")
            except BaseException as err:
                if db.in_transaction:
                    db.rollback()
                if isinstance(err, sqlite3.IntegrityError):
                    raise Conflict(str(err)) from None
                if isinstance(err, (sqlite3.OperationalError, sqlite3.DatabaseError)):
                    raise Unavailable(self._reason(err)) from None
                raise


class PostgresDatabase(Database):
    """A PostgreSQL server (psycopg 3), through one connection per process, one transaction at a time;
    a connection the server dropped is made again at the next transaction."""

    kind = "postgresql"

    def __init__(self, url, wait=WAIT_SECONDS):
        import psycopg                      # only when a PostgreSQL server is asked for
        from psycopg.conninfo import conninfo_to_dict

        self._psycopg, self.url, self.wait = psycopg, url, float(wait)
        try:
            info = conninfo_to_dict(url)
        except psycopg.Error as err:
            raise Unavailable(f"MLP_DATABASE_URL is not a PostgreSQL address ({err})") from None
        self._info = info
        self.where = f"PostgreSQL at {info.get('host', 'localhost')}:{info.get('port', 5432)}"
        self._conn = None
        self._lock = threading.Lock()

    def _connection(self):
        if self._conn is None or self._conn.closed:
            ms = int(self.wait * 1000)
            given = self._info.get("options", "")              # e.g. a search_path the URL sets
            self._conn = self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.wait)),
                options=f"{given} -c lock_timeout={ms} -c statement_timeout={4 * ms}".strip())
        return self._conn

    def _reason(self, err):
        text = " ".join(str(err).split()) or type(err).__name__
        return f"{self.where} cannot be reached or used ({text[:200]}); nothing was changed: try again in a moment"

    @contextmanager
    def transaction(self, write=True):
        errors = self._psycopg.errors
        with self._lock:
            try:
                connection = self._connection()
            except self._psycopg.Error as err:
                raise Unavailable(self._reason(err)) from None
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    yield Transaction(cursor, "format")
            except errors.UniqueViolation as err:
                raise Conflict(str(err)) from None
            except (self._psycopg.OperationalError, self._psycopg.InterfaceError, errors.LockNotAvailable,
                    errors.QueryCanceled) as err:
                self._drop()
                raise Unavailable(self._reason(err)) from None

    def _drop(self):
        try:
            if self._conn is not None:
                self._conn.close()
        except self._psycopg.Error:
            pass
        self._conn = None

    def _lock_schema(self, tx):
        tx.execute("SELECT pg_advisory_xact_lock(20261202)")

    def close(self):
        with self._lock:
            self._drop()


def open_database(runs_dir, url=None, name="classes.sqlite") -> Database:
    """PostgreSQL if ``url`` (default: ``MLP_DATABASE_URL``) names a server, else ``runs_dir/name``."""
    url = os.environ.get("MLP_DATABASE_URL") if url is None else url
    if url:
        return PostgresDatabase(url)
    return SQLiteDatabase(Path(runs_dir) / name)
