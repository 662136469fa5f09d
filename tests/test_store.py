"""The run store: run files named by id, listed (damaged ones too), renamed, deleted, uploaded."""
import numpy as np
import pytest

import mlp
from mlp.io import thin_snapshots
from runner.store import RunStore, clean_name, new_run_id
from mlp.runs import RunMeta
from conftest import ALICE, TEACHER


def test_run_names_are_cleaned_and_made_unique(tmp_path):
    store = RunStore(tmp_path)
    assert clean_name("  a\x00b\n\tc  ") == "a b c"
    assert clean_name("\x07\x08") == "untitled run" and len(clean_name("x" * 10_000)) == 80
    net = mlp.Network([784, 4, 10])
    ids = [new_run_id() for _ in range(3)]
    names = [store.save(i, net, RunMeta("same", "done", owner=ALICE.owner)).name for i in ids]
    assert names == ["same", "same (2)", "same (3)"]
    assert store.rename(ids[0], "../../evil/name", ALICE).name == "../../evil/name"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".locks") == sorted(f"{i}.npz" for i in ids)


def test_only_run_ids_become_paths(tmp_path):
    store = RunStore(tmp_path)
    for bad in ("../x", "abc", "0123456789ab/..", "0123456789AB", None):
        with pytest.raises(ValueError, match="not a run id"):
            store.path(bad)
        assert not store.exists(bad)


def test_unreadable_files_in_the_runs_folder_are_listed_as_damaged(tmp_path):
    store = RunStore(tmp_path)
    store.save(new_run_id(), mlp.Network([784, 4, 10]), RunMeta("ok", "done", created=1.0))
    torn = new_run_id()
    (tmp_path / f"{torn}.npz").write_bytes(b"torn")
    (tmp_path / "notes.npz").write_bytes(b"not a run id: never listed")
    runs = store.list()
    assert [(r.name, r.damaged) for r in runs] == [(f"damaged file {torn}", True), ("ok", False)]
    assert "not a readable .npz" in runs[0].problem and runs[0].status == "damaged"
    store.delete(torn, TEACHER)
    assert [r.name for r in store.list()] == ["ok"]


def test_uploads_must_be_mnist_shaped(tmp_path):
    store = RunStore(tmp_path / "runs")
    mlp.save(mlp.Network([100, 4, 10]), tmp_path / "small.npz")
    with pytest.raises(ValueError, match="784"):
        store.import_bytes((tmp_path / "small.npz").read_bytes(), "small.npz", ALICE)
    assert store.list() == []


def test_snapshots_are_thinned_to_a_size_budget():
    snaps = np.arange(100 * 10, dtype=np.float32).reshape(100, 10)
    kept, epochs = thin_snapshots(snaps, np.arange(100.0), max_bytes=10 * 40)
    assert len(kept) == 10 and epochs[0] == 0 and epochs[-1] == 99
    assert np.array_equal(kept[-1], snaps[-1])
    same, _ = thin_snapshots(snaps[:5], np.arange(5.0), max_bytes=10**6)
    assert len(same) == 5


def test_half_written_files_of_a_killed_process_are_cleared(tmp_path):
    import os
    import time

    stale, fresh = tmp_path / ".0123456789ab.npz.x1.tmp", tmp_path / ".0123456789ab.npz.x2.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    RunStore(tmp_path)
    assert not stale.exists() and fresh.exists()          # a write still under way is left alone
