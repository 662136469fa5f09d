"""Helpers for AppTest tests: a fresh runs folder per test, and waiting for background jobs."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from conftest import wait_until  # noqa: F401  (the app tests import it from here)

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page=None, query=None, timeout=60):
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def registry():
    from ui import state

    return state.registry()


def wait_for_job(at, timeout=120):
    """Join the session's background job, then rerun the page so it shows the outcome."""
    job = registry().get(at.session_state["current_run"])
    assert job.join(timeout), "the job did not finish in time"
    at.run()
    return job




def plain(markdown):
    """Text as a reader sees it: Markdown's backslash escapes removed (user text is escaped)."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown)


def shown(*element_lists):
    """Everything the given elements (at.warning, at.error, at.markdown...) show, as plain text."""
    return " ".join(plain(element.value) for elements in element_lists for element in elements)


def finish_background(at, timeout=120):
    """Wait for the page's background computations (``ui.background``), then rerun it, as its
    polling fragment would, so it shows their results."""
    from ui import background

    assert wait_until(lambda: all(t.finished for t in background._tasks()[0].values()), timeout=timeout)
    at.run()
    return at
