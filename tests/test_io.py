import io
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
    net.save(path, config={"lr": 0.1}, test_accuracy=0.9, history=[{"epoch": 1.0}])
    loaded = mlp.load(path)
    assert loaded.sizes == net.sizes and loaded.activation == "tanh" and loaded.output == "softmax"
    assert np.array_equal(loaded.params, net.params)
    assert loaded.meta["test_accuracy"] == 0.9 and loaded.meta["config"] == {"lr": 0.1}
    assert loaded.meta["format_version"] == 1
    X = np.random.default_rng(0).uniform(size=(3, 784))
    assert np.array_equal(loaded.forward(X), net.forward(X))


def test_snapshots_round_trip(net, tmp_path):
    snaps = np.stack([net.params, net.params * 2])
    mlp.io.save(net, tmp_path / "m.npz", snapshots=snaps, snapshot_epochs=[0.0, 1.0])
    _, meta, loaded, epochs = mlp.load(tmp_path / "m.npz", with_extras=True)
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
    cases["extra key"] = (write(tmp_path / "extra.npz", extra), "wrong arrays")
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
    net.save(tmp_path / "m.npz")
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
    net.save(tmp_path / "m.npz")
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
    nets[i % 2].save({path!r})
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
