"""Runs train in worker processes: control in every state, queueing, a worker that dies, a server that
stops or disappears, and a registry that forgets what it saved."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import mlp
from conftest import ROOT, cluster_transport, wait_until
from runner import dataset
from runner.jobs import Registry, default_max_running
from runner.local import LocalTransport
from runner.store import RunStore
from runner.worker import RunSpec, TrainingWorker
from conftest import ALICE

QUICK = mlp.TrainConfig(layers=(784, 16, 10), activation="relu", output="softmax", loss="cross_entropy",
                        optimizer="adam", lr=0.003, batch_size=32, epochs=2, init="he", train_size=1000)
SLOW = mlp.TrainConfig(layers=(784, 16, 10), activation="relu", output="softmax", loss="cross_entropy",
                       optimizer="sgd", lr=0.01, batch_size=10, epochs=6, init="he", train_size=3000)


@pytest.fixture(scope="module")
def cache():
    dataset.shared_mnist()
    return dataset.cache_folder()


@pytest.fixture(params=["local", "ray"])
def registry(request, cache, tmp_path):
    """A registry with one training slot, on worker processes and (where a head answers) on Ray."""
    transport = LocalTransport(cache) if request.param == "local" else cluster_transport()
    reg = Registry(RunStore(tmp_path / "runs"), transport, max_running=1)
    yield reg
    reg.stop_all(timeout=10)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()[:1] != "Z"


# ---- the worker's control table, in one process (training slowed so commands land mid-epoch) ----------
class Harness:
    """A TrainingWorker in a thread of this process; every update it publishes takes 10 ms."""

    def __init__(self, data, tmp_path, config=SLOW, until_epoch=None):
        self.worker = TrainingWorker(RunSpec("0123456789ab", "t", config, str(tmp_path), until_epoch), data)
        self.updates = []
        self.thread = threading.Thread(target=self.worker.run, args=(self.publish,), daemon=True)
        self.thread.start()

    def publish(self, update):
        self.updates.append(update)
        time.sleep(0.01)

    @property
    def trainer(self):
        return self.worker.trainer

    def finish(self):
        self.worker.command("stop")
        self.thread.join(30)
        assert not self.thread.is_alive()


def reach(state, data, tmp_path):
    """A worker in ``state``: running, paused (mid-epoch), waiting (after a step), stopping, finished."""
    if state == "finished":
        h = Harness(data, tmp_path, SLOW.replace(epochs=1, train_size=300))
        h.thread.join(30)
        return h
    h = Harness(data, tmp_path, until_epoch=1 if state == "waiting" else None)
    assert wait_until(lambda: h.trainer.samples_seen > 100)
    if state == "paused":
        h.worker.command("pause")
        assert wait_until(lambda: h.worker.status == "paused")
    elif state == "waiting":
        assert wait_until(lambda: h.trainer.epoch == 1 and h.worker.status == "paused", timeout=30)
    elif state == "stopping":
        h.worker.command("stop")
    return h


@pytest.mark.parametrize("state", ["running", "paused", "waiting", "stopping", "finished"])
@pytest.mark.parametrize("command", ["pause", "resume", "step", "stop", "set_lr"])
def test_every_command_in_every_state(state, command, small_mnist, tmp_path):
    h = reach(state, small_mnist, tmp_path)
    epoch, lr = h.trainer.epoch, h.trainer.lr
    h.worker.command(command, 0.5 if command == "set_lr" else None)
    t, status = h.trainer, h.worker.status
    if state in ("stopping", "finished"):                        # nothing changes the outcome any more
        h.thread.join(30)
        assert h.worker.status == ("done" if state == "finished" else "stopped") and h.worker.saved
        assert t.lr == lr
        return
    if command == "pause":
        assert wait_until(lambda: h.worker.status == "paused")
        h.finish()
    elif command == "resume":
        if state == "running":
            assert status == "running"
        assert wait_until(lambda: t.epoch >= epoch + 1 and h.worker.status == "running", timeout=30)
        h.finish()
    elif command == "step":                                      # the end of the next epoch boundary
        assert wait_until(lambda: t.epoch == epoch + 1 and h.worker.status == "paused", timeout=30)
        time.sleep(0.3)
        assert t.epoch == epoch + 1 and h.worker.status == "paused" and t.samples_seen == (epoch + 1) * 3000
        h.worker.command("step")                                  # and again: one more epoch
        assert wait_until(lambda: t.epoch == epoch + 2 and h.worker.status == "paused", timeout=30)
        h.finish()
    elif command == "stop":
        h.thread.join(30)
        assert h.worker.status == "stopped" and h.worker.saved and t.epoch < SLOW.epochs
    elif command == "set_lr":
        assert t.lr == 0.5 and h.updates[-1]["lr"] == 0.5
        assert h.worker.status == status
        h.finish()
    assert h.updates[-1]["settled"] and not any(u["settled"] for u in h.updates[:-1])


def test_pause_then_step_stops_at_the_epochs_end_not_the_last_epoch(small_mnist, tmp_path):
    """The defect seen in a browser: paused at epoch 12.45, Step went on to the last epoch."""
    h = reach("paused", small_mnist, tmp_path)
    assert h.trainer.epoch == 0 and 0 < h.trainer.samples_seen < 3000
    h.worker.command("step")
    assert wait_until(lambda: h.trainer.epoch == 1 and h.worker.status == "paused", timeout=30)
    time.sleep(0.5)
    assert h.trainer.epoch == 1 and h.trainer.samples_seen == 3000
    h.finish()


def test_updates_carry_every_event_and_snapshot_once(small_mnist, tmp_path):
    h = Harness(small_mnist, tmp_path, SLOW.replace(epochs=2, train_size=600))
    h.thread.join(30)
    events = [e for u in h.updates for e in u["events"]]
    snapshots = [s for u in h.updates for s in u["snapshots"]]
    assert events == [e.to_dict() for e in h.trainer.progress]
    assert [e for e, _ in snapshots] == [0.0, 1.0, 2.0]
    assert np.array_equal(h.updates[-1]["params"], h.trainer.network.params)


# ---- the registry and the worker processes ---------------------------------------------------------
def test_a_run_trains_in_a_process_of_its_own_and_is_saved(registry):
    job = registry.submit(QUICK, ALICE, name="my run")
    assert wait_until(lambda: job._worker is not None)
    local = isinstance(registry.transport, LocalTransport)
    assert not local or job._worker.pid != os.getpid()
    assert job.join(60) and job.status == "done" and job.saved
    saved = registry.store.load(job.id)
    assert np.array_equal(saved.network.params, job.network().params)
    assert saved.meta["name"] == "my run" and saved.meta["status"] == "done" and len(saved.meta["history"]) == 2
    assert saved.meta["test_accuracy"] == job.view()["history"][-1].test_accuracy
    assert saved.snapshot_epochs.tolist() == [0.0, 1.0, 2.0]
    snapshots, epochs = job.snapshot_arrays()
    assert np.array_equal(snapshots, saved.snapshots) and epochs.tolist() == [0.0, 1.0, 2.0]
    assert wait_until(lambda: not alive(job._worker.pid)) if local else \
        wait_until(lambda: registry.transport.find(job.id) is None, timeout=30)


def test_the_cap_queues_jobs_first_come_first_served(registry):
    long = QUICK.replace(epochs=100)
    first, second, third = (registry.submit(long, ALICE) for _ in range(3))
    assert wait_until(lambda: first.status == "running")
    assert second.status == "queued" and third.status == "queued"
    assert (registry.queue_position(second.id), registry.queue_position(third.id)) == (1, 2)
    third.stop(ALICE)                                   # leaving the queue
    assert third.join(5) and third.status == "stopped" and not third.saved
    assert wait_until(lambda: first.samples_seen > 0)
    first.stop(ALICE)
    assert first.join(20) and wait_until(lambda: second.samples_seen > 0, timeout=20)
    assert second.status == "running"
    second.stop(ALICE)
    assert second.join(20) and [r.status for r in registry.store.list()] == ["stopped", "stopped"]


def test_queued_runs_keep_a_step_and_a_learning_rate_for_their_start(registry):
    blocker = registry.submit(QUICK.replace(epochs=100), ALICE)
    waiting = registry.submit(QUICK.replace(epochs=3), ALICE)
    waiting.step(ALICE)
    waiting.set_lr(ALICE, 0.001)
    assert waiting.status == "queued" and waiting.view()["lr"] == 0.001
    blocker.stop(ALICE)
    assert wait_until(lambda: waiting.view()["epoch"] == 1 and waiting.status == "paused", timeout=30)
    assert waiting.view()["lr"] == 0.001
    waiting.resume(ALICE)
    assert waiting.join(60) and waiting.status == "done"


def test_a_diverging_job_keeps_its_explanation_and_is_saved(registry):
    job = registry.submit(QUICK.replace(lr=10.0, optimizer="sgd", epochs=3), ALICE)
    assert job.join(60) and job.status == "diverged"
    assert "learning rate 10" in job.view()["error"]
    assert registry.store.info(job.id).status == "diverged"


def test_a_worker_killed_mid_epoch_fails_keeps_what_it_had_and_frees_its_slot(cache, tmp_path):
    registry = Registry(RunStore(tmp_path / "runs"), LocalTransport(cache), max_running=1)
    job = registry.submit(mlp.PRESETS["seed"].config.replace(epochs=50), ALICE)          # 50 of 60,000: ~15 s
    assert wait_until(lambda: len(job.view()["history"]) >= 2 and job.view()["epoch"] < 50, timeout=60)
    assert wait_until(lambda: job.view()["samples_seen"] % 60_000 > 1000)          # mid-epoch
    os.kill(job._worker.pid, signal.SIGKILL)
    assert job.join(20) and job.status == "failed"
    assert "SIGKILL" in job.error and "last snapshot" in job.error
    info = registry.store.info(job.id)
    saved = registry.store.load(job.id)
    last_epoch, last_params = job.snapshot_arrays()[1][-1], job.snapshot_arrays()[0][-1]
    assert info.status == "failed" and np.array_equal(saved.network.params, last_params)
    assert info.epochs_done == int(last_epoch) >= 2
    after = registry.submit(QUICK, ALICE)                                   # the slot is free again
    assert after.join(60) and after.status == "done"


def test_shutdown_saves_unfinished_runs_marked_interrupted_and_leaves_no_process(cache, tmp_path):
    reg = Registry(RunStore(tmp_path), LocalTransport(cache), max_running=1)
    running, waiting = reg.submit(QUICK.replace(epochs=100), ALICE), reg.submit(QUICK.replace(epochs=100), ALICE)
    assert wait_until(lambda: running.samples_seen > 0)
    pid = running._worker.pid
    reg.shutdown()
    assert running.status == "interrupted" and waiting.status == "stopped"
    assert [(r.id, r.status) for r in reg.store.list()] == [(running.id, "interrupted")]
    assert np.array_equal(reg.store.load(running.id).network.params, running.network().params)
    assert not alive(pid)


SERVER = """
import sys, time
sys.path.insert(0, {root!r})
import mlp
from runner.jobs import Registry
from runner.local import LocalTransport
from runner.identity import Person
from runner.store import RunStore
if __name__ == "__main__":
    reg = Registry(RunStore({runs!r}), LocalTransport({cache!r}), max_running=1)
    job = reg.submit(mlp.PRESETS["seed"].config.replace(epochs=100), Person("a1" * 16))
    while not job.view()["history"]:
        time.sleep(0.05)
    print(job.id, job._worker.pid, flush=True)
    time.sleep(600)
"""


def test_a_server_that_disappears_leaves_no_orphan_and_its_run_saved(cache, tmp_path):
    """kill -9 the server: its worker sees the command pipe close, saves the run as interrupted, exits."""
    script = tmp_path / "server.py"
    script.write_text(SERVER.format(root=str(ROOT), runs=str(tmp_path / "runs"), cache=str(cache)))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    run_id, pid = server.stdout.readline().split()
    server.kill()
    server.wait()
    assert wait_until(lambda: not alive(int(pid)), timeout=20)
    info = RunStore(tmp_path / "runs").info(run_id)
    assert info.status == "interrupted" and info.epochs_done >= 1


def test_a_paused_run_nobody_watches_is_stopped_and_saved(cache, tmp_path):
    reg = Registry(RunStore(tmp_path), LocalTransport(cache), max_running=1, abandon_after=0.3, watch_every=0.2)
    job = reg.submit(QUICK.replace(epochs=100), ALICE)
    assert wait_until(lambda: job.samples_seen > 0)
    job.pause(ALICE)
    assert wait_until(lambda: job.status == "paused")
    job.view()                                               # a page looks at it now...
    assert reg.abandoned() == []
    assert job in reg.abandoned(now=job.last_seen + 1)       # ...and not for a while: abandoned
    assert job.join(15) and job.status == "stopped"          # the watchdog stopped it
    assert "paused with nobody watching" in job.error and reg.store.info(job.id).status == "stopped"
    reg.shutdown()


def test_a_watched_or_running_run_is_never_abandoned(cache, tmp_path):
    reg = Registry(RunStore(tmp_path), LocalTransport(cache), max_running=1, abandon_after=0.0)
    job = reg.submit(QUICK.replace(epochs=100), ALICE)
    assert wait_until(lambda: job.status == "running")
    assert reg.abandoned(now=job.last_seen + 3600) == []
    reg.shutdown()


def test_the_registry_forgets_saved_runs_and_its_memory_stays_flat(cache, tmp_path):
    """40 short runs (100 when this was written; 40 keep the suite quick): the registry keeps none of
    them once saved (pages then read the files), and the server process's memory does not grow."""
    reg = Registry(RunStore(tmp_path), LocalTransport(cache), max_running=2, forget_after=0.0)
    tiny = QUICK.replace(layers=(784, 64, 10), epochs=1, train_size=64)

    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    memory = []
    for batch in range(8):
        jobs = [reg.submit(tiny, ALICE) for _ in range(5)]
        assert all(job.join(60) and job.saved for job in jobs)
        reg.forget_settled()
        memory.append(rss_mb())
    assert reg.jobs() == [] and len(reg.store.list()) == 40
    assert memory[-1] - memory[1] < 20, memory
    reg.shutdown()


def test_max_running_defaults_to_the_cores_this_process_may_use():
    assert default_max_running() == len(os.sched_getaffinity(0))
