"""A lock per id (a run, a collection), held across threads and processes that share a folder.

Renaming and deleting the same run are a read and a write: without a lock, a rename that read the
file before a delete writes it back after, and the deleted run returns. Every change of one id goes
through ``with locks(id):``: a thread lock for this process, and ``fcntl.flock`` on a small file in
``<folder>/.locks/`` for other processes (the training workers, a second app server on the same
folder). The lock files hold nothing and are never removed (removing one races another locker).
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path


class IdLocks:
    def __init__(self, folder):
        self.folder = Path(folder) / ".locks"
        self._threads = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    @contextmanager
    def __call__(self, key):
        """Hold the lock of ``key`` (an id already checked by the caller: it becomes a file name)."""
        with self._guard:
            lock = self._threads[key]
        with lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)                    # closing releases the flock
