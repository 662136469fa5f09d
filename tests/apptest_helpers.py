"""Helpers for AppTest tests: a fresh runs folder per test, and waiting for background jobs."""
import base64
import json
from pathlib import Path

import numpy as np

from streamlit.testing.v1 import AppTest

from conftest import wait_until  # noqa: F401  (the app tests import it from here)

APP = str(Path(__file__).resolve().parents[1] / "app.py")


BROWSER_A, BROWSER_B = "a0" * 16, "b0" * 16
"""Two browsers' identity tokens. AppTest sends no cookie, so a page's session takes its token from
``st.session_state["browser_token"]`` (``ui.identity``): ``open_page`` sets it, as A by default."""


SERVICE_FILES = {".secret", "people.sqlite", "people.sqlite-wal", "people.sqlite-shm",
                 "classes.sqlite", "classes.sqlite-wal", "classes.sqlite-shm"}
"""What the run service keeps in a runs folder as soon as a page opens: the identity service's
(``runner.identity``) and the class database (``runner.classes``)."""


def learner(token=BROWSER_A):
    """The person a session with ``token`` is, on the test's runs folder (to own what a test saves)."""
    from runner.identity import Identities
    from ui import state

    return Identities(state.RUNS_DIR).of_token(token)


TEACHER_KEY = "the teacher's key"
BROWSER_T = "c0" * 16


def as_teacher(monkeypatch, token=BROWSER_T):
    """Start the app's server with a teacher key, and have the browser ``token`` enter it once (as on
    the identity panel); returns the token."""
    from runner.identity import Identities
    from ui import state

    monkeypatch.setenv("MLP_TEACHER_KEY", TEACHER_KEY)
    identities = Identities(state.RUNS_DIR, TEACHER_KEY)
    identities.claim_teacher(identities.of_token(token), TEACHER_KEY)
    return token


def open_page(page=None, query=None, timeout=60, token=BROWSER_A, everything=False):
    """A session of the app (as the browser ``token``), on ``page``; ``everything``: its lists show
    everyone's runs and collections, not only its own."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["browser_token"] = token
    if everything:
        at.session_state["list_scope"] = "all"
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


def array(value):
    """A plotly array from a figure's JSON: plain lists, or plotly's base64 'bdata' encoding."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return data.reshape(shape) if shape else data
    return np.array(value, dtype=float)


def figures(at):
    """{chart id: the Plotly figure's JSON} of every chart on the page."""
    return {chart.proto.id: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
