"""A learner's own digits: a collection of drawings kept with their labels, as a ``.npz`` file.

File layout (format version 1), plain arrays only (never pickle):

    meta     a 0-d unicode array holding JSON: {"format": "mlp-digits", "format_version": 1, "name": ...,
             "owner": ..., "owner_name": ...} (the owner fields, ``mlp.runs.OWNER``, are optional: a
             collection kept before collections had owners is nobody's)
    images   float32 (n, 784) in [0, 1]: each drawing as the network receives it (28×28)
    raw      uint8 (n, 280, 280): each drawing as it was drawn on the canvas (grey levels)
    labels   uint8 (n,) in 0..9: the digit each drawing is
    ids      unicode (n,), at most 12 characters each: each drawing's id, so a page can act on one by id

Reading is bounded as for model files, by the same reader (``mlp.npz``): unknown members are refused unread, ``meta`` is
read first, the count it implies is checked against every member's .npy header (and against
``MAX_DIGITS``) before any data is inflated, and every value is checked for type and range.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from .io import MAX_TEXT, ModelFileError, atomic_write
from .npz import check_format, open_npz
from .runs import MAX_OWNER_NAME, OWNER

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
    """A collection: name, and per drawing its id, image (784,), canvas (280, 280) and label; its
    owner (an owner id, or None: nobody's) and how its owner was called."""

    name: str
    ids: tuple
    images: np.ndarray
    raw: np.ndarray
    labels: np.ndarray
    owner: str | None = None
    owner_name: str | None = None

    def __len__(self):
        return len(self.ids)

    @classmethod
    def empty(cls, name, owner=None, owner_name=None):
        return cls(name, (), np.zeros((0, 784), np.float32), np.zeros((0, CANVAS, CANVAS), np.uint8),
                   np.zeros(0, np.uint8), owner, owner_name)

    def with_drawing(self, drawing_id, image, raw, label):
        """A new collection with one more drawing (ValueError if it is full or the drawing is malformed)."""
        if len(self) >= MAX_DIGITS:
            raise ValueError(f"a collection holds at most {MAX_DIGITS} drawings; start a new one")
        image = np.asarray(image, np.float32).reshape(1, 784)
        raw = np.asarray(raw, np.uint8).reshape(1, CANVAS, CANVAS)
        if not (0 <= int(label) <= 9 and ID.fullmatch(drawing_id) and np.isfinite(image).all()):
            raise ValueError("a drawing needs a digit 0-9 and a finite image")
        return dataclasses.replace(self, ids=(*self.ids, drawing_id),
                                   images=np.concatenate([self.images, np.clip(image, 0, 1)]),
                                   raw=np.concatenate([self.raw, raw]), labels=np.append(self.labels, np.uint8(label)))

    def without(self, drawing_id):
        """A new collection without the drawing ``drawing_id`` (the same one if it is not there)."""
        keep = np.array([i != drawing_id for i in self.ids], bool)
        return dataclasses.replace(self, ids=tuple(i for i in self.ids if i != drawing_id), images=self.images[keep],
                                   raw=self.raw[keep], labels=self.labels[keep])

    def renamed(self, name):
        return dataclasses.replace(self, name=clean_name(name))

    def owned_by(self, owner, owner_name):
        return dataclasses.replace(self, owner=owner, owner_name=owner_name)


@dataclass(frozen=True)
class TrainingSplit:
    """A collection cut in two for a fine-tuning run: the drawings it trains on and those it holds out
    to measure what it learned, each as images (k, 784) float32 and labels (k,) int64, in the order the
    run uses them."""

    images: np.ndarray
    labels: np.ndarray
    held_images: np.ndarray
    held_labels: np.ndarray


def training_split(images, labels, seed, holdout):
    """Split a collection's drawings once, from the run's seed: ``holdout`` of them are held out (at
    least one when any are asked for and there are two or more), the rest are trained on. The order
    comes from ``np.random.default_rng([seed, 3])``, a stream no other choice of the run draws from."""
    order = np.random.default_rng([seed, 3]).permutation(len(labels))
    held = int(round(holdout * len(labels)))
    if holdout and len(labels) >= 2:
        held = min(max(held, 1), len(labels) - 1)
    images, labels = np.asarray(images, np.float32), np.asarray(labels).astype(np.int64)
    return TrainingSplit(images[order[held:]], labels[order[held:]], images[order[:held]], labels[order[:held]])


def fingerprint(images, labels):
    """The SHA-256 of a collection's drawings as a run used them (images as float32, labels as bytes),
    kept with the run so that a later look can tell whether the collection is still what it trained on."""
    digest = hashlib.sha256(np.ascontiguousarray(images, np.float32).tobytes())
    digest.update(np.asarray(labels).astype(np.uint8).tobytes())
    return digest.hexdigest()


def clean_name(name, fallback="my digits"):
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(name or "")).split())[:80]
    return text or fallback


def save(digits: Digits, path):
    """Write the collection to ``path`` atomically."""
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": digits.name}
    meta.update({k: v for k, v in (("owner", digits.owner), ("owner_name", digits.owner_name)) if v is not None})
    arrays = {"meta": np.array(json.dumps(meta)), "images": digits.images.astype(np.float32),
              "raw": digits.raw.astype(np.uint8), "labels": digits.labels.astype(np.uint8),
              "ids": np.array(digits.ids, dtype="<U12")}
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def load(path) -> Digits:
    """Read a collection, checking every member before use. Raises DigitsFileError (a ValueError)
    saying why not, whatever the file holds (see ``mlp.npz``)."""
    with open_npz(path, DigitsFileError) as archive:
        name = archive.name
        unknown = sorted(set(archive.members) - set(MEMBERS))
        if unknown:
            raise DigitsFileError(f"{name} is not a digits collection: it holds {unknown[0][:60] + '.npy'!r} "
                                  f"(a collection holds only {', '.join(MEMBERS)})")
        if set(archive.members) != set(MEMBERS):
            raise DigitsFileError(f"{name} is not a digits collection: it lacks "
                                  f"{', '.join(sorted(set(MEMBERS) - set(archive.members)))}")
        meta = _meta(archive.read("meta", kind="U", max_bytes=MAX_META_BYTES), name)
        n = _count(archive, name)
        labels = archive.read("labels", shape=(n,), kind="u1")
        ids = archive.read("ids", shape=(n,), kind="U", max_bytes=n * 48 + 48)
        images = archive.read("images", shape=(n, 784))
        raw = archive.read("raw", shape=(n, CANVAS, CANVAS), kind="u1")
    if (labels > 9).any():
        raise DigitsFileError(f"{name}: every label should be a digit 0-9")
    if not all(ID.fullmatch(str(i)) for i in ids) or len(set(ids.tolist())) != n:
        raise DigitsFileError(f"{name}: each drawing's id should be up to 12 hex digits, and unique")
    if not (np.isfinite(images).all() and images.min(initial=0) >= 0 and images.max(initial=0) <= 1):
        raise DigitsFileError(f"{name}: the images should hold numbers between 0 and 1")
    return Digits(meta["name"], tuple(ids.tolist()), images.astype(np.float32), raw, labels.astype(np.uint8),
                  meta["owner"], meta["owner_name"])


def _count(archive, name):
    """How many drawings the labels' .npy header declares, refused above MAX_DIGITS before reading."""
    shape = archive.declared("labels")[0]
    if len(shape) != 1 or not 0 <= shape[0] <= MAX_DIGITS:
        raise DigitsFileError(f"{name}: a collection holds at most {MAX_DIGITS} drawings, this one declares "
                              f"{'x'.join(map(str, shape)) or 'a single value'}")
    return int(shape[0])


def _meta(raw, name):
    if raw is None or raw.shape != ():
        raise DigitsFileError(f"{name}: its metadata should be one JSON string")
    try:
        meta = json.loads(str(raw[()]))
    except json.JSONDecodeError:
        raise DigitsFileError(f"{name}: its metadata is not readable JSON") from None
    check_format(meta, FORMAT, FORMAT_VERSION, DigitsFileError, name, "a digits collection")
    meta["name"] = clean_name(meta.get("name") if isinstance(meta.get("name"), str) else None)[:MAX_TEXT]
    owner, owner_name = meta.get("owner"), meta.get("owner_name")
    if owner is not None and not (type(owner) is str and OWNER.fullmatch(owner)):
        raise DigitsFileError(f"{name}: its owner should be an owner id (32 hexadecimal digits)")
    if owner_name is not None and not (type(owner_name) is str and len(owner_name) <= MAX_OWNER_NAME):
        raise DigitsFileError(f"{name}: its owner's name should be text of at most {MAX_OWNER_NAME} characters")
    meta["owner"], meta["owner_name"] = owner, owner_name
    return meta
