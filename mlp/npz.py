"""The one bounded reader of ``.npz`` files (zip archives of ``.npy`` members): models, snapshots,
digit collections and MNIST data all go through it.

An ``.npz`` can declare far more than it holds: a zip member of a few kilobytes may inflate to
gigabytes, a central directory may list half a million entries, and NumPy's own header parser
accepts a shape of ``(-1,)``. So, in this order, before anything is inflated:

1. the file must be a regular file that starts like a zip archive;
2. the zip's end record is read by hand and its entry count and directory size are checked
   against ``max_members`` (``zipfile`` would otherwise parse every entry first);
3. every member must be ``NAME.npy``, stored or deflated, not encrypted, and declare at most
   ``MAX_MEMBER_BYTES``;
4. reading a member reads its ``.npy`` header only; every dimension must be a non-negative integer,
   the dtype must be the kind asked for, and header plus data must add up to exactly the size the
   zip declares; then exactly that many bytes are read.

Whatever goes wrong inside (a damaged zip, an unknown compression, JSON nested 5,000 deep, a NumPy
header it cannot parse), the caller gets one error, a ``ValueError`` subclass of its choosing whose
message says which file and why. Nothing is ever unpickled.
"""
from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

MAX_MEMBERS = 256
"""The most members an archive may list (a model of the deepest accepted network has about 130)."""
MAX_MEMBER_BYTES = 1 << 30
"""The most one member may declare, whatever its caller allows (each caller allows far less)."""
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_MAX_COMMENT = 0xFFFF
_ENTRY_BYTES = 46 + 64          # a central directory entry: fixed part plus a short name and extras
KINDS = {"f": "a float32 or float64 array", "U": "text", "u1": "a uint8 array"}


class UnreadableFile(ValueError):
    """A file that cannot be read; the message says which file and why."""


def size_text(nbytes):
    """A byte count as people read it: "312 bytes", "41.2 kB", "3.1 MB"."""
    if nbytes < 1000:
        return f"{nbytes:,} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if nbytes < scale * 1000 or unit == "GB":
            return f"{nbytes / scale:,.1f} {unit}"


def display_name(path):
    """How messages name a file: its name, or "the file" for an in-memory upload."""
    return Path(path).name if isinstance(path, (str, os.PathLike)) else "the file"


def check_format(meta, format_name, version, error, name, what):
    """Refuse metadata (a parsed JSON value) that is not a table of ``format_name`` at exactly
    ``version`` (an int, not ``true``): the one rule for every file format of the app. ``what``
    names the kind of file in the message ("a digits collection")."""
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise error(f"{name} is not {what} (its format should be {format_name!r})")
    found = meta.get("format_version")
    if type(found) is not int or found != version:
        raise error(f"{name}: format version {str(found)[:20]!r} is not supported (this app reads version {version})")


class NpzArchive:
    """An open, checked archive: ``members`` maps each key (the member's name without ``.npy``) to
    its ``ZipInfo``; ``declared(key)`` and ``read(key, ...)`` read members within their bounds."""

    def __init__(self, archive, name, error):
        self._zip, self.name, self.error = archive, name, error
        self.members = {}
        for info in archive.infolist():
            self._check_member(info)
            self.members[info.filename[:-4]] = info

    def _check_member(self, info):
        fail, filename = self.error, info.filename
        key = filename[:-4] if filename.endswith(".npy") else None
        if not key or not key.isascii() or not key.replace("_", "").isalnum():
            raise fail(f"{self.name} has an unexpected member {filename[:60]!r}: it holds only NumPy arrays")
        if key in self.members:
            raise fail(f"{self.name} holds {key} twice")
        if info.flag_bits & 0x1:
            raise fail(f"{self.name}: {key} is encrypted; this app reads only plain archives")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(f"{self.name}: {key} is compressed in a way this app does not read "
                       "(only stored or deflated members, as NumPy writes them)")
        if info.file_size > MAX_MEMBER_BYTES:
            raise fail(f"{self.name}: {key} declares {size_text(info.file_size)}, more than the "
                       f"{size_text(MAX_MEMBER_BYTES)} this app reads")

    def declared(self, key):
        """(shape, dtype) that member ``key``'s .npy header declares, reading nothing else."""
        with self._zip.open(self.members[key]) as f:
            shape, _, dtype, _ = self._header(f, key)
        return shape, dtype

    def read(self, key, kind="f", shape=None, max_bytes=None):
        """Member ``key`` as a native-byte-order array, or None if there is no such member.

        kind: 'f' (float32/float64), 'U' (unicode text) or 'u1' (uint8); shape: the shape it must
        have (None: any); max_bytes: the most its data may take. Checked on the header, before a
        byte of data is inflated; then exactly the declared bytes are read.
        """
        info = self.members.get(key)
        if info is None:
            return None
        fail = self.error
        with self._zip.open(info) as f:
            declared, fortran, dtype, header_bytes = self._header(f, key)
            if dtype.hasobject:
                raise fail(f"{self.name} holds Python objects (pickle) in {key}; only plain arrays are accepted")
            if dtype.kind != kind[0] or (kind == "f" and dtype.itemsize not in (4, 8)) or \
                    (kind == "u1" and dtype.itemsize != 1) or dtype.fields is not None:
                raise fail(f"{self.name}: {key} should be {KINDS[kind]}, got {dtype}")
            if shape is not None and declared != tuple(shape):
                raise fail(f"{self.name}: {key} should be {KINDS[kind]} of shape {tuple(shape)}, got {dtype} {declared}")
            nbytes = math.prod(declared) * dtype.itemsize
            if max_bytes is not None and nbytes > max_bytes:
                raise fail(f"{self.name}: {key} declares {size_text(nbytes)}, more than the "
                           f"{size_text(max_bytes)} this app reads")
            if header_bytes + nbytes != info.file_size:
                raise fail(f"{self.name}: {key} declares {size_text(nbytes)} of data, but the archive says "
                           f"it holds {size_text(max(info.file_size - header_bytes, 0))}")
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise fail(f"{self.name}: {key} is truncated")
        array = np.frombuffer(data, dtype).reshape(declared, order="F" if fortran else "C")
        return array.astype(dtype.newbyteorder("="), copy=True)

    def _header(self, f, key):
        """(shape, fortran order, dtype, header length in bytes) of the open member ``f``."""
        try:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(f)
        except (ValueError, OSError, EOFError, SyntaxError, TypeError, RecursionError) as err:
            raise self.error(f"{self.name}: {key} is not a NumPy array ({str(err)[:200]})") from None
        if not (isinstance(shape, tuple) and len(shape) <= 8 and all(type(d) is int and d >= 0 for d in shape)):
            raise self.error(f"{self.name}: {key} declares the shape {str(shape)[:60]}: every dimension "
                             "should be a whole number of at least 0")
        return shape, bool(fortran), dtype, f.tell()


@contextmanager
def open_npz(path, error=UnreadableFile, max_members=MAX_MEMBERS):
    """``with open_npz(path_or_file, MyError) as archive``: an ``NpzArchive``. Any failure while it
    is open, of the zip, JSON or NumPy layers or of the caller's own checks, comes out as ``error``
    (a ValueError subclass) with the file's name and the reason; ``error`` itself passes through."""
    name = display_name(path)
    handle = _open_regular(path, name, error)
    try:
        _check_directory(handle, name, error, max_members)
        with zipfile.ZipFile(handle) as archive:
            yield NpzArchive(archive, name, error)
    except error:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise error(f"{name} cannot be read: it is truncated or damaged ({type(err).__name__}: "
                    f"{str(err)[:200]})") from None
    except Exception as err:          # NotImplementedError, RuntimeError, RecursionError, MemoryError, ...
        raise error(f"{name} cannot be read ({type(err).__name__}: {str(err)[:200]})") from None
    finally:
        if handle is not path:
            handle.close()


def _open_regular(path, name, error):
    """An open binary file for ``path`` (a regular file only: never a FIFO or a device), or ``path``
    itself when it is already a file object."""
    if not isinstance(path, (str, os.PathLike)):
        return path
    try:
        f = open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK))
    except OSError as err:
        raise error(f"{name} cannot be read: {err.strerror or err}") from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise error(f"{name} cannot be read: it is not a regular file")
    return f


def _check_directory(f, name, error, max_members):
    """Read the zip's end record by hand and refuse an archive that lists more than ``max_members``
    entries (or a directory too large for them, or ZIP64) before ``zipfile`` parses any entry."""
    start = f.tell()
    if f.read(4) != b"PK\x03\x04":
        raise error(f"{name} is not a readable .npz file: an .npz is a zip archive, and this is not one")
    size = f.seek(0, os.SEEK_END)
    tail_size = min(size, _END_RECORD_SIZE + _MAX_COMMENT)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    f.seek(start)
    at = tail.rfind(_END_RECORD)
    if at < 0 or len(tail) - at < _END_RECORD_SIZE:
        raise error(f"{name} is not a readable .npz file: it is truncated (the zip's end record is missing)")
    entries, directory_bytes, offset = struct.unpack("<2xHII", tail[at + 8:at + 20])
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF or offset == 0xFFFFFFFF:
        raise error(f"{name} is a ZIP64 archive; this app reads only small archives, as NumPy writes them")
    if entries > max_members or directory_bytes > max_members * _ENTRY_BYTES:
        raise error(f"{name} lists {entries:,} entries in {size_text(directory_bytes)} of zip directory; "
                    f"this app reads at most {max_members}")
