import numpy as np

import mlp
from mlp import analysis


def test_unit_images_are_the_weight_columns():
    net = mlp.Network([784, 5, 10], seed=2)
    images = analysis.unit_images(net.weights[0])
    assert images.shape == (5, 28, 28)
    for j in range(5):
        assert np.array_equal(images[j], net.weights[0][:, j].reshape(28, 28))


def test_colour_limits_are_symmetric_magnitudes():
    images = np.array([[[1.0, -3.0]], [[0.5, 0.25]]])
    assert analysis.colour_limit(images) == 3.0
    assert analysis.colour_limit(images, per_unit=True).tolist() == [3.0, 0.5]


def test_top_activating_matches_a_full_forward_pass(small_mnist):
    net = mlp.Network([784, 8, 10], "tanh", seed=1)
    X = small_mnist[0][:500]
    order, values = analysis.top_activating(net, X, unit=3, k=5)
    brute = net.forward_all(X)[1][:, 3]
    assert np.array_equal(order, np.argsort(-brute, kind="stable")[:5])
    assert np.allclose(values, brute[order], atol=1e-6)


def test_confusion_matrix_and_per_digit_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    counts = analysis.confusion_matrix(y_true, y_pred, n_classes=3)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert np.allclose(analysis.per_digit_accuracy(counts), [0.5, 2 / 3, 1.0])
    assert analysis.per_digit_accuracy(np.zeros((3, 3), int)).tolist() == [0, 0, 0]


def test_mistakes_come_most_confident_first_and_filter():
    p = np.full((5, 10), 0.01)
    p[0, 3], p[1, 7], p[2, 1], p[3, 7], p[4, 2] = 0.9, 0.6, 0.95, 0.99, 0.5
    y = np.array([3, 1, 2, 4, 2])                 # samples 1, 2, 3 are wrong
    assert analysis.mistakes(p, y).tolist() == [3, 2, 1]
    assert analysis.mistakes(p, y, predicted_digit=7).tolist() == [3, 1]
    assert analysis.mistakes(p, y, true_digit=2).tolist() == [2]
    assert analysis.mistakes(p, y, true_digit=3).tolist() == []


def test_snapshot_views_and_probabilities():
    net = mlp.Network([784, 4, 10], seed=0)
    snapshot = net.params.copy() * 2
    assert np.array_equal(analysis.weights_at(snapshot, net.sizes)[1], net.weights[1] * 2)
    assert np.array_equal(analysis.biases_at(snapshot, net.sizes)[0], net.biases[0] * 2)
    p = analysis.as_probabilities(np.array([[0.5, 0.5, 1.0]]))
    assert np.allclose(p, [[0.25, 0.25, 0.5]])
