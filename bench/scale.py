"""How many runs one server trains at once: threads (the old way), worker processes, a Ray cluster.

    python bench/scale.py [--epochs 15] [--ray 127.0.0.1:6390] [--no-browser]

1. Throughput. For the seed and fast presets (all 60,000 images, ``--epochs`` epochs), starts 1, 2,
   4, ... up to as many runs as this process may use cores, all at once, through the app's own job
   service (``runner.jobs.Registry``), and prints their total samples per second as a multiple of one
   run alone, side by side for: runs in threads of this process (how the app trained before), runs in
   local worker processes (the default now), the same with the compiled kernels off (MLP_KERNELS=0:
   NumPy only, as before them, or where Numba is missing), and runs as Ray actors (with ``--ray ADDRESS``, a head
   started as in ``.ci/run``). Also the memory of this process (the server's part) and of each worker
   (resident, and proportional: shared pages such as the memory-mapped MNIST counted once).
2. The server's time per page interaction while two seed runs train: starts the app with
   MLP_TIMING_LOG, two browser sessions start a run each, a third visits every page in turn; prints the
   p50 / p95 / worst of the server's own time per script run (page runs and the live fragment's polls)
   while both runs train. The browser (Debian's Chromium) is pinned to the last core.
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlp  # noqa: E402
from mlp import compiled  # noqa: E402
from runner import dataset  # noqa: E402
from runner.jobs import Registry  # noqa: E402
from runner.local import LocalTransport  # noqa: E402
from runner.identity import Person  # noqa: E402
from runner.store import RunStore  # noqa: E402
from runner.worker import TrainingWorker  # noqa: E402


class ThreadTransport:
    """The old way, for comparison: each run's worker in a thread of this process."""

    name = "threads of the server"

    def __init__(self, data):
        self.data = data

    def start(self, spec, on_update, on_exit):
        return _ThreadWorker(spec, self.data, on_update, on_exit)


class _ThreadWorker:
    pid = os.getpid()

    def __init__(self, spec, data, on_update, on_exit):
        import threadpoolctl

        threadpoolctl.threadpool_limits(1, user_api="blas")
        self.worker = TrainingWorker(spec, data)

        def main():
            self.worker.run(on_update)
            on_exit(None)

        threading.Thread(target=main, daemon=True).start()

    def command(self, name, value=None):
        self.worker.command(name, value)

    def kill(self):
        self.worker.command("stop")


def memory_mb(pid):
    """(resident, proportional) memory of a process in MB, from /proc."""
    rss = pss = float("nan")
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def throughput(transport, config, n, runs_dir, memory=None):
    """Total samples per second of n runs of ``config`` started at once (wall time to the last save)."""
    registry = Registry(RunStore(runs_dir), transport, max_running=n)
    started = time.perf_counter()
    jobs = [registry.submit(config, Person("be" * 16, "bench"), name=f"scale {i}") for i in range(n)]
    if memory is not None:
        while not all(job.samples_seen for job in jobs):
            time.sleep(0.05)
        time.sleep(1.0)
        pids = {getattr(job._worker, "pid", None) for job in jobs} - {None, os.getpid()}
        memory.update({"server": memory_mb(os.getpid()), "workers": [memory_mb(pid) for pid in sorted(pids)]})
    for job in jobs:
        assert job.join(600) and job.status == "done", (job.status, job.error)
    wall = time.perf_counter() - started
    return n * config.epochs * config.train_size / wall


def throughput_table(args):
    data = dataset.shared_mnist()
    compiled.kernels()                        # loaded in this process before a thread's run is timed
    numpy_only = LocalTransport(dataset.cache_folder(), env={"MLP_KERNELS": "0"})
    numpy_only.name = "worker processes, NumPy only"
    transports = [ThreadTransport(data), LocalTransport(dataset.cache_folder()), numpy_only]
    for transport in transports[1:]:
        transport.prepare()                   # a spare worker started ahead, as the app's server keeps
    if args.ray:
        from runner.cluster import ClusterTransport

        transports.append(ClusterTransport(args.ray))
    cores = len(os.sched_getaffinity(0))
    counts = [n for n in (1, 2, 4, 8, 16, 32) if n <= cores]
    memory = {}
    print(f"{cores} cores; each run: {args.epochs} epochs of 60,000 images; total samples/s as a multiple "
          "of one run alone (one run alone: samples/s)")
    print("| preset | runs | " + " | ".join(t.name for t in transports) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in transports) + " |")
    for preset in ("seed", "fast"):
        config = mlp.PRESETS[preset].config.replace(epochs=args.epochs)
        alone = {}
        for n in counts:
            cells = []
            for transport in transports:
                watch = memory if (n == max(counts) and isinstance(transport, LocalTransport)
                                   and preset == "seed") else None
                rate = throughput(transport, config, n, tempfile.mkdtemp(), watch)
                alone.setdefault(transport.name, rate)
                cells.append(f"{rate / alone[transport.name]:.2f}×" + (f" ({rate:,.0f}/s)" if n == 1 else ""))
            print(f"| {preset} | {n} | " + " | ".join(cells) + " |", flush=True)
    if memory:
        rss, pss = memory["server"]
        print(f"memory while {max(counts)} seed runs train in worker processes: this process (the server's "
              f"registry and MNIST) {rss:.0f} MB resident / {pss:.0f} MB proportional; each worker " +
              ", ".join(f"{r:.0f} / {p:.0f} MB" for r, p in memory["workers"]))


def interaction_times(args):
    """p50 / p95 / worst of the server's time per script run while two seed runs train."""
    from playwright.sync_api import sync_playwright

    from screenshots import CHROMIUM_ARGS, main_button, settle
    from server import start_server

    log = Path(tempfile.mkdtemp()) / "timing.log"
    runs_dir = tempfile.mkdtemp()
    proc, url = start_server(runs_dir, MLP_TIMING_LOG=str(log), MLP_MAX_RUNNING="2")
    proc.runs_dir = runs_dir
    last_core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {last_core})          # the browser (started from here) gets the last core
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            visitor = browser.new_page()
            visitor.goto(url)
            settle(visitor)
            for name in ("Hidden weights", "Evaluate", "Draw", "Train", "Home"):    # warm the caches
                visitor.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
                settle(visitor)
            trainers = [browser.new_page() for _ in range(2)]
            for page in trainers:
                page.goto(f"{url}/train?epochs={args.busy_epochs}")
                settle(page)
            for page in trainers:
                main_button(page, "Start").click()
            for page in trainers:
                page.get_by_text("training", exact=True).wait_for(timeout=60_000)
                page.close()                      # the runs go on without their pages
            window_start = time.time()
            before = len(log.read_text().splitlines()) if log.exists() else 0
            visits = 0
            while time.time() - window_start < args.busy_seconds:
                for name in ("Hidden weights", "Evaluate", "Draw", "Train", "Home"):
                    visitor.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
                    settle(visitor)
                    visits += 1
            lines = log.read_text().splitlines()[before:]
            training = sum(1 for line in Path(proc.runs_dir).glob("*.npz")) < 2
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    def summary(values):
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        return f"p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, worst {values[-1]:.0f} ms"

    by_page = {}
    for line in lines:
        page, seconds = line.split("\t")
        by_page.setdefault(page, []).append(1000 * float(seconds))
    every = [t for values in by_page.values() for t in values]
    print(f"server time per interaction while two seed runs train ({len(every)} script runs in "
          f"{args.busy_seconds} s, browser on CPU {last_core}{'' if training else '; a run ended early'}): "
          f"{summary(every)}")
    for page, values in sorted(by_page.items()):
        print(f"  {page}: {summary(values)} ({len(values)} runs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--ray", help="HOST:PORT of a Ray head to compare with (e.g. 127.0.0.1:6390)")
    parser.add_argument("--busy-epochs", type=int, default=30,
                        help="epochs of each of the two seed runs the page interactions are timed during")
    parser.add_argument("--busy-seconds", type=int, default=40, help="how long pages are visited while they train")
    parser.add_argument("--no-browser", action="store_true", help="skip the page-interaction part")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput part")
    args = parser.parse_args()
    if not args.no_throughput:
        throughput_table(args)
    if not args.no_browser:
        interaction_times(args)


if __name__ == "__main__":
    main()
