"""Who is who, checked where things change: the identity cookie, owner ids, the teacher key, and the
run service refusing a person who does not own a run or a collection (changing nothing)."""
import asyncio
import os
import stat
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import mlp
from conftest import ALICE, BOB, TEACHER
from mlp.runs import FINAL, TRANSITIONS, RunMeta, Status
from runner.digits import DigitStore
from runner.identity import (KEY_TRIES, Identities, KeyRefused, NotYours, Person, display_name, new_token,
                             whose)
from runner.jobs import Registry
from runner.store import RunGone, RunStore, new_run_id
from ui.cookie import COOKIE, BrowserIdentity, token_in

QUICK = mlp.TrainConfig(layers=(784, 8, 10), epochs=2, train_size=100)


# ---- the cookie ------------------------------------------------------------------------------------------
def run_async(coroutine):
    """Run ``coroutine`` to its end in a thread of its own (the browser tests' event loop may be
    running in this one)."""
    done = []
    thread = threading.Thread(target=lambda: done.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return done[0]


def respond(cookie_header=None, scope_type="http", secure=False):
    """The response headers BrowserIdentity gives a request (with this Cookie header) to a tiny app."""
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"hi"})

    async def send(message):
        sent.append(message)

    headers = [(b"cookie", cookie_header.encode())] if cookie_header is not None else []
    run_async(BrowserIdentity(app, secure=secure)({"type": scope_type, "headers": headers}, None, send))
    start = sent[0]
    return [value.decode() for name, value in start["headers"] if name == b"set-cookie"], sent


def test_a_browser_without_a_cookie_gets_a_random_httponly_lax_one():
    (first,), sent = respond()
    (second,), _ = respond()
    token = first.split(";")[0].removeprefix(f"{COOKIE}=")
    assert len(token) == 32 and int(token, 16) >= 0 and first != second          # random, every time
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= {part.strip() for part in first.split(";")}
    assert "Secure" not in first and sent[1]["body"] == b"hi"                     # the page itself unchanged
    (behind_tls,), _ = respond(secure=True)
    assert "Secure" in {part.strip() for part in behind_tls.split(";")}


def test_a_valid_cookie_is_kept_and_a_forged_or_malformed_one_replaced():
    token = new_token()
    assert respond(f"other=1; {COOKIE}={token}")[0] == []
    for bad in (f"{COOKIE}=", f"{COOKIE}=zz{token[2:]}", f"{COOKIE}={token}0", f"{COOKIE}={token.upper()}",
                f'{COOKIE}="{token}\\"; x', "\x00\x01garbage;;;==", f"{COOKIE}=../../{token}"):
        (replaced,), _ = respond(bad)
        assert token not in replaced, bad                          # never interpreted: a new identity
    assert token_in([(b"cookie", f"{COOKIE}={token}".encode())]) == token


def test_websockets_pass_through_untouched():
    sent = []

    async def app(scope, receive, send):
        sent.append(scope["type"])

    run_async(BrowserIdentity(app)({"type": "websocket", "headers": []}, None, None))
    assert sent == ["websocket"]


# ---- owner ids -------------------------------------------------------------------------------------------
def test_a_token_is_the_same_person_after_a_restart_and_is_never_stored(tmp_path):
    token = new_token()
    first = Identities(tmp_path).of_token(token)
    again = Identities(tmp_path).of_token(token)                    # a restarted server, same runs folder
    assert first.owner == again.owner and first.owner != token and token not in first.owner
    assert Identities(tmp_path).of_token(new_token()).owner != first.owner
    assert Identities(tmp_path / "elsewhere").of_token(token).owner != first.owner   # another server's secret
    assert stat.S_IMODE(os.stat(tmp_path / ".secret").st_mode) == 0o600
    Identities(tmp_path).set_name(first, "Ada")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path    # no file holds the token


def test_malformed_tokens_are_nobody(tmp_path):
    ids = Identities(tmp_path)
    for bad in (None, "", "x" * 32, new_token() + "0", new_token().upper(), 12345):
        assert ids.of_token(bad) is None


def test_servers_starting_at_once_share_one_secret(tmp_path):
    token, owners = new_token(), []
    threads = [threading.Thread(target=lambda: owners.append(Identities(tmp_path).of_token(token).owner))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(owners)) == 1 and len(owners) == 8


def test_a_signed_in_person_is_the_providers_subject_on_any_browser(tmp_path):
    ids = Identities(tmp_path)
    at_school = ids.of_provider("https://login.school.example", "sub-123", "Ada Lovelace")
    at_home = ids.of_provider("https://login.school.example", "sub-123", "someone else")
    assert at_school.owner == at_home.owner and at_home.name == "Ada Lovelace" and at_home.signed_in
    assert ids.of_provider("https://other.example", "sub-123").owner != at_school.owner
    with pytest.raises(ValueError):
        ids.of_provider("https://login.school.example", "")


def test_a_signed_in_address_on_the_teacher_list_is_a_teacher(tmp_path):
    ids = Identities(tmp_path, teacher_emails=[" Ms.Teach@School.example ", ""])
    teacher = ids.of_provider("https://login.school.example", "sub-9", "Ms Teach", email="ms.teach@school.example")
    student = ids.of_provider("https://login.school.example", "sub-10", "Ada", email="ada@school.example")
    unverified = ids.of_provider("https://login.school.example", "sub-11", "Eve")
    assert teacher.teacher and teacher.signed_in and not student.teacher and not unverified.teacher
    assert not ids.of_token("ab" * 16).teacher


def test_display_names_are_cleaned_and_bounded(tmp_path):
    assert display_name("  Ada\n\t<b>L</b>  ") == "Ada <b>L</b>"          # kept as text, shown as text
    for bad in ("", "   ", "\x00\x07", "x" * 41):
        with pytest.raises(ValueError):
            display_name(bad)
    ids = Identities(tmp_path)
    person = ids.of_token(new_token())
    assert ids.set_name(person, "Ada").name == "Ada" and ids._person(person.owner).name == "Ada"


def test_the_teacher_key_is_checked_rate_limited_and_revoked_when_it_changes(tmp_path):
    token = new_token()
    ids = Identities(tmp_path, teacher_key="open sesame")
    person = ids.of_token(token)
    with pytest.raises(KeyRefused, match="not this server's teacher key"):
        ids.claim_teacher(person, "open sesam")
    assert not ids.of_token(token).teacher
    assert ids.claim_teacher(person, "open sesame").teacher and ids.of_token(token).teacher
    assert not Identities(tmp_path, teacher_key="a new key").of_token(token).teacher   # the key changed
    assert not Identities(tmp_path).of_token(token).teacher                             # no key at all
    with pytest.raises(KeyRefused, match="no teacher key"):
        Identities(tmp_path).claim_teacher(person, "open sesame")
    guesser = ids.of_token(new_token())
    for _ in range(KEY_TRIES):
        with pytest.raises(KeyRefused, match="not this server's"):
            ids.claim_teacher(guesser, "guess")
    with pytest.raises(KeyRefused, match="too many wrong keys"):
        ids.claim_teacher(guesser, "open sesame")                  # even the right key, for a while
    assert ids.claim_teacher(guesser, "open sesame", now=10**10).teacher     # after the window
    assert not ids.leave_teacher(person).teacher and not ids.of_token(token).teacher


# ---- the run store ---------------------------------------------------------------------------------------
def saved_run(store, owner=ALICE, name="Alice's run"):
    run_id = new_run_id()
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta(name, Status.DONE, owner=owner and owner.owner,
                                                          owner_name=owner and owner.name))
    return run_id


def test_only_the_owner_or_a_teacher_may_rename_or_delete_a_run(tmp_path):
    store = RunStore(tmp_path)
    run_id = saved_run(store)
    before = store.path(run_id).read_bytes()
    with pytest.raises(NotYours, match="it is Alice's: only its owner or a teacher may rename it"):
        store.rename(run_id, "Bob's now", BOB)
    with pytest.raises(NotYours, match="Alice's.*delete it"):
        store.delete(run_id, BOB)
    assert store.path(run_id).read_bytes() == before                          # nothing changed
    assert store.rename(run_id, "renamed by Alice", ALICE).name == "renamed by Alice"
    assert store.info(run_id).owner == ALICE.owner                             # a rename keeps the owner
    assert store.rename(run_id, "renamed by the teacher", TEACHER).owner == ALICE.owner
    assert store.delete(run_id, TEACHER) and not store.exists(run_id)


def test_a_run_saved_before_owners_is_a_teachers_to_change(tmp_path):
    store = RunStore(tmp_path)
    run_id = saved_run(store, owner=None, name="from last year")
    with pytest.raises(NotYours, match="only a teacher may rename it: it was saved before runs had owners"):
        store.rename(run_id, "mine now", ALICE)
    assert store.info(run_id).owner is None
    (tmp_path / f"{new_run_id()}.npz").write_bytes(b"not a zip")             # damaged: whose is unknown
    damaged = next(r for r in store.list() if r.damaged)
    with pytest.raises(NotYours, match="its file cannot be read"):
        store.delete(damaged.id, ALICE)
    assert store.delete(damaged.id, TEACHER) and store.delete(run_id, TEACHER)


def test_an_upload_is_the_uploaders_whatever_the_file_says(tmp_path):
    store = RunStore(tmp_path)
    network = mlp.Network([784, 8, 10])
    mlp.save(network, tmp_path / "claims.npz", name="claims to be Alice's", owner=ALICE.owner, owner_name="Alice")
    info, _ = store.import_bytes((tmp_path / "claims.npz").read_bytes(), "claims.npz", BOB)
    assert (info.owner, info.owner_name, info.status) == (BOB.owner, "Bob", "uploaded")
    mlp.save(network, tmp_path / "bad.npz", owner="not an owner id", owner_name=7)
    meta = mlp.io.read_meta(tmp_path / "bad.npz")
    assert "owner" not in meta and "owner_name" not in meta                   # dropped: nobody's


def test_a_teacher_and_the_owner_acting_at_once_are_each_told_the_truth(tmp_path):
    store = RunStore(tmp_path)
    for _ in range(10):
        run_id = saved_run(store)
        results = {}

        def act(who, action):
            try:
                results[who] = action()
            except (NotYours, RunGone) as err:
                results[who] = err

        threads = [threading.Thread(target=act, args=("owner", lambda: store.rename(run_id, "x", ALICE))),
                   threading.Thread(target=act, args=("teacher", lambda: store.delete(run_id, TEACHER))),
                   threading.Thread(target=act, args=("other", lambda: store.delete(run_id, BOB)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results["teacher"] is True and not store.exists(run_id)       # the delete always happens
        assert isinstance(results["owner"], RunGone) or results["owner"].owner == ALICE.owner
        assert isinstance(results["other"], NotYours) or results["other"] is False   # refused, or already gone


# ---- digit collections ------------------------------------------------------------------------------------
def test_only_the_owner_or_a_teacher_may_change_a_collection(tmp_path):
    store = DigitStore(tmp_path)
    cid = store.create(ALICE, "Alice's digits")
    drawing = store.add(cid, np.full(784, 0.5), np.zeros((280, 280)), 3, ALICE)
    before = store.path(cid).read_bytes()
    for action in (lambda: store.add(cid, np.zeros(784), np.zeros((280, 280)), 1, BOB),
                   lambda: store.remove(cid, drawing, BOB), lambda: store.rename(cid, "Bob's", BOB),
                   lambda: store.delete(cid, BOB)):
        with pytest.raises(NotYours, match="Alice's"):
            action()
    assert store.path(cid).read_bytes() == before
    assert store.info(cid).owner == ALICE.owner and store.get(cid).owner_name == "Alice"
    assert store.rename(cid, "renamed by the teacher", TEACHER).owner == ALICE.owner
    assert store.remove(cid, drawing, TEACHER).ids == () and store.delete(cid, TEACHER)


def test_an_uploaded_collection_is_the_uploaders(tmp_path):
    store = DigitStore(tmp_path)
    cid = store.create(ALICE, "Alice's digits")
    copy = store.import_bytes(store.to_bytes(cid), BOB, "alices.npz")
    assert store.info(copy).owner == BOB.owner and store.info(cid).owner == ALICE.owner
    store.rename(copy, "Bob's copy", BOB)


# ---- live runs: the job refuses before any command reaches its worker -------------------------------------
class RecordingTransport:
    """A transport whose workers only record the commands they are sent."""

    def __init__(self):
        self.commands = []

    def start(self, spec, on_update, on_exit):
        self.spec = spec
        return SimpleNamespace(command=lambda name, value=None: self.commands.append((name, value)),
                               kill=lambda: None, pid=None)


@pytest.fixture
def recorded(tmp_path):
    transport = RecordingTransport()
    registry = Registry(RunStore(tmp_path), transport, max_running=1)
    yield registry, transport
    registry._closing.set()


def test_only_the_owner_or_a_teacher_may_control_a_live_run(recorded):
    registry, transport = recorded
    job = registry.submit(QUICK, ALICE, name="Alice's live run")
    assert (transport.spec.owner, transport.spec.owner_name) == (ALICE.owner, "Alice")   # saved with the run
    for control in (lambda: job.pause(BOB), lambda: job.resume(BOB), lambda: job.step(BOB),
                    lambda: job.stop(BOB), lambda: job.set_lr(BOB, 0.05)):
        with pytest.raises(NotYours, match="it is Alice's: only its owner or a teacher may"):
            control()
    assert transport.commands == [] and job.view()["lr"] == QUICK.lr
    job.pause(ALICE)
    job.set_lr(TEACHER, 0.05)
    job.stop(TEACHER)
    assert transport.commands == [("pause", None), ("set_lr", 0.05), ("stop", None)]


def test_a_run_over_never_changes_status_again(recorded):
    registry, _ = recorded
    job = registry.submit(QUICK, ALICE)
    update = {"epoch": 1, "samples_seen": 100, "elapsed": 1.0, "lr": 0.01, "error": None, "saved": True,
              "events": [], "snapshots": [], "params": None}
    job.on_update({**update, "status": "stopped"})
    job.on_update({**update, "status": "running"})                  # a late update from before the stop
    assert job.status == Status.STOPPED


def test_the_status_table_is_closed_and_final_means_final():
    assert set(TRANSITIONS) == set(Status)
    for status, after in TRANSITIONS.items():
        assert after <= set(Status) and (status.final or status is Status.UPLOADED) == (not after)
        assert status.may_become(status)
    assert {s for s in Status if s.saved} == FINAL | {Status.UPLOADED}
    assert not Status.DONE.may_become("running") and Status.PAUSED.may_become("stopped")
    assert mlp.io.STATUSES == tuple(s for s in Status if s.saved)


def test_run_metadata_goes_through_a_file_unchanged(tmp_path):
    meta = RunMeta("a run", Status.STOPPED, created=12.5, config=QUICK.to_dict(), test_accuracy=0.5,
                   finished=13.0, error="stopped by hand", owner=ALICE.owner, owner_name="Alice")
    mlp.save(mlp.Network([784, 8, 10]), tmp_path / "run.npz", **meta.to_dict())
    assert RunMeta.from_dict(mlp.io.read_meta(tmp_path / "run.npz")) == meta


def test_whose_names_the_owner_as_text():
    assert whose(ALICE.owner, "Alice", ALICE) == "yours"
    assert whose(ALICE.owner, "Alice", BOB) == "Alice's"
    assert whose(ALICE.owner, None, BOB) == f"another learner's (learner {ALICE.owner[:4]})"
    assert whose(None, None, BOB).startswith("nobody's")
    assert Person(ALICE.owner).owns(ALICE.owner) and not Person(ALICE.owner).owns(None)
    with pytest.raises(ValueError):
        Person("not an owner")


# ---- a runs folder that cannot be written -------------------------------------------------------------------
def test_a_folder_where_nothing_can_be_kept_still_knows_who_is_who_and_says_so(tmp_path, monkeypatch):
    import runner.identity as identity

    def full_disk(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(identity, "_server_secret", full_disk)
    (tmp_path / "people.sqlite").mkdir()                            # and no database can be opened there
    ids = Identities(tmp_path, teacher_key="k")
    assert "cannot be read or made (no space left on device)" in ids.problem
    token = new_token()
    person = ids.of_token(token)
    assert ids.of_token(token) == person and person.name is None and not person.teacher
    with pytest.raises(identity.NotKept, match="cannot be kept"):
        ids.set_name(person, "Ada")
    with pytest.raises(identity.NotKept):
        ids.claim_teacher(person, "k")


def test_a_people_database_that_fails_later_changes_nothing_and_says_why(tmp_path, monkeypatch):
    import sqlite3

    import runner.identity as identity

    ids = Identities(tmp_path)
    person = ids.set_name(ids.of_token(new_token()), "Ada")

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Identities, "_connect", full)
    assert ids.of_token("0" * 32).name is None                      # reads: a person without a name
    with pytest.raises(identity.NotKept, match="could not be kept \\(database or disk is full\\)"):
        ids.set_name(person, "Grace")
    monkeypatch.undo()
    assert ids._person(person.owner).name == "Ada"


def test_the_people_database_is_in_wal_mode_for_every_later_connection(tmp_path):
    import sqlite3

    Identities(tmp_path)
    with sqlite3.connect(tmp_path / "people.sqlite") as db:               # another process's connection
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
