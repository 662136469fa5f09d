"""Start the app's server: `streamlit run app.py` on a free 127.0.0.1 port (for bench/ and the tests)."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_server(runs_dir=None, log_dir=None, cpus=None, timeout=60, **env):
    """Returns (process, url) once the server answers its health check.

    runs_dir: its runs folder (default: a new temporary one). log_dir: where its output goes, as
    server-PORT.log (default: nowhere). cpus: a set of CPU numbers to pin it to (default: any).
    env: extra environment variables.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLP_RUNS_DIR": str(runs_dir or tempfile.mkdtemp()), **env}
    log = open(Path(log_dir) / f"server-{port}.log", "w+") if log_dir else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--server.fileWatcherType", "none"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            output = ""
            if log_dir:
                log.seek(0)
                output = ":\n" + log.read()
            raise RuntimeError(f"the server did not start{output}")
        time.sleep(0.3)


def wait_for_app(page, timeout=30_000):
    """Wait until a (Playwright, sync) page's app is connected and its script has finished running."""
    page.wait_for_timeout(150)
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(
        state="attached", timeout=timeout)
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout)
