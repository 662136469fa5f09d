"""The wide preset's epoch against the matrix products it cannot avoid, in the same run.

    python bench/wide_epoch.py [--rounds 5]

For one epoch of the wide preset (784-256-128-10, batch 128, Adam) it times, BLAS pinned to one thread,
medians of the rounds:

- the GEMMs alone: every matrix product one epoch's training makes (the forward pass, dL/dW and
  dL/dA_prev for each batch), with the same shapes, into preallocated outputs;
- the training steps alone: ``Trainer._step`` over all batches (forward, backprop, Adam), batches
  gathered in the shuffled order as training does;
- the whole epoch as ``Trainer`` runs it, with its 20 progress measurements and the test-set pass;
- Adam's update alone, 469 times on the wide network's 235,146 parameters;
- the epoch with augmentation (all four transforms) on top.
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
from mlp.losses import one_hot  # noqa: E402
from mlp.optimizers import Adam  # noqa: E402
from mlp.training import one_blas_thread  # noqa: E402


def median_time(function, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def gemms(sizes, batch, batches):
    """Every matrix product of one epoch's steps, with training's shapes, into preallocated outputs."""
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    A = [rng.standard_normal((batch, s)).astype(np.float32) for s in sizes]
    D = [rng.standard_normal((batch, s)).astype(np.float32) for s in sizes[1:]]
    dW = [np.empty_like(w) for w in W]
    out = [np.empty((batch, s), np.float32) for s in sizes[1:]]
    back = [np.empty((batch, s), np.float32) for s in sizes[1:-1]]

    def epoch():
        for _ in range(batches):
            for l, w in enumerate(W):
                np.dot(A[l], w, out=out[l])
            for l in range(len(W) - 1, -1, -1):
                np.dot(A[l].T, D[l], out=dW[l])
                if l:
                    np.dot(D[l], W[l].T, out=back[l - 1])
    return epoch


def steps(trainer):
    """Training's steps over one epoch (no measurements), in a shuffled order."""
    config, n = trainer.config, len(trainer.y_train)
    Y = one_hot(trainer.y_train)

    def epoch():
        order = trainer.shuffle_rng.permutation(n)
        for start in range(0, n, config.batch_size):
            rows = order[start:start + config.batch_size]
            trainer._step(trainer.x_train[rows], Y[rows])
    return epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = mlp.load_mnist()
    config = mlp.PRESETS["wide"].config.replace(epochs=1)
    batches = -(-60_000 // config.batch_size)
    with one_blas_thread():
        gemm = median_time(gemms(config.layers, config.batch_size, batches), args.rounds)
        step = median_time(steps(mlp.Trainer(config.replace(epochs=50), data)), args.rounds)
        whole = median_time(lambda: mlp.Trainer(config, data).run(), args.rounds)
        augmented = median_time(lambda: mlp.Trainer(config.replace(shift=2, rotation=15, scaling=0.1, elastic=1.0),
                                                     data).run(), args.rounds)
        adam = Adam(mlp.network.parameter_count(config.layers))
        params = np.zeros_like(adam.w)
        grads = np.random.default_rng(0).standard_normal(params.size).astype(np.float32)

        def updates():
            with np.errstate(all="ignore"):          # the squared gradient overflows after a while
                for _ in range(batches):
                    adam.step(params, grads, 1e-3)
        update = median_time(updates, args.rounds)
    print(f"wide preset, one epoch, 1 BLAS thread (medians of {args.rounds}):")
    print(f"  its GEMMs alone                {gemm:.3f} s")
    print(f"  its training steps             {step:.3f} s   {step / gemm:.2f}× the GEMMs")
    print(f"  the whole epoch (measurements) {whole:.3f} s   {whole / gemm:.2f}× the GEMMs")
    print(f"  Adam's updates alone           {update:.3f} s")
    print(f"  the epoch with augmentation    {augmented:.3f} s   +{100 * (augmented / whole - 1):.0f}% over the plain epoch")


if __name__ == "__main__":
    main()
