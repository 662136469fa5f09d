"""The input's gradient, dreams and adversarial nudges (``mlp.network``, ``mlp.dreams``, ``mlp.adversarial``):
gradients against finite differences, dreams that only climb, nudges that stay within their budget and
fool the network, and an adversarial-accuracy curve that only falls as the budget grows."""
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp import adversarial, dreams
from mlp.network import Network

MODELS = Path(__file__).resolve().parents[1] / "models"
ACTIVATIONS, OUTPUTS, LOSSES = sorted(mlp.ACTIVATIONS), sorted(mlp.OUTPUTS), sorted(mlp.LOSSES)


def _numeric_gradient(function, x, h=1e-6):
    """Central differences of the scalar ``function`` at x (d,)."""
    grad = np.zeros_like(x)
    for i in range(len(x)):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (function(plus) - function(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_loss_gradient_on_the_pixels_matches_finite_differences(activation, output, loss, rng):
    """Each row's dC/dx from the engine's backprop equals nudging each pixel by ±h: the gradient of that
    row's own loss, whatever else is in the batch."""
    net = Network([12, 7, 5, 10], activation, output, loss, init="xavier", seed=2, dtype=np.float64)
    X = rng.uniform(0.05, 0.95, (3, 12))
    y = np.array([3, 0, 7])
    analytic = net.loss_input_gradient(X, y)
    for i in range(len(X)):
        own_loss = lambda x, i=i: net.loss_and_gradients(x[None], y[i:i + 1])[0]     # noqa: E731
        np.testing.assert_allclose(analytic[i], _numeric_gradient(own_loss, X[i]), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_hidden_units_gradient_on_the_pixels_matches_finite_differences(activation, rng):
    """``input_gradient(layer=...)``, the hidden-unit dreams' gradient: d z_j / dx of a unit in each layer."""
    net = Network([12, 7, 5, 10], activation, "softmax", "cross_entropy", init="xavier", seed=4, dtype=np.float64)
    x = rng.uniform(0.05, 0.95, 12)
    for layer, unit in ((0, 3), (1, 2), (2, 9)):
        analytic = dreams.score_gradient(net, x[None], [unit], layer)[0]
        numeric = _numeric_gradient(lambda v: dreams.scores(net, v[None], [unit], layer)[0], x)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="layer"):
        net.input_gradient(x[None], np.zeros((1, 10)), layer=3)


@pytest.mark.parametrize("regulariser", ["l2", "smoothing"])
def test_the_regularisers_gradients_match_finite_differences(regulariser, rng):
    x = rng.uniform(0, 1, (1, 784))
    value, grad = dreams._penalty(x, regulariser)
    some = rng.choice(784, 40, replace=False)
    for p in some:
        plus, minus = x.copy(), x.copy()
        plus[0, p] += 1e-6
        minus[0, p] -= 1e-6
        numeric = (dreams._penalty(plus, regulariser)[0][0] - dreams._penalty(minus, regulariser)[0][0]) / 2e-6
        assert grad[0, p] == pytest.approx(numeric, rel=1e-5, abs=1e-7)
    assert value[0] > 0


@pytest.fixture(scope="module")
def fast():
    return mlp.load(MODELS / "fast.npz")


@pytest.mark.parametrize("regulariser,strength", [("none", 0.0), ("l2", 1.0), ("smoothing", 3.0)])
def test_a_dream_climbs_its_digits_score_and_never_falls(fast, regulariser, strength):
    start = dreams.start_images("noise", 10, seed=5)
    d = dreams.dream(fast, start, np.arange(10), regulariser=regulariser, strength=strength, steps=40, frames=9)
    assert np.all(np.diff(d.objective, axis=0) >= 0)                 # the climbed objective never goes down
    if regulariser == "none":
        assert np.all(np.diff(d.score, axis=0) >= 0)                 # ... and with nothing else, it is the score
    assert np.all(d.score[-1] > d.score[0] + 1.0)
    assert d.images.min() >= 0 and d.images.max() <= 1
    before = fast.forward(start)[np.arange(10), np.arange(10)]
    after = fast.forward(d.images)[np.arange(10), np.arange(10)]
    assert np.all(after > before)                                    # each digit's probability rose
    assert d.frames.shape == (9, 10, 784) and list(d.frame_steps[[0, -1]]) == [0, 40]
    np.testing.assert_array_equal(d.frames[0], start)
    np.testing.assert_array_equal(d.frames[-1], d.images)
    assert not d.flat.any()


def test_a_hidden_units_dream_raises_that_units_output(fast):
    start = dreams.start_images("blank", 3)
    d = dreams.dream(fast, start, [0, 5, 11], layer=0, steps=30)
    before, after = fast.hidden_activations(start)[0], fast.hidden_activations(d.images)[0]
    assert np.all(after[np.arange(3), [0, 5, 11]] > before[np.arange(3), [0, 5, 11]])


def test_a_saturated_network_says_its_gradient_is_zero(rng):
    """Huge sigmoid weights: every hidden unit's output rounds to 0 or 1, its slope a(1 - a) to 0, so
    nothing reaches the pixels. The dream says so (``flat``) instead of drawing a blank as if it were one."""
    net = Network([784, 16, 16, 10], "sigmoid", "sigmoid", seed=1)
    net.params *= 2000
    x = rng.uniform(0, 1, 784).astype(np.float32)
    assert dreams.vanished_slopes(net, x) == [1.0, 1.0]
    d = dreams.dream(net, x[None], [3], steps=5)
    assert d.flat.all()
    np.testing.assert_array_equal(d.images[0], x)
    assert not net.loss_input_gradient(x[None], [3]).any()


@pytest.mark.parametrize("bad", [dict(regulariser="blur"), dict(strength=-1), dict(strength=6), dict(steps=0),
                                 dict(steps=dreams.MAX_STEPS + 1), dict(units=[10]), dict(layer=5)])
def test_a_dreams_settings_out_of_range_are_refused(fast, bad):
    args = dict(units=[3], layer=None, regulariser="none", strength=0.1, steps=5) | bad
    with pytest.raises(ValueError):
        dreams.dream(fast, dreams.start_images("blank", 1), **args)
    with pytest.raises(ValueError, match="test image"):
        dreams.start_images("test image", 1)


@pytest.fixture(scope="module")
def test_digits(mnist):
    _, _, x_test, y_test = mnist
    return x_test[:200], y_test[:200]


def test_a_nudge_stays_within_its_budget_and_flips_the_answer(fast, test_digits):
    X, y = test_digits
    right = fast.predict(X) == y
    X, y = X[right][:40], y[right][:40]
    n = adversarial.nudge(fast, X, y, epsilon=0.1, steps=20)
    assert np.abs(n.change).max() <= 0.1 + 1e-6
    assert n.nudged.min() >= 0 and n.nudged.max() <= 1
    assert n.fooled.mean() > 0.9                               # 784-16-16-10 is fooled by ε = 0.1 nearly always
    np.testing.assert_array_equal(fast.predict(n.nudged) != y, n.fooled)
    assert np.all(n.steps_taken[n.fooled] >= 1) and np.all(n.steps_taken <= 20)


def test_a_targeted_nudge_makes_the_network_read_the_target(fast, test_digits):
    X, y = test_digits
    keep = y != 3
    X, y = X[keep][:30], y[keep][:30]
    n = adversarial.nudge(fast, X, y, epsilon=0.2, steps=40, target=3)
    assert np.abs(n.change).max() <= 0.2 + 1e-6
    assert n.fooled.mean() > 0.8
    assert np.all(fast.predict(n.nudged)[n.fooled] == 3)


def test_a_nudge_stops_at_the_first_step_that_fools(fast, test_digits):
    """The change is the smallest this path finds: one step fewer and the network still reads it right."""
    X, y = test_digits
    right = fast.predict(X) == y
    X, y = X[right][:20], y[right][:20]
    n = adversarial.nudge(fast, X, y, epsilon=0.1, steps=20)
    for i in np.flatnonzero(n.fooled & (n.steps_taken > 1))[:5]:
        shorter = adversarial.nudge(fast, X[i:i + 1], y[i:i + 1], epsilon=0.1, steps=20)
        assert shorter.steps_taken[0] == n.steps_taken[i]
    assert not (n.steps_taken[~n.fooled] < 20).any()           # a row not fooled used every step


def test_no_budget_changes_nothing(fast, test_digits):
    X, y = test_digits
    n = adversarial.nudge(fast, X[:10], y[:10], epsilon=0.0, steps=5)
    np.testing.assert_array_equal(n.nudged, n.original)
    with pytest.raises(ValueError):
        adversarial.nudge(fast, X[:1], y[:1], epsilon=0.6)
    with pytest.raises(ValueError):
        adversarial.nudge(fast, X[:1], y[:1], epsilon=0.1, steps=0)


def test_the_adversarial_accuracy_curve_falls_as_the_budget_grows(fast, test_digits):
    X, y = test_digits
    seen = []
    curve = adversarial.adversarial_accuracy(fast, X, y, epsilons=(0.1, 0.0, 0.02, 0.05), steps=10,
                                             progress=seen.append)
    assert curve.epsilons == (0.0, 0.02, 0.05, 0.1)
    assert curve.accuracy[0] == pytest.approx(fast.accuracy(X, y))
    assert np.all(np.diff(curve.accuracy) <= 0)
    assert curve.accuracy[-1] < 0.5 * curve.accuracy[0]
    assert seen == sorted(seen) and seen[-1] == 1.0 and {0.25, 0.5, 0.75} <= set(seen)
    assert len(seen) > 4                                   # told within each budget's steps too
    # each point is a real attack: nudging the digits afresh at that budget fools at least as many
    alone = adversarial.nudge(fast, X, y, epsilon=0.05, steps=10)
    assert curve.accuracy[2] <= np.mean(~alone.fooled & (fast.predict(X) == y)) + 1e-12


def test_changed_pixels_counts_by_size():
    change = np.zeros(784)
    change[:5] = 0.1
    change[5:8] = -0.06
    change[8:10] = 0.01
    assert adversarial.changed_pixels(change, 0.1) == {"any": 10, "half": 8, "full": 5}
