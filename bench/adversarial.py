"""Adversarial accuracy of the shipped ``fast`` and ``wide`` networks beside a ``robust`` preset run, and
what the curve costs: the README's table.

    python bench/adversarial.py                    # trains the robust preset first (about a minute)
    python bench/adversarial.py --robust FILE      # a run saved before: python -m mlp train --preset robust --out FILE

Each curve is Evaluate's: accuracy on the first 1,000 test digits when each may be nudged within ε
(``mlp.adversarial.adversarial_accuracy``). The cost of the largest network the app accepts is bounded
by timing one signed step on all 1,000 digits (every later step nudges fewer: the fooled ones stop).
BLAS runs on one thread; times are medians of three.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import mlp  # noqa: E402
from mlp import adversarial  # noqa: E402
from mlp.config import MAX_HIDDEN_LAYERS, MAX_UNITS  # noqa: E402


def median_time(function, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def robust_network(path):
    if path:
        return mlp.load(path)
    print("training the robust preset (no --robust FILE given)…", flush=True)
    trainer = mlp.Trainer(mlp.PRESETS["robust"].config, mlp.load_mnist())
    trainer.run()
    return trainer.network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robust", help="a saved robust-preset run (default: train one now)")
    args = parser.parse_args()
    _, _, x_test, y_test = mlp.load_mnist()
    X, y = x_test[:adversarial.CURVE_DIGITS], y_test[:adversarial.CURVE_DIGITS]
    networks = {"fast (shipped)": mlp.load(ROOT / "models" / "fast.npz"),
                "wide (shipped)": mlp.load(ROOT / "models" / "wide.npz"),
                "robust (preset run)": robust_network(args.robust)}
    epsilons = adversarial.CURVE_EPSILONS
    print(f"\nadversarial accuracy (%) on {len(y):,} test digits, {adversarial.CURVE_STEPS} signed steps per budget\n")
    print("| network | " + " | ".join(f"ε {e:g}" for e in epsilons) + " | time |")
    print("|---|" + "---:|" * (len(epsilons) + 1))
    for name, network in networks.items():
        seconds, curve = median_time(lambda: adversarial.adversarial_accuracy(network, X, y))
        print(f"| {name} | " + " | ".join(f"{100 * a:.1f}" for a in curve.accuracy) + f" | {seconds:.2f} s |")
    largest = mlp.Network([784, *[MAX_UNITS] * MAX_HIDDEN_LAYERS, 10], "relu", "softmax", "cross_entropy", "he")
    step, _ = median_time(lambda: largest.loss_input_gradient(X, y))
    bound = step * (len(epsilons) - 1) * adversarial.CURVE_STEPS
    print(f"\nlargest accepted network ({'-'.join(map(str, largest.sizes))}): one step on {len(y):,} digits "
          f"{step:.2f} s, so its curve takes at most {bound:.0f} s (in the background, with a progress bar)")
    print(f"numpy {np.__version__}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")


if __name__ == "__main__":
    main()
