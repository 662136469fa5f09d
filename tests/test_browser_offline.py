"""With every outbound connection refused, the whole app still works and tries to reach nothing."""
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect

from conftest import button, require_chromium, start_server, stop_server, wait_for_app, wait_until_saved

GUARD = Path(__file__).parent / "netguard"


def test_the_guard_refuses_and_records_outbound_connections(tmp_path):
    log = tmp_path / "attempts.log"
    result = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('93.184.216.34', 80), 2)"],
                            env={"PYTHONPATH": str(GUARD), "NETGUARD_LOG": str(log), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert result.returncode != 0 and "network is off" in result.stderr
    assert "93.184.216.34" in log.read_text()


def test_every_page_works_with_the_network_off(browser, tmp_path):
    require_chromium()
    log = tmp_path / "attempts.log"
    proc, url = start_server(tmp_path, tmp_path / "runs", PYTHONPATH=str(GUARD), NETGUARD_LOG=str(log))
    page = browser.new_page()
    try:
        page.goto(f"{url}/train?train_size=2000&epochs=2&layers=784-16-10&activation=relu&output=softmax"
                  "&loss=cross_entropy&optimizer=adam&lr=0.003&batch_size=16&init=he")
        wait_for_app(page)
        button(page, "Start").click()
        wait_until_saved(page)
        for name, text in (("Hidden weights", "hidden units in the first layer"),
                           ("Evaluate", "Mistakes, most confident first"),
                           ("Draw", "Draw a digit in the black square"), ("Home", "multilayer perceptron")):
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
            wait_for_app(page)
            expect(page.get_by_text(text).first).to_be_visible(timeout=20_000)
    finally:
        page.close()
        stop_server(proc)
    assert not log.exists() or log.read_text() == "", log.read_text()
