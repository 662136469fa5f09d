"""The wide preset's epoch against the matrix products it cannot avoid, in the same run.

    python bench/wide_epoch.py [--rounds 7]

For one epoch of the wide preset (784-256-128-10, batch 128, Adam) it times, BLAS pinned to one thread,
each round measuring everything once in turn (so a slow spell of this shared machine slows all of
them alike), medians of the rounds and of each round's ratios:

- the GEMMs of training: every matrix product one epoch's steps make (the forward pass, dL/dW and
  dL/dA_prev for each batch), with the same shapes, into preallocated outputs;
- the GEMMs of measuring: the forward passes of the epoch's 22 measurements (1,000 training and
  1,000 test images each time for the live curve, the whole test set at the end);
- the training steps alone: ``Trainer._step`` over all batches (forward, backprop, Adam: with the
  kernels at hand, ``compiled.BatchSteps``, BLAS's products and compiled passes between them), batches
  gathered in the shuffled order as training does, each timed beside its own matrix products
  (``paired``): the fairest ratio this noisy machine allows;
- the whole epoch as ``Trainer`` runs it, with its measurements: each round the next epoch of one
  run (and of the two augmented runs below), so that every round compares epochs of runs under way;
- Adam's update alone, 469 times on the wide network's 235,146 parameters: the compiled kernel's one
  pass (``mlp.kernels.adam_update``, what training uses where Numba is at hand) and NumPy's ten;
- the training steps again, paired with their GEMMs the same way, as NumPy makes them: the NumPy
  engine's passes with Adam's one compiled pass (what training used before ``compiled.BatchSteps``),
  and the NumPy engine alone (``fast=False``: the path without Numba);
- the epoch with augmentation (all four transforms, then a shift of up to 1 pixel as the robust
  preset has) on top.
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
from mlp.network import Workspace  # noqa: E402
from mlp.optimizers import Adam  # noqa: E402
from mlp import compiled  # noqa: E402
from mlp.training import EVAL_SUBSET, one_blas_thread  # noqa: E402


def median_time(function, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def next_epoch(trainer):
    """Each call trains ``trainer``'s next epoch: epochs of a run under way, as a user's are (its first
    epoch also starts the augmentation thread and fills its queue)."""
    return lambda: trainer.run(until_epoch=trainer.epoch + 1)


def seconds(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


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


def measuring_gemms(sizes, trainer):
    """The forward products of one epoch's measurements: ``Trainer._record`` passes 1,000 training
    and 1,000 test images at each progress event and, at the epoch's end, 1,000 training images and
    the test set in chunks of 5,000 (``training.evaluate``)."""
    progress = (trainer.batches_per_epoch - 1) // trainer.eval_every
    rows = [EVAL_SUBSET] * (2 * progress) + [EVAL_SUBSET] + [5000] * (len(trainer.y_test) // 5000)
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    inputs = {n: [rng.standard_normal((n, s)).astype(np.float32) for s in sizes[:-1]] for n in set(rows)}
    out = {n: [np.empty((n, s), np.float32) for s in sizes[1:]] for n in set(rows)}

    def epoch():
        for n in rows:
            for l, w in enumerate(W):
                np.dot(inputs[n][l], w, out=out[n][l])
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


def paired(trainer):
    """One epoch of training steps, each beside the very matrix products it makes (the same operands:
    the batch, the network's weights, the step's own dL/dZ) into scratch outputs, timed batch by batch
    and taking turns at going first, so that the two totals see the same moments of this shared
    machine and the same caches. Returns (steps' seconds, their GEMMs' seconds)."""
    config, n, network = trainer.config, len(trainer.y_train), trainer.network
    Y = one_hot(trainer.y_train)
    ws = Workspace(network.sizes, config.batch_size, network.dtype)
    trainer._workspaces[config.batch_size] = ws
    trainer._step(trainer.x_train[:config.batch_size], Y[:config.batch_size])   # fills the workspace
    scratch_out = [np.empty_like(a) for a in ws.acts]
    scratch_dW = [np.empty_like(w) for w in network.weights]
    scratch_back = [np.empty_like(d) for d in ws.deltas[:-1]]

    def products(X):
        inputs = [X] + ws.acts[:-1]
        for l, W in enumerate(network.weights):
            np.dot(inputs[l], W, out=scratch_out[l])
        for l in range(len(network.weights) - 1, -1, -1):
            np.dot(inputs[l].T, ws.deltas[l], out=scratch_dW[l])
            if l:
                np.dot(ws.deltas[l], network.weights[l].T, out=scratch_back[l - 1])

    def epoch():
        step_s = gemm_s = 0.0
        order = trainer.shuffle_rng.permutation(n)
        for b, start in enumerate(range(0, n - config.batch_size + 1, config.batch_size)):
            rows = order[start:start + config.batch_size]
            X = trainer.x_train[rows]               # for the products (the step gathers its own, timed)
            t0 = time.perf_counter()
            if b % 2:
                trainer._step(trainer.x_train[rows], Y[rows])
                t1 = time.perf_counter()
                products(X)
                step_s, gemm_s = step_s + t1 - t0, gemm_s + time.perf_counter() - t1
            else:
                products(X)
                t1 = time.perf_counter()
                trainer._step(trainer.x_train[rows], Y[rows])
                step_s, gemm_s = step_s + time.perf_counter() - t1, gemm_s + t1 - t0
        return step_s, gemm_s
    return epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    data = mlp.load_mnist()
    config = mlp.PRESETS["wide"].config.replace(epochs=1)
    batches = -(-60_000 // config.batch_size)
    full = dict(shift=2, rotation=15, scaling=0.1, elastic=1.0)
    kernels = compiled.kernels(np.float32)
    with one_blas_thread():
        def updates(fused):
            adam = Adam(mlp.network.parameter_count(config.layers), fused=fused)
            params = np.zeros_like(adam.w)
            grads = np.random.default_rng(0).standard_normal(params.size).astype(np.float32)

            def epoch():
                with np.errstate(all="ignore"):          # the squared gradient overflows after a while
                    for _ in range(batches):
                        adam.step(params, grads.copy() if fused is None else grads, 1e-3)
            return epoch

        numpy_passes = mlp.Trainer(config.replace(epochs=10 * args.rounds), data)
        numpy_passes._batch_steps = None                # the NumPy engine's step, with the fused Adam
        numpy_engine = mlp.Trainer(config.replace(epochs=10 * args.rounds), data, fast=False)

        timed = {
            "training GEMMs": gemms(config.layers, config.batch_size, batches),
            "measuring GEMMs": measuring_gemms(config.layers, mlp.Trainer(config, data)),
            "paired": paired(mlp.Trainer(config.replace(epochs=10 * args.rounds), data)),
            "epoch": next_epoch(mlp.Trainer(config.replace(epochs=args.rounds), data)),
            "augmented": next_epoch(mlp.Trainer(config.replace(epochs=args.rounds, **full), data)),
            "shifted": next_epoch(mlp.Trainer(config.replace(epochs=args.rounds, shift=1.0), data)),
            "adam": updates(kernels),
            "numpy adam": updates(None),
            "paired, numpy passes": paired(numpy_passes),
            "paired, numpy": paired(numpy_engine),
        }
        times = {name: [] for name in timed}
        for what in ("", ", numpy passes", ", numpy"):
            times["steps" + what], times["their GEMMs" + what] = [], []
        for _ in range(args.rounds):
            for name, function in timed.items():
                if name.startswith("paired"):
                    step_s, gemm_s = function()
                    what = name[len("paired"):]
                    times["steps" + what].append(step_s)
                    times["their GEMMs" + what].append(gemm_s)
                else:
                    times[name].append(seconds(function))
        del times["paired"], times["paired, numpy passes"], times["paired, numpy"]
    median = {name: statistics.median(t) for name, t in times.items()}

    def ratio(top, *bottom):
        return statistics.median(times[top][i] / sum(times[b][i] for b in bottom) for i in range(args.rounds))

    print(f"wide preset, one epoch, 1 BLAS thread (medians of {args.rounds} interleaved rounds):")
    print(f"  the GEMMs of its training steps          {median['training GEMMs']:.3f} s")
    print(f"  the GEMMs of its 22 measurements         {median['measuring GEMMs']:.3f} s")
    print(f"  its training steps (468 full batches)    {median['steps']:.3f} s   "
          f"{ratio('steps', 'their GEMMs'):.2f}× their GEMMs, timed beside them batch by batch "
          f"({median['their GEMMs']:.3f} s)")
    print(f"  the whole epoch, measurements included   {median['epoch']:.3f} s   "
          f"{ratio('epoch', 'training GEMMs', 'measuring GEMMs'):.2f}× all its GEMMs "
          f"({ratio('epoch', 'training GEMMs'):.2f}× the training GEMMs)")
    print(f"  the steps with NumPy's passes, Adam fused {median['steps, numpy passes']:.3f} s  "
          f"{ratio('steps, numpy passes', 'their GEMMs, numpy passes'):.2f}× their GEMMs "
          f"({median['their GEMMs, numpy passes']:.3f} s)")
    print(f"  the steps of the NumPy engine alone      {median['steps, numpy']:.3f} s   "
          f"{ratio('steps, numpy', 'their GEMMs, numpy'):.2f}× their GEMMs "
          f"({median['their GEMMs, numpy']:.3f} s)")
    print(f"  Adam's updates alone, one compiled pass  {median['adam']:.3f} s   "
          f"(NumPy's ten passes: {median['numpy adam']:.3f} s)")
    print(f"  the epoch with all four transforms       {median['augmented']:.3f} s   "
          f"+{100 * (ratio('augmented', 'epoch') - 1):.0f}% over the plain epoch")
    print(f"  the epoch with shifts of up to 1 pixel   {median['shifted']:.3f} s   "
          f"+{100 * (ratio('shifted', 'epoch') - 1):.0f}%")


if __name__ == "__main__":
    main()
