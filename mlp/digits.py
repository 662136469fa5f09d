"""A learner's own digits: a collection of drawings kept with their labels, as a ``.npz`` file.

File layout (format version 1), plain arrays only (never pickle):

    meta     a 0-d unicode array holding JSON: {"format": "mlp-digits", "format_version": 1, "name": ...}
    images   float32 (n, 784) in [0, 1]: each drawing as the network receives it (28×28)
    raw      uint8 (n, 280, 280): each drawing as it was drawn on the canvas (grey levels)
    labels   uint8 (n,) in 0..9: the digit each drawing is
    ids      unicode (n,), at most 12 characters each: each drawing's id, so a page can act on one by id

Reading is bounded as for model files (``mlp.io``): unknown members are refused unread, ``meta`` is
read first, the count it implies is checked against every member's .npy header (and against
``MAX_DIGITS``) before any data is inflated, and every value is checked for type and range.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from .io import MAX_TEXT, ModelFileError, _name, _open_zip, _read_header, _read_member, atomic_write

FORMAT = "mlp-digits"
FORMAT_VERSION = 1
MAX_DIGITS = 200
"""The most drawings a collection holds (each keeps its 280×280 canvas: about 80 kB)."""
CANVAS = 280
MAX_META_BYTES = 64 * 1024
ID = re.compile(r"[0-9a-f]{1,12}")
MEMBERS = ("meta", "images", "raw", "labels", "ids")


class DigitsFileError(ModelFileError):
    """A digits file that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Digits:
    """A collection: name, and per drawing its id, image (784,), canvas (280, 280) and label."""

    name: str
    ids: tuple
    images: np.ndarray
    raw: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.ids)

    @classmethod
    def empty(cls, name):
        return cls(name, (), np.zeros((0, 784), np.float32), np.zeros((0, CANVAS, CANVAS), np.uint8),
                   np.zeros(0, np.uint8))

    def with_drawing(self, drawing_id, image, raw, label):
        """A new collection with one more drawing (ValueError if it is full or the drawing is malformed)."""
        if len(self) >= MAX_DIGITS:
            raise ValueError(f"a collection holds at most {MAX_DIGITS} drawings; start a new one")
        image = np.asarray(image, np.float32).reshape(1, 784)
        raw = np.asarray(raw, np.uint8).reshape(1, CANVAS, CANVAS)
        if not (0 <= int(label) <= 9 and ID.fullmatch(drawing_id) and np.isfinite(image).all()):
            raise ValueError("a drawing needs a digit 0-9 and a finite image")
        return Digits(self.name, (*self.ids, drawing_id), np.concatenate([self.images, np.clip(image, 0, 1)]),
                      np.concatenate([self.raw, raw]), np.append(self.labels, np.uint8(label)))

    def without(self, drawing_id):
        """A new collection without the drawing ``drawing_id`` (the same one if it is not there)."""
        keep = np.array([i != drawing_id for i in self.ids], bool)
        return Digits(self.name, tuple(i for i in self.ids if i != drawing_id), self.images[keep], self.raw[keep],
                      self.labels[keep])

    def renamed(self, name):
        return Digits(clean_name(name), self.ids, self.images, self.raw, self.labels)


def clean_name(name, fallback="my digits"):
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(name or "")).split())[:80]
    return text or fallback


def save(digits: Digits, path):
    """Write the collection to ``path`` atomically."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": digits.name}
    arrays = {"meta": np.array(json.dumps(meta)), "images": digits.images.astype(np.float32),
              "raw": digits.raw.astype(np.uint8), "labels": digits.labels.astype(np.uint8),
              "ids": np.array(digits.ids, dtype="<U12")}
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def load(path) -> Digits:
    """Read a collection, checking every member before use. Raises DigitsFileError (or, for a malformed
    member, mlp.io's ModelFileError: both are ValueErrors) saying why not."""
    name = _name(path)
    with _open_zip(path) as archive:
        members = {}
        for info in archive.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key not in MEMBERS or key in members:
                raise DigitsFileError(f"{name} is not a digits collection: it holds {info.filename[:60]!r} "
                                      f"(a collection holds only {', '.join(MEMBERS)})")
            members[key] = info
        if set(members) != set(MEMBERS):
            raise DigitsFileError(f"{name} is not a digits collection: it lacks "
                                  f"{', '.join(sorted(set(MEMBERS) - set(members)))}")
        meta = _meta(_read_member(archive, members, "meta", name, kind="U", max_bytes=MAX_META_BYTES), name)
        n = _count(archive, members["labels"], name)
        labels = _read_member(archive, members, "labels", name, shape=(n,), kind="u1")
        ids = _read_member(archive, members, "ids", name, shape=(n,), kind="U", max_bytes=n * 48 + 48)
        images = _read_member(archive, members, "images", name, shape=(n, 784))
        raw = _read_member(archive, members, "raw", name, shape=(n, CANVAS, CANVAS), kind="u1")
    if (labels > 9).any():
        raise DigitsFileError(f"{name}: every label should be a digit 0-9")
    if not all(ID.fullmatch(str(i)) for i in ids) or len(set(ids.tolist())) != n:
        raise DigitsFileError(f"{name}: each drawing's id should be up to 12 hex digits, and unique")
    if not (np.isfinite(images).all() and images.min(initial=0) >= 0 and images.max(initial=0) <= 1):
        raise DigitsFileError(f"{name}: the images should hold numbers between 0 and 1")
    return Digits(meta["name"], tuple(ids.tolist()), images.astype(np.float32), raw, labels.astype(np.uint8))


def _count(archive, info, name):
    """How many drawings the labels' .npy header declares, refused above MAX_DIGITS before reading."""
    with archive.open(info) as f:
        shape = _read_header(f, "labels", name)[0]
    if len(shape) != 1 or not 0 <= shape[0] <= MAX_DIGITS:
        raise DigitsFileError(f"{name}: a collection holds at most {MAX_DIGITS} drawings, this one declares "
                              f"{'x'.join(map(str, shape)) or 'a single value'}")
    return int(shape[0])


def _meta(raw, name):
    try:
        meta = json.loads(str(raw[()]))
    except (json.JSONDecodeError, ValueError, IndexError):
        raise DigitsFileError(f"{name}: its metadata is not readable JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DigitsFileError(f"{name} is not a digits collection (its format should be {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DigitsFileError(f"{name}: digits format version {str(meta.get('format_version'))[:20]!r} is not "
                              f"one this app reads ({FORMAT_VERSION})")
    meta["name"] = clean_name(meta.get("name") if isinstance(meta.get("name"), str) else None)[:MAX_TEXT]
    return meta
