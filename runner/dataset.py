"""MNIST shared by the server and every worker process: one memory-mapped cache, written once.

Each worker process would otherwise hold its own 190 MB float32 copy of the training images. The
server checks ``data/mnist.npz`` (``mlp.load_mnist`` verifies its SHA-256), writes the four arrays as
``.npy`` files into a folder named after that checksum, and from then on the server and every worker
open them with ``np.load(mmap_mode="r")``: the operating system keeps one copy in its page cache, and
each process maps it read-only. The folder is written under a temporary name and renamed into place,
so a process killed half-way never leaves a partial cache that looks complete.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

import mlp
from mlp.data import MNIST_SHA256

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("MLP_CACHE_DIR", ROOT / ".cache"))
NAMES = ("x_train", "y_train", "x_test", "y_test")
SHAPES = {"x_train": ((60_000, 784), np.float32), "y_train": ((60_000,), np.int64),
          "x_test": ((10_000, 784), np.float32), "y_test": ((10_000,), np.int64)}


def cache_folder(cache_dir=None):
    return Path(cache_dir or CACHE_DIR) / f"mnist-{MNIST_SHA256[:16]}"


def shared_mnist(cache_dir=None):
    """The shipped MNIST (checked) as read-only memory maps, writing the cache first if needed.

    Raises ``mlp.DataError`` if the shipped file is missing or altered, as ``mlp.load_mnist`` does.
    """
    arrays = mlp.load_mnist()                   # checks the SHA-256 of the file we ship
    folder = cache_folder(cache_dir)
    if not _complete(folder):
        _write(folder, arrays)
    del arrays
    return open_cache(folder)


def open_cache(folder):
    """The four arrays of a cache folder as read-only memory maps (a worker's way in)."""
    arrays = []
    for name in NAMES:
        array = np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        shape, dtype = SHAPES[name]
        if array.shape != shape or array.dtype != dtype:
            raise mlp.DataError(f"the MNIST cache in {folder} is damaged ({name} is {array.dtype} "
                                f"{array.shape}); delete the folder and it is written again")
        arrays.append(array)
    return tuple(arrays)


def _complete(folder):
    return all((folder / f"{name}.npy").is_file() for name in NAMES)


def _write(folder, arrays):
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}."))
    try:
        for name, array in zip(NAMES, arrays):
            shape, dtype = SHAPES[name]
            np.save(partial / f"{name}.npy", np.ascontiguousarray(array, dtype=dtype).reshape(shape))
        os.rename(partial, folder)              # atomic; fails if another process got there first
    except OSError:
        if not _complete(folder):
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
