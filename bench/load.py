"""A classroom at once: N browser sessions train short runs on one server and use the other pages.

    python bench/load.py [--sessions 8] [--max-running 2]

Starts `streamlit run app.py` on 127.0.0.1 (its own runs folder), opens N pages in one headless
Chromium (Debian's /usr/bin/chromium), and in every page at the same time: opens the Train page,
starts a short run (784-32-10, Adam, 10,000 images, 3 epochs), waits for it to be saved (runs beyond
the server's cap wait in its queue), then visits Hidden weights, Evaluate and Draw. Prints runs
completed, errors, the interaction latencies (click to the page showing its answer: p50 and p95)
and the server's peak memory. Every request goes to 127.0.0.1 and the whole run is bounded in time.
"""
import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from server import start_server  # noqa: E402
RUN = ("train?train_size=10000&epochs=3&layers=784-32-10&activation=relu&output=softmax&loss=cross_entropy"
       "&optimizer=adam&lr=0.003&batch_size=32&init=he&shuffle=1")
PAGES = (("Hidden weights", "hidden units in the first layer"), ("Evaluate", "Mistakes, most confident first"),
         ("Draw", "Draw a digit in the black square"), ("Train", "Saved runs"))


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(latencies, label, action, answer, timeout=30_000):
    started = time.perf_counter()
    await action()
    await answer.wait_for(state="visible", timeout=timeout)
    latencies.append((label, time.perf_counter() - started))


async def session(browser, url, latencies, results):
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        await page.goto(f"{url}/{RUN}")
        start = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start", exact=True)
        await start.wait_for(timeout=60_000)
        await timed(latencies, "Start", start.click, page.get_by_text(re.compile(r"^epoch \d+ of \d+")).first)
        await page.get_by_text("Saved to the runs list below.").wait_for(timeout=240_000)
        for name, text in PAGES:
            link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True)
            await timed(latencies, name, link.click, page.get_by_text(text).first)
        results.append("ok")
    except Exception as err:                    # counted and reported, not raised: this is a measurement
        results.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
    finally:
        await page.close()


async def main_async(args):
    timing = Path(tempfile.mkdtemp()) / "server-times.tsv"
    cpus = os.sched_getaffinity(0)
    server_cpus = {min(cpus)} if args.pin and len(cpus) > 1 else None
    if server_cpus:                        # the browser (this process's children) gets the other cores
        os.sched_setaffinity(0, cpus - server_cpus)
    proc, url = start_server(cpus=server_cpus, MLP_MAX_RUNNING=str(args.max_running), MLP_TIMING_LOG=str(timing))
    latencies, results = [], []
    started = time.perf_counter()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                                    "--disable-component-update", "--disable-sync"])
            warm = await browser.new_page()        # the server is up before the class arrives:
            await warm.goto(f"{url}/train")        # its first visit loads MNIST (not counted)
            await warm.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start").wait_for(
                timeout=60_000)
            await warm.close()
            timing.write_text("")
            await asyncio.wait_for(asyncio.gather(*(session(browser, url, latencies, results)
                                                    for _ in range(args.sessions))), timeout=900)
            await browser.close()
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    wall = time.perf_counter() - started
    errors = [r for r in results if r != "ok"]
    values = [t for _, t in latencies]
    cuts = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    print(f"sessions {args.sessions}, at most {args.max_running} training at once, {wall:.0f} s in all"
          + (f"; server pinned to CPU {sorted(server_cpus)}, browser to the others" if server_cpus else ""))
    print(f"runs completed {results.count('ok')}/{args.sessions}, errors {len(errors)}")
    for error in errors:
        print(f"  {error}")
    if not latencies:
        return
    print(f"interaction latency: p50 {statistics.median(values):.2f} s, p95 {cuts[18]:.2f} s "
          f"({len(values)} interactions)")
    for label in dict(latencies):
        mine = [t for name, t in latencies if name == label]
        print(f"  {label}: median {statistics.median(mine):.2f} s, worst {max(mine):.2f} s")
    runs = [line.split("\t") for line in timing.read_text().splitlines()] if timing.exists() else []
    server = [float(seconds) for _, seconds in runs]
    if len(server) > 1:
        cuts = statistics.quantiles(server, n=20)
        print(f"server time per interaction (one run of a page's script): p50 {1000 * statistics.median(server):.0f} ms, "
              f"p95 {1000 * cuts[18]:.0f} ms, worst {1000 * max(server):.0f} ms ({len(server)} runs)")
        for page in dict(runs):
            mine = [float(seconds) for name, seconds in runs if name == page]
            print(f"  {page}: median {1000 * statistics.median(mine):.0f} ms, worst {1000 * max(mine):.0f} ms")
    print(f"server peak memory (VmHWM): {peak:.0f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--max-running", type=int, default=2)
    parser.add_argument("--pin", action="store_true",
                        help="pin the server to one CPU and the browser to the rest, so the two do not compete")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
