"""Saving and loading networks as ``.npz`` files: plain arrays plus JSON metadata, never pickle.

File layout (format version 1):

    W0, b0, W1, b1, ...   float arrays, W{l} (fan_in, fan_out), b{l} (fan_out,)
    meta                  a 0-d unicode array holding JSON: format, architecture (sizes, activation,
                          output, loss, init) and whatever the caller adds (config, accuracy, history...)
    snapshots (optional)  float (k, n_params), k >= 1: parameter vectors taken during training
    snapshot_epochs       float (k,): the (fractional) epoch of each snapshot

Reading is bounded before anything is inflated, through ``mlp.npz`` (the one reader of every file
the app reads): ``load`` refuses unknown members without reading them, reads ``meta`` first (at most
``MAX_META_BYTES``), works out from the architecture how large every other member must be, checks
each member's .npy header (dtype, shape) against that, and only then reads exactly that many bytes.
A 4 MB file that would inflate to 4 GB is refused having read a few kilobytes. Every metadata field
is then checked for type and range (``check_meta``): the architecture must be right or the file is
refused; a descriptive field that is wrong (an accuracy of "99%", a history that is not a list of
events) is dropped, and the reason is kept in ``notices``.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .network import Network, check_architecture, parameter_count
from .npz import UnreadableFile, check_format, open_npz
from .runs import MAX_OWNER_NAME, OWNER, Status

FORMAT = "mlp-mnist"
FORMAT_VERSION = 1
MAX_META_BYTES = 16 * 2**20
"""The JSON metadata, stored as UTF-32: room for about 4 million characters (a 200-epoch history
takes about one)."""
MAX_PARAMS = 50_000_000
MAX_SNAPSHOT_BYTES = 64 * 2**20
"""The most snapshot data a file may declare to be read."""
SAVED_SNAPSHOT_BYTES = 32 * 2**20
"""The most snapshot data ``thin_snapshots`` keeps by default (a long wide run keeps fewer than one per epoch)."""
MAX_EVENTS = 20_000
MAX_TEXT = 2_000
STATUSES = tuple(status for status in Status if status.saved)
"""The statuses a run file may hold (``mlp.runs.Status``)."""
EVENT_KINDS = ("progress", "epoch")
_LAYER_KEY = re.compile(r"[Wb]\d{1,3}")


class ModelFileError(UnreadableFile):
    """A model file that cannot be used; the message says which file and why."""


@dataclass
class SavedModel:
    """What a model file holds, checked: the network, its metadata, its snapshots (or None) and
    the notices about metadata fields that were dropped because they were malformed."""

    network: Network
    meta: dict
    snapshots: np.ndarray | None = None
    snapshot_epochs: np.ndarray | None = None
    notices: list = field(default_factory=list)


# ---- writing ------------------------------------------------------------------------------------
def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place.

    A crash at any moment leaves either the old file or the new one, never a torn one. The temporary
    file's name carries the writer's process id, so a later process can tell a leftover of a killed
    writer from a file another live process is still writing (``stale_temporary_files``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stale_temporary_files(folder, max_age=3600.0, now=None):
    """Temporary files of ``atomic_write`` in ``folder`` whose writer is gone: its process no longer
    runs, or the file is older than ``max_age`` seconds (a writer on another machine sharing the
    folder, or one whose name does not say)."""
    import time

    now = time.time() if now is None else now
    stale = []
    for path in Path(folder).glob(".*.tmp"):
        match = re.search(r"\.(\d+)\.[^.]*\.tmp$", path.name)
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if age > max_age or (match and not _process_alive(int(match.group(1)))):
            stale.append(path)
    return stale


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True          # it exists but is not ours to signal
    return True


def save(network, path, snapshots=None, snapshot_epochs=None, **metadata):
    """Write ``network`` and JSON-serialisable ``metadata`` to ``path`` atomically."""
    arrays = _arrays(network, snapshots, snapshot_epochs, metadata)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def to_bytes(network, snapshots=None, snapshot_epochs=None, **metadata):
    """The bytes ``save`` would write: a model file to download (a run that could not be saved)."""
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(network, snapshots, snapshot_epochs, metadata))
    return buffer.getvalue()


def _arrays(network, snapshots, snapshot_epochs, metadata):
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **network.describe(), **metadata}
    arrays = {"meta": np.array(json.dumps(meta))}
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    if snapshots is not None:
        arrays["snapshots"] = np.asarray(snapshots, np.float32)
        arrays["snapshot_epochs"] = np.asarray(snapshot_epochs, np.float64)
    return arrays


# ---- reading ------------------------------------------------------------------------------------
def load(path, with_extras=False, check_sizes=None):
    """Read a network saved by ``save``. Raises ModelFileError (a ValueError) with a plain reason for
    anything malformed, whatever the file holds (see ``mlp.npz``).

    With ``with_extras=True`` returns a ``SavedModel``; otherwise just the network, with its checked
    metadata as ``network.meta``. ``check_sizes(sizes)``, if given, may raise ValueError to refuse an
    architecture before any weight is read (the app refuses networks it could not train).
    """
    with open_npz(path, ModelFileError) as archive:
        _check_members(archive)
        meta, notices = _read_checked_meta(archive, check_sizes)
        network = _read_network(archive, meta)
        snapshots, epochs = _read_snapshots(archive, network.params.size)
    network.meta = meta
    model = SavedModel(network, meta, snapshots, epochs, notices)
    return model if with_extras else network


def read_meta(path, check_sizes=None):
    """Only the checked metadata of a saved file (architecture, name, history...): a quick look that
    reads none of the weight arrays. ``load`` still checks the whole file before it is used."""
    with open_npz(path, ModelFileError) as archive:
        _check_members(archive)
        return _read_checked_meta(archive, check_sizes)[0]


def _check_members(archive):
    """Refuse, unread, any member that is not meta, W0, b0, ... or the snapshots."""
    for key in archive.members:
        if key not in ("meta", "snapshots", "snapshot_epochs") and not _LAYER_KEY.fullmatch(key):
            raise ModelFileError(f"{archive.name} has an unexpected member {key[:60]!r}: a model file "
                                 "holds only meta, W0, b0, W1, b1, ... and optional snapshots")


def _read_checked_meta(archive, check_sizes):
    raw = archive.read("meta", kind="U", max_bytes=MAX_META_BYTES)
    meta, notices = _parse_meta(raw, archive.name)
    if check_sizes is not None:
        try:
            check_sizes(meta["sizes"])
        except ValueError as err:
            raise ModelFileError(f"{archive.name}: {err}") from None
    return meta, notices


def _read_network(archive, meta):
    sizes, name, members = meta["sizes"], archive.name, archive.members
    n_layers = len(sizes) - 1
    expected = {"meta"} | {f"W{l}" for l in range(n_layers)} | {f"b{l}" for l in range(n_layers)}
    extras = {"snapshots", "snapshot_epochs"}
    if not expected <= set(members) or set(members) - expected - extras:
        missing, unknown = sorted(expected - set(members)), sorted(set(members) - expected - extras)
        raise ModelFileError(f"{name} has the wrong arrays (missing: {missing or 'none'}, "
                             f"unexpected: {unknown or 'none'})")
    net = Network(sizes, meta["activation"], meta["output"], meta["loss"], meta["init"], dtype=np.float32)
    for l in range(n_layers):
        for key, target in ((f"W{l}", net.weights[l]), (f"b{l}", net.biases[l])):
            value = archive.read(key, shape=target.shape)
            if not np.isfinite(value).all():
                raise ModelFileError(f"{name}: {key} contains NaN or infinite values")
            target[...] = value
    return net


def _read_snapshots(archive, n_params):
    name, members = archive.name, archive.members
    if "snapshots" not in members and "snapshot_epochs" not in members:
        return None, None
    if "snapshots" not in members or "snapshot_epochs" not in members:
        raise ModelFileError(f"{name}: its weight snapshots do not match the network")
    shape, _ = archive.declared("snapshots")
    if len(shape) != 2 or shape[1] != n_params:
        raise ModelFileError(f"{name}: its weight snapshots do not match the network")
    if not shape[0]:
        raise ModelFileError(f"{name}: its snapshot array has no snapshots in it")
    snaps = archive.read("snapshots", shape=shape, max_bytes=MAX_SNAPSHOT_BYTES)
    epochs = archive.read("snapshot_epochs", shape=(len(snaps),))
    if not (np.isfinite(snaps).all() and np.isfinite(epochs).all()):
        raise ModelFileError(f"{name}: its weight snapshots contain NaN or infinite values")
    if (epochs < 0).any():
        raise ModelFileError(f"{name}: its snapshot epochs should not be negative")
    return snaps, epochs


# ---- the metadata -------------------------------------------------------------------------------
def _parse_meta(raw, name):
    """The checked metadata dict and the notices about dropped fields."""
    if raw is None:
        raise ModelFileError(f"{name} has no 'meta' entry: it was not saved by this app")
    if raw.shape != ():
        raise ModelFileError(f"{name}: 'meta' should be a JSON string")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{name}: its metadata is not valid JSON ({err.msg})") from None
    check_format(meta, FORMAT, FORMAT_VERSION, ModelFileError, name, "a model saved by this app")
    try:
        return check_meta(meta)
    except ValueError as err:
        raise ModelFileError(f"{name}: {err}") from None


def check_meta(meta):
    """Check every field of a model file's metadata. Returns ``(meta, notices)``: a new dict holding
    the architecture and every descriptive field that is well formed, and one notice per field that
    was dropped. Raises ValueError if the architecture itself is wrong (the file is then unusable).
    The format and its version are ``mlp.npz.check_format``'s to check, before this."""
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and 2 <= len(sizes) <= 64 and all(type(s) is int for s in sizes)):
        raise ValueError(f"'sizes' should be a list of 2 to 64 whole numbers, got {_short(sizes)}")
    architecture = {"activation": meta.get("activation"), "output": meta.get("output"),
                    "loss": meta.get("loss"), "init": meta.get("init", "uniform")}
    for key, value in architecture.items():
        if type(value) is not str:
            raise ValueError(f"'{key}' should be a name, got {_short(value)}")
    check_architecture(sizes, **architecture)
    if parameter_count(sizes) > MAX_PARAMS:
        raise ValueError(f"the architecture {sizes} is far too large")
    checked = {"format": FORMAT, "format_version": FORMAT_VERSION, "sizes": sizes, **architecture}
    notices = []
    for key, value in meta.items():
        if key in checked:
            continue
        check = FIELD_CHECKS.get(key)
        problem = "is not a field of a model file" if check is None else check(value)
        if not problem and key == "config" and list(value.get("layers", [])) != sizes:
            problem = f"describes layers {_short(value.get('layers'))}, not this network's {sizes}"
        if problem:
            notices.append(f"'{key}' was dropped: it {problem}")
        else:
            checked[key] = value
    return checked, notices


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _number(value):
    return type(value) in (int, float)


def _text(value, limit=MAX_TEXT):
    if type(value) is not str:
        return f"should be text, got {_short(value)}"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    return None


def _optional_text(value):
    return None if value is None else _text(value)


def _status(value):
    return None if type(value) is str and value in STATUSES else f"should be one of {', '.join(STATUSES)}, got {_short(value)}"


def _timestamp(value):
    return None if _number(value) and math.isfinite(value) and value >= 0 else \
        f"should be a time in seconds, got {_short(value)}"


def _fraction(value):
    if value is None:
        return None
    return None if _number(value) and 0 <= value <= 1 else \
        f"should be a number between 0 and 1, got {_short(value)}"


def _run_id(value):
    return None if type(value) is str and re.fullmatch(r"[0-9a-f]{12}", value) else \
        f"should be 12 hexadecimal digits, got {_short(value)}"


def _owner(value):
    return None if type(value) is str and OWNER.fullmatch(value) else \
        f"should be an owner id (32 hexadecimal digits), got {_short(value)}"


def _config(value):
    from .config import ConfigError, config_from_plain   # config imports this module's neighbours

    if not isinstance(value, dict):
        return f"should be a table of settings, got {_short(value)}"
    try:
        config_from_plain(value)
    except ConfigError as err:
        return f"does not hold settings that could train ({err})"
    return None


EVENT_FIELDS = {"kind": str, "epoch": "count", "samples_seen": int, "elapsed": "count", "lr": "count",
                "train_loss": "loss", "train_accuracy": "fraction", "test_loss": "loss",
                "test_accuracy": "fraction"}


def _event_problem(event):
    if not isinstance(event, dict) or set(event) != set(EVENT_FIELDS):
        return f"should be a table of {', '.join(EVENT_FIELDS)}"
    if event["kind"] not in EVENT_KINDS:
        return f"has kind {_short(event['kind'])}, not progress or epoch"
    for key, kind in EVENT_FIELDS.items():
        value = event[key]
        if key == "kind":
            continue
        if kind is int:
            ok = type(value) is int and value >= 0
        elif kind == "loss":              # a loss may be NaN or infinite (the chart leaves it out)
            ok = _number(value) and (not math.isfinite(value) or value >= 0)
        elif kind == "fraction":
            ok = _number(value) and 0 <= value <= 1
        else:
            ok = _number(value) and math.isfinite(value) and value >= 0
        if not ok:
            return f"has {key} = {_short(value)}"
    return None


def _events(value):
    if not isinstance(value, list):
        return f"should be a list of training events, got {_short(value)}"
    if len(value) > MAX_EVENTS:
        return f"holds more than {MAX_EVENTS:,} events"
    for i, event in enumerate(value):
        problem = _event_problem(event)
        if problem:
            return f"should be a list of training events, but entry {i} {problem}"
    return None


FINE_TUNE_FIELDS = {"start_from": "text", "my_digits": "text", "held_out": "count", "mnist_before": "fraction",
                    "mnist_after": "fraction", "held_out_before": "fraction", "held_out_after": "fraction",
                    "digits_sha256": "digest"}
"""What a fine-tuning run keeps: the names of what it started from and trained on, the accuracies it
measured before and after, and the fingerprint of the drawings it used (``mlp.digits.fingerprint``)."""


def _digest(value):
    return None if type(value) is str and re.fullmatch(r"[0-9a-f]{64}", value) else \
        f"should be a SHA-256 in hexadecimal, got {_short(value)}"


def _count(value):
    return None if type(value) is int and 0 <= value <= 10**6 else f"should be a count, got {_short(value)}"


_FINE_TUNE_CHECKS = {"text": lambda v: _text(v, 200), "count": _count, "fraction": _fraction, "digest": _digest}


def _fine_tune(value):
    """What a fine-tuning run measured before and after (see ``runner.worker``)."""
    if not isinstance(value, dict) or not set(value) <= set(FINE_TUNE_FIELDS):
        return f"should be a table of some of {', '.join(FINE_TUNE_FIELDS)}"
    for key, kind in FINE_TUNE_FIELDS.items():
        problem = _FINE_TUNE_CHECKS[kind](value[key]) if key in value else None
        if problem:
            return f"has a bad {key}: it {problem}"
    return None


FIELD_CHECKS = {
    "run_id": _run_id, "name": lambda v: _text(v, 200), "status": _status, "created": _timestamp,
    "finished": _timestamp, "error": _optional_text, "dataset": lambda v: _text(v, 500),
    "config": _config, "test_accuracy": _fraction, "history": _events, "progress": _events,
    "fine_tune": _fine_tune, "owner": _owner, "owner_name": lambda v: _text(v, MAX_OWNER_NAME),
    "challenge": _run_id,
}
"""The descriptive fields a model file may hold, each with a check that returns None when the value
is well formed and otherwise says what is wrong with it."""


def thin_snapshots(snapshots, epochs, max_bytes=SAVED_SNAPSHOT_BYTES):
    """Keep at most ``max_bytes`` of snapshots, evenly spread, always the first and the last."""
    snapshots = np.asarray(snapshots, np.float32)
    keep = max(2, max_bytes // max(snapshots[0].nbytes, 1))
    if len(snapshots) <= keep:
        return snapshots, np.asarray(epochs, np.float64)
    picked = np.unique(np.linspace(0, len(snapshots) - 1, keep).round().astype(int))
    return snapshots[picked], np.asarray(epochs, np.float64)[picked]
