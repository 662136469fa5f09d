"""Collections of a learner's own digits, kept in the runs folder (``digits/<id>.npz``, one file each).

Collection ids are generated here (12 hex digits), like run ids, and are the only thing that becomes
a file name. A collection belongs to whoever started it (or uploaded it): every change takes the
person asking and raises ``NotYours`` unless they are its owner or a teacher (``runner.identity``).
Every change reads the file, changes it and writes it back atomically, under a lock per collection
(``runner.locks``), so two sessions adding drawings at once lose neither, and a rename racing a
delete never brings the collection back.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from mlp import digits as fmt
from mlp.io import stale_temporary_files
from runner.identity import Person, check_may_change
from runner.locks import IdLocks

MAX_UPLOAD = 64 * 2**20


def new_id():
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class CollectionInfo:
    id: str
    name: str
    count: int
    problem: str | None = None
    owner: str | None = None
    owner_name: str | None = None


class DigitStore:
    def __init__(self, runs_dir):
        self.folder = Path(runs_dir) / "digits"
        self.locked = IdLocks(self.folder)
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

    def create(self, by: Person, name="my digits"):
        """Start an empty collection of ``by``; returns its id."""
        collection_id = new_id()
        fmt.save(fmt.Digits.empty(fmt.clean_name(name), by.owner, by.name), self.path(collection_id))
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
                    found.append((path.stat().st_mtime_ns, path.stem))
                except OSError:                     # deleted meanwhile
                    continue
        infos = (self.info(collection_id) for _, collection_id in sorted(found, reverse=True))
        return [info for info in infos if info is not None]

    def info(self, collection_id):
        """What the picker shows of one collection (its problem, if damaged), read once per version of
        its file; None if there is no such collection."""
        path = self.path(collection_id)
        try:
            stat = path.stat()
        except OSError:
            return None
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        known = self._infos.get(path)
        if known is None or known[0] != version:
            try:
                d = fmt.load(path)
                info = CollectionInfo(path.stem, d.name, len(d), owner=d.owner, owner_name=d.owner_name)
            except (ValueError, OSError) as err:
                info = CollectionInfo(path.stem, path.stem, 0, str(err))
            self._infos[path] = known = (version, info)
        return known[1]

    def usable(self, collection_id):
        """True if the collection exists and can be read."""
        try:
            info = self.info(collection_id)
        except KeyError:
            return False
        return info is not None and info.problem is None

    def check_may_change(self, collection_id, by: Person, action):
        """Raise NotYours unless ``by`` may change this collection (a file that cannot be read: a
        teacher only), KeyError if there is none."""
        info = self.info(collection_id)
        if info is None:
            raise KeyError(collection_id)
        if info.problem is not None:
            check_may_change(by, None, None, action, unowned_because="its file cannot be read")
        else:
            check_may_change(by, info.owner, info.owner_name, action,
                             unowned_because="it was kept before collections had owners")

    def _change(self, collection_id, by, action, change):
        """Read, change and write back one collection under its lock (KeyError if it was deleted,
        NotYours, changing nothing, unless ``by`` may change it)."""
        with self.locked(self.path(collection_id).stem):
            current = self.get(collection_id)          # KeyError, or the reason it cannot be read
            self.check_may_change(collection_id, by, action)
            changed = change(current)
            fmt.save(changed, self.path(collection_id))
            return changed

    def add(self, collection_id, image, raw, label, by: Person):
        """Keep one drawing; returns its id."""
        drawing_id = new_id()
        self._change(collection_id, by, "add a drawing to it",
                     lambda d: d.with_drawing(drawing_id, image, raw, label))
        return drawing_id

    def remove(self, collection_id, drawing_id, by: Person):
        return self._change(collection_id, by, "delete its drawings", lambda d: d.without(drawing_id))

    def rename(self, collection_id, name, by: Person):
        return self._change(collection_id, by, "rename it", lambda d: d.renamed(name))

    def delete(self, collection_id, by: Person):
        """Delete a collection. True if this call deleted it, False if it was already gone."""
        with self.locked(self.path(collection_id).stem):
            try:
                self.check_may_change(collection_id, by, "delete it")
            except KeyError:
                return False
            try:
                self.path(collection_id).unlink()
            except FileNotFoundError:
                return False
            return True

    def to_bytes(self, collection_id):
        return self.path(collection_id).read_bytes()

    def import_bytes(self, content, by: Person, filename="upload.npz"):
        """Check an uploaded collection completely, then keep it under a new id (returned) as ``by``'s
        (whatever owner the file names). Raises ValueError saying why it was refused."""
        import io

        if len(content) > MAX_UPLOAD:
            raise ValueError(f"{filename} is larger than {MAX_UPLOAD // 2**20} MB")
        buffer = io.BytesIO(content)
        try:
            digits = fmt.load(buffer)
        except ValueError as err:                       # the messages name "the file": say which
            raise ValueError(str(err).replace("the file", filename, 1)) from None
        collection_id = new_id()
        fmt.save(digits.owned_by(by.owner, by.name), self.path(collection_id))
        return collection_id
