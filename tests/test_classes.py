"""Classes, join codes, the challenge and its leaderboard (runner.classes), on SQLite and on
PostgreSQL (the ``database`` fixture runs each test on both), and the database's faults."""
import multiprocessing
import sqlite3
import threading

import pytest

from conftest import ALICE, BOB, TEACHER
from mlp.presets import PRESETS
from runner.classes import (CODE_ALPHABET, JOIN_TRIES, JOIN_WINDOW, SERVER_JOIN_TRIES, VOID, Budget, ClassClosed,
                            Classroom, JoinRefused, NotTeacher, OverBudget, grouped, normal_code)
from runner.database import Conflict, SQLiteDatabase, Unavailable, open_database
from runner.identity import Person

SEED = PRESETS["seed"].config
NOW = 1_800_000_000.0
CAROL = Person("d4" * 16, "Carol")
CO_TEACHER = Person("e5" * 16, "Mr Co", teacher=True)


@pytest.fixture
def room(database):
    return Classroom(database)


@pytest.fixture
def a_class(room):
    return room.create(TEACHER, "Year 10 · Neural nets", now=NOW)


def test_codes_have_no_look_alikes_and_are_read_as_typed(room):
    assert not set("0O1IL") & set(CODE_ALPHABET)
    info = room.create(TEACHER, "Maths", now=NOW)
    assert len(info.code) == 6 and set(info.code) <= set(CODE_ALPHABET)
    assert info.shown_code == grouped(info.code) == f"{info.code[:3]}-{info.code[3:]}"
    typed = f" {info.code[:3].lower()}-{info.code[3:]} "
    assert normal_code(typed) == info.code
    assert normal_code("K7Q-2X0") == "" and normal_code("K7Q2X") == ""         # a look-alike, a short one


def test_only_a_teacher_makes_or_runs_a_class(room, a_class):
    with pytest.raises(NotTeacher, match="only a teacher may make a class"):
        room.create(ALICE, "Mine now")
    room.join(ALICE, a_class.code, "Alice", now=NOW)
    for attempt in (lambda: room.close(a_class.id, ALICE), lambda: room.remove(a_class.id, BOB.owner, ALICE),
                    lambda: room.set_challenge(a_class.id, ALICE, "x", Budget(), NOW + 60, now=NOW)):
        with pytest.raises(NotTeacher):
            attempt()
    assert [c.id for c in room.classes()] == [a_class.id] and room.get(a_class.id).is_open
    assert room.challenge(a_class.id) is None and len(room.roster(a_class.id)) == 1


def test_a_student_joins_by_code_with_a_name_unique_in_the_class(room, a_class):
    hostile = "**Bob** <b>x</b> [link](http://e.vil)"[:40]
    assert room.join(ALICE, a_class.shown_code.lower(), "  Alice \n", now=NOW).id == a_class.id
    room.join(BOB, a_class.code, hostile, now=NOW)
    assert [(m.name, m.owner) for m in room.roster(a_class.id)] == [("**Bob** <b>x</b> [link](http://e.vil)"[:40], BOB.owner),
                                                                      ("Alice", ALICE.owner)]
    with pytest.raises(JoinRefused, match="already called ALICE"):
        room.join(CAROL, a_class.code, "ALICE", now=NOW)
    room.join(ALICE, a_class.code, "Ada", now=NOW)                  # joining again renames
    room.join(CAROL, a_class.code, "alice", now=NOW)                 # the old name is free now
    assert sorted(m.name for m in room.roster(a_class.id)) == ["**Bob** <b>x</b> [link](http://e.vil)"[:40], "Ada",
                                                                "alice"]
    with pytest.raises(ValueError, match="at most 40"):
        room.join(CAROL, a_class.code, "x" * 41, now=NOW)
    assert [c.id for c in room.joined(ALICE)] == [a_class.id] and room.joined(TEACHER) == []


def test_names_that_look_the_same_are_the_same_name(room, a_class):
    room.join(ALICE, a_class.code, "Ada", now=NOW)
    with pytest.raises(JoinRefused, match="already called"):
        room.join(BOB, a_class.code, "ＡＤＡ", now=NOW)             # full-width letters
    assert [m.name for m in room.roster(a_class.id)] == ["Ada"]


def test_a_challenge_that_cannot_be_read_back_is_a_clear_message(room, a_class, database):
    challenge = room.set_challenge(a_class.id, TEACHER, "Tampered", Budget(max_epochs=3), NOW + 600, now=NOW)
    for bad in ('{"max_weights": -5}', "not json", '{"fixed": {"activation": "nope"}}', "[1, 2]"):
        with database.transaction() as tx:
            tx.execute("UPDATE challenges SET budget = ? WHERE id = ?", (bad, challenge.id))
        with pytest.raises(Unavailable, match="“Tampered” cannot be read from the class database"):
            room.challenge(a_class.id)


def test_wrong_codes_are_counted_then_paused_saying_how_long(room, a_class):
    wrong = "ZZZ-ZZZ" if a_class.code != "ZZZZZZ" else "YYY-YYY"
    with pytest.raises(JoinRefused, match=f"no class has the code “{wrong}”.*{JOIN_TRIES - 1} tries left"):
        room.join(ALICE, wrong, "Alice", now=NOW)
    for k in range(JOIN_TRIES - 1):
        with pytest.raises(JoinRefused, match="no class has the code"):
            room.join(ALICE, "nonsense!", "Alice", now=NOW + k)
    with pytest.raises(JoinRefused, match="too many wrong class codes from you: try again in 10 minutes"):
        room.join(ALICE, a_class.code, "Alice", now=NOW + 10)            # even the right code waits
    with pytest.raises(JoinRefused, match="try again in 2 minutes"):
        room.join(ALICE, a_class.code, "Alice", now=NOW + JOIN_WINDOW - 61)
    assert room.roster(a_class.id) == []
    room.join(BOB, a_class.code, "Bob", now=NOW + 10)                  # another browser is not paused
    assert room.join(ALICE, a_class.code, "Alice", now=NOW + JOIN_WINDOW + 1).id == a_class.id


def test_the_server_pauses_guessing_from_many_browsers(room, a_class, database):
    with database.transaction() as tx:                                  # SERVER_JOIN_TRIES wrong tries, each its own browser
        tx.many("INSERT INTO code_tries VALUES (?, ?)", [(f"{k:032x}", NOW) for k in range(SERVER_JOIN_TRIES)])
    with pytest.raises(JoinRefused, match="too many wrong class codes on this server"):
        room.join(ALICE, a_class.code, "Alice", now=NOW + 1)


def test_a_closed_class_keeps_its_roster_but_its_code_expires(room, a_class):
    room.join(ALICE, a_class.code, "Alice", now=NOW)
    assert room.close(a_class.id, CO_TEACHER, now=NOW + 5) is True
    assert room.close(a_class.id, TEACHER, now=NOW + 6) is False       # the other teacher got there first
    with pytest.raises(JoinRefused, match="has been closed by its teacher"):
        room.join(BOB, a_class.code, "Bob", now=NOW + 7)
    with pytest.raises(ClassClosed, match="is closed: nothing was changed"):
        room.set_challenge(a_class.id, TEACHER, "Late", Budget(), NOW + 60, now=NOW + 8)
    assert [m.name for m in room.roster(a_class.id)] == ["Alice"] and room.get(a_class.id).closed == NOW + 5


def test_removing_a_student_keeps_their_runs(room, a_class, tmp_path):
    import mlp
    from runner.store import RunStore

    store = RunStore(tmp_path / "runs")
    network = mlp.Network((784, 16, 10), seed=1)
    info = store.save("0123456789ab", network, mlp.RunMeta("Alice's", "done", owner=ALICE.owner, owner_name="Alice"))
    before = store.path(info.id).read_bytes()
    room.join(ALICE, a_class.code, "Alice", now=NOW)
    assert room.remove(a_class.id, ALICE.owner, TEACHER) is True
    assert room.remove(a_class.id, ALICE.owner, CO_TEACHER) is False
    assert room.roster(a_class.id) == [] and store.path(info.id).read_bytes() == before
    assert store.info(info.id).owner == ALICE.owner


def test_two_teachers_at_once_leave_one_consistent_class(room, a_class, database):
    other_server = Classroom(open_database(None, getattr(database, "url", None)) if database.kind == "postgresql"
                             else SQLiteDatabase(database.path))
    challenge = room.set_challenge(a_class.id, TEACHER, "First", Budget(max_epochs=3), NOW + 600, now=NOW)
    with pytest.raises(Conflict, match="“First” is still under way"):
        other_server.set_challenge(a_class.id, CO_TEACHER, "Second", Budget(), NOW + 600, now=NOW + 1)
    names = ["Same name"] * 8
    people = [Person(f"{k + 1:032x}") for k in range(8)]
    outcomes = []

    def join(person, name):
        try:
            (room if int(person.owner, 16) % 2 else other_server).join(person, a_class.code, name, now=NOW)
            outcomes.append("joined")
        except JoinRefused as err:
            outcomes.append(str(err))
        except (Conflict, Unavailable) as err:      # the unique name decided by the database itself
            outcomes.append(f"conflict: {err}")

    threads = [threading.Thread(target=join, args=pair) for pair in zip(people, names)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert outcomes.count("joined") == 1 and len(room.roster(a_class.id)) == 1
    other_server.end(challenge.id, CO_TEACHER, reveal=True, now=NOW + 2)
    assert room.challenge(a_class.id).revealed == NOW + 2
    other_server.db.close()


# ---- the challenge ---------------------------------------------------------------------------------------------
@pytest.fixture
def challenge(room, a_class):
    for person, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")):
        room.join(person, a_class.code, name, now=NOW)
    budget = Budget.fixing(["activation", "train_size"], SEED, max_weights=13_000, max_epochs=5, max_seconds=30)
    return room.set_challenge(a_class.id, TEACHER, "Best 16-16", budget, NOW + 3600, now=NOW)


def test_a_run_over_the_budget_is_refused_naming_each_limit(room, challenge):
    wide = PRESETS["wide"].config
    with pytest.raises(OverBudget) as refused:
        room.enter(challenge.id, "aaaaaaaaaaaa", wide, ALICE, now=NOW + 1)
    text = str(refused.value)
    assert "234,752 weights; the challenge allows at most 13,000" in text
    assert "15 epochs; the challenge allows at most 5" in text and "activation is relu" in text
    fine_tuned = SEED.replace(epochs=5, start_from="model:fast")
    with pytest.raises(OverBudget, match="fine-tuned"):
        room.enter(challenge.id, "bbbbbbbbbbbb", fine_tuned, ALICE, now=NOW + 1)
    with pytest.raises(JoinRefused, match="only the class's students"):
        room.enter(challenge.id, "cccccccccccc", SEED.replace(epochs=5), Person("f6" * 16), now=NOW + 1)
    assert room.pending(challenge.id) == []                       # nothing was kept of any of them
    room.enter(challenge.id, "dddddddddddd", SEED.replace(epochs=5), ALICE, now=NOW + 2)
    assert room.pending(challenge.id) == ["dddddddddddd"]
    with pytest.raises(ValueError, match="is over"):
        room.enter(challenge.id, "eeeeeeeeeeee", SEED.replace(epochs=5), ALICE, now=NOW + 3601)


def test_a_budget_is_checked_when_it_is_set():
    with pytest.raises(ValueError, match="weights should be above 0"):
        Budget(max_weights=0)
    with pytest.raises(ValueError, match="cannot fix epochs"):
        Budget(fixed={"epochs": 3})
    with pytest.raises(Exception, match="activation"):
        Budget(fixed={"activation": "tanhh"})
    assert Budget.from_json(Budget.fixing(["layers"], SEED, max_seconds=20.0).to_json()).fixed == {"layers": [784, 16, 16, 10]}
    assert Budget.fixing(["layers"], SEED).problems(SEED.replace(layers=(784, 32, 10))) == [
        "its layers is 784-32-10; the challenge fixes it at 784-16-16-10"]


def _score(room, challenge, results):
    """Enter a run per (person, public, private) and measure it as given (None: still training)."""
    for k, (person, public, private) in enumerate(results):
        room.enter(challenge.id, f"{k:012x}", SEED.replace(epochs=5), person, now=NOW + 10 + k)
    halves = {f"{k:012x}": (public, private) if public is not None else VOID for k, (_, public, private) in enumerate(results)}
    room.score_pending(challenge.id, halves.get)


def test_the_leaderboard_ranks_best_public_runs_and_hides_the_private_half(room, challenge):
    _score(room, challenge, [(ALICE, 0.90, 0.93), (ALICE, 0.95, 0.88), (BOB, 0.92, 0.94),
                             (CAROL, 0.92, 0.90), (CAROL, None, None)])
    board = room.leaderboard(challenge.id)
    assert [(s.name, s.rank, s.public, s.runs) for s in board] == [("Alice", 1, 0.95, 2), ("Bob", 2, 0.92, 1),
                                                                   ("Carol", 2, 0.92, 1)]
    assert all(s.private is None and s.private_rank is None and s.climbed is None for s in board)
    assert board[0].run_id == f"{1:012x}"                        # her best by the public half, not her other run
    room.end(challenge.id, TEACHER, reveal=True, now=NOW + 100)
    revealed = {s.name: s for s in room.leaderboard(challenge.id)}
    assert (revealed["Alice"].private, revealed["Alice"].private_rank, revealed["Alice"].climbed) == (0.88, 3, -2)
    assert (revealed["Bob"].private, revealed["Bob"].private_rank, revealed["Bob"].climbed) == (0.94, 1, 1)
    assert revealed["Carol"].climbed == 0
    assert not room.challenge(challenge.class_id).under_way(NOW + 101)


def test_a_removed_student_leaves_the_leaderboard(room, challenge):
    _score(room, challenge, [(ALICE, 0.9, 0.9), (BOB, 0.8, 0.8)])
    room.remove(challenge.class_id, ALICE.owner, TEACHER)
    assert [s.name for s in room.leaderboard(challenge.id)] == ["Bob"]


# ---- the database's faults -------------------------------------------------------------------------------------
def _hold_lock(path, locked, release):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    locked.set()
    release.wait(30)
    db.execute("ROLLBACK")


def test_a_database_file_locked_by_another_process_is_a_clear_message(tmp_path):
    room = Classroom(SQLiteDatabase(tmp_path / "classes.sqlite", wait=0.3))
    info = room.create(TEACHER, "Locked out", now=NOW)
    context = multiprocessing.get_context("spawn")
    locked, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path / "classes.sqlite"), locked, release))
    holder.start()
    try:
        assert locked.wait(30)
        with pytest.raises(Unavailable, match="classes.sqlite is locked by another process.*nothing was changed"):
            room.join(ALICE, info.code, "Alice", now=NOW)
    finally:
        release.set()
        holder.join(30)
    assert room.roster(info.id) == []
    room.join(ALICE, info.code, "Alice", now=NOW)
    assert [m.name for m in room.roster(info.id)] == ["Alice"]


def test_a_database_in_wal_mode_with_a_schema_version(tmp_path):
    Classroom(SQLiteDatabase(tmp_path / "classes.sqlite"))
    db = sqlite3.connect(tmp_path / "classes.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    db.execute("UPDATE schema_version SET version = 7")
    db.commit()
    with pytest.raises(Unavailable, match="schema version 7; this app knows up to 2"):
        Classroom(SQLiteDatabase(tmp_path / "classes.sqlite"))


def test_a_version_1_database_gains_the_lessons_tables_and_keeps_its_classes(tmp_path):
    """A class database made before the lessons (schema 1): opening it adds their tables, nothing lost."""
    from runner.classes import SCHEMA

    old = sqlite3.connect(tmp_path / "classes.sqlite")
    for statement in SCHEMA:
        if "lesson" not in statement and "assignments" not in statement:
            old.execute(statement)
    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (1)")
    old.execute("INSERT INTO classes VALUES ('c1', 'ABCDEF', 'Old class', ?, 'T', 1.0, NULL)", (TEACHER.owner,))
    old.commit()
    room = Classroom(SQLiteDatabase(tmp_path / "classes.sqlite"))
    assert [c.title for c in room.classes()] == ["Old class"]
    room.assign("c1", ["seed"], TEACHER)
    assert room.assigned("c1") == ["seed"]
    assert old.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_a_folder_that_cannot_hold_the_database_is_a_clear_message(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(Unavailable, match="cannot be used"):
        SQLiteDatabase(tmp_path / "file" / "classes.sqlite")


@pytest.fixture
def postgres_url():
    from conftest import POSTGRES_URL, _postgres_schema

    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL server: set MLP_TEST_DATABASE_URL (.ci/postgres starts one)")
    url, drop = _postgres_schema()
    yield url
    drop()


def test_a_postgresql_server_that_goes_away_is_a_clear_message_then_comes_back(postgres_url):
    import psycopg

    from conftest import POSTGRES_URL

    room = Classroom(open_database(None, postgres_url))
    info = room.create(TEACHER, "Gone", now=NOW)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:     # the server drops our connection
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(Unavailable, match="PostgreSQL at 127.0.0.1:.*cannot be reached or used.*nothing was changed"):
        room.join(ALICE, info.code, "Alice", now=NOW)
    room.join(ALICE, info.code, "Alice", now=NOW)                      # the next call connects again
    assert [m.name for m in room.roster(info.id)] == ["Alice"]
    room.db.close()
    nowhere = open_database(None, "postgresql://postgres@127.0.0.1:9/none")
    with pytest.raises(Unavailable, match="PostgreSQL at 127.0.0.1:9 cannot be reached"):
        Classroom(nowhere)


def test_half_an_operation_is_never_kept(room, a_class, database):
    with pytest.raises(RuntimeError, match="midway"):
        with database.transaction() as tx:
            tx.execute("INSERT INTO members VALUES (?, ?, ?, ?, ?)", (a_class.id, ALICE.owner, "Alice", "alice", NOW))
            raise RuntimeError("midway")
    assert room.roster(a_class.id) == []
