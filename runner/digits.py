"""Collections of a learner's own digits, kept in the runs folder (``digits/<id>.npz``, one file each).

Collection ids are generated here (12 hex digits), like run ids, and are the only thing that becomes
a file name. Every change reads the file, changes it and writes it back atomically, under a lock per
collection, so two sessions adding drawings at once lose neither.
"""
from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mlp import digits as fmt
from mlp.io import stale_temporary_files

MAX_UPLOAD = 64 * 2**20


def new_id():
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    name: str
    count: int
    problem: str | None = None


class DigitStore:
    def __init__(self, runs_dir):
        self.folder = Path(runs_dir) / "digits"
        self._locks = defaultdict(threading.Lock)
        self._infos = {}                # path -> (file version, CollectionInfo): list() reads a file once
        if self.folder.exists():
            for path in stale_temporary_files(self.folder):
                path.unlink(missing_ok=True)

    def path(self, collection_id):
        if not fmt.ID.fullmatch(str(collection_id or "")) or len(collection_id) != 12:
            raise KeyError(collection_id)
        return self.folder / f"{collection_id}.npz"

    def exists(self, collection_id):
        try:
            return self.path(collection_id).exists()
        except KeyError:
            return False

    def create(self, name="my digits"):
        collection_id = new_id()
        fmt.save(fmt.Digits.empty(fmt.clean_name(name)), self.path(collection_id))
        return collection_id

    def get(self, collection_id) -> fmt.Digits:
        """The collection (KeyError if there is none; DigitsFileError, a ValueError, if it is damaged)."""
        path = self.path(collection_id)
        if not path.exists():
            raise KeyError(collection_id)
        return fmt.load(path)

    def list(self):
        """Every collection, newest first; a damaged file is listed with its problem."""
        if not self.folder.exists():
            return []
        found = []
        for path in self.folder.glob("*.npz"):
            if fmt.ID.fullmatch(path.stem) and len(path.stem) == 12:
                try:
                    stat = path.stat()
                except OSError:                     # deleted meanwhile
                    continue
                found.append((stat.st_mtime_ns, path, (stat.st_ino, stat.st_size, stat.st_mtime_ns)))
        infos = []
        for _, path, version in sorted(found, reverse=True):
            known = self._infos.get(path)
            if known is None or known[0] != version:
                try:
                    d = fmt.load(path)
                    info = CollectionInfo(path.stem, d.name, len(d))
                except (ValueError, OSError) as err:
                    info = CollectionInfo(path.stem, path.stem, 0, str(err))
                self._infos[path] = known = (version, info)
            infos.append(known[1])
        return infos

    def _change(self, collection_id, change):
        with self._locks[collection_id]:
            changed = change(self.get(collection_id))
            fmt.save(changed, self.path(collection_id))
            return changed

    def add(self, collection_id, image, raw, label):
        """Keep one drawing; returns its id."""
        drawing_id = new_id()
        self._change(collection_id, lambda d: d.with_drawing(drawing_id, image, raw, label))
        return drawing_id

    def remove(self, collection_id, drawing_id):
        return self._change(collection_id, lambda d: d.without(drawing_id))

    def rename(self, collection_id, name):
        return self._change(collection_id, lambda d: d.renamed(name))

    def delete(self, collection_id):
        self.path(collection_id).unlink(missing_ok=True)

    def to_bytes(self, collection_id):
        return self.path(collection_id).read_bytes()

    def import_bytes(self, content, filename="upload.npz"):
        """Check an uploaded collection completely, then keep it under a new id (returned). Raises
        ValueError saying why it was refused."""
        import io

        if len(content) > MAX_UPLOAD:
            raise ValueError(f"{filename} is larger than {MAX_UPLOAD // 2**20} MB")
        buffer = io.BytesIO(content)
        try:
            digits = fmt.load(buffer)
        except ValueError as err:                       # the messages name "the file": say which
            raise ValueError(str(err).replace("the file", filename, 1)) from None
        collection_id = new_id()
        fmt.save(digits, self.path(collection_id))
        return collection_id
