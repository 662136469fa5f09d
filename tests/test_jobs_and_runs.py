import numpy as np
import pytest

import mlp
from conftest import wait_until
from mlp.jobs import Registry
from mlp.runs import RunStore, clean_name, new_run_id, thin_snapshots

QUICK = mlp.TrainConfig(layers=(784, 16, 10), activation="relu", output="softmax", loss="cross_entropy",
                        optimizer="adam", lr=0.003, batch_size=32, epochs=2, init="he", train_size=1000)


@pytest.fixture
def registry(small_mnist, tmp_path):
    reg = Registry(small_mnist, RunStore(tmp_path / "runs"), max_running=1)
    yield reg
    reg.stop_all()


def test_a_job_trains_in_its_thread_and_is_saved_with_its_history(registry):
    job = registry.submit(QUICK, name="my run")
    assert job.join(60) and job.status == "done" and job.saved
    saved = registry.store.load(job.id)
    network, meta, snapshots, epochs = saved.network, saved.meta, saved.snapshots, saved.snapshot_epochs
    assert np.array_equal(network.params, job.trainer.network.params)
    assert meta["name"] == "my run" and meta["status"] == "done" and len(meta["history"]) == 2
    assert meta["config"] == QUICK.to_dict() and meta["test_accuracy"] == job.trainer.history[-1].test_accuracy
    assert epochs.tolist() == [0.0, 1.0, 2.0] and snapshots.shape == (3, network.params.size)


def test_the_cap_queues_jobs_first_come_first_served(registry):
    long = QUICK.replace(epochs=100)
    first, second, third = (registry.submit(long) for _ in range(3))
    assert wait_until(lambda: first.status == "running")
    assert second.status == "queued" and third.status == "queued"
    assert (registry.queue_position(second.id), registry.queue_position(third.id)) == (1, 2)
    third.stop()                                   # leaving the queue
    assert third.join(5) and third.status == "stopped" and not third.saved
    assert wait_until(lambda: first.trainer.samples_seen > 0)
    first.stop()
    assert first.join(10) and wait_until(lambda: second.trainer.samples_seen > 0, timeout=10)
    assert second.status == "running"
    second.stop()
    assert second.join(10) and [r.status for r in registry.store.list()] == ["stopped", "stopped"]


def test_step_pause_resume(registry):
    job = registry.submit(QUICK.replace(epochs=3), until_epoch=1)
    assert wait_until(lambda: job.status == "paused", timeout=30) and job.trainer.epoch == 1
    job.step()
    assert wait_until(lambda: job.trainer.epoch == 2 and job.status == "paused", timeout=30)
    job.resume()
    assert job.join(60) and job.status == "done" and job.trainer.epoch == 3


def test_a_diverging_job_keeps_its_explanation_and_is_saved(registry):
    job = registry.submit(QUICK.replace(lr=10.0, optimizer="sgd", epochs=3))
    assert job.join(60) and job.status == "diverged"
    view = job.view()
    assert "learning rate 10" in view["error"]
    assert registry.store.info(job.id).status == "diverged"


def test_views_are_consistent_copies(registry):
    job = registry.submit(QUICK)
    view = job.view()
    assert view["id"] == job.id and isinstance(view["progress"], list)
    job.join(60)
    assert len(job.view()["history"]) == 2 and len(view["history"]) <= 2


def test_run_names_are_cleaned_and_made_unique(tmp_path):
    store = RunStore(tmp_path)
    assert clean_name("  a\x00b\n\tc  ") == "a b c"
    assert clean_name("\x07\x08") == "untitled run" and len(clean_name("x" * 10_000)) == 80
    net = mlp.Network([784, 4, 10])
    ids = [new_run_id() for _ in range(3)]
    names = [store.save(i, net, {"name": "same"}).name for i in ids]
    assert names == ["same", "same (2)", "same (3)"]
    assert store.rename(ids[0], "../../evil/name").name == "../../evil/name"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.npz" for i in ids)


def test_only_run_ids_become_paths(tmp_path):
    store = RunStore(tmp_path)
    for bad in ("../x", "abc", "0123456789ab/..", "0123456789AB", None):
        with pytest.raises(ValueError, match="not a run id"):
            store.path(bad)
        assert not store.exists(bad)


def test_unreadable_files_in_the_runs_folder_are_listed_as_damaged(tmp_path):
    store = RunStore(tmp_path)
    store.save(new_run_id(), mlp.Network([784, 4, 10]), {"name": "ok", "created": 1.0})
    torn = new_run_id()
    (tmp_path / f"{torn}.npz").write_bytes(b"torn")
    (tmp_path / "notes.npz").write_bytes(b"not a run id: never listed")
    runs = store.list()
    assert [(r.name, r.damaged) for r in runs] == [(f"damaged file {torn}", True), ("ok", False)]
    assert "not a readable .npz" in runs[0].problem and runs[0].status == "damaged"
    store.delete(torn)
    assert [r.name for r in store.list()] == ["ok"]


def test_uploads_must_be_mnist_shaped(tmp_path):
    store = RunStore(tmp_path / "runs")
    mlp.save(mlp.Network([100, 4, 10]), tmp_path / "small.npz")
    with pytest.raises(ValueError, match="784"):
        store.import_bytes((tmp_path / "small.npz").read_bytes(), "small.npz")
    assert store.list() == []


def test_snapshots_are_thinned_to_a_size_budget():
    snaps = np.arange(100 * 10, dtype=np.float32).reshape(100, 10)
    kept, epochs = thin_snapshots(snaps, np.arange(100.0), max_bytes=10 * 40)
    assert len(kept) == 10 and epochs[0] == 0 and epochs[-1] == 99
    assert np.array_equal(kept[-1], snaps[-1])
    same, _ = thin_snapshots(snaps[:5], np.arange(5.0), max_bytes=10**6)
    assert len(same) == 5


def test_shutdown_saves_unfinished_runs_marked_interrupted(small_mnist, tmp_path):
    reg = Registry(small_mnist, RunStore(tmp_path), max_running=1)
    running, waiting = reg.submit(QUICK.replace(epochs=100)), reg.submit(QUICK.replace(epochs=100))
    assert wait_until(lambda: running.trainer.samples_seen > 0)
    reg.shutdown()
    assert running.status == "interrupted" and waiting.status == "stopped"
    assert [(r.id, r.status) for r in reg.store.list()] == [(running.id, "interrupted")]
    assert np.array_equal(reg.store.load(running.id).network.params, running.trainer.network.params)


def test_a_paused_run_nobody_watches_is_stopped_and_saved(small_mnist, tmp_path):
    reg = Registry(small_mnist, RunStore(tmp_path), max_running=1, abandon_after=0.3)
    job = reg.submit(QUICK.replace(epochs=100))
    assert wait_until(lambda: job.trainer.samples_seen > 0)
    job.pause()
    job.view()                                               # a page looks at it now...
    assert reg.abandoned() == []
    assert job in reg.abandoned(now=job.last_seen + 1)       # ...and not for a while: abandoned
    assert job.join(15) and job.status == "stopped"          # the watchdog stopped it (checks every 5 s)
    assert "paused with nobody watching" in job.error and reg.store.info(job.id).status == "stopped"
    reg.shutdown()


def test_a_watched_or_running_run_is_never_abandoned(small_mnist, tmp_path):
    reg = Registry(small_mnist, RunStore(tmp_path), max_running=1, abandon_after=0.0)
    job = reg.submit(QUICK.replace(epochs=100))
    assert wait_until(lambda: job.status == "running")
    assert reg.abandoned(now=job.last_seen + 3600) == []
    reg.shutdown()


def test_half_written_files_of_a_killed_process_are_cleared(tmp_path):
    import os
    import time

    stale, fresh = tmp_path / ".0123456789ab.npz.x1.tmp", tmp_path / ".0123456789ab.npz.x2.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    RunStore(tmp_path)
    assert not stale.exists() and fresh.exists()          # a write still under way is left alone
