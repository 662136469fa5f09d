"""Saving and loading networks as ``.npz`` files: plain arrays plus JSON metadata, never pickle.

File layout (format version 1):

    W0, b0, W1, b1, ...   float arrays, W{l} (fan_in, fan_out), b{l} (fan_out,)
    meta                  a 0-d unicode array holding JSON: format, architecture (sizes, activation,
                          output, loss, init) and whatever the caller adds (config, accuracy, history...)
    snapshots (optional)  float32 (k, n_params): parameter vectors taken during training
    snapshot_epochs       float (k,): the (fractional) epoch of each snapshot

``load`` opens files with ``allow_pickle=False`` and checks every key, shape and value, so a file can
only ever be read as numbers; anything else is refused with a ``ValueError`` that says why.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .network import Network, check_architecture, parameter_count

FORMAT = "mlp-mnist"
FORMAT_VERSION = 1


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(network, path, snapshots=None, snapshot_epochs=None, **metadata):
    """Write ``network`` and JSON-serialisable ``metadata`` to ``path`` atomically."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **network.describe(), **metadata}
    arrays = {"meta": np.array(json.dumps(meta))}
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    if snapshots is not None:
        arrays["snapshots"] = np.asarray(snapshots, np.float32)
        arrays["snapshot_epochs"] = np.asarray(snapshot_epochs, np.float64)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path, with_extras=False):
    """Read a network saved by ``save``. Raises ValueError with a plain reason for anything malformed.

    With ``with_extras=True`` returns ``(network, meta, snapshots, snapshot_epochs)`` (the last two
    None when the file has none); otherwise just the network, with its metadata as ``network.meta``.
    """
    arrays = _read_arrays(path)
    network, meta, snapshots, epochs = _parse(arrays, _name(path))
    network.meta = meta
    return (network, meta, snapshots, epochs) if with_extras else network


def read_meta(path):
    """Only the checked metadata of a saved file (architecture, name, history...): a quick look that
    reads none of the weight arrays. ``load`` still checks the whole file before it is used."""
    return _parse_meta(_read_arrays(path, keys=("meta",)).get("meta"), _name(path))


def _read_arrays(path, keys=None):
    """The arrays of an .npz (or just ``keys``), never unpickling; ValueError with a reason otherwise."""
    if _first_bytes(path, 4) != b"PK\x03\x04":
        raise ValueError(f"{_name(path)} is not a readable .npz file: an .npz is a zip archive, "
                         f"and this is not one")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError(f"{_name(path)} holds a single array, not an .npz archive")
            return {k: f[k] for k in f.files if keys is None or k in keys}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{_name(path)} holds Python objects (pickle); only plain arrays are accepted") from None
        raise ValueError(f"{_name(path)} is not a readable .npz file ({err})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise ValueError(f"{_name(path)} is not a readable .npz file: it is truncated or not a zip "
                         f"archive ({type(err).__name__})") from None


def _first_bytes(path, n):
    if isinstance(path, (str, os.PathLike)):
        try:
            with open(path, "rb") as f:
                return f.read(n)
        except OSError as err:
            raise ValueError(f"cannot open {_name(path)}: {err.strerror}") from None
    start = path.tell()
    head = path.read(n)
    path.seek(start)
    return head


def _name(path):
    return Path(path).name if isinstance(path, (str, os.PathLike)) else "the file"


def _parse(arrays, name):
    meta = _parse_meta(arrays.get("meta"), name)
    sizes = meta["sizes"]
    n_layers = len(sizes) - 1
    expected = {"meta"} | {f"W{l}" for l in range(n_layers)} | {f"b{l}" for l in range(n_layers)}
    extras = {"snapshots", "snapshot_epochs"}
    if not expected <= set(arrays) or set(arrays) - expected - extras:
        missing, unknown = sorted(expected - set(arrays)), sorted(set(arrays) - expected - extras)
        raise ValueError(f"{name} has the wrong arrays (missing: {missing or 'none'}, "
                         f"unexpected: {unknown or 'none'})")
    net = Network(sizes, meta["activation"], meta["output"], meta["loss"], meta["init"], dtype=np.float32)
    for l in range(n_layers):
        for key, target in ((f"W{l}", net.weights[l]), (f"b{l}", net.biases[l])):
            value = arrays[key]
            if value.shape != target.shape or value.dtype.kind != "f":
                raise ValueError(f"{name}: {key} should be a float array of shape {target.shape}, "
                                 f"got {value.dtype} {value.shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{name}: {key} contains NaN or infinite values")
            target[...] = value
    snapshots, epochs = _parse_snapshots(arrays, net.params.size, name)
    return net, meta, snapshots, epochs


def _parse_meta(raw, name):
    if raw is None:
        raise ValueError(f"{name} has no 'meta' entry: it was not saved by this app")
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ValueError(f"{name}: 'meta' should be a JSON string")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise ValueError(f"{name}: its metadata is not valid JSON ({err.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{name}: its metadata does not describe an {FORMAT} model")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{name}: format version {meta.get('format_version')!r} is not supported "
                         f"(this app reads version {FORMAT_VERSION})")
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and all(type(s) is int for s in sizes)):
        raise ValueError(f"{name}: 'sizes' should be a list of whole numbers, got {sizes!r}")
    meta.setdefault("init", "uniform")
    try:
        check_architecture(sizes, meta.get("activation"), meta.get("output"), meta.get("loss"), meta["init"])
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if parameter_count(sizes) > 50_000_000:
        raise ValueError(f"{name}: the architecture {sizes} is far too large")
    return meta


def _parse_snapshots(arrays, n_params, name):
    if "snapshots" not in arrays and "snapshot_epochs" not in arrays:
        return None, None
    snaps, epochs = arrays.get("snapshots"), arrays.get("snapshot_epochs")
    if (snaps is None or epochs is None or snaps.ndim != 2 or snaps.shape[1] != n_params
            or epochs.shape != (snaps.shape[0],) or snaps.dtype.kind != "f" or epochs.dtype.kind != "f"):
        raise ValueError(f"{name}: its weight snapshots do not match the network")
    if not (np.isfinite(snaps).all() and np.isfinite(epochs).all()):
        raise ValueError(f"{name}: its weight snapshots contain NaN or infinite values")
    return snaps, epochs
