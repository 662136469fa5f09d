"""What the presets reach, and how fast: medians of three seeds.

    python bench/presets.py [--presets fast,wide,robust] [--seeds 0,1,2] [--target 0.985]

For each preset and seed it trains the preset as the app does (one BLAS thread per run) and reports
the test accuracy after every epoch's end, the final one, and the training time (measurements
excluded, as the Train page's clock counts it) at which the test accuracy first reached ``--target``.
Prints one line per run, then the medians per preset.
"""
import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402
from mlp.training import one_blas_thread  # noqa: E402


def run(config, data, target):
    trainer = mlp.Trainer(config, data)
    reached = None
    for event in trainer.events():
        if event.kind == "epoch" and reached is None and event.test_accuracy >= target:
            reached = event.elapsed
    final = trainer.history[-1]
    return final.test_accuracy, final.elapsed, reached


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="fast,wide,robust")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--target", type=float, default=0.985)
    args = parser.parse_args()
    data = mlp.load_mnist()
    seeds = [int(s) for s in args.seeds.split(",")]
    with one_blas_thread():
        for name in args.presets.split(","):
            config = mlp.PRESETS[name].config
            finals, times, reached = [], [], []
            for seed in seeds:
                accuracy, elapsed, when = run(config.replace(seed=seed), data, args.target)
                finals.append(accuracy)
                times.append(elapsed)
                reached.append(when)
                print(f"{name} seed {seed}: {100 * accuracy:.2f}% after {config.epochs} epochs in {elapsed:.1f} s; "
                      f"{args.target:.1%} " + (f"reached after {when:.1f} s" if when is not None else "not reached"),
                      flush=True)
            hit = [w for w in reached if w is not None]
            print(f"{name}: median {100 * statistics.median(finals):.2f}% in {statistics.median(times):.1f} s of "
                  f"training; {args.target:.1%} reached by {len(hit)} of {len(seeds)} seeds"
                  + (f", median time to it {statistics.median(hit):.1f} s" if len(hit) == len(seeds) else ""))


if __name__ == "__main__":
    main()
