"""Saved runs: one ``.npz`` per run in a runs folder, written atomically, listed, renamed, deleted.

A run file is an ordinary model file (see ``mlp.io``) whose metadata also holds the run's name,
status, configuration and history, plus weight snapshots for replay. Run ids are generated here
(12 hex digits) and are the only thing that becomes a file name, so no name a user types and no
uploaded file can place a file outside the runs folder.
"""
from __future__ import annotations

import io
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from mlp.config import check_layers
from mlp.io import SavedModel, load, read_meta, save, stale_temporary_files, thin_snapshots
from mlp.runs import RunMeta, Status
from runner.identity import Person, check_may_change
from runner.locks import IdLocks

RUN_ID = re.compile(r"[0-9a-f]{12}")
MAX_NAME = 80


def new_run_id():
    return uuid.uuid4().hex[:12]


def clean_name(name, fallback="untitled run"):
    """A run name safe to show and store: printable characters, single spaces, at most 80 long."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(name or ""))
    text = " ".join(text.split())[:MAX_NAME].strip()
    return text or fallback


class RunGone(KeyError):
    """The run is not there (any more): another session deleted it."""

    def __str__(self):
        return f"the run {self.args[0]} is no longer there: it was deleted"


@dataclass(frozen=True)
class RunInfo:
    """What the runs list shows about a saved run, read from its metadata only.

    A file that cannot be read is listed too, as ``damaged`` with the reason in ``problem``, so that
    it can be seen and deleted; nothing else may be done with it.
    """

    id: str
    name: str
    status: Status | str             # "damaged" for a file that cannot be read
    created: float
    config: dict
    test_accuracy: float | None
    epochs_done: int
    sizes: tuple
    problem: str | None = None
    owner: str | None = None
    owner_name: str | None = None
    curve: tuple = ()
    """(epoch, test accuracy) of every training event, for a class dashboard's small curves."""
    challenge: str | None = None

    @property
    def damaged(self):
        return self.problem is not None

    @property
    def architecture(self):
        return "-".join(map(str, self.sizes)) if self.sizes else "?"


class RunStore:
    """The runs folder. Every method takes a run id and never a path.

    Every file read here must hold a network this app could have trained (``check_layers``): a run
    of 300 hidden layers is refused before its weights are read, so no page ever has to draw it.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._infos = {}                 # run id -> (file version, RunInfo): see info()
        self.locked = IdLocks(self.root) # rename, delete and save of one run, one at a time
        for leftover in stale_temporary_files(self.root):    # half-written files of a killed process
            leftover.unlink(missing_ok=True)

    def path(self, run_id):
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.root / f"{run_id}.npz"

    def exists(self, run_id):
        return RUN_ID.fullmatch(str(run_id)) is not None and self.path(run_id).exists()

    def save(self, run_id, network, meta: RunMeta, snapshots=None, snapshot_epochs=None):
        """Write a run atomically (a unique name is ensured), its owner as ``meta`` says. For the run
        service's own saves (a worker's, a job's, an upload, a copy); a person's changes go through
        ``rename`` and ``delete``, which check who asks."""
        with self.locked(self.path(run_id).stem):
            return self._write(run_id, network, meta, snapshots, snapshot_epochs)

    def _write(self, run_id, network, meta, snapshots, snapshot_epochs):
        meta = meta.replace(name=self.unique_name(meta.name, run_id), created=meta.created or time.time())
        if snapshots is not None:
            snapshots, snapshot_epochs = thin_snapshots(snapshots, snapshot_epochs)
        save(network, self.path(run_id), snapshots=snapshots, snapshot_epochs=snapshot_epochs,
             run_id=run_id, **meta.to_dict())
        return self.info(run_id)

    def load(self, run_id) -> SavedModel:
        """A saved run, checked: network, metadata, snapshots. Raises ValueError if it is unusable."""
        return load(self.path(run_id), with_extras=True, check_sizes=check_layers)

    def meta(self, run_id) -> RunMeta:
        """A saved run's checked metadata (name, config, history...) without reading its weights."""
        return RunMeta.from_dict(read_meta(self.path(run_id), check_sizes=check_layers),
                                 fallback_name=f"run {run_id}")

    def info(self, run_id):
        """What the runs list shows, from the file's metadata alone (no weights are read). Remembered
        per file version (inode, size, modification time), so listing many runs on every page run
        costs one ``stat`` per file; raises ValueError or OSError as ``meta`` does."""
        status = self.path(run_id).stat()
        version = (status.st_ino, status.st_size, status.st_mtime_ns)
        cached = self._infos.get(run_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        info = self._read_info(run_id)
        self._infos[run_id] = (version, info)
        return info

    def _read_info(self, run_id):
        raw = read_meta(self.path(run_id), check_sizes=check_layers)
        meta = RunMeta.from_dict(raw, fallback_name=f"run {run_id}")
        return RunInfo(run_id, clean_name(meta.name, fallback=f"run {run_id}"), meta.status, float(meta.created),
                       meta.config or {}, meta.test_accuracy, meta.epochs_done, tuple(raw["sizes"]),
                       owner=meta.owner, owner_name=meta.owner_name, challenge=meta.challenge,
                       curve=tuple((e["epoch"], e["test_accuracy"]) for e in meta.progress or meta.history))

    def list(self):
        """Every run, newest first. A file that cannot be read is listed as damaged, with the reason."""
        runs = []
        for path in self.root.glob("*.npz"):
            if RUN_ID.fullmatch(path.stem):
                try:
                    runs.append(self.info(path.stem))
                except (ValueError, OSError) as err:
                    runs.append(self.damaged(path.stem, err))
        return sorted(runs, key=lambda r: r.created, reverse=True)

    def damaged(self, run_id, err):
        """The listing of a run file that cannot be read."""
        try:
            created = self.path(run_id).stat().st_mtime
        except OSError:
            created = 0.0
        reason = str(err) if isinstance(err, ValueError) else f"cannot be read ({err.strerror or err})"
        return RunInfo(run_id, f"damaged file {run_id}", "damaged", created, {}, None, 0, (), reason)

    def unique_name(self, name, run_id=None):
        """``name`` cleaned, with " (2)", " (3)"... added if another run already has it."""
        base = clean_name(name, fallback=f"run {run_id}" if run_id else "untitled run")
        taken = {r.name for r in self.list() if r.id != run_id}
        candidate, n = base, 2
        while candidate in taken:
            suffix = f" ({n})"
            candidate, n = base[:MAX_NAME - len(suffix)] + suffix, n + 1
        return candidate

    def check_may_change(self, run_id, by: Person, action):
        """Raise NotYours unless ``by`` may change this run (a file that cannot be read: a teacher only)."""
        try:
            info = self.info(run_id)
        except (ValueError, OSError):
            check_may_change(by, None, None, action, unowned_because="its file cannot be read")
            return
        check_may_change(by, info.owner, info.owner_name, action)

    def rename(self, run_id, name, by: Person):
        """Give a saved run a new name; returns its RunInfo. Raises NotYours unless ``by`` may change
        it, RunGone if it has been deleted (a rename never brings a deleted run back) and ValueError
        if it cannot be read."""
        with self.locked(self.path(run_id).stem):
            if not self.path(run_id).exists():
                raise RunGone(run_id)
            self.check_may_change(run_id, by, "rename it")
            saved = self.load(run_id)
            meta = RunMeta.from_dict(saved.meta).replace(name=name)
            return self._write(run_id, saved.network, meta, saved.snapshots, saved.snapshot_epochs)

    def delete(self, run_id, by: Person):
        """Delete a saved run. True if this call deleted it, False if it was already gone; raises
        NotYours (and deletes nothing) unless ``by`` may change it."""
        with self.locked(self.path(run_id).stem):
            if not self.path(run_id).exists():
                return False
            self.check_may_change(run_id, by, "delete it")
            try:
                self.path(run_id).unlink()
            except FileNotFoundError:
                return False
            self._infos.pop(run_id, None)
            return True

    def import_bytes(self, content, filename, by: Person):
        """Store an uploaded model file as a new run of ``by``; returns (RunInfo, notices) where
        notices name the metadata fields that were dropped as malformed. Raises ValueError (with a
        reason) if the file cannot be used at all, before reading more of it than its architecture
        allows. The file's own owner, if it names one, is not kept: an upload is its uploader's."""
        saved = load(io.BytesIO(content), with_extras=True, check_sizes=check_layers)
        kept = RunMeta.from_dict(saved.meta, fallback_name=Path(str(filename)).stem)
        meta = RunMeta(name=kept.name, status=Status.UPLOADED, created=time.time(), config=kept.config,
                       test_accuracy=kept.test_accuracy, history=kept.history, progress=kept.progress,
                       owner=by.owner, owner_name=by.name)
        info = self.save(new_run_id(), saved.network, meta, saved.snapshots, saved.snapshot_epochs)
        return info, saved.notices

    def copy_of(self, name, network, config, test_accuracy, by: Person):
        """Save ``network`` as a new finished run of ``by`` (a copy changed by hand, as How it
        computes makes one); returns its RunInfo."""
        meta = RunMeta(name=name, status=Status.DONE, created=time.time(), config=config,
                       test_accuracy=test_accuracy, owner=by.owner, owner_name=by.name)
        return self.save(new_run_id(), network, meta)
