"""Every reader of a file goes through ``mlp.npz`` (or the bounded IDX reader): whatever a file holds,
the reader raises its one "cannot be read" error (a ValueError) with a reason, and never holds much
memory while doing so.

Property-style: valid files are mutated at random (bytes, .npy headers, zip flags and compression
methods, JSON nesting, entry counts) from a fixed seed, and every mutant is fed to every reader."""
from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp import data, digits, io as model_io
from mlp.npz import UnreadableFile

PEAK_LIMIT = 24 * 2**20
"""What a reader may hold at its peak on any of these files (the largest valid one is about 2 MB)."""


def model_file():
    net = mlp.Network([784, 16, 10], seed=1)
    buffer = io.BytesIO()
    extra = dict(snapshots=np.stack([net.params] * 2), snapshot_epochs=np.array([0.0, 1.0]))
    arrays = {"meta": np.array(json.dumps({"format": "mlp-mnist", "format_version": 1, **net.describe(),
                                           "name": "a run"}))}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    arrays.update(extra)
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def digits_file():
    rng = np.random.default_rng(0)
    collection = digits.Digits.empty("mine")
    for i in range(3):
        collection = collection.with_drawing(f"{i:012x}", rng.random(784), rng.integers(0, 255, (280, 280)), i)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.npz"
        digits.save(collection, path)
        return path.read_bytes()


def data_file():
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 255, (20, 28, 28), dtype=np.uint8), y_train=np.arange(20, dtype=np.uint8) % 10,
             x_test=rng.integers(0, 255, (5, 28, 28), dtype=np.uint8), y_test=np.arange(5, dtype=np.uint8))
    return buffer.getvalue()


def read_model(content):
    return mlp.load(io.BytesIO(content), with_extras=True)


def read_model_meta(content):
    return model_io.read_meta(io.BytesIO(content))


def read_digits(content):
    return digits.load(io.BytesIO(content))


def read_data(content, tmp_path):
    path = tmp_path / "other.npz"
    path.write_bytes(content)
    return mlp.load_mnist(path)


READERS = {"model": read_model, "model meta": read_model_meta, "digits": read_digits}


def outcome(reader, content):
    """("ok" | the error's type name, message, peak bytes) of one read."""
    tracemalloc.start()
    try:
        reader(content)
        result = ("ok", "")
    except UnreadableFile as err:
        result = ("refused", str(err))
    except Exception as err:                       # anything else is the bug this test is for
        result = (type(err).__name__, repr(err)[:300])
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return (*result, peak)


# ---- mutations -----------------------------------------------------------------------------------
def offsets_of(content, signature):
    """Where each zip record starting with ``signature`` lies (b"PK\x03\x04": local headers,
    b"PK\x01\x02": the central directory's entries)."""
    offsets, at = [], content.find(signature)
    while at >= 0:
        offsets.append(at)
        at = content.find(signature, at + 4)
    return offsets


def with_field(content, local_offset, central_offset, value):
    """Set a 2-byte field of every entry (local headers and central directory) to ``value``."""
    out = bytearray(content)
    for at in offsets_of(content, b"PK\x03\x04"):
        out[at + local_offset:at + local_offset + 2] = struct.pack("<H", value)
    for at in offsets_of(content, b"PK\x01\x02"):
        out[at + central_offset:at + central_offset + 2] = struct.pack("<H", value)
    return bytes(out)


def encrypted(content):
    return with_field(content, 6, 8, 0x1)


def compressed_with(method):
    return lambda content: with_field(content, 8, 10, method)


def rebuilt(content, change):
    """The same archive with each member's bytes passed through ``change(name, data)``."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            changed = change(info.filename, source.read(info))
            if changed is not None:
                out.writestr(info.filename, changed)
    return buffer.getvalue()


def npy_header(shape, descr="<f4"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def negative_shape(content):
    """Every member's header declares (-1,) (NumPy's parser accepts it), followed by its real data."""
    def change(name, data):
        descr = np.lib.format.read_array_header_1_0(_after_magic(data))[2].str
        return npy_header((-1,), descr) + data[_header_length(data):]
    return rebuilt(content, change)


def _after_magic(data):
    f = io.BytesIO(data)
    np.lib.format.read_magic(f)
    return f


def _header_length(data):
    f = _after_magic(data)
    np.lib.format.read_array_header_1_0(f)
    return f.tell()


def huge_shape(content):
    return rebuilt(content, lambda name, data: npy_header((2**20, 2**20), "<f4") + data[_header_length(data):])


def deep_json(content):
    nested = "[" * 5000 + "]" * 5000
    return rebuilt(content, lambda name, data: _npy(np.array(nested)) if name == "meta.npy" else data)


def deep_json_object(content):
    def change(name, data):
        if name != "meta.npy":
            return data
        meta = json.loads(str(np.load(io.BytesIO(data))))
        meta["name"] = json.loads("[" * 900 + "]" * 900)   # deep, but under Python's recursion limit
        meta["config"] = {"layers": [[[[[]]]]]}
        return _npy(np.array(json.dumps(meta)))
    return rebuilt(content, change)


def format_version_true(content):
    def change(name, data):
        if name != "meta.npy":
            return data
        meta = json.loads(str(np.load(io.BytesIO(data))))
        meta["format_version"] = True
        return _npy(np.array(json.dumps(meta)))
    return rebuilt(content, change)


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def many_entries(content):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for i in range(300):
            out.writestr(f"W{i}.npy", b"")
    return buffer.getvalue()


def object_array(content):
    return rebuilt(content, lambda name, data: npy_header((3,), "|O") + b"\x80\x04N." if name == "meta.npy" else data)


def missing_member(content):
    return rebuilt(content, lambda name, data: None if name.startswith(("b0", "raw", "labels")) else data)


STRUCTURED = {"encrypted": encrypted, "deflate64": compressed_with(9), "bzip2": compressed_with(12),
              "lzma": compressed_with(14), "unknown method": compressed_with(99),
              "negative shape": negative_shape, "huge shape": huge_shape, "JSON nested 5,000 deep": deep_json,
              "JSON nested 900 deep": deep_json_object, "format_version true": format_version_true,
              "300 entries": many_entries, "pickled object": object_array, "missing member": missing_member,
              "empty": lambda c: b"", "zip magic only": lambda c: b"PK\x03\x04", "truncated": lambda c: c[:len(c) // 2],
              "no end record": lambda c: c[:-22]}
USABLE = {"JSON nested 900 deep"}
VALID = {"model": model_file, "model meta": model_file, "digits": digits_file}


@pytest.mark.parametrize("mutation", list(STRUCTURED))
@pytest.mark.parametrize("reader", list(READERS))
def test_every_structured_mutation_is_refused_with_a_reason(reader, mutation):
    content = STRUCTURED[mutation](VALID[reader]())
    kind, message, peak = outcome(READERS[reader], content)
    if mutation in USABLE or (reader, mutation) == ("model meta", "missing member"):   # read_meta reads no weights        # only descriptive fields are bad: read, with those fields dropped
        assert kind == "ok", f"{mutation}: {kind} {message}"
    else:
        assert kind == "refused" and message, f"{mutation}: {kind} {message}"
    assert peak < PEAK_LIMIT, (message, peak)


def test_deeply_nested_descriptive_fields_are_dropped_with_a_notice():
    saved = read_model(deep_json_object(model_file()))
    assert "name" not in saved.meta and any("'name' was dropped" in n for n in saved.notices)
    assert read_digits(deep_json_object(digits_file())).name == "my digits"


@pytest.mark.parametrize("reader", list(READERS))
def test_random_byte_mutations_give_only_the_one_error(reader):
    """300 mutants each of flipped bytes, overwritten runs and cut tails, from one seed: each is read
    whole or refused with the one error, within the memory bound."""
    rng = np.random.default_rng(18)
    original = VALID[reader]()
    kinds = {}
    for trial in range(300):
        content = bytearray(original)
        how = trial % 3
        if how == 0:
            for at in rng.integers(0, len(content), rng.integers(1, 8)):
                content[at] = int(rng.integers(0, 256))
        elif how == 1:
            at = int(rng.integers(0, len(content) - 16))
            content[at:at + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        else:
            content = content[:int(rng.integers(0, len(content)))]
        kind, message, peak = outcome(READERS[reader], bytes(content))
        assert kind in ("ok", "refused"), f"trial {trial}: {kind} {message}"
        assert peak < PEAK_LIMIT, (trial, peak)
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds.get("refused", 0) > 100, kinds           # the mutations really damaged files


@pytest.mark.parametrize("mutation", ["negative shape", "huge shape", "encrypted", "unknown method", "300 entries",
                                      "truncated"])
def test_data_files_are_read_through_the_same_bounds(mutation, tmp_path):
    kind, message, peak = outcome(lambda c: read_data(c, tmp_path), STRUCTURED[mutation](data_file()))
    assert kind == "refused" and peak < PEAK_LIMIT, (kind, message, peak)


def test_a_valid_data_file_still_reads(tmp_path):
    x_train, y_train, x_test, y_test = read_data(data_file(), tmp_path)
    assert x_train.shape == (20, 784) and list(y_test) == [0, 1, 2, 3, 4]


def test_zero_training_images_are_refused_with_a_reason(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(mlp.DataError, match="holds no train images"):
        read_data(buffer.getvalue(), tmp_path)


def idx(shape, payload):
    return b"\0\0\x08" + bytes([len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape) + payload


def test_a_gzip_idx_bomb_is_refused_from_its_header(tmp_path):
    """A header declaring 10⁹ images, then 50 MB of zeros that gzip to 50 kB: refused having read 12 bytes."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx((10**9, 28, 28), b""))
        for _ in range(50):
            f.write(bytes(2**20))
    assert path.stat().st_size < 200_000
    kind, message, peak = outcome(lambda _: data.read_idx(path), None)
    assert kind == "refused" and "declares the shape (1000000000, 28, 28)" in message and peak < PEAK_LIMIT


def test_an_idx_file_longer_than_its_header_is_refused_without_inflating_the_rest(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx((10,), bytes(10)))
        for _ in range(64):
            f.write(bytes(2**20))
    kind, message, peak = outcome(lambda _: data.read_idx(path), None)
    assert kind == "refused" and "too long" in message and peak < 4 * 2**20, (kind, message, peak)


def test_a_negative_dimension_upload_does_not_inflate():
    """The bug of issue 18: a digits upload whose members declare (-1,) used to be inflated whole."""
    def bomb(name, data):
        if name != "raw.npy":
            return data
        return npy_header((-1,), "|u1") + bytes(64 * 2**20)
    content = rebuilt(digits_file(), bomb)
    assert len(content) < 2**20
    kind, message, peak = outcome(read_digits, content)
    assert kind == "refused" and "every dimension should be a whole number of at least 0" in message
    assert peak < 4 * 2**20, peak


def test_sizes_are_said_in_bytes_when_small():
    from mlp.npz import size_text
    assert [size_text(n) for n in (0, 312, 41_200, 3_100_000, 4_300_000_000)] == \
        ["0 bytes", "312 bytes", "41.2 kB", "3.1 MB", "4.3 GB"]


def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "0123456789ab.npz"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFile, match="not a regular file"):
        mlp.load(fifo)
