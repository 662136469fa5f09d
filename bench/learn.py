"""What the Learn page costs the server: a learner with many saved runs, checked on every page run.

    python bench/learn.py [--runs 40] [--repeats 15]

A runs folder holds ``--runs`` saved runs of one learner (784-16-16-10 networks, each with a 20-epoch
history; half plain, half augmented, all with the same weights, so none passes lesson 8 and its check
compares every pair). The Learn page is run as that learner with Streamlit's AppTest, the whole
script each time, on lesson 3 (its check reads the runs' metadata only) and on lesson 8 (it measures
each run's network on 1,000 turned and 1,000 shifted test digits, remembered per run), beside the
Home page in the same process as the reference. The figure is the app's own timing of each run (``MLP_TIMING_LOG``, without
AppTest's overhead): the first run of a lesson (nothing remembered yet) and the median of the rest.
BLAS is pinned to one thread.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlp  # noqa: E402
from mlp.presets import PRESETS  # noqa: E402
from mlp.runs import RunMeta, Status  # noqa: E402
from mlp.training import Event  # noqa: E402

TOKEN = "e7" * 16


def runs_folder(n_runs):
    """A runs folder with ``n_runs`` finished runs of the learner TOKEN, and their answers to lessons 3 and 8."""
    from runner.classes import Classroom
    from runner.database import open_database
    from runner.identity import Identities
    from runner.learn import Progress, load_lessons
    from runner.store import RunStore, new_run_id

    runs_dir = Path(tempfile.mkdtemp(prefix="mlp-bench-learn-")) / "runs"
    person = Identities(runs_dir).of_token(TOKEN)
    store = RunStore(runs_dir)
    base = PRESETS["fast"].config.replace(train_size=10_000, epochs=20)
    for i in range(n_runs):
        config = base.replace(seed=i, **({"shift": 2.0} if i % 2 else {}))
        history = [Event("epoch", float(e), 10_000 * e, 0.1 * e, 0.003, 0.2, 0.9, 0.3, 0.88).to_dict()
                   for e in range(1, 21)]
        meta = RunMeta(f"run {i}", Status.DONE, created=time.time(), config=config.to_dict(), history=history,
                       progress=history, test_accuracy=0.88, owner=person.owner)
        store.save(new_run_id(), mlp.Network(config.layers, config.activation, config.output, config.loss,
                                             config.init, seed=0), meta)          # all alike: none passes
    progress = Progress(Classroom(open_database(runs_dir)).db)
    lessons = {lesson.id: lesson for lesson in load_lessons()}
    for lesson_id in ("lr", "robust"):
        progress.predict(person, lessons[lesson_id], 0, now=0.0)
    return runs_dir


def page_runs(at, repeats, log, query=None):
    """(the first run's server time, the median of the next ``repeats``) of the page ``at`` is on."""
    log.write_text("")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for _ in range(repeats + 1):
        at.run()
        assert not at.exception, at.exception
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    times = [float(seconds) for page, seconds in lines if page != "Learn (check)"]
    return times[0], statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    from streamlit.testing.v1 import AppTest

    runs_dir = runs_folder(args.runs)
    log = runs_dir.parent / "timing.log"
    import ui
    from ui import state

    ui.TIMING_LOG = str(log)
    state.RUNS_DIR = runs_dir
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["browser_token"] = TOKEN
    at.run()
    home = page_runs(at.switch_page("pages/home.py"), args.repeats, log)[1]
    at.switch_page("pages/learn.py")
    for lesson_id, what in (("lr", "lesson 3, metadata only"), ("robust", "lesson 8, every run's network measured")):
        first, warm = page_runs(at, args.repeats, log, {"lesson": lesson_id})
        said = " ".join(i.value for i in at.info)[:90]
        print(f"Learn, {what}, {args.runs} runs: first {1000 * first:.0f} ms, then {1000 * warm:.0f} ms a run "
              f"(median of {args.repeats}) · “{said}…”")
    print(f"the Home page beside it: {1000 * home:.0f} ms")


if __name__ == "__main__":
    main()
