"""Long computations off the page's script: each runs in a thread of the server, and the page shows a
progress bar that a fragment refreshes once a second, so the page answers at once and the rest of it
stays usable while the work goes on.

A task is known by a key (what it computes, for which run and epoch): every session asking for the
same key shares it, and its result stays until the server forgets it (``MAX_TASKS`` most recent).
"""
from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field

import streamlit as st

import ui

MAX_TASKS = 32


@dataclass
class Task:
    """One computation: ``fraction`` done so far, then its ``result`` (or the ``error`` it raised)."""

    fraction: float = 0.0
    result: object = None
    error: str | None = None
    finished: bool = False
    started: float = field(default_factory=time.time)

    def report(self, fraction):
        self.fraction = min(max(float(fraction), 0.0), 1.0)


@st.cache_resource
def _tasks():
    return OrderedDict(), threading.Lock()


def start(key, function, *args):
    """Start ``function(*args, progress=...)`` in a thread unless a task of ``key`` exists; return it."""
    tasks, lock = _tasks()
    with lock:
        task = tasks.get(key)
        if task is not None and not task.error:
            return task
        task = tasks[key] = Task()
        while len(tasks) > MAX_TASKS:
            tasks.popitem(last=False)

    def work():
        try:
            task.result = function(*args, progress=task.report)
        except Exception as err:                 # shown on the page, not lost in a thread
            task.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        finally:
            task.finished = True

    threading.Thread(target=work, name=f"task-{key}", daemon=True).start()
    return task


def find(key):
    """The task of ``key``, or None."""
    return _tasks()[0].get(key)


def wait_and_show(task, label, show):
    """While ``task`` runs, a progress bar refreshed every second; once it has finished, ``show(result)``
    (or its error). Drawn in a fragment, so only this part of the page reruns."""
    @st.fragment(run_every=None if task.finished else 1.0)
    def area():
        if not task.finished:
            elapsed = time.time() - task.started
            st.progress(task.fraction, text=f"{label}: {task.fraction:.0%} after {elapsed:.0f} s (the rest of the "
                                            "page stays usable meanwhile)")
            return
        if task.error:
            st.error(f"{label} failed: {task.error}", icon=":material/error:")
        else:
            show(task.result)
        ui.stop_polling()

    area()
