"""How long each page takes to settle in a real browser, from the click to the page at rest.

    python bench/page_settle.py [--models seed,wide] [--visits 3] [--size 1280x800]

Starts `streamlit run app.py` on 127.0.0.1 (its own runs folder), opens one headless Chromium page
(Debian's /usr/bin/chromium) and, for each shipped model, opens it by link (``?run=model:NAME``) and
visits every page from the sidebar, in turn, ``--visits`` times. A page has *settled* when its script
has finished (Streamlit's ``data-test-script-state`` is ``notRunning``), no spinner or skeleton is
left, and every Plotly chart on it has drawn. Prints, per model and page, the first visit (the server
computes what it then caches) and the median of the later ones, each with the server's own share
(its page script's time, from ``MLP_TIMING_LOG``); the rest is the browser drawing the page. The goal (issue 18): within 4 s on the
first visit and 2 s after, on a quiet machine. Every request goes to 127.0.0.1.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from server import start_server  # noqa: E402

PAGES = ("Home", "Train", "Hidden weights", "Evaluate", "Draw", "My digits", "How it computes")


def settle(page, timeout=120_000):
    """Wait until the page's script has finished and everything it drew is on screen."""
    page.wait_for_timeout(100)           # the click's rerun has begun
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stSpinner], [data-testid=stSkeleton]') && "
        "[...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))",
        timeout=timeout)


def visit(page, name, log):
    """(seconds from the click to the settled page, seconds the server spent in the page's script)."""
    before = len(log.read_text().splitlines()) if log.exists() else 0
    started = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    settle(page)
    wall = time.perf_counter() - started
    runs = log.read_text().splitlines()[before:] if log.exists() else []
    return wall, sum(float(line.split("\t")[1]) for line in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="seed,wide")
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--size", default="1280x800")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    log = Path(tempfile.mkdtemp()) / "server-times.tsv"
    proc, url = start_server(MLP_TIMING_LOG=str(log))
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                              "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": width, "height": height})
            started = time.perf_counter()
            page.goto(f"{url}/?run=model:{args.models.split(',')[0]}")
            settle(page)
            print(f"the server's first page (it loads MNIST once): {time.perf_counter() - started:.1f} s")
            for model in args.models.split(","):
                page.goto(f"{url}/?run=model:{model}")
                settle(page)
                times = {name: [] for name in PAGES}
                for _ in range(args.visits):
                    for name in PAGES:
                        times[name].append(visit(page, name, log))
                for name in PAGES:
                    (first, server_first), later = times[name][0], times[name][1:]
                    rows.append((model, name, first, server_first,
                                 statistics.median(t for t, _ in later) if later else float("nan"),
                                 statistics.median(s for _, s in later) if later else float("nan")))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    print("seconds from the click to the settled page (and, in brackets, the server's share: its page script)")
    print(f"{'model':6} {'page':16} {'first visit':>16} {'later (median)':>16}")
    for model, name, first, server_first, later, server_later in rows:
        flag = "" if first <= 4 and later <= 2 else "   over the goal"
        print(f"{model:6} {name:16} {first:7.2f} ({server_first:5.2f}) {later:8.2f} ({server_later:5.2f}){flag}")


if __name__ == "__main__":
    main()
