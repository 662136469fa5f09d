"""Training that holds up: inverted dropout (gradient-checked with its masks fixed, off at evaluation)
and data augmentation (label-preserving, reproducible from the run's seed, the right geometry)."""
import numpy as np
import pytest

import mlp
import mlp.per_sample
from mlp import augment
from mlp.network import dropout_masks


# ---- dropout ----------------------------------------------------------------------------------------
def loss_with_masks(network, X, y, masks):
    outputs = network.forward(X, masks=masks)
    return network.loss.value_and_grad(outputs, mlp.losses.one_hot(y, outputs.dtype), np.empty_like(outputs))


@pytest.mark.parametrize("activation,output,loss", [("sigmoid", "sigmoid", "squared_error"),
                                                    ("relu", "softmax", "cross_entropy")])
def test_dropout_gradients_match_finite_differences_with_the_masks_fixed(activation, output, loss, rng):
    network = mlp.Network([12, 7, 5, 10], activation, output, loss, seed=2, dtype=np.float64)
    X, y = rng.uniform(0, 1, (6, 12)), rng.integers(0, 10, 6)
    masks = dropout_masks(np.random.default_rng(3), network.sizes, 6, 0.4, np.float64)
    assert any((m == 0).any() for m in masks)
    value, grads = network.loss_and_gradients(X, y, masks=masks)
    assert value == pytest.approx(loss_with_masks(network, X, y, masks))
    h = 1e-6
    for layer, (dW, db) in enumerate(grads):
        for array, gradient in ((network.weights[layer], dW), (network.biases[layer], db)):
            flat, flat_gradient = array.reshape(-1), gradient.reshape(-1)
            for i in range(0, flat.size, 3):
                keep = flat[i]
                flat[i] = keep + h
                up = loss_with_masks(network, X, y, masks)
                flat[i] = keep - h
                down = loss_with_masks(network, X, y, masks)
                flat[i] = keep
                assert flat_gradient[i] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


def test_dropout_masks_drop_the_asked_share_and_keep_the_expected_output():
    masks = dropout_masks(np.random.default_rng(0), (784, 400, 300, 10), 200, 0.3)
    assert [m.shape for m in masks] == [(200, 400), (200, 300)]
    for m in masks:
        assert set(np.unique(m)) == {0.0, np.float32(1 / 0.7)}
        assert (m == 0).mean() == pytest.approx(0.3, abs=0.01)
        assert m.mean() == pytest.approx(1.0, abs=0.02)                  # inverted: expectation kept
    again = dropout_masks(np.random.default_rng(0), (784, 400, 300, 10), 200, 0.3)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))


def test_a_dropout_run_trains_is_reproducible_and_evaluates_with_every_unit(small_mnist):
    config = mlp.PRESETS["fast"].config.replace(layers=(784, 64, 10), epochs=2, train_size=3000, dropout=0.3)
    first = mlp.Trainer(config, small_mnist).run()
    second = mlp.Trainer(config, small_mnist).run()
    np.testing.assert_array_equal(first.network.params, second.network.params)
    without = mlp.Trainer(config.replace(dropout=0.0), small_mnist).run()
    assert not np.array_equal(first.network.params, without.network.params)
    x_test, y_test = small_mnist[2:]
    assert first.history[-1].test_accuracy == pytest.approx(first.network.accuracy(x_test, y_test))
    assert first.history[-1].test_accuracy > 0.8                         # it learns
    np.testing.assert_array_equal(first.network.forward(x_test[:5]), first.network.forward(x_test[:5]))


def test_dropout_and_augmentation_are_checked_settings():
    for bad in ({"dropout": 0.95}, {"dropout": -0.1}, {"shift": 5.0}, {"rotation": 31.0}, {"scaling": 0.5},
                {"elastic": float("nan")}):
        with pytest.raises(mlp.ConfigError):
            mlp.TrainConfig(**bad).validate()
    assert not mlp.per_sample.applies(mlp.PRESETS["seed"].config.replace(dropout=0.1))
    assert not mlp.per_sample.applies(mlp.PRESETS["seed"].config.replace(shift=1.0))


# ---- augmentation -------------------------------------------------------------------------------------
def test_sampling_at_shifted_points_shifts_the_image(mnist):
    X = mnist[0][:4]
    rows = np.broadcast_to(augment.GRID_ROWS + augment.CENTRE - 2, (4, 784))     # read 2 rows up: moves down
    cols = np.broadcast_to(augment.GRID_COLS + augment.CENTRE + 3, (4, 784))     # read 3 right: moves left
    moved = augment.sample(X, np.stack([rows, cols], 1)).reshape(4, 28, 28)
    expected = np.zeros((4, 28, 28), np.float32)
    expected[:, 2:, :25] = X.reshape(4, 28, 28)[:, :26, 3:]
    np.testing.assert_allclose(moved, expected, atol=1e-6)


def test_the_numpy_sampler_agrees_with_scipys_map_coordinates(mnist):
    """Zero beyond the image, and a point between the last row and the outside blends the two, as
    SciPy's mode "grid-constant" does (its "constant" gives 0 anywhere past the last row instead)."""
    from scipy.ndimage import map_coordinates

    X = mnist[0][:128]
    points = augment.source_points(np.random.default_rng(0), 128, augment.Augmentation(2, 15, 0.1, 1.0))
    rows, cols = points[:, 0], points[:, 1]
    index = np.broadcast_to(np.arange(128.0)[:, None], rows.shape)
    theirs = map_coordinates(X.reshape(128, 28, 28), [index.reshape(128, 28, 28), rows.reshape(128, 28, 28),
                                                      cols.reshape(128, 28, 28)], order=1, mode="grid-constant",
                             cval=0.0)
    np.testing.assert_allclose(augment.sample(X, points), theirs.reshape(128, 784), atol=1e-5)


def test_a_quarter_turn_is_a_quarter_turn(mnist):
    X = mnist[0][:3]
    rng = np.random.default_rng(0)
    A, t = augment.random_affines(rng, 3, augment.Augmentation(rotation=30))
    angle = np.pi / 2                                                    # force 90°: p reads R(-90°) p
    A = np.broadcast_to(np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]], np.float32),
                        (3, 2, 2))
    rows = A[:, 0, :1] * augment.GRID_ROWS + A[:, 0, 1:] * augment.GRID_COLS + augment.CENTRE
    cols = A[:, 1, :1] * augment.GRID_ROWS + A[:, 1, 1:] * augment.GRID_COLS + augment.CENTRE
    turned = augment.sample(X, np.stack([rows, cols], 1)).reshape(3, 28, 28)
    np.testing.assert_allclose(turned, np.rot90(X.reshape(3, 28, 28), k=1, axes=(1, 2)), atol=1e-5)


def centres_of_mass(X):
    images = X.reshape(len(X), 28, 28)
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], 1)


def test_augmentation_keeps_each_image_in_its_row_and_is_reproducible(mnist):
    squares = np.zeros((16, 28, 28), np.float32)                        # 16 images told apart by where
    for i in range(16):                                                  # their ink is: a 3×3 square on
        r, c = 5 + 6 * (i // 4), 5 + 6 * (i % 4)                         # a 4×4 grid, 6 pixels apart
        squares[i, r - 1:r + 2, c - 1:c + 2] = 1.0
    X = squares.reshape(16, 784)
    before = centres_of_mass(X)
    for one in (dict(shift=2.0), dict(rotation=10.0), dict(scaling=0.1), dict(elastic=1.0)):
        out = augment.augment(X, augment.Augmentation(**one), np.random.default_rng(7))
        assert out.shape == X.shape and out.dtype == np.float32 and not np.array_equal(out, X)
        nearest = np.linalg.norm(centres_of_mass(out)[:, None] - before[None], axis=2).argmin(axis=1)
        np.testing.assert_array_equal(nearest, np.arange(16), err_msg=str(one))   # each image in its row
    aug = augment.Augmentation(shift=2, rotation=15, scaling=0.1, elastic=1.0)
    digits = mnist[0][:200]
    again = augment.augment(digits, aug, np.random.default_rng(7))
    np.testing.assert_array_equal(again, augment.augment(digits, aug, np.random.default_rng(7)))
    assert not np.array_equal(again, augment.augment(digits, aug, np.random.default_rng(8)))
    assert 0.9 < again.sum() / digits.sum() < 1.1                        # ink neither lost nor made up
    assert augment.augment(digits, augment.Augmentation(), np.random.default_rng(7)) is digits


def test_an_augmented_run_is_reproducible_from_its_seed_and_learns(small_mnist, monkeypatch):
    """Batches are augmented a few ahead in a thread; whatever its timing, and with no thread at all
    (every batch augmented in line), the run draws the same transforms and ends with the same weights."""
    config = mlp.PRESETS["fast"].config.replace(epochs=2, train_size=3000, shift=2.0, rotation=10.0, elastic=1.0)
    first, second = mlp.Trainer(config, small_mnist).run(), mlp.Trainer(config, small_mnist).run()
    np.testing.assert_array_equal(first.network.params, second.network.params)
    monkeypatch.setattr(mlp.training, "AUGMENT_AHEAD", 0)
    in_line = mlp.Trainer(config, small_mnist).run()
    assert first._augmenter is not None and in_line._augmenter is None     # a thread, and none
    np.testing.assert_array_equal(first.network.params, in_line.network.params)
    other = mlp.Trainer(config.replace(seed=1), small_mnist).run()
    assert not np.array_equal(first.network.params, other.network.params)
    assert first.history[-1].test_accuracy > 0.5                          # it learns (chance: 0.1)


# ---- robustness -----------------------------------------------------------------------------------------
def test_the_fixed_transforms_turn_move_and_blur_as_they_say(mnist):
    X = mnist[0][:5]
    np.testing.assert_allclose(augment.rotated(X, 90).reshape(5, 28, 28),
                               np.rot90(X.reshape(5, 28, 28), k=1, axes=(1, 2)), atol=1e-5)
    moved = np.zeros((5, 28, 28), np.float32)
    moved[:, :, 3:] = X.reshape(5, 28, 28)[:, :, :25]
    np.testing.assert_allclose(augment.shifted(X, 3).reshape(5, 28, 28), moved, atol=1e-6)
    a, b = augment.noisy(X, 0.2, np.random.default_rng(0)), augment.noisy(X, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and 0.05 < np.abs(a - X).mean() < 0.2   # clipped at black and white


def test_robustness_starts_at_the_plain_accuracy_and_falls_with_strength(mnist):
    network = mlp.load("models/fast.npz")
    X, y = mnist[2][:500], mnist[3][:500]
    result = augment.robustness(network, X, y)
    plain = network.accuracy(X, y)
    for name, strengths in augment.ROBUSTNESS.items():
        accuracies = result[name]
        assert len(accuracies) == len(strengths)
        assert accuracies[list(strengths).index(0)] == plain
        assert min(accuracies) < plain - 0.2                               # the far end hurts
    assert result == augment.robustness(network, X, y)                      # the same noise each time


def test_the_elastic_field_is_gaussian_smoothed_noise_as_scipy_makes_it():
    """Drawn in the smoothing's own basis (no filtering): its covariance must be that of white noise
    filtered by SciPy's gaussian_filter with the same width (zero beyond the image), scaled alike."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    ours = augment.elastic_fields(rng, 2000, 1.0)                        # (2000, 2, 784)
    noise = rng.uniform(-1, 1, (2000, 2, 28, 28))                         # Simard et al.: uniform noise, smoothed
    theirs = gaussian_filter(noise, sigma=(0, 0, augment.ELASTIC_SMOOTHING, augment.ELASTIC_SMOOTHING),
                             mode="constant", truncate=8.0).reshape(2000, 2, 784)
    theirs /= np.sqrt(np.mean(theirs ** 2, axis=(1, 2), keepdims=True))   # the same size as ours
    picked = np.arange(0, 784, 29)                                        # 28 pixels across the image
    cov_ours = np.cov(ours[:, 0, picked].T)
    cov_theirs = np.cov(theirs[:, 0, picked].T)
    assert np.abs(cov_ours - cov_theirs).max() < 0.1 * np.abs(cov_theirs).max()
    fields = augment.elastic_fields(rng, 50, 1.5)
    assert fields.shape == (50, 2, 784)
    np.testing.assert_allclose(np.sqrt(np.mean(fields ** 2, axis=(1, 2))), 1.5, rtol=1e-5)
