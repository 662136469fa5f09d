"""Streamlit glue shared by the pages: cached resources, controls, charts and panels.

Everything that trains, measures or stores lives in ``mlp``; this package only draws it.
"""

import functools
import os
import runpy
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

_run = threading.local()
APP = Path(__file__).resolve().parent.parent / "app.py"


@contextmanager
def inside_navigation():
    """app.py runs the chosen page inside this, so the page can tell it was reached through app.py."""
    _run.inside = True
    try:
        yield
    finally:
        _run.inside = False


TIMING_LOG = os.environ.get("MLP_TIMING_LOG")
"""If set, the server appends "page<TAB>seconds" per script run to this file (bench/load.py reads it)."""


@contextmanager
def timed_run(page):
    """Measure how long the server takes to answer one interaction (one run of app.py and its page)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if TIMING_LOG:
            with open(TIMING_LOG, "a") as log:
                log.write(f"{page}\t{time.perf_counter() - started:.4f}\n")


def timed(label):
    """Decorator: log each call of a function as one interaction, like ``timed_run`` (for fragments,
    which rerun without app.py)."""
    def wrap(function):
        @functools.wraps(function)
        def timed_function(*args, **kwargs):
            with timed_run(label):
                return function(*args, **kwargs)
        return timed_function
    return wrap


def ensure_navigation():
    """Call first on every page. When a fresh server's first visitor opens a page's URL directly
    (say a shared /train link), Streamlit sees the pages/ folder and runs that page on its own, in
    its legacy multipage mode, without app.py (Streamlit's AppTest does the same on every run).
    Leave that mode, run app.py in its place (its navigation then runs this page), and stop the
    stand-alone run. Done in the same run, not with a rerun, so a button click is not lost."""
    if getattr(_run, "inside", False):
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()


def narrow():
    """True when the browser says it is a phone ("Mobi" in its User-Agent, as MDN advises): the pages
    then draw fewer tiles per row and stack side-by-side charts, since Streamlit cannot tell the
    server how wide the window is."""
    try:
        agent = st.context.headers.get("User-Agent") or ""
    except Exception:                   # no browser behind this run (AppTest, bare mode)
        return False
    return "Mobi" in agent


def stop_polling():
    """Ask the browser to stop re-running the current fragment on its timer.

    Streamlit sends this message itself for fragments it removes; a fragment cannot otherwise turn
    its own ``run_every`` off without a full rerun of the page, and a full rerun started by the page
    (not by the user) can swallow a click on another page made in the same instant. Streamlit
    internals: recheck on upgrades. Without them the fragment just keeps polling until the next
    interaction."""
    try:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState, get_script_run_ctx

        fragment_id, ctx = ThreadState.get().fragment_id, get_script_run_ctx()
        if fragment_id and ctx is not None:
            msg = ForwardMsg()
            msg.stop_auto_rerun.fragment_ids.append(fragment_id)
            ctx.enqueue(msg)
    except (ImportError, AttributeError):
        pass
