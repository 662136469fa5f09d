"""Ranking the units by importance (How it computes), measured side by side in one process run.

    python bench/importance.py [--rounds 3]

For the seed network and for the largest network the app accepts (784-1024-1024-1024-1024-10, random
He weights), on as many test digits as the app uses (``analysis.images_for_importance``), BLAS on one
thread: the previous algorithm (each unit's layer copied with the unit zeroed, every later layer
rerun: kept here as the reference) against ``mlp.analysis.unit_importance`` (the next layer's
weighted input less a rank-one term). Both must give the same costs; medians of the rounds.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402
from mlp import analysis  # noqa: E402
from mlp.training import one_blas_thread  # noqa: E402


def reference_importance(network, X, y):
    """The algorithm before issue 18: zero the unit's column, rerun every later layer."""
    acts = network.forward_all(X)
    baseline = float((acts[-1].argmax(axis=1) == y).mean())
    costs = []
    for l in range(1, len(network.sizes) - 1):
        cost = np.empty(network.sizes[l])
        for j in range(network.sizes[l]):
            A = acts[l].copy()
            A[:, j] = 0.0
            outputs = network.forward_all(A, start=l)[-1]
            cost[j] = baseline - float((outputs.argmax(axis=1) == y).mean())
        costs.append(cost)
    return costs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    x_test, y_test = mlp.load_mnist()[2:]
    networks = {"seed": mlp.load(ROOT / "models" / "seed.npz"),
                "largest": mlp.Network([784, 1024, 1024, 1024, 1024, 10], "relu", "softmax", "cross_entropy", "he",
                                       seed=0, dtype=np.float32)}
    print(f"{'network':8} {'images':>6} {'before s':>9} {'now s':>7} {'speed-up':>8}  same costs")
    with one_blas_thread():
        for name, network in networks.items():
            n = analysis.images_for_importance(network.sizes)
            X, y = x_test[:n], y_test[:n]
            before, now = [], []
            for _ in range(args.rounds):                       # taking turns, so drift hits both
                started = time.perf_counter()
                old = reference_importance(network, X, y)
                before.append(time.perf_counter() - started)
                started = time.perf_counter()
                new = analysis.unit_importance(network, X, y)
                now.append(time.perf_counter() - started)
            same = all(np.allclose(a, b, atol=1.5 / n) for a, b in zip(old, new))
            b, m = statistics.median(before), statistics.median(now)
            print(f"{name:8} {n:6d} {b:9.2f} {m:7.2f} {b / m:7.1f}×  {same}")


if __name__ == "__main__":
    main()
