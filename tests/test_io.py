import io
import re
import json
import zipfile

import numpy as np
import pytest

import mlp
from mlp.io import atomic_write


@pytest.fixture
def net():
    return mlp.Network([784, 12, 8, 10], "tanh", "softmax", "cross_entropy", "xavier", seed=9)


def test_round_trip_keeps_every_number_and_the_metadata(net, tmp_path):
    path = tmp_path / "model.npz"
    config = mlp.TrainConfig(layers=net.sizes, activation="tanh", output="softmax", loss="cross_entropy",
                             init="xavier", lr=0.1).to_dict()
    mlp.save(net, path, config=config, test_accuracy=0.9, history=[])
    loaded = mlp.load(path)
    assert loaded.sizes == net.sizes and loaded.activation == "tanh" and loaded.output == "softmax"
    assert np.array_equal(loaded.params, net.params)
    assert loaded.meta["test_accuracy"] == 0.9 and loaded.meta["config"] == config
    assert loaded.meta["format_version"] == 1
    X = np.random.default_rng(0).uniform(size=(3, 784))
    assert np.array_equal(loaded.forward(X), net.forward(X))


def test_snapshots_round_trip(net, tmp_path):
    snaps = np.stack([net.params, net.params * 2])
    mlp.io.save(net, tmp_path / "m.npz", snapshots=snaps, snapshot_epochs=[0.0, 1.0])
    saved = mlp.load(tmp_path / "m.npz", with_extras=True)
    loaded, epochs = saved.snapshots, saved.snapshot_epochs
    assert np.array_equal(loaded, snaps) and epochs.tolist() == [0.0, 1.0]


def arrays_of(net):
    arrays = {"meta": np.array(json.dumps({"format": "mlp-mnist", "format_version": 1, **net.describe()}))}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W.copy(), b.copy()
    return arrays


def write(path, arrays):
    np.savez(path, **arrays)
    return path


def malformed_files(net, tmp_path):
    """Each bad file the loader must refuse, with a word its message must contain."""
    good = write(tmp_path / "good.npz", arrays_of(net))
    cases = {}
    (tmp_path / "text.npz").write_text("hello, I am not a zip")
    cases["not a zip"] = (tmp_path / "text.npz", "not a readable")
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:1500])
    cases["truncated"] = (tmp_path / "cut.npz", "not a readable")
    objects = arrays_of(net)
    objects["W0"] = np.array([{"evil": 1}], dtype=object)
    cases["pickle"] = (write(tmp_path / "obj.npz", objects), "pickle")
    missing = arrays_of(net)
    del missing["b1"]
    cases["missing key"] = (write(tmp_path / "missing.npz", missing), "wrong arrays")
    extra = arrays_of(net)
    extra["surprise"] = np.zeros(3)
    cases["extra key"] = (write(tmp_path / "extra.npz", extra), "unexpected member")
    shapes = arrays_of(net)
    shapes["W1"] = np.zeros((8, 12))
    cases["wrong shape"] = (write(tmp_path / "shape.npz", shapes), "shape")
    nan = arrays_of(net)
    nan["W0"][3, 3] = np.nan
    cases["nan"] = (write(tmp_path / "nan.npz", nan), "NaN")
    inf = arrays_of(net)
    inf["b2"][0] = np.inf
    cases["inf"] = (write(tmp_path / "inf.npz", inf), "infinite")
    garbage = arrays_of(net)
    garbage["meta"] = np.array("{not json")
    cases["garbage meta"] = (write(tmp_path / "garbage.npz", garbage), "not valid JSON")
    no_meta = arrays_of(net)
    del no_meta["meta"]
    cases["no meta"] = (write(tmp_path / "nometa.npz", no_meta), "no 'meta'")
    activation = arrays_of(net)
    activation["meta"] = np.array(json.dumps({**json.loads(str(activation["meta"])), "activation": "swish"}))
    cases["unknown activation"] = (write(tmp_path / "act.npz", activation), "unknown activation")
    version = arrays_of(net)
    version["meta"] = np.array(json.dumps({**json.loads(str(version["meta"])), "format_version": 99}))
    cases["future version"] = (write(tmp_path / "version.npz", version), "not supported")
    return cases


def test_malformed_files_are_refused_with_a_reason(net, tmp_path):
    for what, (path, reason) in malformed_files(net, tmp_path).items():
        with pytest.raises(ValueError) as err:
            mlp.load(path)
        assert reason in str(err.value), (what, str(err.value))


def test_pickled_file_is_never_unpickled(tmp_path, monkeypatch):
    """A file that would run code when unpickled is refused without running it."""
    import pickle

    ran = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: ran.append(1))
    net = mlp.Network([784, 4, 10])
    arrays = arrays_of(net)
    arrays["W0"] = np.array([print], dtype=object)
    write(tmp_path / "evil.npz", arrays)
    with pytest.raises(ValueError, match="pickle"):
        mlp.load(tmp_path / "evil.npz")
    assert not ran


def test_load_accepts_an_uploaded_file_object(net, tmp_path):
    mlp.save(net, tmp_path / "m.npz")
    loaded = mlp.load(io.BytesIO((tmp_path / "m.npz").read_bytes()))
    assert np.array_equal(loaded.params, net.params)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old contents")

    def fail_halfway(f):
        f.write(b"new but incomp")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail_halfway)
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_saved_file_is_a_plain_zip_of_npy_arrays(net, tmp_path):
    mlp.save(net, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert sorted(z.namelist()) == sorted(["meta.npy", "W0.npy", "b0.npy", "W1.npy", "b1.npy",
                                               "W2.npy", "b2.npy"])


WRITER = """
import sys, itertools
sys.path.insert(0, {root!r})
import mlp
nets = [mlp.Network([784, 64, 10], seed=s) for s in (1, 2)]
print("ready", flush=True)
for i in itertools.count():
    mlp.save(nets[i % 2], {path!r})
"""


def test_killing_a_writer_at_any_moment_leaves_a_whole_file(tmp_path):
    """Kill -9 a process that keeps rewriting a model: the file is always the old or the new one."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    path = tmp_path / "model.npz"
    expected = [mlp.Network([784, 64, 10], seed=s).params for s in (1, 2)]
    rng = np.random.default_rng(0)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(path))],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        loaded = mlp.load(path).params
        assert any(np.array_equal(loaded, e) for e in expected)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in leftovers)


# ---- bounded reading: nothing is inflated before its size is known to fit ------------------------------
def npy_bytes(array=None, header_shape=None, dtype="<f4", payload=b""):
    """A .npy file: the header of ``array`` (or one declaring ``header_shape``), then its data."""
    buffer = io.BytesIO()
    if array is not None:
        np.save(buffer, array)
        return buffer.getvalue()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False,
                                                  "shape": header_shape})
    return buffer.getvalue() + payload


def zip_of(members, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, content in members.items():
            if callable(content):
                with z.open(name, "w", force_zip64=True) as f:
                    content(f)
            else:
                z.writestr(name, content)
    return buffer.getvalue()


def members_of(net, **replace):
    members = {f"{k}.npy": npy_bytes(v) for k, v in arrays_of(net).items()}
    members.update(replace)
    return members


def peak_memory_of(call):
    import tracemalloc

    tracemalloc.start()
    try:
        call()
    except ValueError as err:
        message = str(err)
    else:
        message = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return message, peak


def test_a_member_that_declares_gigabytes_is_refused_before_it_is_read():
    net = mlp.Network([784, 8, 10])
    bomb = members_of(net, **{
        "snapshots.npy": npy_bytes(header_shape=(170_000, net.params.size), payload=bytes(2**20)),  # 4.3 GB
        "snapshot_epochs.npy": npy_bytes(np.zeros(170_000))})
    content = zip_of(bomb)
    message, peak = peak_memory_of(lambda: mlp.load(io.BytesIO(content)))
    assert message and "snapshots declares 4.3 GB, more than the 67.1 MB" in message
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_a_member_whose_data_inflates_far_past_its_header_is_refused_unread():
    """A deflate stream of 256 MB of zeros behind a header that promises the right small shape: the
    zip's declared size does not match the header's, so it is refused before its data is inflated."""
    net = mlp.Network([784, 8, 10])

    def zeros(f, total=256 * 2**20, chunk=2**20):
        f.write(npy_bytes(header_shape=(784, 8)))
        for _ in range(total // chunk):
            f.write(bytes(chunk))

    content = zip_of(members_of(net, **{"W0.npy": zeros}))
    assert len(content) < 2 * 2**20                          # a small upload...
    message, peak = peak_memory_of(lambda: mlp.load(io.BytesIO(content)))
    assert "W0 declares 25.1 kB of data, but the archive says it holds 268.4 MB" in message
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.0f} MB"    # ...never inflated


def test_wrong_shapes_are_refused_from_the_header():
    net = mlp.Network([784, 8, 10])
    content = zip_of(members_of(net, **{"W0.npy": npy_bytes(header_shape=(784, 80000))}))
    message, peak = peak_memory_of(lambda: mlp.load(io.BytesIO(content)))
    assert "W0 should be a float32 or float64 array of shape (784, 8)" in message and peak < 2 * 2**20


@pytest.mark.parametrize("name", ["../../etc/passwd", "evil.npy", "W0.npy.exe", "meta.txt", "snapshots"])
def test_unknown_members_are_refused_by_name_without_being_read(name):
    net = mlp.Network([784, 8, 10])
    with pytest.raises(ValueError, match="unexpected member"):
        mlp.load(io.BytesIO(zip_of(members_of(net, **{name: b"x" * 100}))))


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_only_stored_or_deflated_members_are_read(compression):
    net = mlp.Network([784, 8, 10])
    with pytest.raises(ValueError, match="compressed in a way"):
        mlp.load(io.BytesIO(zip_of(members_of(net), compression)))


def test_metadata_larger_than_its_cap_is_refused_before_it_is_read():
    net = mlp.Network([784, 8, 10])
    content = zip_of(members_of(net, **{"meta.npy": npy_bytes(header_shape=(), dtype=f"<U{2**24}")}))
    message, peak = peak_memory_of(lambda: mlp.load(io.BytesIO(content)))
    assert "meta declares 67.1 MB" in message and peak < 2 * 2**20


def test_zero_row_snapshots_are_refused():
    net = mlp.Network([784, 8, 10])
    content = zip_of(members_of(net, **{"snapshots.npy": npy_bytes(np.zeros((0, net.params.size), np.float32)),
                                        "snapshot_epochs.npy": npy_bytes(np.zeros(0))}))
    with pytest.raises(ValueError, match="no snapshots"):
        mlp.load(io.BytesIO(content))


# ---- every metadata field is checked --------------------------------------------------------------------
def meta_with(net, **fields):
    return {"format": "mlp-mnist", "format_version": 1, **net.describe(), **fields}


EVENT = {"kind": "epoch", "epoch": 1.0, "samples_seen": 10, "elapsed": 0.5, "lr": 0.1, "train_loss": 0.3,
         "train_accuracy": 0.9, "test_loss": 0.4, "test_accuracy": 0.88}
BAD_FIELDS = {
    "test_accuracy": ["99%", 99.0, -0.1, True, [0.9]],
    "history": [[1, 2, 3], "history", [{**EVENT, "test_accuracy": "high"}], [{**EVENT, "kind": "other"}],
                [{**EVENT, "epoch": -1.0}], [dict(EVENT, extra=1)]],
    "progress": [[EVENT, "a progress entry holding a string"], {"epoch": 1}],
    "config": [[1, 2], {"lr": "fast"}, {"epochs": 10_000}, {"layers": [784, 3, 10]}],
    "name": [["a", "list"], 12, "x" * 5000],
    "status": ["exploded", 1],
    "created": ["yesterday", -5.0, float("nan"), None],
    "error": [42],
    "run_id": ["../../etc", 7],
    "surprise": [1],
}


@pytest.mark.parametrize("key,value", [(k, v) for k, values in BAD_FIELDS.items() for v in values])
def test_a_malformed_descriptive_field_is_dropped_with_a_notice(key, value):
    net = mlp.Network([784, 8, 10])
    good = {"name": "kept", "test_accuracy": 0.5, "history": [EVENT]}
    meta, notices = mlp.io.check_meta(meta_with(net, **{**good, key: value}))
    assert key not in meta or meta[key] != value
    assert len(notices) == 1 and notices[0].startswith(f"'{key}' was dropped")
    assert {k: meta[k] for k in good if k != key} == {k: v for k, v in good.items() if k != key}


def test_well_formed_fields_are_kept_as_they_are():
    net = mlp.Network([784, 8, 10])
    config = mlp.TrainConfig(layers=(784, 8, 10)).to_dict()
    fields = {"name": "mine", "status": "done", "created": 1.7e9, "finished": 1.7e9, "error": None,
              "dataset": "mnist", "config": config, "test_accuracy": 0.9, "history": [EVENT],
              "progress": [EVENT, {**EVENT, "kind": "progress", "train_loss": float("nan")}],
              "run_id": "0123456789ab"}
    meta, notices = mlp.io.check_meta(meta_with(net, **fields))
    assert notices == [] and {k: meta[k] for k in fields} == fields


@pytest.mark.parametrize("changes,words", [
    ({"activation": ["relu"]}, "'activation' should be a name"),
    ({"output": None}, "'output' should be a name"),
    ({"loss": "hinge"}, "unknown loss"),
    ({"sizes": [784, "8", 10]}, "'sizes' should be a list"),
    ({"sizes": "784-8-10"}, "'sizes' should be a list"),
    ({"sizes": [784] + [4] * 300 + [10]}, "'sizes' should be a list of 2 to 64"),
    ({"format_version": "1"}, "not supported"),
])
def test_a_malformed_architecture_refuses_the_file(changes, words, tmp_path):
    net = mlp.Network([784, 8, 10])
    arrays = arrays_of(net)
    arrays["meta"] = np.array(json.dumps({**meta_with(net), **changes}))
    with pytest.raises(ValueError, match=re.escape(words)):
        mlp.load(write(tmp_path / "m.npz", arrays))


def test_stale_temporary_files_are_those_of_dead_writers_or_old_ones(tmp_path):
    import os
    import subprocess
    import time

    from mlp.io import stale_temporary_files

    dead = subprocess.Popen(["true"])
    dead.wait()
    files = {"dead writer": f".a.npz.{dead.pid}.x1.tmp", "live writer": f".b.npz.{os.getpid()}.x2.tmp",
             "old, live writer": f".c.npz.{os.getpid()}.x3.tmp", "old, no pid": ".d.npz.x4.tmp",
             "fresh, no pid": ".e.npz.x5.tmp"}
    for name in files.values():
        (tmp_path / name).write_bytes(b"half")
    hour_ago = time.time() - 7200
    for key in ("old, live writer", "old, no pid"):
        os.utime(tmp_path / files[key], (hour_ago, hour_ago))
    stale = {p.name for p in stale_temporary_files(tmp_path)}
    assert stale == {files["dead writer"], files["old, live writer"], files["old, no pid"]}
