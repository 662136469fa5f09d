import itertools

import numpy as np
import pytest

import mlp
from mlp.network import Network

COMBOS = list(itertools.product(mlp.ACTIVATIONS, mlp.OUTPUTS, mlp.LOSSES))


def numeric_gradient(net, X, y, l2, eps=1e-6):
    """Central finite differences of the loss with respect to every parameter."""
    grad = np.zeros_like(net.params)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + eps
        plus = net.loss_and_gradients(X, y, l2)[0]
        net.params[i] = saved - eps
        minus = net.loss_and_gradients(X, y, l2)[0]
        net.params[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("activation,output,loss", COMBOS)
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_gradients_match_finite_differences(activation, output, loss, l2, rng):
    net = Network([7, 5, 4, 10], activation, output, loss, init="xavier", seed=3, dtype=np.float64)
    net.params += rng.normal(0, 0.3, net.params.shape)      # biases away from zero too
    X = rng.uniform(0, 1, (6, 7))
    y = rng.integers(0, 10, 6)
    loss_value, grads = net.loss_and_gradients(X, y, l2)
    analytic = np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in grads])
    numeric = numeric_gradient(net, X, y, l2)
    relative_error = np.linalg.norm(analytic - numeric) / np.linalg.norm(analytic + numeric)
    assert np.isfinite(loss_value) and loss_value > 0
    assert relative_error < 1e-6, relative_error


def test_shapes_follow_the_convention():
    net = Network([784, 16, 8, 10])
    assert [W.shape for W in net.weights] == [(784, 16), (16, 8), (8, 10)]
    assert [b.shape for b in net.biases] == [(16,), (8,), (10,)]
    X = np.random.default_rng(0).uniform(0, 1, (5, 784))
    out = net.forward(X)
    assert out.shape == (5, 10) and ((0 <= out) & (out <= 1)).all()
    assert net.predict(X).shape == (5,)
    loss, grads = net.loss_and_gradients(X, np.arange(5))
    assert [(dW.shape, db.shape) for dW, db in grads] == [(W.shape, b.shape) for W, b in
                                                         zip(net.weights, net.biases)]


def test_weights_are_views_of_the_flat_parameters():
    net = Network([784, 16, 10])
    net.weights[0][3, 2] = 7.0
    net.biases[1][4] = -2.0
    assert 7.0 in net.params and -2.0 in net.params
    net.params[:] = 0
    assert not net.weights[0].any() and not net.biases[1].any()


def test_softmax_outputs_are_probabilities():
    net = Network([784, 32, 10], "relu", "softmax", "cross_entropy", "he", seed=1)
    p = net.forward(np.random.default_rng(2).uniform(0, 1, (4, 784)))
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-6)


def test_one_sample_update_worked_by_hand():
    """A 2-1-10 sigmoid network, one sample, squared error: every number below is written out.

    w = [[0.5], [-0.5]], b1 = [0], W2 = all 0, b2 = all 0, x = [1, 1], label 0.
    Hidden: z = 0.5 - 0.5 + 0 = 0, a1 = sigmoid(0) = 0.5.
    Output: z2 = 0 for every unit, a2 = 0.5 everywhere; target y = [1, 0, ..., 0].
    dC/da2 = 2 (a2 - y) = [-1, 1, ..., 1];  dC/dz2 = dC/da2 · a2 (1 - a2) = [-0.25, 0.25, ...].
    dC/dW2 = a1 · dC/dz2 = [-0.125, 0.125, ...];  dC/db2 = dC/dz2.
    dC/da1 = W2 · dC/dz2 = 0, so the first layer's gradient is zero.
    """
    net = Network([2, 1, 10], dtype=np.float64)
    net.params[:] = 0
    net.weights[0][:, 0] = [0.5, -0.5]
    loss, grads = net.loss_and_gradients(np.array([[1.0, 1.0]]), np.array([0]))
    assert loss == pytest.approx(0.25 + 9 * 0.25)
    expected_dz2 = np.array([-0.25] + [0.25] * 9)
    assert np.allclose(grads[1][0], 0.5 * expected_dz2[None, :])
    assert np.allclose(grads[1][1], expected_dz2)
    assert not grads[0][0].any() and not grads[0][1].any()


def test_same_seed_same_weights_and_different_seed_different_weights():
    a, b, c = (Network([784, 16, 16, 10], seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


@pytest.mark.parametrize("init", list(mlp.INITS))
def test_initialisations_have_the_documented_scale(init):
    net = Network([784, 256, 10], init=init, seed=0)
    W = net.weights[0]
    if init == "uniform":
        assert -0.5 <= W.min() and W.max() < 0.5 and net.biases[0].std() > 0.2
    elif init == "xavier":
        assert np.abs(W).max() <= np.sqrt(6 / (784 + 256)) and not net.biases[0].any()
    else:
        assert W.std() == pytest.approx(np.sqrt(2 / 784), rel=0.05) and not net.biases[0].any()


@pytest.mark.parametrize("bad", [
    dict(sizes=[784]), dict(sizes=[784, 0, 10]), dict(activation="swish"),
    dict(output="relu"), dict(loss="hinge"), dict(init="zeros"),
])
def test_bad_architecture_is_refused_with_a_reason(bad):
    kwargs = dict(sizes=[784, 16, 10], **{k: v for k, v in bad.items() if k != "sizes"})
    if "sizes" in bad:
        kwargs["sizes"] = bad["sizes"]
    with pytest.raises(ValueError) as err:
        Network(**kwargs)
    assert str(err.value)


def test_forward_refuses_wrong_input_shape():
    with pytest.raises(ValueError, match="784"):
        Network([784, 16, 10]).forward(np.zeros((3, 28, 28)))


def test_forward_from_a_later_layer_is_the_tail_of_the_whole_pass(rng):
    """forward_all(start=l) runs only the layers from l on: given what layer l receives in the whole
    pass, it gives the very same later activations; it checks that input's width too."""
    net = Network([784, 12, 8, 10], "relu", "softmax", "cross_entropy", "he", seed=3)
    X = rng.uniform(0, 1, (5, 784)).astype(np.float32)
    whole = net.forward_all(X)
    for start in (1, 2):
        tail = net.forward_all(whole[start], start=start)
        assert len(tail) == len(whole) - start
        for ours, theirs in zip(tail, whole[start:]):
            np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError, match="12"):
        net.forward_all(whole[2], start=1)


@pytest.mark.parametrize("activation,output", [("sigmoid", "sigmoid"), ("relu", "softmax"), ("tanh", "softmax")])
def test_input_gradient_matches_finite_differences(activation, output, rng):
    net = Network([6, 5, 4, 10], activation, output, init="xavier", seed=1, dtype=np.float64)
    X = rng.uniform(0.1, 0.9, (1, 6))
    weights = rng.normal(size=(1, 10))                      # score = Σ weights · outputs
    analytic = net.input_gradient(X, weights)[0]
    numeric = np.zeros(6)
    for i in range(6):
        plus, minus = X.copy(), X.copy()
        plus[0, i] += 1e-6
        minus[0, i] -= 1e-6
        numeric[i] = (np.sum(weights * net.forward(plus)) - np.sum(weights * net.forward(minus))) / 2e-6
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
