"""A challenge's runs in the run service: checked before they start, tested on the public half only,
stopped at the time budget, measured on both halves for the leaderboard; and the teacher's dashboard."""
import threading

import pytest

import mlp
from conftest import ALICE, BOB, TEACHER, wait_until
from mlp.data import TEST_HALVES
from mlp.runs import RunMeta, Status
from runner import dataset
from runner.classes import VOID, Budget, Classroom, OverBudget, dashboard, measurer, start_entry
from runner.database import SQLiteDatabase
from runner.jobs import Registry
from runner.local import LocalTransport
from runner.store import RunStore
from runner.worker import RunSpec, TrainingWorker

NOW_PLUS = 3600.0
QUICK = mlp.TrainConfig(layers=(784, 16, 10), activation="relu", output="softmax", loss="cross_entropy",
                        optimizer="adam", lr=0.003, batch_size=32, epochs=2, init="he", train_size=2000)


@pytest.fixture
def room(tmp_path):
    return Classroom(SQLiteDatabase(tmp_path / "runs" / "classes.sqlite"))


@pytest.fixture
def challenge(room):
    import time

    info = room.create(TEACHER, "Small nets", now=time.time())
    room.join(ALICE, info.code, "Alice")
    room.join(BOB, info.code, "Bob")
    return room.set_challenge(info.id, TEACHER, "Under 20k weights",
                              Budget(max_weights=20_000, max_epochs=3, max_seconds=60), time.time() + NOW_PLUS)


@pytest.fixture
def registry(tmp_path):
    dataset.shared_mnist()
    reg = Registry(RunStore(tmp_path / "runs"), LocalTransport(dataset.cache_folder()), max_running=2)
    yield reg
    reg.stop_all(timeout=10)


def test_a_challenge_run_is_checked_before_it_starts_and_tested_on_the_public_half(room, challenge, registry, mnist):
    with pytest.raises(OverBudget, match="784-256-10|weights; the challenge allows at most 20,000"):
        start_entry(room, registry, challenge.id, QUICK.replace(layers=(784, 256, 10)), ALICE)
    assert registry.jobs() == [] and room.pending(challenge.id) == []       # nothing started, nothing kept

    job = start_entry(room, registry, challenge.id, QUICK, ALICE, name="mine")
    assert room.pending(challenge.id) == [job.id] and job.challenge == challenge.id
    assert job.join(120) and job.status == Status.DONE
    saved = registry.store.load(job.id)
    meta = RunMeta.from_dict(saved.meta)
    assert meta.challenge == challenge.id and registry.store.info(job.id).challenge == challenge.id
    _, _, x_test, y_test = mnist
    public, private = (saved.network.accuracy(x_test[TEST_HALVES[h]], y_test[TEST_HALVES[h]]) for h in ("public", "private"))
    assert meta.test_accuracy == pytest.approx(public, abs=1e-9)             # the run's own number: the public half
    assert public != private and meta.test_accuracy != pytest.approx(saved.network.accuracy(x_test, y_test), abs=1e-9)

    room.score_pending(challenge.id, measurer(registry, registry.store, x_test, y_test))
    [standing] = room.leaderboard(challenge.id)
    assert (standing.name, standing.run_id, standing.private) == ("Alice", job.id, None)
    assert standing.public == pytest.approx(public)
    room.end(challenge.id, TEACHER, reveal=True)
    assert room.leaderboard(challenge.id)[0].private == pytest.approx(private)


def test_a_challenge_run_stops_itself_at_the_time_budget(mnist, tmp_path):
    config = mlp.TrainConfig(epochs=50)           # the seed, one sample at a time: about 10 s with the kernels
    worker = TrainingWorker(RunSpec("0123456789ab", "timed", config, str(tmp_path), challenge="abcdefabcdef",
                                    time_budget=0.4), mnist)
    updates = []
    thread = threading.Thread(target=worker.run, args=(updates.append,), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and worker.status == Status.STOPPED
    assert 0.4 <= worker.trainer.elapsed < 3 and worker.trainer.epoch < 50
    meta = RunStore(tmp_path).meta("0123456789ab")
    assert meta.status == Status.STOPPED and "budget of 0.4 s" in meta.error and meta.challenge == "abcdefabcdef"


def test_how_a_challenge_run_ends_decides_whether_it_counts(room, challenge, tmp_path, mnist):
    store = RunStore(tmp_path / "runs")
    network = mlp.Network((784, 16, 10), seed=3)

    class NoJobs:
        def get(self, run_id):
            return None

    for run_id, status in (("aaaaaaaaaaaa", "done"), ("bbbbbbbbbbbb", "diverged"), ("cccccccccccc", "stopped")):
        room.enter(challenge.id, run_id, QUICK, ALICE)
        store.save(run_id, network, RunMeta(run_id, status, owner=ALICE.owner, challenge=challenge.id))
    room.enter(challenge.id, "dddddddddddd", QUICK, BOB)            # not saved yet: still pending
    _, _, x_test, y_test = mnist
    measure = measurer(NoJobs(), store, x_test, y_test)
    assert measure("bbbbbbbbbbbb") == VOID and measure("dddddddddddd") is None
    room.score_pending(challenge.id, measure)
    assert room.pending(challenge.id) == ["dddddddddddd"]
    [alice] = room.leaderboard(challenge.id)
    assert alice.runs == 2 and alice.public == pytest.approx(network.accuracy(x_test[::2], y_test[::2]))


def test_the_dashboard_shows_each_student_with_their_current_run(room, challenge, registry, tmp_path):
    store = registry.store
    network = mlp.Network((784, 16, 10), seed=3)
    history = [{"kind": "epoch", "epoch": 1.0, "samples_seen": 10, "elapsed": 1.0, "lr": 0.1, "train_loss": 0.5,
                "train_accuracy": 0.8, "test_loss": 0.5, "test_accuracy": 0.81}]
    store.save("aaaaaaaaaaaa", network, RunMeta("older", "done", created=1.0, owner=ALICE.owner, history=history,
                                                 progress=history, test_accuracy=0.81, config=QUICK.to_dict()))
    store.save("bbbbbbbbbbbb", network, RunMeta("newer", "stopped", created=2.0, owner=ALICE.owner,
                                                 config=QUICK.replace(epochs=1).to_dict()))
    store.save("cccccccccccc", network, RunMeta("not in the class", "done", owner=TEACHER.owner))
    rows = dashboard(room.roster(challenge.class_id), registry.jobs(), store.list())
    assert [(r.name, r.run_id, r.run_name, r.status) for r in rows] == [("Alice", "bbbbbbbbbbbb", "newer", "stopped"),
                                                                         ("Bob", None, "", "")]
    job = registry.submit(QUICK.replace(epochs=30, train_size=20_000), ALICE, name="live one")
    assert wait_until(lambda: job.view()["progress"], timeout=60)
    rows = dashboard(room.roster(challenge.class_id), registry.jobs(), store.list())
    assert rows[0].run_id == job.id and rows[0].active and rows[0].curve
    assert rows[0].settings == QUICK.replace(epochs=30, train_size=20_000).summary()
    job.stop(TEACHER)
    assert job.join(60)
    rows = dashboard(room.roster(challenge.class_id), registry.jobs(), store.list())
    assert rows[0].run_id == job.id and rows[0].status == "stopped" and not rows[0].active
