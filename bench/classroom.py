"""A class's costs: the teacher's dashboard for 30 students with runs under way, and the join and
leaderboard queries for 1,000 students, on SQLite and (given a server) on PostgreSQL.

    python bench/classroom.py [--students 30] [--postgres postgresql://postgres@127.0.0.1:5433/mlp_test]

Dashboard: a runs folder with a class of N students, each with two saved runs (15 epochs of
progress each) and one run training live (a stand-in worker sends every run's progress twice a
second, as real workers do, so the registry holds N live jobs without N training processes), a
challenge with every student on its leaderboard. The Class page is run as the teacher with
Streamlit's AppTest, the whole script each time (a refresh of the dashboard's fragment does less),
beside the Home page in the same process as the reference; the figure is the app's own timing of
each run (``MLP_TIMING_LOG``, without AppTest's overhead), the median of repeated runs. The goal of
issue 20 is under 300 ms a refresh on the project's 2-core machine.

Queries: 1,000 students join one class (one write transaction each), each enters three challenge
runs that are measured; then the leaderboard (best run of each by the public half, ranked) is read.
BLAS is pinned to one thread; every figure is a median.
"""
import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402
from mlp.runs import RunMeta, Status  # noqa: E402
from runner.classes import Budget, Classroom  # noqa: E402
from runner.database import open_database  # noqa: E402
from runner.identity import Identities  # noqa: E402
from runner.learn import Progress  # noqa: E402

KEY = "bench teacher key"
CONFIG = mlp.TrainConfig(epochs=15)


def events(epochs, per_epoch=20, accuracy=0.9):
    """Progress events as a run records them: ``per_epoch`` a epoch, the last of each an epoch end."""
    out = []
    for k in range(1, epochs * per_epoch + 1):
        epoch = k / per_epoch
        out.append({"kind": "epoch" if k % per_epoch == 0 else "progress", "epoch": epoch, "samples_seen": k * 3000,
                    "elapsed": k * 0.1, "lr": 0.02, "train_loss": 0.3, "train_accuracy": accuracy,
                    "test_loss": 0.3, "test_accuracy": min(0.99, accuracy * (1 - 0.5 / (1 + epoch)))})
    return out


class StandInWorkers:
    """A transport whose runs never end: each sends a progress event every ``every`` seconds."""

    def __init__(self, every=0.5):
        self.every, self.stopping = every, threading.Event()

    def start(self, spec, on_update, on_exit):
        handle = type("Handle", (), {"command": lambda *a: None, "kill": lambda *a: None, "pid": 0})()
        threading.Thread(target=self._run, args=(spec, on_update), daemon=True).start()
        return handle

    def _run(self, spec, on_update):
        sent = 0
        timeline = events(spec.config.epochs)
        while not self.stopping.wait(self.every) and sent < len(timeline):
            event = timeline[sent]
            sent += 1
            on_update({"status": Status.RUNNING, "epoch": int(event["epoch"]), "samples_seen": event["samples_seen"],
                       "elapsed": event["elapsed"], "lr": 0.02, "error": None, "saved": False, "unsaved": None,
                       "settled": False, "events": [event], "snapshots": [], "params": None})


ASSIGNED = ["seed", "unit", "lr", "overfit"]
"""The lessons the bench's class is assigned; student i has passed the first i mod 5 of them."""


def make_class(runs_dir, students, url="", names=None):
    """A teacher and a class of ``students``, each with saved runs and a scored challenge entry;
    returns (the teacher's browser token, the class, [(a student's browser token, Person)])."""
    identities = Identities(runs_dir, KEY)
    teacher_token = secrets.token_hex(16)
    teacher = identities.claim_teacher(identities.of_token(teacher_token), KEY)
    room = Classroom(open_database(runs_dir, url))
    learning = Progress(room.db)
    info = room.create(teacher, "Bench class")
    room.assign(info.id, ASSIGNED, teacher)
    challenge = room.set_challenge(info.id, teacher, "Bench", Budget(max_epochs=20), time.time() + 3600)
    from runner.store import RunStore, new_run_id

    store = RunStore(runs_dir)
    network = mlp.Network(CONFIG.layers, seed=0)
    people = []
    for i in range(students):
        token = secrets.token_hex(16)
        name = names[i % len(names)] if names else f"Student {i + 1:02d}"
        person = identities.set_name(identities.of_token(token), name)
        room.join(person, info.code, person.name)
        for k in range(2):
            run_id = new_run_id()
            progress = events(15, accuracy=0.85 + 0.004 * i)
            store.save(run_id, network, RunMeta(f"run {k}", Status.DONE, created=time.time() - 100 + k,
                                                config=CONFIG.to_dict(), progress=progress,
                                                history=[e for e in progress if e["kind"] == "epoch"],
                                                test_accuracy=progress[-1]["test_accuracy"], owner=person.owner,
                                                owner_name=person.name, challenge=challenge.id))
            room.enter(challenge.id, run_id, CONFIG, person)
            room.record(challenge.id, run_id, (0.9 + 0.001 * i, 0.9 - 0.001 * i))
        for lesson in ASSIGNED[:i % (len(ASSIGNED) + 1)]:         # each student a little further along
            learning.mark_passed(person, lesson, "passed in the bench", {})
        people.append((token, person))
    return teacher_token, info, people


def page_runs(at, page, repeats, log):
    """The median server time of ``repeats`` runs of ``page`` (the app's own timing log: one line per
    run of app.py, ``ui.timed_run``), without AppTest's own overhead."""
    at.switch_page(page).run()
    log.write_text("")
    for _ in range(repeats):
        at.run()
        assert not at.exception, at.exception
    return statistics.median(float(line.split("\t")[1]) for line in log.read_text().splitlines())


def dashboard(students, repeats):
    from streamlit.testing.v1 import AppTest

    runs_dir = Path(tempfile.mkdtemp(prefix="mlp-bench-class-")) / "runs"
    teacher_token, info, people = make_class(runs_dir, students)
    log = runs_dir.parent / "timing.log"
    os.environ.update(MLP_RUNS_DIR=str(runs_dir), MLP_TEACHER_KEY=KEY)
    import ui
    from ui import state

    ui.TIMING_LOG = str(log)

    state.RUNS_DIR = runs_dir
    workers = StandInWorkers()
    state.transport = lambda: workers
    registry = state._registry(str(runs_dir), students)         # every student's live run trains at once
    for _, person in people:
        registry.submit(CONFIG, person, name="live run")
    time.sleep(3)                                               # a few progress events each
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["browser_token"] = teacher_token
    at.run()
    home = page_runs(at, "pages/home.py", repeats, log)
    live = sum(j.view()["status"] == Status.RUNNING for j in registry.jobs())
    board = page_runs(at, "pages/class.py", repeats, log)
    rows = len(next(df.value for df in at.dataframe))
    workers.stopping.set()
    return home, board, rows, live


def queries(url, students=1000, runs_each=3):
    runs_dir = Path(tempfile.mkdtemp(prefix="mlp-bench-queries-"))
    identities = Identities(runs_dir, KEY)
    teacher = identities.claim_teacher(identities.of_token(secrets.token_hex(16)), KEY)
    room = Classroom(open_database(runs_dir, url))
    info = room.create(teacher, "Big class")
    challenge = room.set_challenge(info.id, teacher, "Big", Budget(), time.time() + 3600)
    joins = []
    people = [identities.of_token(secrets.token_hex(16)) for _ in range(students)]
    for i, person in enumerate(people):
        started = time.perf_counter()
        room.join(person, info.code, f"Student {i}")
        joins.append(time.perf_counter() - started)
    for i, person in enumerate(people):
        for k in range(runs_each):
            run_id = f"{i:08x}{k:04x}"
            room.enter(challenge.id, run_id, CONFIG, person)
            room.record(challenge.id, run_id, ((i * 7 + k) % 1000 / 1000, (i * 3 + k) % 1000 / 1000))
    boards = []
    for _ in range(20):
        started = time.perf_counter()
        board = room.leaderboard(challenge.id)
        boards.append(time.perf_counter() - started)
    assert len(board) == students
    rosters = []
    for _ in range(20):
        started = time.perf_counter()
        room.roster(info.id)
        rosters.append(time.perf_counter() - started)
    if url:
        with room.db.transaction() as tx:                          # leave the server as it was
            for table in ("entries", "challenges", "members", "code_tries", "classes", "lesson_progress",
                          "lesson_actions", "assignments", "schema_version"):
                tx.execute(f"DROP TABLE {table}")
    room.db.close()
    return statistics.median(joins), statistics.median(boards), statistics.median(rosters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("MLP_TEST_DATABASE_URL", ""),
                        help="a PostgreSQL URL for the query figures (default: MLP_TEST_DATABASE_URL)")
    args = parser.parse_args()
    home, board, rows, live = dashboard(args.students, args.repeats)
    print(f"Class page as the teacher, {rows} students, {live} runs under way: {1000 * board:.0f} ms a run "
          f"(median of {args.repeats}); the Home page beside it: {1000 * home:.0f} ms")
    for kind, url in (("SQLite", ""), ("PostgreSQL", args.postgres)):
        if kind == "PostgreSQL" and not url:
            print("PostgreSQL: no server given (--postgres or MLP_TEST_DATABASE_URL); skipped")
            continue
        join, board, roster = queries(url)
        print(f"{kind}, 1,000 students: join {1000 * join:.2f} ms, leaderboard {1000 * board:.1f} ms, "
              f"roster {1000 * roster:.1f} ms (medians)")


if __name__ == "__main__":
    main()
