import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402
from mlp import compiled  # noqa: E402

compiled.warm()
"""The compiled kernels in the cache before any test trains (seconds on a fresh machine, once); without
Numba this does nothing. In this process the tests train through them wherever they apply."""
if compiled.kernels(np.float32, compile=False) is not None:
    subprocess.Popen([sys.executable, "-c", "import mlp.compiled as c; c.warm(('float64',))"], cwd=ROOT,
                     env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    """The float64 kernels, which only the tests use, compiled into the cache meanwhile (on a fresh machine
    as long again), in a process of its own: by the time a test asks for them they load from it."""
os.environ.setdefault("MLP_SPARE_WORKER", "0")
os.environ.setdefault("MLP_KERNELS", "0")
"""The processes the tests start (servers, workers, the CLI) train with NumPy and start no spare worker:
loading the kernels costs each new process most of a second, and the suite starts hundreds of workers
for runs of a few hundred images. tests/test_kernels.py starts processes with them (a worker, its
spare, the command line, a fresh cache), and this process keeps them (it read MLP_KERNELS above)."""


# ---- AppTest: Streamlit's scan of the installed packages, once per test session --------------------
def _scan_installed_components_once():
    """Every new AppTest rescans all installed packages' metadata for Streamlit "v2" components
    (``streamlit.components.v2.manifest_scanner.scan_component_manifests``, from AppTest's ``_run``):
    0.3 s each time, for the same answer while the tests run, and over the suite's hundreds of AppTests
    minutes of it. Scanned once here instead, as a server scans once when it starts. Where a Streamlit
    version has no such scanner, nothing changes (the tests are only slower)."""
    import functools

    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:
        return
    scan = getattr(manifest_scanner, "scan_component_manifests", None)
    if scan is None or hasattr(scan, "scanned"):
        return
    scanned = functools.cache(scan)

    def scan_once(max_workers=None):
        return list(scanned())

    scan_once.scanned, scan_once.__wrapped__ = scanned, scan
    manifest_scanner.scan_component_manifests = scan_once


_scan_installed_components_once()


# ---- people: who acts, for the run service's ownership checks (runner.identity) ---------------------
from runner.identity import Person  # noqa: E402

ALICE = Person("a1" * 16, "Alice")
BOB = Person("b2" * 16, "Bob")
TEACHER = Person("c3" * 16, "Ms Teach", teacher=True)


@pytest.fixture(scope="session")
def mnist():
    """The shipped MNIST, loaded once for the whole test session."""
    return mlp.load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 3,000 training and 1,000 test samples: enough to learn something in seconds."""
    x_train, y_train, x_test, y_test = mnist
    return x_train[:3000], y_train[:3000], x_test[:1000], y_test[:1000]


@pytest.fixture
def numpy_only(monkeypatch):
    """Train without the compiled kernels, as a machine without Numba does (mlp.compiled)."""
    monkeypatch.setattr(compiled, "use_kernels", False)


# ---- the accuracy promises, trained beside the other tests ---------------------------------------------
_promised = {}


SLOW_FILES = ("test_app_", "test_jobs.py", "test_class_runs.py", "test_faults.py", "test_cli.py", "test_presets.py")
"""Files whose tests each take seconds (AppTest page runs, worker processes, CLI subprocesses,
training to an accuracy): marked ``slow``. ``pytest -m "not browser and not cluster and not slow"``
is the one-minute subset."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Mark each test ``browser``, ``cluster`` or ``slow`` (pytest.ini registers them), before ``-m``
    deselects any."""
    for item in items:
        name = item.path.name
        if name.startswith("test_browser_"):
            item.add_marker(pytest.mark.browser)
        if name == "test_cluster.py" or getattr(item, "callspec", None) and item.callspec.params.get("registry") == "ray":
            item.add_marker(pytest.mark.cluster)
        if name.startswith(SLOW_FILES) or "promised" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """If any selected test asks for ``promised``, start training every promise now, in the background."""
    config, items = session.config, session.items
    if not config.option.collectonly and any("promised" in getattr(item, "fixturenames", ()) for item in items):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import promises

        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        _promised["pool"] = pool
        for key, (preset, changes) in promises.PROMISES.items():
            _promised[key] = pool.submit(promises.train, preset, changes)


def pytest_sessionfinish(session, exitstatus):
    if "pool" in _promised:
        _promised["pool"].shutdown(cancel_futures=True)


@pytest.fixture
def promised():
    """``promised(key)``: (status, test accuracy per epoch) of the promise ``key`` of tests/promises.py,
    waiting for its training to end if it has not yet."""
    return lambda key: _promised[key].result(timeout=600)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Each test gets its own runs folder (so its own job registry); jobs are stopped afterwards."""
    from ui import state

    folder = tmp_path / "runs"
    monkeypatch.setattr(state, "RUNS_DIR", folder)
    yield folder
    state._registry(str(folder), state.MAX_RUNNING).stop_all()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def wait_until(condition, timeout=30.0, interval=0.02):
    """Poll ``condition()`` until it is true (returns True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# ---- browser tests: a real server on 127.0.0.1 and Debian's Chromium ------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import server as bench_server  # noqa: E402  (bench/server.py: the one way to start the app's server)

CHROMIUM = "/usr/bin/chromium"


def require_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


def start_server(folder, runs_dir, **env):
    """`streamlit run app.py` on a free 127.0.0.1 port; returns (process, url). Its log is in folder.
    It trains one run at a time unless ``MLP_MAX_RUNNING`` says otherwise."""
    return bench_server.start_server(runs_dir, log_dir=folder, **{"MLP_MAX_RUNNING": "1", **env})


def stop_server(proc, timeout=30):
    """SIGTERM, as a service manager would; the server saves unfinished runs on its way out."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory):
    """One server for the browser tests, with its own runs folder; stopped by its PID."""
    require_chromium()
    folder = tmp_path_factory.mktemp("server")
    proc, url = start_server(folder, folder / "runs", MLP_TEACHER_KEY=TEACHER_KEY)
    yield {"url": url, "runs": folder / "runs", "folder": folder}
    stop_server(proc)


TEACHER_KEY = "the class key"
"""The browser tests' server's teacher key (``MLP_TEACHER_KEY``)."""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     # several pages at once: keep the ones not in front from being throttled
                     "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                     "--disable-backgrounding-occluded-windows"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1500, "height": 1100}}


wait_for_app = bench_server.wait_for_app
"""Wait until the app is connected and its script has finished running (bench/server.py)."""


def wait_until_saved(page, timeout=60_000):
    """Wait until the Train page's run is saved and the page has redrawn for a finished run (Start
    enabled again). A click on another page before that redraw can lose the race to it: the page's
    own st.rerun() then takes the user back to Train."""
    from playwright.sync_api import expect
    expect(page.get_by_text("Saved to the runs list below.")).to_be_visible(timeout=timeout)
    expect(button(page, "Start")).to_be_enabled(timeout=timeout)
    wait_for_app(page)


def browser_person(page, runs_dir):
    """The person a Playwright page's browser is on the server of ``runs_dir`` (from its identity
    cookie and the server's secret), to own what a test saves for it. Open a page of the app first."""
    from runner.identity import Identities

    (token,) = [c["value"] for c in page.context.cookies() if c["name"] == "mlp_owner"]
    return Identities(runs_dir).of_token(token)


def nav(page, name):
    """Go to a page through the sidebar's navigation, and wait for it to settle."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    wait_for_app(page)


def button(page, name):
    """A button of the app's own page (not Streamlit's header, whose Stop button shares a name)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


# ---- the Ray cluster for the cluster tests -------------------------------------------------------------
RAY_ADDRESS = os.environ.get("MLP_TEST_RAY_ADDRESS", "127.0.0.1:6390")


def ray_unavailable():
    """Why the cluster tests cannot run here (None when a Ray head answers at RAY_ADDRESS)."""
    import importlib.util
    import socket

    if importlib.util.find_spec("ray") is None:
        return "the cluster tests need Ray: pip install -r requirements-cluster.txt"
    host, port = RAY_ADDRESS.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return None
    except OSError:
        return f"no Ray head answers at {RAY_ADDRESS}: start one as .ci/run does"


_cluster_transport = None


def cluster_transport():
    """One ClusterTransport for the whole test session (joining a cluster takes a second or two)."""
    global _cluster_transport
    reason = ray_unavailable()
    if reason:
        pytest.skip(reason)
    if _cluster_transport is None:
        from runner.cluster import ClusterTransport

        _cluster_transport = ClusterTransport(RAY_ADDRESS)
    return _cluster_transport


# ---- the shared database, on both kinds (runner.database) -----------------------------------------------
POSTGRES_URL = __import__("os").environ.get("MLP_TEST_DATABASE_URL")
"""A PostgreSQL server for the database tests (``.ci/postgres`` starts one); unset: SQLite only."""


def _postgres_schema():
    """A fresh schema of its own on the test server: (URL that uses it, function that drops it)."""
    import secrets

    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")

    joiner = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{joiner}options=-csearch_path%3D{schema}", drop


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Where a test's shared database lives: "" (SQLite in the runs folder ``tmp_path``) or the URL of
    a fresh PostgreSQL schema. Every database test runs on both; PostgreSQL is skipped, saying so,
    where MLP_TEST_DATABASE_URL names no server."""
    if request.param == "sqlite":
        yield ""
        return
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL server: set MLP_TEST_DATABASE_URL (.ci/postgres starts one)")
    url, drop = _postgres_schema()
    yield url
    drop()


@pytest.fixture
def database(database_url, tmp_path):
    from runner.database import open_database

    db = open_database(tmp_path, database_url)
    yield db
    db.close()
