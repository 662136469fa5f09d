"""Streamlit glue shared by the pages: cached resources, controls, charts and panels.

Everything that trains, measures or stores lives in ``mlp``; this package only draws it.
"""

import runpy
import threading
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
