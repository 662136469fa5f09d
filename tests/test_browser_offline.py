"""With every outbound connection refused, the whole app still works and tries to reach nothing."""
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

import mlp
from conftest import browser_person, button, require_chromium, start_server, stop_server, wait_for_app, wait_until_saved
from runner.store import RunStore, new_run_id
from mlp.runs import RunMeta

GUARD = Path(__file__).parent / "netguard"


def test_the_guard_refuses_and_records_outbound_connections(tmp_path):
    log = tmp_path / "attempts.log"
    result = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('93.184.216.34', 80), 2)"],
                            env={"PYTHONPATH": str(GUARD), "NETGUARD_LOG": str(log), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert result.returncode != 0 and "network is off" in result.stderr
    assert "93.184.216.34" in log.read_text()


def outside(url):
    """True for a request that would leave this machine (data: and blob: URLs never do)."""
    host = urlsplit(url).hostname
    return urlsplit(url).scheme not in ("data", "blob", "about") and host not in ("127.0.0.1", "localhost")


def test_every_page_works_with_the_network_off(browser, tmp_path):
    """Neither the server nor the browser reaches out: the server's sockets are guarded, and every
    request the pages make is recorded (before: each page's :material: favicon came from a font server,
    and a run named like a Markdown image made the browser fetch its address)."""
    require_chromium()
    log = tmp_path / "attempts.log"
    proc, url = start_server(tmp_path, tmp_path / "runs", PYTHONPATH=str(GUARD), NETGUARD_LOG=str(log))
    page = browser.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(f"{url}/train?train_size=2000&epochs=2&layers=784-16-10&activation=relu&output=softmax"
                  "&loss=cross_entropy&optimizer=adam&lr=0.003&batch_size=16&init=he")
        wait_for_app(page)
        RunStore(tmp_path / "runs").save(new_run_id(), mlp.Network([784, 8, 10]), RunMeta(
            "![x](http://example.invalid/x.png)", "done", created=1.0, owner=browser_person(page, tmp_path / "runs").owner))
        page.reload()
        wait_for_app(page)
        page.get_by_test_id("stPopover").filter(has_text="Delete").get_by_role("button").first.click()
        expect(page.get_by_text("Delete ![x](http://example.invalid/x.png) for good?")).to_be_visible()
        page.keyboard.press("Escape")
        button(page, "Start").click()
        wait_until_saved(page)
        for name, text in (("Hidden weights", "hidden units in the first layer"),
                           ("Evaluate", "Mistakes, most confident first"),
                           ("Draw", "Draw a digit in the black square"), ("Home", "multilayer perceptron")):
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
            wait_for_app(page)
            expect(page.get_by_text(text).first).to_be_visible(timeout=20_000)
        page.wait_for_timeout(500)
    finally:
        page.close()
        stop_server(proc)
    assert not log.exists() or log.read_text() == "", log.read_text()
    assert len(requests) > 10 and [u for u in requests if outside(u)] == []
