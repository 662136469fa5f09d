"""Loss functions: how wrong the network's outputs ``a`` are for the one-hot targets ``Y``.

Shapes: ``a`` and ``Y`` are (n, 10); ``Y`` has a single 1 per row at the true digit. Labels stay
integers everywhere else in the project; they become one-hot only here, in the loss.

Each loss gives the *mean over the batch* of a per-sample loss, and writes dL/da into ``grad``:

- squared error, the seed notebook's:  C = Σ_k (a_k - y_k)²      (no ½ in front, as in the notebook)
- cross-entropy:                       C = -Σ_k y_k log a_k       (only the true digit's term survives)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LOG_FLOOR = 1e-12
"""Probabilities are clipped to at least this before taking a log, so log(0) never happens."""


def squared_error(a, Y, grad):
    """Mean of Σ_k (a_k - y_k)² over the batch; dL/da = 2 (a - Y) / n."""
    n = a.shape[0]
    np.subtract(a, Y, out=grad)
    loss = float(np.vdot(grad, grad)) / n
    grad *= 2.0 / n
    return loss


def cross_entropy(a, Y, grad):
    """Mean of -Σ_k y_k log a_k over the batch; dL/da = -Y / a / n."""
    n = a.shape[0]
    clipped = np.maximum(a, LOG_FLOOR)
    loss = -float(np.sum(Y * np.log(clipped))) / n
    np.divide(Y, clipped, out=grad)
    grad *= -1.0 / n
    return loss


def softmax_cross_entropy(a, Y, delta):
    """Cross-entropy of softmax outputs ``a`` (n, 10) for one-hot ``Y``, with the gradient taken with
    respect to the softmax's *input* z, written into ``delta``: dL/dz = (a - Y) / n.

    The pair simplifies: the softmax's Jacobian times -Y/a is a - Y, which never divides by a tiny
    probability. Only the true digit's probability enters the loss, so one log per row is taken
    instead of ten (the same value as ``cross_entropy``). Returns the batch mean loss."""
    n = a.shape[0]
    true = np.einsum("ij,ij->i", a, Y)                      # each row's probability of its true digit
    loss = -float(np.log(np.maximum(true, LOG_FLOOR)).sum()) / n
    np.subtract(a, Y, out=delta)
    delta /= n
    return loss


@dataclass(frozen=True)
class Loss:
    name: str
    value_and_grad: Callable
    description: str


LOSSES: dict[str, Loss] = {
    "squared_error": Loss("squared_error", squared_error,
                          "Sum of squared differences to the target; the seed notebook's loss."),
    "cross_entropy": Loss("cross_entropy", cross_entropy,
                          "Minus the log of the probability given to the right digit; pairs with softmax."),
}


def one_hot(labels, dtype=np.float32):
    """Integer labels (n,) -> one-hot rows (n, 10)."""
    Y = np.zeros((len(labels), 10), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y
