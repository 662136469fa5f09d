"""Looking inside a network: pure functions that return arrays for the pages to draw.

Shapes follow the project's convention: ``W[0]`` is (784, units), so unit j's incoming weights are
the column ``W[0][:, j]``, an image once reshaped to 28×28.
"""
from __future__ import annotations

import numpy as np

from .network import parameter_views


def unit_images(W0):
    """First-layer weights (784, units) -> one 28×28 image per hidden unit, (units, 28, 28)."""
    return np.ascontiguousarray(W0.T).reshape(W0.shape[1], 28, 28)


def weights_at(params, sizes):
    """The per-layer weight matrices of a flat parameter vector (e.g. a snapshot)."""
    return parameter_views(params, sizes)[0]


def biases_at(params, sizes):
    return parameter_views(params, sizes)[1]


def colour_limit(images, per_unit=False):
    """The symmetric colour range ±limit that centres a diverging scale at zero.

    Shared: one limit for all images (compare units with each other). Per unit: one per image
    (see each unit's own pattern, however weak). Returns a float or an array (units,).
    """
    magnitude = np.abs(images).reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    magnitude = np.maximum(magnitude, 1e-12)
    return magnitude if per_unit else float(magnitude.max(initial=1e-12))


def top_activating(network, X, unit, k=12):
    """Indices and activations of the k inputs that excite first-layer ``unit`` most, highest first.

    Every activation here rises with its input, so ranking the weighted sums z ranks the
    activations too, and only this unit's column of weights is needed: one matrix-vector product.
    """
    z = X @ network.weights[0][:, unit] + network.biases[0][unit]
    order = np.argsort(-z, kind="stable")[:k]
    top = z[order].reshape(-1, 1).astype(network.dtype)
    with np.errstate(over="ignore"):
        activations = network.layer_activations[0].forward(top, out=np.empty_like(top))[:, 0]
    return order, activations


def confusion_matrix(y_true, y_pred, n_classes=10):
    """counts[t, p] = how many samples of true digit t were predicted as p."""
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def per_digit_accuracy(counts):
    """Share of each true digit predicted correctly (the diagonal over the row sums)."""
    totals = counts.sum(axis=1)
    return np.divide(np.diag(counts), totals, out=np.zeros(len(counts)), where=totals > 0)


def mistakes(probabilities, y_true, true_digit=None, predicted_digit=None):
    """Indices of misclassified samples, most confident mistakes first, optionally filtered.

    probabilities: (n, 10) network outputs; y_true: (n,) labels.
    """
    predicted = probabilities.argmax(axis=1)
    wrong = predicted != y_true
    if true_digit is not None:
        wrong &= y_true == true_digit
    if predicted_digit is not None:
        wrong &= predicted == predicted_digit
    indices = np.flatnonzero(wrong)
    confidence = probabilities[indices, predicted[indices]]
    return indices[np.argsort(-confidence, kind="stable")]


def as_probabilities(outputs):
    """Network outputs as probabilities summing to 1 per row (sigmoid outputs are normalised)."""
    totals = outputs.sum(axis=1, keepdims=True)
    return outputs / np.maximum(totals, 1e-12)


DEAD_SPREAD = 1e-6
"""A unit whose output varies by less than this over a whole data set is dead: it tells the next
layer nothing (a ReLU that never fires, or a unit saturated at one end for every image)."""


def dead_units(network, X, batch=5_000):
    """Per hidden layer, a boolean array (units,): True where the unit gives the same output (within
    ``DEAD_SPREAD``) for every row of X (n, 784). Computed in batches, so memory stays small."""
    low = [np.full(s, np.inf) for s in network.sizes[1:-1]]
    high = [np.full(s, -np.inf) for s in network.sizes[1:-1]]
    for start in range(0, len(X), batch):
        for layer, acts in enumerate(network.hidden_activations(X[start:start + batch])):
            np.minimum(low[layer], acts.min(axis=0), out=low[layer])
            np.maximum(high[layer], acts.max(axis=0), out=high[layer])
    return [h - l < DEAD_SPREAD for l, h in zip(low, high)]
