"""One example traced through the network and back (mlp.trace), and the analysis behind the "How it
computes" page (switching units off, PCA maps, separation, layer health): checked against the
engine's batch backprop and against central finite differences."""
import numpy as np
import pytest

import mlp
from mlp import analysis
from mlp import trace as tracing

SETUPS = {
    "seed: sigmoid, squared error": dict(activation="sigmoid", output="sigmoid", loss="squared_error", init="uniform"),
    "relu, softmax, cross-entropy": dict(activation="relu", output="softmax", loss="cross_entropy", init="he"),
    "tanh, softmax, squared error": dict(activation="tanh", output="softmax", loss="squared_error", init="xavier"),
}


def small_network(setup, seed=3, sizes=(12, 5, 4, 10)):
    return mlp.Network(sizes, dtype=np.float64, seed=seed, **SETUPS[setup])


def example(rng, n_in=12):
    return rng.uniform(0, 1, n_in), int(rng.integers(10))


@pytest.mark.parametrize("setup", SETUPS)
def test_the_trace_is_the_engines_own_backprop_and_matches_finite_differences(setup, rng):
    network = small_network(setup)
    x, label = example(rng)
    t = tracing.trace(network, x, label)
    loss, grads = network.loss_and_gradients(x[None], np.array([label]))
    assert t.loss == pytest.approx(loss, rel=1e-12)
    for (dW, db), tW, tb in zip(grads, t.dW, t.db):
        np.testing.assert_allclose(tW, dW, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(tb, db, rtol=1e-12, atol=1e-15)
    for layer, W in enumerate(network.weights):            # every weight, nudged both ways
        for source in range(W.shape[0]):
            for target in range(W.shape[1]):
                measured = tracing.finite_difference(network, x, label, layer, source, target, h=1e-6)
                assert t.dW[layer][source, target] == pytest.approx(measured, rel=1e-5, abs=1e-9)
    # the forward values: z = a_prev W + b, a = f(z), and the outputs are the network's
    np.testing.assert_allclose(t.a[-1], network.forward(x[None])[0])
    for layer, (W, b) in enumerate(zip(network.weights, network.biases)):
        np.testing.assert_allclose(t.z[layer], t.inputs_to(layer) @ W + b)


@pytest.mark.parametrize("setup", SETUPS)
def test_the_chain_rule_written_out_gives_the_gradient(setup, rng):
    network = small_network(setup)
    x, label = example(rng)
    t = tracing.trace(network, x, label)
    for layer, W in enumerate(network.weights):
        for source, target in ((0, 0), (W.shape[0] - 1, W.shape[1] - 1), (1, 2)):
            c = tracing.chain_rule(network, t, layer, source, target)
            assert c.gradient == pytest.approx(c.delta * c.incoming, rel=1e-12, abs=1e-18)
            assert c.gradient == pytest.approx(tracing.finite_difference(network, x, label, layer, source, target,
                                                                         h=1e-6), rel=1e-5, abs=1e-9)
            if layer < len(network.weights) - 1:
                assert c.upstream == pytest.approx(sum(w * d for w, d in c.terms), rel=1e-12, abs=1e-18)
            if c.kind == "elementwise":
                assert c.delta == pytest.approx(c.upstream * c.slope, rel=1e-9, abs=1e-18)
    last = tracing.chain_rule(network, t, len(network.weights) - 1, 0, label)
    expected_kind = {"sigmoid": "elementwise", "softmax": "softmax"}[network.output]
    if network.loss_name == "cross_entropy":
        expected_kind = "softmax_cross_entropy"
        assert last.delta == pytest.approx(t.a[-1][label] - 1)
    assert last.kind == expected_kind


def test_the_step_preview_is_the_step_and_it_goes_downhill(rng):
    for setup, name, lr in (("seed: sigmoid, squared error", "sgd", 0.5),
                            ("relu, softmax, cross-entropy", "adam", 0.01),
                            ("tanh, softmax, squared error", "momentum", 0.1)):
        network = small_network(setup)
        x, label = example(rng)
        optimizer = tracing.new_optimizer(network, name)
        t = tracing.trace(network, x, label)
        preview = tracing.step_preview(network, optimizer, t, lr)
        copy = network.copy()
        before = tracing.apply_step(copy, tracing.new_optimizer(network, name), x, label, lr)
        np.testing.assert_allclose(copy.params - network.params, preview, atol=1e-12)
        assert before.loss == t.loss and tracing.loss_at(copy, x, label) < t.loss
        if name == "sgd":
            np.testing.assert_allclose(preview, -lr * t.gradient)
        assert getattr(optimizer, "t", 0) == 0           # the preview left the optimizer as it was


def test_repeated_steps_memorise_one_example():
    network = small_network("seed: sigmoid, squared error")
    x, label = example(np.random.default_rng(5))
    optimizer = tracing.new_optimizer(network, "sgd")
    losses = [tracing.loss_at(network, x, label)]
    for _ in range(200):
        tracing.apply_step(network, optimizer, x, label, 1.0)
        losses.append(tracing.loss_at(network, x, label))
    assert losses[-1] < 0.05 * losses[0] and int(network.predict(x[None])[0]) == label


# ---- switching units off ------------------------------------------------------------------------------
def test_a_switched_off_unit_sends_nothing_and_the_original_is_untouched(rng):
    network = small_network("relu, softmax, cross-entropy")
    kept = network.params.copy()
    X = rng.uniform(0, 1, (20, 12))
    off = {(0, 1), (1, 3)}
    silenced = analysis.without_units(network, off)
    np.testing.assert_array_equal(network.params, kept)
    A = X
    for l, (W, b, f) in enumerate(zip(network.weights, network.biases, network.layer_activations)):
        A = f.forward(A @ W + b, out=np.empty((len(A), W.shape[1])))
        for layer, unit in off:
            if layer == l:
                A[:, unit] = 0.0                              # by hand: the unit's output forced to 0
    np.testing.assert_allclose(silenced.forward(X), A)


def test_unit_importance_is_the_accuracy_each_unit_costs(mnist):
    network = mlp.load("models/seed.npz")
    X, y = mnist[2][:500], mnist[3][:500]
    costs = analysis.unit_importance(network, X, y)
    baseline = network.accuracy(X, y)
    assert [len(c) for c in costs] == [16, 16]
    for layer in range(2):
        for unit in (0, 7, 15):
            expected = baseline - analysis.without_units(network, {(layer, unit)}).accuracy(X, y)
            assert costs[layer][unit] == pytest.approx(expected)
    assert max(c.max() for c in costs) > 0.01              # some unit matters
    assert analysis.images_for_importance((784, 16, 16, 10)) == 2_000
    assert 200 <= analysis.images_for_importance((784, 1024, 1024, 1024, 1024, 10)) < 2_000


# ---- maps and separation ------------------------------------------------------------------------------
def test_the_pca_map_finds_the_directions_of_largest_variance(rng):
    A = rng.normal(size=(400, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    m = analysis.pca_map(A)
    eigenvalues = np.linalg.eigvalsh(np.cov(A.T, bias=True))[::-1]
    np.testing.assert_allclose(m.explained, eigenvalues[:2] / eigenvalues.sum(), rtol=1e-10)
    np.testing.assert_allclose(np.abs(m.axes[0]), np.eye(6)[0], atol=0.05)
    assert all(axis[np.abs(axis).argmax()] > 0 for axis in m.axes)     # the sign convention
    flipped = analysis.pca_map(-A)                      # the same cloud mirrored: the same axes
    np.testing.assert_allclose(flipped.axes, m.axes, atol=1e-9)
    coords = m.place(A)
    np.testing.assert_allclose(coords.var(axis=0), eigenvalues[:2], rtol=1e-10)
    one_unit = analysis.pca_map(A[:, :1])              # a layer of one unit: a flat second axis
    assert one_unit.place(A[:, :1]).shape == (400, 2) and one_unit.explained[1] == 0


def test_nearest_centre_accuracy_measures_separation():
    train = np.array([[0.0, 0], [0, 1], [10, 10], [10, 11]])
    labels = np.array([0, 0, 1, 1])
    assert analysis.nearest_centre_accuracy(train, labels, np.array([[1.0, 0], [9, 9]]), np.array([0, 1])) == 1.0
    assert analysis.nearest_centre_accuracy(train, labels, np.array([[1.0, 0], [9, 9]]), np.array([1, 1])) == 0.5
    # absent classes are never predicted, and nothing to score gives 0
    assert analysis.nearest_centre_accuracy(train, labels, np.empty((0, 2)), np.array([], int)) == 0.0


def test_a_trained_network_untangles_the_digits_layer_by_layer(mnist):
    x_train, y_train, x_test, y_test = (a[:2000] for a in mnist)
    network = mlp.load("models/seed.npz")
    train, test = network.forward_all(x_train), network.forward_all(x_test)
    scores = [analysis.nearest_centre_accuracy(a, y_train, b, y_test) for a, b in zip(train, test)]
    assert scores[0] < 0.8 < scores[-1] and scores[-1] > scores[0] + 0.1


# ---- layer health -------------------------------------------------------------------------------------
def test_layer_health_measures_gradients_dead_and_saturated_units(rng):
    X, y = rng.uniform(0, 1, (64, 12)), rng.integers(0, 10, 64)
    relu = small_network("relu, softmax, cross-entropy")
    relu.biases[0][2] = -1e6                                # unit 2 of hidden layer 1 never fires
    health = analysis.layer_health(relu, X, y)
    _, grads = relu.loss_and_gradients(X, y)
    np.testing.assert_allclose(health.gradient_rms, [np.sqrt(np.mean(dW ** 2)) for dW, _ in grads])
    assert health.dead == [pytest.approx(1 / 5), 0.0] and health.saturated == [None, None]
    sigmoid = small_network("seed: sigmoid, squared error")
    calm = analysis.layer_health(sigmoid, X, y)
    sigmoid.weights[0][...] *= 200                          # huge weights: the first layer saturates
    loud = analysis.layer_health(sigmoid, X, y)
    assert loud.saturated[0] > 0.9 > calm.saturated[0] and loud.dead == [0.0, 0.0]


def test_numbers_on_the_page_never_read_minus_zero():
    """Before: a loss that rounded to zero read "-0" in the microscope."""
    from ui.computes import _number

    assert _number(-0.0) == "0" and _number(-1e-30) != "-0" and _number(-0.5) == "-0.5"
