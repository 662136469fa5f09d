"""Training speed, measured side by side in one process run.

    python bench/speed.py [--rounds 5] [--samples 10000]

1. The seed notebook's per-sample loop (bench/notebook_reference.py) against our seed preset, on
   the same samples, BLAS pinned to one thread: seconds per 60,000-sample epoch and the ratio.
   Ours trains two epochs: the first computes each block's Gram matrix (see mlp/per_sample.py),
   later ones reuse them, as the 15 epochs of the seed preset do. The general engine
   (Trainer(fast=False): one Network.backprop and SGD step per sample) is shown beside it.
2. Mini-batch epochs (60,000 samples, Adam): 784-16-16-10 with batch 32 and 784-256-128-10 with
   batch 128, with BLAS on one thread and on all cores.

Every figure is the median of several rounds; the machines are shared and noisy.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlp  # noqa: E402
from notebook_reference import NotebookNetwork  # noqa: E402

EPOCH = 60_000


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def seed_epoch_times(data, raw, samples, rounds):
    """Per-sample SGD on the first `samples` images, scaled to a 60k epoch.

    Returns lists of seconds: the notebook's loop, our first epoch, our second epoch, and one
    epoch of the general engine.
    """
    notebook, first, later, general = [], [], [], []
    config = mlp.PRESETS["seed"].config.replace(train_size=samples)
    for _ in range(rounds):
        reference = NotebookNetwork([784, 16, 16, 10], seed=0)
        notebook.append(timed(lambda: reference.train_epoch(raw[0][:samples], raw[1][:samples])))
        trainer = mlp.Trainer(config.replace(epochs=2), data)
        trainer.run()                     # elapsed: training time only, like the reference's loop
        first.append(trainer.history[0].elapsed)
        later.append(trainer.history[1].elapsed - trainer.history[0].elapsed)
        trainer = mlp.Trainer(config.replace(epochs=1), data, fast=False)
        general.append(trainer.run().elapsed)
    scale = EPOCH / samples
    return [[t * scale for t in times] for times in (notebook, first, later, general)]


def minibatch_epoch_times(data, preset, batch, rounds):
    config = mlp.PRESETS[preset].config.replace(epochs=1, batch_size=batch, lr_decay=1.0)
    times = []
    for _ in range(rounds):
        trainer = mlp.Trainer(config, data)
        trainer.run()
        times.append(trainer.elapsed)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000, help="samples per seed-loop round")
    args = parser.parse_args()
    data, raw = mlp.load_mnist(), mlp.load_mnist(raw=True)
    median = statistics.median
    rows = []
    with threadpool_limits(1):
        notebook, first, later, general = seed_epoch_times(data, raw, args.samples, args.rounds)
    for label, times in (("seed preset, first epoch", first), ("seed preset, later epochs", later),
                         ("general engine (fast=False)", general)):
        rows.append((f"784-16-16-10 per sample, {label}", "1", f"{median(notebook):.2f}",
                     f"{median(times):.2f}", f"{median(notebook) / median(times):.1f}x"))
    for preset, batch, label in (("fast", 32, "784-16-16-10, Adam, batch 32"),
                                 ("wide", 128, "784-256-128-10, Adam, batch 128")):
        for threads in (1, None):
            with threadpool_limits(threads):
                times = minibatch_epoch_times(data, preset, batch, args.rounds)
            rows.append((label, str(threads or "all"), "", f"{median(times):.2f}", ""))
    header = ("training, one 60k epoch", "BLAS threads", "notebook s", "ours s", "speed-up")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"\nmedians of {args.rounds} rounds; seed loop timed on {args.samples:,} samples and scaled "
          f"to 60,000")


if __name__ == "__main__":
    main()
