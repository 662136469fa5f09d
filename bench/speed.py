"""Training speed, measured side by side in one process run.

    python bench/speed.py [--rounds 5] [--samples 10000]

1. The seed notebook's per-sample loop (bench/notebook_reference.py) against our seed preset, on
   the same samples, BLAS pinned to one thread: seconds per 60,000-sample epoch and the ratio.
   Ours trains two epochs (the first sets up what later ones reuse: the lit pixels of every image
   for the compiled kernels, each block's Gram matrix for mlp/per_sample.py), through the compiled
   kernels (mlp.kernels) and through the NumPy path they replace (PerSampleSGD, the fallback). The
   general engine (Trainer(fast=False): one Network.backprop and SGD step per sample) is beside them.
2. Mini-batch epochs (60,000 samples, Adam): 784-16-16-10 with batch 32 and 784-256-128-10 with
   batch 128, with BLAS on one thread and on all cores, with the kernels and without.
3. The seed preset's fifteen epochs as a user runs them: the whole ``python -m mlp train --preset seed``
   process, wall clock, with the kernels and with MLP_KERNELS=0.

Every figure is the median of several rounds, the two paths taking turns in each; the machines are
shared and noisy.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlp  # noqa: E402
from mlp import compiled  # noqa: E402
from notebook_reference import NotebookNetwork  # noqa: E402

EPOCH = 60_000


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def using_kernels(on):
    """Train through the compiled kernels (on) or through the NumPy path alone, in this process."""
    compiled.use_kernels = on


def seed_epoch_times(data, raw, samples, rounds):
    """Per-sample SGD on the first `samples` images, scaled to a 60k epoch.

    Returns {label: seconds per round}: the notebook's loop; first and later epochs with the kernels
    and with the NumPy path; one epoch of the general engine.
    """
    times = {name: [] for name in ("notebook", "kernels first", "kernels later", "numpy first", "numpy later",
                                   "general")}
    config = mlp.PRESETS["seed"].config.replace(train_size=samples)
    for _ in range(rounds):
        reference = NotebookNetwork([784, 16, 16, 10], seed=0)
        times["notebook"].append(timed(lambda: reference.train_epoch(raw[0][:samples], raw[1][:samples])))
        for path in ("kernels", "numpy"):
            using_kernels(path == "kernels")
            trainer = mlp.Trainer(config.replace(epochs=2), data)
            assert (trainer._compiled is not None) == (path == "kernels")
            trainer.run()                     # elapsed: training time only, like the reference's loop
            times[f"{path} first"].append(trainer.history[0].elapsed)
            times[f"{path} later"].append(trainer.history[1].elapsed - trainer.history[0].elapsed)
        using_kernels(True)
        trainer = mlp.Trainer(config.replace(epochs=1), data, fast=False)
        times["general"].append(trainer.run().elapsed)
    scale = EPOCH / samples
    return {name: [t * scale for t in values] for name, values in times.items()}


def minibatch_epoch_times(data, preset, batch, rounds):
    """{kernels: [s], numpy: [s]}: one epoch of ``preset`` at ``batch``, the two paths taking turns."""
    config = mlp.PRESETS[preset].config.replace(epochs=1, batch_size=batch, lr_decay=1.0)
    times = {"kernels": [], "numpy": []}
    for _ in range(rounds):
        for path in times:
            using_kernels(path == "kernels")
            trainer = mlp.Trainer(config, data)
            trainer.run()
            times[path].append(trainer.elapsed)
    using_kernels(True)
    return times


def whole_seed_run(rounds):
    """{kernels: [s], numpy: [s]}: wall clock of ``python -m mlp train --preset seed`` (15 epochs)."""
    times = {"kernels": [], "numpy": []}
    for _ in range(rounds):
        for path in times:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "MLP_KERNELS": "1" if path == "kernels" else "0"}
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mlp", "train", "--preset", "seed"], cwd=ROOT, env=env,
                           check=True, capture_output=True)
            times[path].append(time.perf_counter() - started)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000, help="samples per seed-loop round")
    parser.add_argument("--whole-runs", type=int, default=3, help="rounds of the whole 15-epoch seed run")
    args = parser.parse_args()
    if compiled.kernels(np.float32) is None:
        raise SystemExit("the compiled kernels are not available here (is Numba installed?)")
    data, raw = mlp.load_mnist(), mlp.load_mnist(raw=True)
    median = statistics.median
    rows = []
    with threadpool_limits(1):
        seed = seed_epoch_times(data, raw, args.samples, args.rounds)
    notebook = median(seed["notebook"])
    for key, label in (("kernels first", "compiled kernels, first epoch"),
                       ("kernels later", "compiled kernels, later epochs"),
                       ("numpy first", "NumPy path (PerSampleSGD), first epoch"),
                       ("numpy later", "NumPy path (PerSampleSGD), later epochs"),
                       ("general", "general engine (fast=False)")):
        ours = median(seed[key])
        rows.append((f"784-16-16-10 per sample, {label}", "1", f"{notebook:.2f}", f"{ours:.3f}",
                     f"{notebook / ours:.1f}x"))
    for preset, batch, label in (("fast", 32, "784-16-16-10, Adam, batch 32"),
                                 ("wide", 128, "784-256-128-10, Adam, batch 128")):
        for threads in (1, None):
            with threadpool_limits(threads):
                times = minibatch_epoch_times(data, preset, batch, args.rounds)
            kernels, numpy = median(times["kernels"]), median(times["numpy"])
            rows.append((label, str(threads or "all"), "", f"{kernels:.3f} (NumPy {numpy:.3f})",
                         f"{numpy / kernels:.2f}x"))
    header = ("training, one 60k epoch", "BLAS threads", "notebook s", "ours s", "speed-up")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(f"\nmedians of {args.rounds} rounds; seed loop timed on {args.samples:,} samples and scaled "
          f"to 60,000; mini-batch speed-up: NumPy over the kernels (for the wide preset BLAS's products with "
          f"compiled passes between them, compiled.BatchSteps)")
    if args.whole_runs:
        whole = whole_seed_run(args.whole_runs)
        print(f"python -m mlp train --preset seed (15 epochs, whole process): {median(whole['kernels']):.2f} s "
              f"with the kernels, {median(whole['numpy']):.2f} s with MLP_KERNELS=0 "
              f"(medians of {args.whole_runs})")


if __name__ == "__main__":
    main()
