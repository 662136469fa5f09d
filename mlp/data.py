"""Loading MNIST: the copy shipped in ``data/mnist.npz``, or any folder of MNIST-format IDX files.

``load_mnist()`` returns ``(x_train, y_train, x_test, y_test)``:

    x_*  (n, 784) float32, pixels scaled from 0..255 to [0, 1] (ink high), ready for the network
    y_*  (n,)     int64 digit labels 0..9

``raw=True`` returns the images as stored instead: (n, 28, 28) uint8, as the seed notebook saw them.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from .npz import UnreadableFile, open_npz, size_text

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MNIST_PATH = PROJECT_ROOT / "data" / "mnist.npz"
MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
RESTORE_HINT = ("restore it with `git checkout -- data/mnist.npz` (the project ships it), "
                "or copy it again from shared/data/mnist.npz")
KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}


MAX_IMAGES = 300_000
"""The most images one split of a dataset may declare (MNIST has 60,000; EMNIST's digits 240,000)."""
TEST_HALVES = {"public": slice(0, None, 2), "private": slice(1, None, 2)}
"""The test set's two fixed halves, for a class challenge (``runner.classes``): the public half is
the even-numbered test images (0, 2, ..., 9998), the private half the odd-numbered ones. Both mix the
test set's two writer populations alike; ``x_test[TEST_HALVES["public"]]`` is a view, never a copy."""


def tested_rows(in_challenge):
    """The test images a run is measured on (an index into the test set): the public half for a
    class challenge's run, so that no number of it shows the private half; else all of them."""
    return TEST_HALVES["public"] if in_challenge else slice(None)


class DataError(UnreadableFile):
    """The dataset is missing, damaged or not in a format we read; the message says what to do."""


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def load_mnist(path=None, raw=False):
    """Load the shipped MNIST (checked by SHA-256), another ``.npz`` of the same layout, or a folder of IDX files.

    Raises DataError, saying what is wrong and how to fix it, for a missing, truncated or altered file.
    """
    path = MNIST_PATH if path is None else Path(path)
    if path.is_dir():
        arrays = _read_idx_folder(path)
    else:
        if not path.exists():
            hint = RESTORE_HINT if path == MNIST_PATH else "check the path"
            raise DataError(f"MNIST data not found at {path}: {hint}")
        if path == MNIST_PATH and sha256_of(path) != MNIST_SHA256:
            raise DataError(f"{path} is damaged or altered (its SHA-256 does not match): {RESTORE_HINT}")
        arrays = _read_npz(path)
    _check(arrays, path)
    if raw:
        return tuple(arrays[k] for k in KEYS)
    return (as_inputs(arrays["x_train"]), arrays["y_train"].astype(np.int64),
            as_inputs(arrays["x_test"]), arrays["y_test"].astype(np.int64))


def as_inputs(images):
    """uint8 images (n, 28, 28) or (n, 784) -> float32 (n, 784) in [0, 1]."""
    images = np.asarray(images)
    flat = images.reshape(len(images), -1)
    # One pass, each pixel cast and divided in float32: the same numbers as astype(float32) / 255, which
    # made and filled a second 188 MB array first (half a second of every process that loads MNIST).
    return np.divide(flat, np.float32(255), out=np.empty(flat.shape, np.float32), dtype=np.float32)


def _read_npz(path):
    """The four arrays of an MNIST .npz, each bounded before it is inflated (``mlp.npz``)."""
    with open_npz(path, DataError) as archive:
        missing = [k for k in KEYS if k not in archive.members]
        if missing:
            raise DataError(f"{path} lacks the arrays {missing}; an MNIST .npz holds {list(KEYS)}")
        return {k: archive.read(k, kind="u1", max_bytes=MAX_IMAGES * 784) for k in KEYS}


def _find_idx(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]; an MNIST-format folder holds "
                    f"{', '.join(IDX_NAMES.values())} (each optionally .gz)")


def _read_idx_folder(folder):
    return {key: read_idx(_find_idx(folder, stem)) for key, stem in IDX_NAMES.items()}


def read_idx(path):
    """Read one IDX file (the original MNIST format; gzipped or not) into a uint8 array. Its header
    is read first and the size it declares checked (at most ``MAX_IMAGES`` images) before the rest
    is read or inflated; then exactly that many bytes must follow."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08 or not 1 <= head[3] <= 4:
                raise DataError(f"{path} is not an IDX file of unsigned bytes (1 to 4 dimensions)")
            dims = f.read(4 * head[3])
            if len(dims) != 4 * head[3]:
                raise DataError(f"{path} is truncated: its header is incomplete")
            shape = tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, len(dims), 4))
            nbytes = math.prod(shape)
            if nbytes > MAX_IMAGES * 784:
                raise DataError(f"{path} declares the shape {shape} ({size_text(nbytes)}), more than the "
                                f"{MAX_IMAGES:,} images of {size_text(784)} this app reads")
            content = f.read(nbytes)
            extra = f.read(1)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if len(content) != nbytes or extra:
        raise DataError(f"{path} is truncated or too long: its header promises shape {shape}")
    return np.frombuffer(content, np.uint8).reshape(shape)


def _check(arrays, source):
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DataError(f"{source}: expected uint8 images and labels, got {x.dtype} and {y.dtype}")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DataError(f"{source}: expected {split} images (n, 28, 28) with n labels, "
                            f"got {x.shape} and {y.shape}")
        if not len(y):
            raise DataError(f"{source}: it holds no {split} images; a dataset needs at least one of each split")
        if len(y) and y.max() > 9:
            raise DataError(f"{source}: labels must be digits 0-9, found {int(y.max())}")
