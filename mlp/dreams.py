"""Dreams: the input that a unit of the network answers most strongly, found by climbing its gradient.

Training keeps the images and changes the weights; a dream keeps the weights and changes the image.
From a start x (a blank, noise or a test digit, (n, 784), pixels in [0, 1]) each row climbs

    objective(x) = score(x) - strength * R(x)

where the score (``scores``) is, for a digit, its log-odds against the other digits, and for a hidden unit
its weighted sum z *before* its squashing: both are taken before the outputs squash them (a sigmoid's
or softmax's output saturates near 1 and stops giving a gradient), so a dream keeps growing. The
regulariser R decides whether the dream looks like a digit:

    none        R = 0: the network's own taste, which is usually speckled noise it is sure about
    l2          R = ½ Σ x²: only the pixels worth their cost light up
    smoothing   R = ½ Σ (x_p - x_q)² over the neighbouring pixel pairs p, q: strokes, not speckles

One step moves x along the gradient g of the objective, scaled so that the most-moved pixel moves by
the row's step size η, then clips the pixels to [0, 1] (a projected gradient step):

    x ← clip(x + η g / max|g|, 0, 1)

A step that does not raise the objective is undone and that row's η halved (one that does lets η grow
back by half, up to its start), so the objective never goes down: the curve a learner watches climbs,
and a dream that has found its top stops moving.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

REGULARISERS = ("none", "l2", "smoothing")
STARTS = ("blank", "noise", "test image")
MAX_STEPS = 300
MAX_STRENGTH = 5.0
SMALLEST_STEP = 1e-4
"""A row whose step size has halved below this has stopped: no step along its gradient helps."""


def _penalty(images, regulariser):
    """(R (n,), dR/dx (n, 784)) of each row of ``images`` (n, 784)."""
    if regulariser == "none":
        return np.zeros(len(images)), np.zeros_like(images)
    if regulariser == "l2":
        return 0.5 * np.einsum("ij,ij->i", images, images, dtype=np.float64), images.copy()
    grid = images.reshape(-1, 28, 28)
    across, down = np.diff(grid, axis=2), np.diff(grid, axis=1)
    grad = np.zeros_like(grid)
    grad[:, :, 1:] += across
    grad[:, :, :-1] -= across
    grad[:, 1:, :] += down
    grad[:, :-1, :] -= down
    value = 0.5 * (np.square(across, dtype=np.float64).sum(axis=(1, 2))
                   + np.square(down, dtype=np.float64).sum(axis=(1, 2)))
    return value, grad.reshape(len(images), 784)


def _forward(network, X):
    with np.errstate(over="ignore"):
        return network.forward_all(X)


def _sums(network, acts, top):
    """Layer ``top``'s weighted sums Z (n, fan_out) in float64, from the forward pass ``acts``."""
    return acts[top].astype(np.float64) @ network.weights[top] + network.biases[top]


def _others(Z, units):
    """(log Σ_{k≠d} e^{z_k} (n,), the softmax over the other units q (n, units), q_d = 0), d = units[i]."""
    rows = np.arange(len(Z))
    others = Z.copy()
    others[rows, units] = -np.inf
    peak = others.max(axis=1, keepdims=True)
    weights = np.exp(others - peak)
    total = weights.sum(axis=1, keepdims=True)
    return peak[:, 0] + np.log(total[:, 0]), weights / total


def scores(network, X, units, layer=None):
    """The score (n,) that row i of X climbs. For a hidden layer: the weighted sum z of its unit
    ``units[i]``. For the output layer: digit d = ``units[i]``'s log-odds against the others,

        z_d - log Σ_{k≠d} e^{z_k}       (with a softmax output: log p_d / (1 - p_d))

    It grows while the network grows surer of d *and* less sure of every other digit, where p_d alone
    stops near 1 (a dream would stay faint) and z_d alone can rise while another digit's rises faster."""
    top = len(network.weights) - 1 if layer is None else int(layer)
    Z = _sums(network, _forward(network, X), top)
    own = Z[np.arange(len(X)), units]
    return own if top < len(network.weights) - 1 else own - _others(Z, units)[0]


def score_gradient(network, X, units, layer=None):
    """d score / dX (n, 784) of ``scores``: the engine's own backprop (``Network.input_gradient``),
    started from the score's gradient against the layer's weighted sums Z: e_j for a hidden unit j,
    e_d - q for digit d, q being the softmax over the other digits' z (q_d = 0)."""
    top = len(network.weights) - 1 if layer is None else int(layer)
    acts = _forward(network, X)                     # one forward pass, for the seed and for backprop
    seed = np.zeros((len(X), network.sizes[top + 1]))
    seed[np.arange(len(X)), units] = 1.0
    if top == len(network.weights) - 1:
        seed -= _others(_sums(network, acts, top), units)[1]
    return network.input_gradient(X, seed, before_squashing=True, layer=top, acts=acts)


@dataclass(frozen=True)
class Dream:
    """What ``dream`` found, for n rows.

    images     (n, 784)      the dreams, pixels in [0, 1]
    frames     (k, n, 784)   the inputs along the way, from the start (frame 0) to the end, for replaying
    frame_steps (k,)         the step each frame was taken at
    objective  (steps+1, n)  score - strength·R after each step: never goes down
    score      (steps+1, n)  the unit's score (``scores``) after each step
    flat       (n,)          True where the score's gradient was exactly 0 at the start: nothing to climb
    """

    images: np.ndarray
    frames: np.ndarray
    frame_steps: np.ndarray
    objective: np.ndarray
    score: np.ndarray
    flat: np.ndarray


def start_images(kind, n, seed=0, image=None):
    """Where the climb starts, (n, 784) float32: blank (all 0), noise (uniform in [0, 1] from
    ``np.random.default_rng(seed)``, one draw per row), or ``image`` (784,) in every row."""
    if kind == "blank":
        return np.zeros((n, 784), np.float32)
    if kind == "noise":
        return np.random.default_rng(seed).random((n, 784), dtype=np.float32)
    if kind == "test image":
        if image is None or np.shape(image) != (784,):
            raise ValueError("a test image (784 pixels) is needed to start from it")
        return np.repeat(np.clip(np.asarray(image, np.float32), 0, 1)[None], n, axis=0)
    raise ValueError(f"start must be one of {STARTS}, not {kind!r}")


def check(regulariser, strength, steps):
    """Raise ValueError with a plain reason where a dream's settings are outside what it accepts."""
    if regulariser not in REGULARISERS:
        raise ValueError(f"regulariser must be one of {REGULARISERS}, not {regulariser!r}")
    if not 0.0 <= float(strength) <= MAX_STRENGTH:
        raise ValueError(f"strength must be between 0 and {MAX_STRENGTH:g}")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}")


def dream(network, start, units, layer=None, regulariser="none", strength=0.1, steps=100, step_size=0.1,
          frames=20, progress: Callable[[float], None] | None = None) -> Dream:
    """Climb ``objective`` (the module's docstring) for each row of ``start`` (n, 784), row i for unit
    ``units[i]`` of layer ``layer`` (default: the output layer, so ``units`` are digits).

    ``frames`` inputs along the way are kept (evenly spaced steps, the start and the end among them);
    ``progress(fraction)`` is told after every step."""
    check(regulariser, strength, steps)
    units = np.asarray(units, np.int64)
    top = len(network.weights) - 1 if layer is None else int(layer)
    if not 0 <= top < len(network.weights) or units.shape != (len(start),) or not (
            (0 <= units) & (units < network.sizes[top + 1])).all():
        raise ValueError("each row needs one unit of a layer of this network")
    x = np.clip(np.array(start, network.dtype), 0, 1)
    strength = float(strength) if regulariser != "none" else 0.0

    def measure(images):
        score = scores(network, images, units, top)
        penalty = _penalty(images, regulariser)[0] if strength else 0.0
        return score - strength * penalty, score

    objective, score = measure(x)
    objectives, climbed = [objective], [score]
    eta = np.full(len(x), float(step_size))
    keep = set(np.unique(np.linspace(0, steps, max(2, min(frames, steps + 1))).round().astype(int)).tolist())
    kept, kept_steps = [x.copy()], [0]
    flat = None
    for step in range(1, steps + 1):
        grad = score_gradient(network, x, units, top).astype(np.float64)
        if flat is None:
            flat = ~np.any(grad != 0, axis=1)
        if strength:
            grad -= strength * _penalty(x, regulariser)[1]
        largest = np.abs(grad).max(axis=1)
        moving = (largest > 0) & (eta >= SMALLEST_STEP)
        scale = np.divide(eta, largest, out=np.zeros_like(eta), where=moving)
        candidate = np.clip(x + (scale[:, None] * grad).astype(x.dtype), 0, 1)
        new_objective, new_score = measure(candidate)
        better = moving & (new_objective > objective)
        x[better] = candidate[better]
        objective, score = np.where(better, new_objective, objective), np.where(better, new_score, score)
        eta[moving & ~better] *= 0.5
        eta[better] = np.minimum(eta[better] * 1.5, step_size)     # and a step that worked may grow again
        objectives.append(objective)
        climbed.append(score)
        if step in keep:
            kept.append(x.copy())
            kept_steps.append(step)
        if progress is not None:
            progress(step / steps)
    return Dream(x, np.stack(kept), np.array(kept_steps), np.stack(objectives), np.stack(climbed), flat)


def vanished_slopes(network, x):
    """Per hidden layer, the share of its units whose slope f'(z) is exactly 0 for the input x (784,):
    a saturated sigmoid or tanh (its output rounds to its limit) or a ReLU below 0. Backprop multiplies
    by these slopes, so where a whole layer's are 0 no gradient reaches the pixels."""
    with np.errstate(over="ignore"):
        acts = network.forward_all(np.asarray(x, network.dtype)[None])
    shares = []
    for l, a in enumerate(acts[1:-1]):
        slope = network.layer_activations[l].backward(a, np.ones_like(a), out=np.empty_like(a))
        shares.append(float(np.mean(slope == 0)))
    return shares
