"""Augmentation: NumPy's bilinear gather (mlp.augment.sample) against SciPy's ndimage.map_coordinates
on the same points, and what augmentation adds to a wide-preset epoch.

    python bench/augment.py [--rounds 5]

BLAS is pinned to one thread; medians of the rounds. Both interpolations read the same source points
(the same random transforms) and are checked to agree before they are timed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402
from mlp import augment  # noqa: E402
from mlp.training import one_blas_thread  # noqa: E402
from wide_epoch import median_time  # noqa: E402  (bench/wide_epoch.py)


def scipy_sample(X, rows, cols):
    from scipy.ndimage import map_coordinates

    n = len(X)
    index = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None], rows.shape)
    return map_coordinates(X.reshape(n, 28, 28), [index.reshape(n, 28, 28), rows.reshape(n, 28, 28),
                                                  cols.reshape(n, 28, 28)], order=1, mode="grid-constant",
                           cval=0.0).reshape(n, 784)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = mlp.load_mnist()
    X = x_train[:128]
    full = augment.Augmentation(shift=2, rotation=15, scaling=0.1, elastic=1.0)
    affine = augment.Augmentation(shift=2, rotation=15, scaling=0.1)
    with one_blas_thread():
        points = augment.source_points(np.random.default_rng(0), 128, full)
        rows, cols = points[:, 0], points[:, 1]
        ours, theirs = augment.sample(X, points), scipy_sample(X, rows, cols)
        assert np.abs(ours - theirs).max() < 1e-4, np.abs(ours - theirs).max()
        batches = 60_000 // 128
        numpy_s = median_time(lambda: augment.sample(X, points), args.rounds * 20) * batches
        scipy_s = median_time(lambda: scipy_sample(X, rows, cols), args.rounds * 20) * batches
        print(f"interpolating one epoch's 60,000 images (batches of 128): NumPy gather {numpy_s:.2f} s, "
              f"SciPy map_coordinates {scipy_s:.2f} s")
        from scipy.ndimage import gaussian_filter

        rng = np.random.default_rng(2)
        noise = rng.uniform(-1, 1, (128, 2, 28, 28)).astype(np.float32)
        filtered = median_time(lambda: gaussian_filter(noise, sigma=(0, 0, 4, 4), mode="constant"), args.rounds * 20)
        drawn = median_time(lambda: augment.elastic_fields(rng, 128, 1.0), args.rounds * 20)
        print(f"elastic fields for a batch of 128: SciPy gaussian_filter on the noise {1000 * filtered:.2f} ms, "
              f"drawn in the smoothing's basis {1000 * drawn:.2f} ms")
        for name, aug in (("shift+rotation+scaling", affine), ("all four, elastic included", full)):
            rng = np.random.default_rng(1)
            whole = median_time(lambda: augment.augment(X, aug, rng), args.rounds * 20) * batches
            print(f"augmenting one epoch, {name}: {whole:.2f} s")
        wide = mlp.PRESETS["wide"].config.replace(epochs=1)
        data = (x_train, y_train, x_test[:1000], y_test[:1000])
        plain = median_time(lambda: mlp.Trainer(wide, data).run(), args.rounds)
        augmented = median_time(lambda: mlp.Trainer(wide.replace(shift=2, rotation=15, scaling=0.1, elastic=1.0),
                                                    data).run(), args.rounds)
        print(f"wide preset, one epoch: {plain:.2f} s plain, {augmented:.2f} s with all four transforms "
              f"(+{100 * (augmented / plain - 1):.0f}%)")


if __name__ == "__main__":
    main()
