"""Looking inside a network: pure functions that return arrays for the pages to draw.

Shapes follow the project's convention: ``W[0]`` is (784, units), so unit j's incoming weights are
the column ``W[0][:, j]``, an image once reshaped to 28×28.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import one_hot
from .network import Workspace, parameter_views


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


# ---- switching units off ------------------------------------------------------------------------
def without_units(network, off):
    """A copy of ``network`` with the hidden units in ``off`` ({(layer, unit)}, layer 0 = the first
    hidden layer) switched off: their outgoing weights are zero, so the layers after them receive 0
    from them, as if they had been cut out. The network itself does not change."""
    copy = network.copy()
    for layer, unit in off:
        if 0 <= layer < len(copy.weights) - 1:
            copy.weights[layer + 1][unit, :] = 0.0
    return copy


IMPORTANCE_WORK = 2e9
"""Multiply-adds allowed for ranking the units: every unit of the presets' networks on 2,000 test
digits; fewer digits for the widest networks the app accepts (the caption says how many)."""


def images_for_importance(sizes, most=2_000, least=200):
    """How many images ``unit_importance`` can afford for a network of these sizes."""
    work = sum(units * sum(a * b for a, b in zip(sizes[l + 1:-1], sizes[l + 2:]))
               for l, units in enumerate(sizes[1:-1]))
    return int(min(most, max(least, IMPORTANCE_WORK // max(work, 1))))


def unit_importance(network, X, y, progress=None):
    """Per hidden layer, an array (units,) of the accuracy each unit costs when it alone is switched
    off: accuracy with every unit on, minus accuracy without it, on inputs X (n, 784), labels y (n,).

    The layers before a unit are the same with or without it, so each layer's activations are
    computed once and only the layers after the switched-off unit are rerun; and the next layer's
    weighted input without unit j is the full one less a rank-one term, Z - A[:, j] ⊗ W[j], so the
    first rerun layer costs n × fan_out instead of a whole matrix product. ``progress(fraction)``,
    if given, is called after each unit (the app shows it as a progress bar).
    """
    with np.errstate(over="ignore"):
        acts = network.forward_all(X)
    baseline = float((acts[-1].argmax(axis=1) == y).mean())
    last = len(network.weights) - 1
    total, done = sum(network.sizes[1:-1]), 0
    costs = []
    for l in range(1, len(network.sizes) - 1):           # acts[l] is hidden layer l - 1's output
        W, b, f = network.weights[l], network.biases[l], network.layer_activations[l]
        Z_all = acts[l] @ W + b                            # the next layer's weighted input, every unit on
        cost = np.empty(network.sizes[l])
        for j in range(network.sizes[l]):
            Z = Z_all - np.outer(acts[l][:, j], W[j])
            with np.errstate(over="ignore"):
                A = f.forward(Z, out=Z)
                outputs = A if l == last else network.forward_all(A, start=l + 1)[-1]
            cost[j] = baseline - float((outputs.argmax(axis=1) == y).mean())
            done += 1
            if progress is not None:
                progress(done / total)
        costs.append(cost)
    return costs


# ---- what each layer sees -----------------------------------------------------------------------
@dataclass(frozen=True)
class Map:
    """A 2-D map of a representation: the plane of its first two principal components.

    mean (d,), axes (2, d): a row a lands at (a - mean) @ axes.T; explained (2,): the share of the
    variance along each axis. Each axis's sign is fixed (its largest loading is positive), so the
    maps of neighbouring snapshots do not flip at random.
    """

    mean: np.ndarray
    axes: np.ndarray
    explained: np.ndarray

    def place(self, A):
        """Coordinates (n, 2) of rows A (n, d) on this map."""
        return (np.asarray(A, np.float64) - self.mean) @ self.axes.T


def pca_map(A):
    """The PCA map of the rows of A (n, d), by NumPy's SVD of the centred rows."""
    A = np.asarray(A, np.float64)
    mean = A.mean(axis=0)
    _, s, vt = np.linalg.svd(A - mean, full_matrices=False)
    axes = np.zeros((2, A.shape[1]))
    axes[:min(2, len(vt))] = vt[:2]                    # a one-unit layer: the second axis stays flat
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes *= np.where(signs == 0, 1, signs)[:, None]
    variance = np.zeros(2)
    variance[:min(2, len(s))] = s[:2] ** 2
    return Map(mean, axes, variance / max(float(np.sum(s ** 2)), 1e-300))


def nearest_centre_accuracy(train_A, train_y, test_A, test_y, n_classes=10):
    """How separated the digits are in a representation: each class's centre (mean row) is taken
    from ``train_A`` (n, d); a test row is given the class of the nearest centre. Returns the share
    of ``test_A`` (m, d) classified right (about 0.82 on raw MNIST pixels, near 1 when the classes
    have been pulled apart)."""
    train_A, test_A = np.asarray(train_A, np.float64), np.asarray(test_A, np.float64)
    present = np.array([c for c in range(n_classes) if np.any(train_y == c)])
    if not len(test_y) or not len(present):
        return 0.0
    centres = np.stack([train_A[train_y == c].mean(axis=0) for c in present])
    distances = (np.square(test_A).sum(axis=1)[:, None] - 2 * test_A @ centres.T
                 + np.square(centres).sum(axis=1)[None])
    return float((present[distances.argmin(axis=1)] == test_y).mean())


# ---- layer health while training -----------------------------------------------------------------
SATURATED_SLOPE = 0.01
"""A squashing unit (sigmoid, tanh) is saturated on an input when its slope f'(z) is under this
share of its steepest slope: the gradient through it has all but vanished."""


@dataclass(frozen=True)
class LayerHealth:
    """How each layer is doing at one moment of training (see ``layer_health``).

    gradient_rms: per weight layer (len(sizes) - 1), the root mean square of dC/dW over its weights
                  for the batch: how fast that layer is learning (sigmoid stacks show it shrinking
                  towards the input: the vanishing gradient)
    dead:         per hidden layer, the share of units whose output is the same for every input
    saturated:    per hidden layer, the share of (input, unit) pairs where a squashing unit sits on
                  a flat end (slope < 1% of its steepest); None for ReLU-type layers, which cannot
    """

    gradient_rms: list
    dead: list
    saturated: list


def layer_health(network, X, y) -> LayerHealth:
    """Gradient size and unit health per layer, for inputs X (n, 784) and labels y (n,)."""
    ws = Workspace(network.sizes, len(X), network.dtype)
    with np.errstate(over="ignore", under="ignore"):
        acts = network.forward_all(X, out=ws.acts)
        network.backprop(acts, one_hot(y, network.dtype), ws)
    gradient_rms = [float(np.sqrt(np.mean(np.square(dW, dtype=np.float64)))) for dW in ws.dW]
    dead, saturated = [], []
    for hidden, f in zip(acts[1:-1], network.layer_activations[:-1]):
        dead.append(float((np.ptp(hidden, axis=0) < DEAD_SPREAD).mean()))
        if np.isfinite(f.output_range).all():            # a squashing activation: steepest at z = 0
            middle = f.forward(np.zeros((1, 1), hidden.dtype), out=np.empty((1, 1), hidden.dtype))
            steepest = float(f.backward(middle, np.ones_like(middle), out=middle)[0, 0])
            slope = f.backward(hidden, np.ones_like(hidden), out=np.empty_like(hidden))
            saturated.append(float((slope < SATURATED_SLOPE * steepest).mean()))
        else:
            saturated.append(None)
    return LayerHealth(gradient_rms, dead, saturated)
