"""Loading MNIST: the copy shipped in ``data/mnist.npz``, or any folder of MNIST-format IDX files.

``load_mnist()`` returns ``(x_train, y_train, x_test, y_test)``:

    x_*  (n, 784) float32, pixels scaled from 0..255 to [0, 1] (ink high), ready for the network
    y_*  (n,)     int64 digit labels 0..9

``raw=True`` returns the images as stored instead: (n, 28, 28) uint8, as the seed notebook saw them.
"""
from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import numpy as np

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


class DataError(ValueError):
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
    return (images.reshape(len(images), -1).astype(np.float32)) / np.float32(255)


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {missing}; an MNIST .npz holds {list(KEYS)}")
            return {k: f[k] for k in KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot read {path} ({err}); it is truncated or not an .npz") from err


def _find_idx(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]; an MNIST-format folder holds "
                    f"{', '.join(IDX_NAMES.values())} (each optionally .gz)")


def _read_idx_folder(folder):
    return {key: read_idx(_find_idx(folder, stem)) for key, stem in IDX_NAMES.items()}


def read_idx(path):
    """Read one IDX file (the original MNIST format; gzipped or not) into a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = content[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(content[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(content) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated: its header promises shape {shape}")
    return np.frombuffer(content, np.uint8, offset=header).reshape(shape)


def _check(arrays, source):
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DataError(f"{source}: expected uint8 images and labels, got {x.dtype} and {y.dtype}")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DataError(f"{source}: expected {split} images (n, 28, 28) with n labels, "
                            f"got {x.shape} and {y.shape}")
        if len(y) and y.max() > 9:
            raise DataError(f"{source}: labels must be digits 0-9, found {int(y.max())}")
