"""Activation functions and their derivatives, kept side by side in one table.

Shapes: every function works row-wise on a batch ``z`` of shape (n, units).

Each activation is two small pure functions:

- ``forward(z, out)`` writes f(z) into ``out`` (which may be ``z`` itself) and returns it.
- ``backward(a, grad, out)`` turns dL/da into dL/dz, where ``a = f(z)`` is the layer's *output*.
  Every derivative here can be written in terms of the output (sigmoid: a(1 - a), tanh: 1 - a²,
  ReLU: 1 where a > 0), so the network never has to keep the pre-activations z.

Writing into ``out`` keeps the training loop free of allocations: with a batch of one sample the
cost of a NumPy call is mostly its overhead, so fewer temporary arrays means faster epochs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LEAKY_SLOPE = 0.01

_ZEROS: dict = {}
_ZEROS_UP_TO = 1 << 16          # elements: training batches (128 × 256 = 32,768), not whole test sets


def _zeros_like(z):
    """Zeros shaped like ``z`` (read-only, kept per shape for arrays up to ``_ZEROS_UP_TO``), else 0.0.
    NumPy's ``maximum`` runs its vectorised loop against an array, but a slower one against the scalar
    0: four times slower on a batch of 128 × 256, and ReLU runs twice in every training step."""
    if z.size > _ZEROS_UP_TO:
        return 0.0
    key = (z.shape, z.dtype.str)
    zeros = _ZEROS.get(key)
    if zeros is None:
        zeros = np.zeros(z.shape, z.dtype)
        zeros.flags.writeable = False
        _ZEROS[key] = zeros
    return zeros


def sigmoid(z, out):
    """1 / (1 + e^-z). For z below about -88 (float32) e^-z overflows to inf and the result is
    exactly 0, which is the right limit; callers silence that overflow warning with np.errstate."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def sigmoid_backward(a, grad, out):
    """dL/dz = dL/da * a * (1 - a)."""
    np.multiply(grad, a, out=out)
    out -= out * a
    return out


def tanh(z, out):
    return np.tanh(z, out=out)


def tanh_backward(a, grad, out):
    """dL/dz = dL/da * (1 - a²)."""
    slope = np.multiply(a, a)
    np.subtract(1.0, slope, out=slope)
    return np.multiply(grad, slope, out=out)


def relu(z, out):
    return np.maximum(z, _zeros_like(z), out=out)


def relu_backward(a, grad, out):
    """dL/dz = dL/da where the unit was active (a > 0), else 0."""
    np.multiply(grad, a > 0, out=out)
    return out


def leaky_relu(z, out):
    """z where z > 0, else 0.01 z: a small slope keeps 'dead' units learning."""
    return np.maximum(z, LEAKY_SLOPE * z, out=out)


def leaky_relu_backward(a, grad, out):
    """The slope is 1 where a > 0 and 0.01 elsewhere; a has the sign of z, so a tells which."""
    np.multiply(grad, np.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype, copy=False), out=out)
    return out


def softmax(z, out):
    """e^z / Σ e^z over each row. Subtracting the row's maximum first changes nothing
    mathematically but keeps e^z from overflowing on large inputs."""
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_backward(a, grad, out):
    """Softmax mixes a row, so dL/dz = a * (dL/da - Σ_j a_j dL/da_j) (the Jacobian applied to grad)."""
    weighted = np.sum(a * grad, axis=1, keepdims=True)
    np.subtract(grad, weighted, out=out)
    out *= a
    return out


@dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable
    backward: Callable
    output_range: tuple[float, float]
    description: str


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", sigmoid, sigmoid_backward, (0.0, 1.0),
                   "Smooth S-curve squashing any input into (0, 1); the seed notebook's choice."),
        Activation("tanh", tanh, tanh_backward, (-1.0, 1.0),
                   "An S-curve like sigmoid but centred on zero, in (-1, 1)."),
        Activation("relu", relu, relu_backward, (0.0, np.inf),
                   "max(0, z): cheap, does not saturate for positive inputs; the modern default."),
        Activation("leaky_relu", leaky_relu, leaky_relu_backward, (-np.inf, np.inf),
                   "ReLU with a small slope (0.01) for negative inputs, so no unit goes silent for good."),
    )
}
"""Activations for hidden layers (any of them may also be used at the output)."""

OUTPUTS: dict[str, Activation] = {
    "sigmoid": ACTIVATIONS["sigmoid"],
    "softmax": Activation("softmax", softmax, softmax_backward, (0.0, 1.0),
                          "Turns the 10 outputs into probabilities that add up to 1."),
}
"""Activations offered for the output layer: outputs must lie in [0, 1] to read as probabilities."""
