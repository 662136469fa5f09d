"""Adversarial nudges: how little an image must change before the network misreads it.

The change δ is bounded in L∞: no pixel moves by more than ε (the budget), and every pixel stays in
[0, 1]. It is found by iterated signed gradient steps (the fast gradient sign method, repeated and
projected back into the budget after each step):

    any wrong digit:   x ← clip(x + α sign(∂C(x, true digit)/∂x),  x₀ - ε, x₀ + ε) ∩ [0, 1]
    a target digit t:  x ← clip(x - α sign(∂C(x, t)/∂x),           x₀ - ε, x₀ + ε) ∩ [0, 1]

C is the network's own loss, its gradient the engine's backprop (``Network.loss_input_gradient``).
The sign spends the whole budget of a step on every pixel that matters, which is what an L∞ budget
rewards. A row stops at the first step at which the network reads it as wanted, so its change is the
smallest this path finds; α = 2.5 ε / steps lets a row reach the edge of its budget and move along it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_EPSILON = 0.5
MAX_STEPS = 100
CURVE_EPSILONS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)
"""The budgets of Evaluate's adversarial-accuracy curve: finer where plain networks fall, up to ε = 0.2."""
CURVE_STEPS = 10
CURVE_DIGITS = 1_000


@dataclass(frozen=True)
class Nudge:
    """What ``nudge`` did to n images.

    original, nudged  (n, 784)  before and after, pixels in [0, 1]; |nudged - original| ≤ ε
    fooled            (n,)      True where the network reads the nudged image as wanted (the target,
                                or any digit but the true one)
    steps_taken       (n,)      the signed steps each row took (0: it was read as wanted already)
    """

    original: np.ndarray
    nudged: np.ndarray
    fooled: np.ndarray
    steps_taken: np.ndarray

    @property
    def change(self):
        return self.nudged.astype(np.float64) - self.original


def check(epsilon, steps):
    """Raise ValueError with a plain reason where a nudge's budget or step count is out of range."""
    if not 0.0 <= float(epsilon) <= MAX_EPSILON:
        raise ValueError(f"ε must be between 0 and {MAX_EPSILON:g}")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"the steps must be between 1 and {MAX_STEPS}")


def _read_as_wanted(network, X, y, target):
    predicted = network.predict(X)
    return predicted == target if target is not None else predicted != y


def nudge(network, X, y, epsilon, steps=20, target=None, progress: Callable[[float], None] | None = None) -> Nudge:
    """Nudge each image of X (n, 784) with true digits y (n,) within the budget ``epsilon`` until the
    network reads ``target`` (a digit, or (n,) digits) or, with no target, any digit but the true one.
    ``progress(fraction)`` is told after every step."""
    check(epsilon, steps)
    original = np.clip(np.asarray(X, network.dtype), 0, 1)
    y = np.asarray(y, np.int64)
    goal = None if target is None else np.broadcast_to(np.asarray(target, np.int64), y.shape)
    aim = y if goal is None else goal
    sign = 1.0 if goal is None else -1.0                     # away from the true digit, or towards the target
    low, high = np.maximum(original - epsilon, 0), np.minimum(original + epsilon, 1)
    alpha = network.dtype.type(2.5 * epsilon / steps)
    x = original.copy()
    fooled = _read_as_wanted(network, x, y, goal)
    taken = np.zeros(len(x), np.int64)
    for step in range(steps):
        if progress is not None:
            progress(step / steps)
        active = np.flatnonzero(~fooled)
        if not len(active) or not epsilon:
            break
        grad = network.loss_input_gradient(x[active], aim[active])
        moved = np.clip(x[active] + sign * alpha * np.sign(grad), low[active], high[active])
        x[active] = moved
        taken[active] += 1
        fooled[active] = _read_as_wanted(network, moved, y[active], None if goal is None else goal[active])
    return Nudge(original, x, fooled, taken)


@dataclass(frozen=True)
class AdversarialCurve:
    """Accuracy (len(epsilons),) on ``digits`` test images when each may be nudged within ε."""

    epsilons: tuple
    accuracy: np.ndarray
    digits: int
    steps: int


def adversarial_accuracy(network, X, y, epsilons=CURVE_EPSILONS, steps=CURVE_STEPS,
                         progress: Callable[[float], None] | None = None) -> AdversarialCurve:
    """Accuracy on X (n, 784), y (n,) against nudges to any wrong digit within each budget in ``epsilons``.

    The budgets are taken from the smallest up, and only the digits still read right are nudged at the
    next one: a nudge that fooled the network within a smaller budget fits in every larger one too, so
    a digit once fooled stays fooled and the curve can only fall as ε grows."""
    epsilons = tuple(sorted(float(e) for e in epsilons))
    for e in epsilons:
        check(e, steps)
    right = network.predict(X) == y
    accuracy = []
    for i, epsilon in enumerate(epsilons):
        alive = np.flatnonzero(right)
        if epsilon and len(alive):
            share = None if progress is None else (lambda f, i=i: progress((i + f) / len(epsilons)))
            right[alive] = ~nudge(network, X[alive], y[alive], epsilon, steps, progress=share).fooled
        accuracy.append(float(right.mean()) if len(y) else 0.0)
        if progress is not None:
            progress((i + 1) / len(epsilons))
    return AdversarialCurve(epsilons, np.array(accuracy), len(y), int(steps))


def changed_pixels(change, epsilon):
    """How many pixels a change (784,) moved, by how much: {"any": n, "half": n, "full": n} counting the
    pixels moved at all, by at least ε/2, and by the whole budget ε (within float32's rounding)."""
    size = np.abs(np.asarray(change, np.float64))
    tolerance = 1e-6
    if not epsilon:
        return {"any": int((size > tolerance).sum()), "half": 0, "full": 0}
    return {"any": int((size > tolerance).sum()), "half": int((size >= epsilon / 2 - tolerance).sum()),
            "full": int((size >= epsilon - tolerance).sum())}
