"""What a run is, as plain data: its status (one type, with its transitions) and its metadata.

Every layer speaks of a run in these words: the engine's ``Trainer``, the run service's workers,
jobs and store (``runner/``), the model files (``mlp.io`` checks a saved status against
``Status.saved``) and the pages. A ``Status`` is a ``str`` (``Status.DONE == "done"``), so it goes
into JSON and out again unchanged.

    READY ──> RUNNING <──> PAUSED                (READY: a Trainer between two ``events`` calls)
    QUEUED ─┘    │            │
      │          ├──> DONE, DIVERGED (the engine ends it)
      └──────────┴──> STOPPED, FAILED, INTERRUPTED (a person, a fault, the server going down)

A final status never changes again; UPLOADED is a file that came from elsewhere and was never
trained here.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, fields
from enum import StrEnum


class Status(StrEnum):
    READY = "ready"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    DONE = "done"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    UPLOADED = "uploaded"

    @property
    def active(self):
        """Waiting for a slot, training or paused: a person may still control it."""
        return self in (Status.QUEUED, Status.RUNNING, Status.PAUSED)

    @property
    def final(self):
        """Over: nothing changes it any more."""
        return self in FINAL

    @property
    def saved(self):
        """A status a run file may hold (a run is saved once it is over, or uploaded)."""
        return self in FINAL or self is Status.UPLOADED

    def may_become(self, new):
        """True if a run in this status can next be in ``new`` (the same status always)."""
        return Status(new) == self or Status(new) in TRANSITIONS[self]


FINAL = frozenset({Status.STOPPED, Status.DONE, Status.DIVERGED, Status.FAILED, Status.INTERRUPTED})
_ENDS = FINAL - {Status.DONE, Status.DIVERGED}
TRANSITIONS = {
    Status.READY: {Status.RUNNING, Status.PAUSED, *FINAL},
    Status.QUEUED: {Status.RUNNING, *_ENDS},
    Status.RUNNING: {Status.PAUSED, Status.READY, *FINAL},
    Status.PAUSED: {Status.RUNNING, Status.READY, *FINAL},
    **{status: set() for status in FINAL},
    Status.UPLOADED: set(),
}
"""Where each status may go next (see the module's diagram)."""

OWNER = re.compile(r"[0-9a-f]{32}")
"""An owner id: a keyed hash of a browser's token or of a signed-in person (``runner.identity``);
never the token itself."""
MAX_OWNER_NAME = 80


@dataclass(frozen=True)
class RunMeta:
    """A run's metadata: everything a run file holds besides its weights and architecture, and what
    a page knows of a live run. Built here and nowhere else (``of_training``, ``shipped``...), written
    with ``to_dict`` and read back with ``from_dict`` from metadata ``mlp.io`` has checked.

    config: ``TrainConfig.to_dict()`` (or None for a file without one); history and progress: the
    training events as dicts (``Event.to_dict()``); owner: an ``OWNER`` id, or None for a run saved
    before runs had owners, and for a shipped model; owner_name: how its owner was called then;
    challenge: the id of the class challenge it was entered in (``runner.classes``), whose runs are
    tested on the public half of the test set only (``mlp.data.TEST_HALVES``), or None.
    """

    name: str
    status: Status
    created: float = 0.0
    config: dict | None = None
    test_accuracy: float | None = None
    history: tuple = ()
    progress: tuple = ()
    finished: float | None = None
    error: str | None = None
    dataset: str = "mnist"
    fine_tune: dict | None = None
    owner: str | None = None
    owner_name: str | None = None
    challenge: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "progress", tuple(self.progress))

    @property
    def epochs_done(self):
        return len(self.history)

    def to_dict(self):
        """The JSON-ready fields, leaving out those that are None."""
        plain = {k: v for k, v in asdict(self).items() if v is not None}
        plain.update(status=str(self.status), history=list(self.history), progress=list(self.progress))
        return plain

    @classmethod
    def from_dict(cls, meta, default_status=Status.DONE, fallback_name="untitled run"):
        """From checked metadata (``mlp.io.check_meta``'s): the architecture keys are left out."""
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in meta.items() if k in names}
        known.setdefault("name", fallback_name)
        known.setdefault("status", default_status)
        return cls(**known)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def of_training(cls, name, status, created, results, **more):
        """A trained run's metadata: ``results`` is ``Trainer.results()`` (config, test accuracy,
        history, progress) or the same from a job's updates."""
        return cls(name=name, status=status, created=created, **results, **more)
