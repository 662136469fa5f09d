"""A learner's own digits: the collection file (round trip, bounded and checked reading), the store
(acting by id), and fine-tuning (starting from given weights, training on MNIST plus the digits)."""
import io
import tracemalloc
import zipfile

import numpy as np
import pytest

import mlp
from mlp import digits as fmt
from runner.digits import DigitStore
from runner.worker import RunSpec, TrainingWorker, fine_tune_inputs
from conftest import ALICE


def collection(n=5, seed=0):
    rng = np.random.default_rng(seed)
    d = fmt.Digits.empty("mine")
    for i in range(n):
        d = d.with_drawing(f"{i:012x}", rng.uniform(0, 1, 784), rng.integers(0, 256, (280, 280)), i % 10)
    return d


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_arrays(n=3):
    d = collection(n)
    return {"meta": np.array('{"format": "mlp-digits", "format_version": 1, "name": "x"}'), "images": d.images,
            "raw": d.raw, "labels": d.labels, "ids": np.array(d.ids, dtype="<U12")}


def test_a_collection_round_trips_through_its_file(tmp_path):
    d = collection(7)
    fmt.save(d, tmp_path / "c.npz")
    back = fmt.load(tmp_path / "c.npz")
    assert back.name == "mine" and back.ids == d.ids
    np.testing.assert_array_equal(back.images, d.images)
    np.testing.assert_array_equal(back.raw, d.raw)
    np.testing.assert_array_equal(back.labels, d.labels)


@pytest.mark.parametrize("change,reason", [
    (lambda a: a.update(extra=np.zeros(3)), "holds 'extra.npy'"),
    (lambda a: a.pop("raw"), "lacks raw"),
    (lambda a: a.update(labels=np.array([1, 2, 12], np.uint8)), "digit 0-9"),
    (lambda a: a.update(labels=np.array([1, 2, 3], np.int64)), "should be a uint8 array"),
    (lambda a: a.update(images=a["images"] * 3), "between 0 and 1"),
    (lambda a: a.update(images=a["images"][:2]), "shape (3, 784)"),
    (lambda a: a.update(ids=np.array(["a", "a", "b"], dtype="<U12")), "unique"),
    (lambda a: a.update(ids=np.array(["../x", "b", "c"], dtype="<U12")), "hex digits"),
    (lambda a: a.update(ids=np.array([{"x": 1}, 2, 3], dtype=object)), "pickle"),
    (lambda a: a.update(meta=np.array('{"format": "mlp-mnist"}')), "not a digits collection"),
    (lambda a: a.update(meta=np.array("not json")), "not readable JSON"),
])
def test_malformed_collections_are_refused_with_the_reason(tmp_path, change, reason):
    arrays = good_arrays()
    change(arrays)
    store = DigitStore(tmp_path)
    with pytest.raises(ValueError, match="upload.npz") as refused:
        store.import_bytes(npz_bytes(**arrays), ALICE, "upload.npz")
    assert reason in str(refused.value)
    assert store.list() == []                                             # nothing kept


def test_a_huge_declared_collection_is_refused_before_anything_is_inflated(tmp_path):
    arrays = good_arrays()
    buffer = io.BytesIO()
    arrays["labels"] = np.zeros(10_000, np.uint8)                       # declares 10,000 drawings
    arrays["images"] = np.zeros((10_000, 784), np.float32)               # 31 MB of zeros: 30 kB deflated
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for key, value in arrays.items():
            z.writestr(f"{key}.npy", _npy(value))
    del arrays
    tracemalloc.start()
    with pytest.raises(ValueError, match="at most 200 drawings"):
        DigitStore(tmp_path).import_bytes(buffer.getvalue(), ALICE, "big.npz")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20


def _npy(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_the_store_acts_by_id_and_keeps_files_in_its_folder(tmp_path):
    store = DigitStore(tmp_path)
    cid = store.create(ALICE, "mine")
    first = store.add(cid, np.full(784, 0.5), np.zeros((280, 280)), 3, ALICE)
    second = store.add(cid, np.full(784, 0.25), np.zeros((280, 280)), 8, ALICE)
    assert store.get(cid).labels.tolist() == [3, 8]
    store.remove(cid, first, ALICE)
    assert store.get(cid).ids == (second,) and store.get(cid).labels.tolist() == [8]
    assert [p.name for p in (tmp_path / "digits").iterdir() if p.name != ".locks"] == [f"{cid}.npz"]
    with pytest.raises(KeyError):
        store.path("../../etc/passwd")
    with pytest.raises(ValueError, match="at most 200"):
        full = collection(fmt.MAX_DIGITS)
        full.with_drawing("ffffffffffff", np.zeros(784), np.zeros((280, 280)), 1)


# ---- fine-tuning ---------------------------------------------------------------------------------------
def test_the_held_out_split_is_reproducible_disjoint_and_checked():
    d = collection(20)
    config = mlp.PRESETS["fast"].config.replace(my_digits="0123456789ab", holdout=0.25)
    inputs = fine_tune_inputs(config, None, (d.name, d.images, d.labels))
    again = fine_tune_inputs(config, None, (d.name, d.images, d.labels))
    assert len(inputs["holdout_y"]) == 5 and len(inputs["extra_y"]) == 15
    np.testing.assert_array_equal(inputs["holdout_x"], again["holdout_x"])
    together = np.concatenate([inputs["holdout_x"], inputs["extra_x"]])
    assert len(np.unique(together, axis=0)) == 20                         # every drawing exactly once
    other = fine_tune_inputs(config.replace(seed=1), None, (d.name, d.images, d.labels))
    assert not np.array_equal(other["holdout_x"], inputs["holdout_x"])
    wide = mlp.load("models/wide.npz")
    with pytest.raises(ValueError, match="not the one it starts from"):
        fine_tune_inputs(config.replace(start_from="model:wide"), ("wide", wide), None)


def test_a_fine_tuning_run_starts_from_the_given_weights_and_trains_on_the_digits_too(tmp_path, small_mnist):
    base = mlp.load("models/fast.npz")
    x_test, y_test = small_mnist[2:]
    mine = (x_test[:40], y_test[:40])                                    # "my digits": 40 test images
    config = mlp.PRESETS["fast"].config.replace(epochs=1, train_size=600, lr=0.0003, start_from="model:fast",
                                                my_digits="0123456789ab", my_digits_repeat=5, holdout=0.25)
    inputs = fine_tune_inputs(config, ("fast", base), ("mine", *mine))
    worker = TrainingWorker(RunSpec("0123456789ab", "tuned", config, str(tmp_path), inputs=inputs), small_mnist)
    np.testing.assert_array_equal(worker.trainer.network.params, base.params)   # not random weights
    np.testing.assert_array_equal(worker.trainer.snapshots[0].params, base.params)
    assert worker.trainer.epoch_size == 600 + 30 * 5
    X, Y = worker.trainer._gather(np.array([0, 599, 600, 629, 630]))
    np.testing.assert_array_equal(X[:2], small_mnist[0][[0, 599]])
    np.testing.assert_array_equal(X[2:], inputs["extra_x"][[0, 29, 0]])   # the digits, repeated
    np.testing.assert_array_equal(Y[2:].argmax(axis=1), inputs["extra_y"][[0, 29, 0]])
    worker.run(lambda update: None)
    saved = mlp.load(tmp_path / "0123456789ab.npz", with_extras=True)
    result = saved.meta["fine_tune"]
    assert result["start_from"] == "fast" and result["my_digits"] == "mine" and result["held_out"] == 10
    assert result["held_out_before"] == pytest.approx(base.accuracy(inputs["holdout_x"], inputs["holdout_y"]))
    assert result["mnist_after"] == pytest.approx(saved.network.accuracy(x_test, y_test))
    assert saved.meta["history"][0]["samples_seen"] == 750
