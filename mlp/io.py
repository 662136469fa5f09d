"""Saving and loading networks as ``.npz`` files: plain arrays plus JSON metadata, never pickle.

File layout (format version 1):

    W0, b0, W1, b1, ...   float arrays, W{l} (fan_in, fan_out), b{l} (fan_out,)
    meta                  a 0-d unicode array holding JSON: format, architecture (sizes, activation,
                          output, loss, init) and whatever the caller adds (config, accuracy, history...)
    snapshots (optional)  float (k, n_params), k >= 1: parameter vectors taken during training
    snapshot_epochs       float (k,): the (fractional) epoch of each snapshot

Reading is bounded before anything is inflated. An .npz is a zip archive whose members are .npy
files; ``load`` refuses unknown members and compression other than none or deflate without reading
them, reads ``meta`` first (at most ``MAX_META_BYTES``), works out from the architecture how large
every other member must be, checks each member's .npy header (dtype, shape) against that, and only
then reads exactly that many bytes. A 4 MB file that would inflate to 4 GB is refused having read a
few kilobytes. Every metadata field is then checked for type and range (``check_meta``): the
architecture must be right or the file is refused; a descriptive field that is wrong (an accuracy of
"99%", a history that is not a list of events) is dropped, and the reason is kept in ``notices``.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .network import Network, check_architecture, parameter_count

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
STATUSES = ("done", "stopped", "diverged", "failed", "interrupted", "uploaded")
EVENT_KINDS = ("progress", "epoch")
_LAYER_KEY = re.compile(r"[Wb]\d{1,3}")


class ModelFileError(ValueError):
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
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **network.describe(), **metadata}
    arrays = {"meta": np.array(json.dumps(meta))}
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    if snapshots is not None:
        arrays["snapshots"] = np.asarray(snapshots, np.float32)
        arrays["snapshot_epochs"] = np.asarray(snapshot_epochs, np.float64)
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ---- reading ------------------------------------------------------------------------------------
def load(path, with_extras=False, check_sizes=None):
    """Read a network saved by ``save``. Raises ModelFileError (a ValueError) with a plain reason for
    anything malformed.

    With ``with_extras=True`` returns a ``SavedModel``; otherwise just the network, with its checked
    metadata as ``network.meta``. ``check_sizes(sizes)``, if given, may raise ValueError to refuse an
    architecture before any weight is read (the app refuses networks it could not train).
    """
    name = _name(path)
    with _open_zip(path) as archive:
        members = _members(archive, name)
        raw = _read_member(archive, members, "meta", name, kind="U", max_bytes=MAX_META_BYTES)
        meta, notices = _parse_meta(raw, name)
        sizes = meta["sizes"]
        if check_sizes is not None:
            try:
                check_sizes(sizes)
            except ValueError as err:
                raise ModelFileError(f"{name}: {err}") from None
        network = _read_network(archive, members, meta, name)
        snapshots, epochs = _read_snapshots(archive, members, network.params.size, name)
    network.meta = meta
    model = SavedModel(network, meta, snapshots, epochs, notices)
    return model if with_extras else network


def read_meta(path, check_sizes=None):
    """Only the checked metadata of a saved file (architecture, name, history...): a quick look that
    reads none of the weight arrays. ``load`` still checks the whole file before it is used."""
    name = _name(path)
    with _open_zip(path) as archive:
        meta = _parse_meta(_read_member(archive, _members(archive, name), "meta", name, kind="U",
                                         max_bytes=MAX_META_BYTES), name)[0]
    if check_sizes is not None:
        try:
            check_sizes(meta["sizes"])
        except ValueError as err:
            raise ModelFileError(f"{name}: {err}") from None
    return meta


@contextmanager
def _open_zip(path):
    """``with _open_zip(path) as archive``: the zip archive, or a ModelFileError saying why not."""
    name = _name(path)
    if _first_bytes(path, 4) != b"PK\x03\x04":
        raise ModelFileError(f"{name} is not a readable .npz file: an .npz is a zip archive, "
                             f"and this is not one")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ModelFileError(f"{name} is not a readable .npz file: it is truncated or not a "
                             f"zip archive ({type(err).__name__})") from None
    try:
        yield archive
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
        raise ModelFileError(f"{name} is not a readable .npz file: it is truncated or damaged "
                             f"({type(err).__name__})") from None
    finally:
        archive.close()


def _members(archive, name):
    """{key: ZipInfo} of the archive's .npy members, refusing anything else before reading it."""
    members = {}
    for info in archive.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else None
        if key not in ("meta", "snapshots", "snapshot_epochs") and not _LAYER_KEY.fullmatch(key or ""):
            raise ModelFileError(f"{name} has an unexpected member {info.filename[:60]!r}: a model file "
                                 "holds only meta, W0, b0, W1, b1, ... and optional snapshots")
        if key in members:
            raise ModelFileError(f"{name} holds {key} twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{name}: {key} is compressed in a way this app does not read "
                                 "(only stored or deflated members, as NumPy writes them)")
        members[key] = info
    return members


def _read_header(f, key, name):
    """(shape, fortran order, dtype) from the .npy header at the start of the open member ``f``:
    what it declares, read before any of its data."""
    try:
        version = np.lib.format.read_magic(f)
        return (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                np.lib.format.read_array_header_2_0)(f)
    except (ValueError, OSError, EOFError) as err:
        raise ModelFileError(f"{name}: {key} is not a NumPy array ({err})") from None


def _read_member(archive, members, key, name, shape=None, kind="f", max_bytes=None):
    """One member as an array, reading no more than its .npy header promises and ``max_bytes``.

    shape: the shape it must have (None: any, within max_bytes); kind: 'f' (float32/float64), 'U'
    (unicode text) or 'u1' (bytes, uint8).
    """
    info = members.get(key)
    if info is None:
        return None
    with archive.open(info) as f:
        declared, fortran, dtype = _read_header(f, key, name)
        if dtype.hasobject:
            raise ModelFileError(f"{name} holds Python objects (pickle) in {key}; only plain arrays "
                                 "are accepted")
        if dtype.kind != kind[0] or (kind == "f" and dtype.itemsize not in (4, 8)) or (kind == "u1" and
                                                                                   dtype.itemsize != 1):
            wanted = {"U": "text", "f": "a float32 or float64 array", "u1": "a uint8 array"}[kind]
            raise ModelFileError(f"{name}: {key} should be {wanted}, got {dtype}")
        if shape is not None and tuple(declared) != tuple(shape):
            raise ModelFileError(f"{name}: {key} should be a float array of shape {tuple(shape)}, "
                                 f"got {dtype} {tuple(declared)}")
        nbytes = math.prod(declared) * dtype.itemsize
        if max_bytes is not None and nbytes > max_bytes:
            raise ModelFileError(f"{name}: {key} declares {nbytes / 2**20:,.0f} MB, more than the "
                                 f"{max_bytes / 2**20:,.0f} MB this app reads")
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise ModelFileError(f"{name}: {key} is truncated")
    array = np.frombuffer(data, dtype).reshape(declared, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)


def _read_network(archive, members, meta, name):
    sizes = meta["sizes"]
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
            value = _read_member(archive, members, key, name, shape=target.shape)
            if not np.isfinite(value).all():
                raise ModelFileError(f"{name}: {key} contains NaN or infinite values")
            target[...] = value
    return net


def _read_snapshots(archive, members, n_params, name):
    if "snapshots" not in members and "snapshot_epochs" not in members:
        return None, None
    if "snapshots" not in members or "snapshot_epochs" not in members:
        raise ModelFileError(f"{name}: its weight snapshots do not match the network")
    snaps = _read_member(archive, members, "snapshots", name, max_bytes=MAX_SNAPSHOT_BYTES)
    if snaps.ndim != 2 or snaps.shape[1] != n_params:
        raise ModelFileError(f"{name}: its weight snapshots do not match the network")
    if not len(snaps):
        raise ModelFileError(f"{name}: its snapshot array has no snapshots in it")
    epochs = _read_member(archive, members, "snapshot_epochs", name, shape=(len(snaps),))
    if not (np.isfinite(snaps).all() and np.isfinite(epochs).all()):
        raise ModelFileError(f"{name}: its weight snapshots contain NaN or infinite values")
    if (epochs < 0).any():
        raise ModelFileError(f"{name}: its snapshot epochs should not be negative")
    return snaps, epochs


def _first_bytes(path, n):
    if isinstance(path, (str, os.PathLike)):
        try:
            with open(path, "rb") as f:
                return f.read(n)
        except OSError as err:
            raise ModelFileError(f"cannot open {_name(path)}: {err.strerror}") from None
    start = path.tell()
    head = path.read(n)
    path.seek(start)
    return head


def _name(path):
    return Path(path).name if isinstance(path, (str, os.PathLike)) else "the file"


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
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{name}: its metadata does not describe an {FORMAT} model")
    try:
        return check_meta(meta)
    except ValueError as err:
        raise ModelFileError(f"{name}: {err}") from None


def check_meta(meta):
    """Check every field of a model file's metadata. Returns ``(meta, notices)``: a new dict holding
    the architecture and every descriptive field that is well formed, and one notice per field that
    was dropped. Raises ValueError if the architecture itself is wrong (the file is then unusable)."""
    if type(meta.get("format_version")) is not int or meta["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format version {meta.get('format_version')!r} is not supported "
                         f"(this app reads version {FORMAT_VERSION})")
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
    return None if value in STATUSES else f"should be one of {', '.join(STATUSES)}, got {_short(value)}"


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
                    "mnist_after": "fraction", "held_out_before": "fraction", "held_out_after": "fraction"}


def _fine_tune(value):
    """What a fine-tuning run measured before and after (see ``runner.worker``)."""
    if not isinstance(value, dict) or not set(value) <= set(FINE_TUNE_FIELDS):
        return f"should be a table of some of {', '.join(FINE_TUNE_FIELDS)}"
    for key, kind in FINE_TUNE_FIELDS.items():
        if key in value:
            problem = {"text": lambda v: _text(v, 200), "count": lambda v: None if type(v) is int and 0 <= v <= 10**6
                       else f"has {key} {_short(v)}, not a count", "fraction": _fraction}[kind](value[key])
            if problem:
                return f"has a bad {key}: {problem}"
    return None


FIELD_CHECKS = {
    "run_id": _run_id, "name": lambda v: _text(v, 200), "status": _status, "created": _timestamp,
    "finished": _timestamp, "error": _optional_text, "dataset": lambda v: _text(v, 500),
    "config": _config, "test_accuracy": _fraction, "history": _events, "progress": _events,
    "fine_tune": _fine_tune,
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
