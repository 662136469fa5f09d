"""Data augmentation: each training batch's digits moved, turned, resized and bent at random, drawn
afresh for every batch from the run's seed, so the network never sees the exact same image twice
and learns what a digit is rather than where its pixels were.

Shapes: a batch X is (n, 784), each row a 28×28 image, as everywhere in the project.

Every image gets its own random transform, built from the strengths in an ``Augmentation``:

- shift:    moved by up to ``shift`` pixels in each direction
- rotation: turned by up to ``rotation`` degrees either way, about the image's centre
- scaling:  resized by a factor between 1 - ``scaling`` and 1 + ``scaling``
- elastic:  bent by a smooth random displacement field whose typical size is ``elastic`` pixels
            (after Simard et al., 2003: random noise smoothed by a Gaussian of 4 pixels)

The labels never change: a moved 7 is still a 7. The first three make one affine map per image;
with the elastic field added, every output pixel (r, c) reads the input at a source point (an array
of points is (n, 2, 784): rows, then columns), and ``sample`` interpolates the input bilinearly
there (zero outside the image).

Both the sampling and the elastic field are NumPy, measured against SciPy's ``ndimage`` on the
same points (``bench/augment.py``; the tests check they agree): ``sample`` gathers the four
neighbours of all of a batch's points with one fancy index, an order of magnitude faster than
``ndimage.map_coordinates``, which loops over points through general spline code; the elastic field
is drawn directly in its smoothing's basis (``elastic_fields``), far cheaper than filtering noise with
``ndimage.gaussian_filter``. So SciPy is not needed to train, and ``import mlp`` needs NumPy alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIDE = 28
CENTRE = (SIDE - 1) / 2
ELASTIC_SMOOTHING = 4.0
"""Standard deviation, in pixels, of the Gaussian that smooths the elastic displacement field."""
LIMITS = {"shift": 4.0, "rotation": 30.0, "scaling": 0.3, "elastic": 3.0}
"""The largest strength each transform accepts (pixels, degrees, fraction, pixels)."""


@dataclass(frozen=True)
class Augmentation:
    """How strongly to transform each training image (0 turns a transform off)."""

    shift: float = 0.0
    rotation: float = 0.0
    scaling: float = 0.0
    elastic: float = 0.0

    @property
    def active(self):
        return any((self.shift, self.rotation, self.scaling, self.elastic))

    @classmethod
    def of(cls, config):
        """The augmentation a ``TrainConfig`` asks for."""
        return cls(config.shift, config.rotation, config.scaling, config.elastic)


def _grid():
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    return rows.ravel() - CENTRE, cols.ravel() - CENTRE          # (784,) each, centred


GRID_ROWS, GRID_COLS = _grid()
GRID = np.stack([GRID_ROWS, GRID_COLS])
"""(2, 784): every output pixel's row and column, centred."""


def random_affines(rng, n, aug):
    """Per image, the inverse map from output to input: a (n, 2, 2) matrix and a (n, 2) offset, so
    that output pixel p (centred) reads the input at  A p + t  (centred)."""
    angle = np.radians(rng.uniform(-aug.rotation, aug.rotation, n))
    scale = rng.uniform(1 - aug.scaling, 1 + aug.scaling, n)
    shift = rng.uniform(-aug.shift, aug.shift, (n, 2))
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    A = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)     # R(-θ) / s
    return A.astype(np.float32), (-shift).astype(np.float32)


def _smoothing_basis(sigma=ELASTIC_SMOOTHING, keep=1e-4):
    """B (28, k): a Gaussian-smoothed field of white noise, K N Kᵀ with K the smoothing matrix (zero
    beyond the image), has exactly the covariance of B M Bᵀ with M (k, k) white noise, where K = U S Vᵀ
    and B = U S (Vᵀ N V is white noise again). Directions whose weight is below ``keep`` of the largest
    are dropped: 11 of 28 remain, so a field costs 121 random numbers instead of 784."""
    offsets = np.arange(SIDE)[:, None] - np.arange(SIDE)[None, :]
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel[SIDE // 2].sum()
    u, s, _ = np.linalg.svd(kernel)
    k = int(np.sum(s > keep * s[0]))
    return (u[:, :k] * s[:k]).astype(np.float32), kernel.astype(np.float32)


BASIS, SMOOTHING = _smoothing_basis()


def elastic_fields(rng, n, strength):
    """Smooth random displacements (n, 2, 784) whose root mean square is ``strength`` pixels: white
    noise smoothed by a Gaussian of ``ELASTIC_SMOOTHING`` pixels, as Simard et al. make them, drawn
    directly in the smoothing's own basis (``_smoothing_basis``): a batched matrix product, far cheaper
    than filtering 784 numbers per field (``bench/augment.py`` against SciPy's
    ``ndimage.gaussian_filter``). The coefficients are uniform, like Simard's noise: the same
    covariance as Gaussian ones (so the same smoothness) at a fifth of the drawing time."""
    k = BASIS.shape[1]
    noise = rng.random((2 * n, k, k), dtype=np.float32)
    noise -= 0.5                                                          # centred: white noise
    fields = (BASIS @ noise @ BASIS.T).reshape(n, 2, SIDE * SIDE)         # B M Bᵀ for every field
    mean_square = np.einsum("ijk,ijk->i", fields, fields) / (2 * SIDE * SIDE)
    fields *= (strength / np.sqrt(np.maximum(mean_square, 1e-24))).astype(np.float32)[:, None, None]
    return fields


def source_points(rng, n, aug):
    """Where each output pixel of each of n images reads its input: (n, 2, 784), the rows then the
    columns, uncentred."""
    A, t = random_affines(rng, n, aug)
    points = A @ GRID                               # every image's affine map at once
    if aug.elastic:
        points += elastic_fields(rng, n, aug.elastic)
    points += (t + CENTRE)[:, :, None]
    return points


PAD = 2


def sample(X, points):
    """Bilinear interpolation of images X (n, 784) at ``points`` (n, 2, 784) (rows, then columns);
    points off the image read 0 (the background). Returns (n, 784) float32.

    Each image is laid out padded with zeros, every pixel stored beside its right-hand neighbour, so
    that one gather of 8-byte elements fetches the two upper and the two lower neighbours of every
    point: one fancy index instead of four (``bench/augment.py``)."""
    n = len(X)
    size = SIDE + 2 * PAD
    pairs = np.zeros((n, size, size, 2), np.float32)
    pairs[:, PAD:PAD + SIDE, PAD:PAD + SIDE, 0] = X.reshape(n, SIDE, SIDE)
    pairs[:, PAD:PAD + SIDE, PAD - 1:PAD + SIDE - 1, 1] = X.reshape(n, SIDE, SIDE)   # the right neighbour
    # Clipped so that every neighbour lies in the padded image; a point clipped to the edge reads
    # only padding, so it stays 0.
    points = np.clip(np.asarray(points, np.float32), -PAD, SIDE + PAD - 1.001)
    corner = np.floor(points)
    points -= corner                                # the fractions: how far past the upper-left pixel
    place = corner[:, 0] * size                     # the upper-left pixel's place (exact in float32)
    place += corner[:, 1]
    place += (np.arange(n, dtype=np.float32) * (size * size) + (PAD * size + PAD))[:, None]
    index = np.empty((n, 2, SIDE * SIDE), np.intp)
    index[:, 0] = place                             # the upper pair ...
    index[:, 1] = place
    index[:, 1] += size                             # ... and the lower one
    quads = pairs.view(np.float64).reshape(-1)[index].view(np.float32)   # (n, 2, 2 * 784)
    left, right = quads[..., 0::2], quads[..., 1::2]
    across = right - left                           # interpolate along the rows above and below ...
    across *= points[:, 1:]
    across += left
    upper, lower = across[:, 0], across[:, 1]
    lower -= upper                                  # ... then between them
    lower *= points[:, 0]
    lower += upper
    return lower


def augment(X, aug, rng):
    """A randomly transformed copy of the batch X (n, 784) (X itself if nothing is asked for)."""
    if not aug.active or not len(X):
        return X
    return sample(np.asarray(X, np.float32), source_points(rng, len(X), aug))


def check(aug):
    """Raise ValueError with a plain reason if a strength is out of range."""
    for name, limit in LIMITS.items():
        value = getattr(aug, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= limit):
            raise ValueError(f"{name} must be between 0 and {limit:g}, got {value!r}")


# ---- fixed transforms, to measure robustness ---------------------------------------------------------
def rotated(X, degrees):
    """Every image of X (n, 784) turned by the same angle about its centre."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    rows = cos * GRID_ROWS + sin * GRID_COLS + CENTRE                # reads R(-θ) p: turns by θ
    cols = -sin * GRID_ROWS + cos * GRID_COLS + CENTRE
    return sample(X, np.broadcast_to(np.stack([rows, cols]), (len(X), 2, SIDE * SIDE)))


def shifted(X, pixels):
    """Every image of X (n, 784) moved right by ``pixels`` (a fraction moves it part-way, blending)."""
    points = GRID + np.array([[CENTRE], [CENTRE - pixels]], np.float32)
    return sample(X, np.broadcast_to(points, (len(X), 2, SIDE * SIDE)))


def noisy(X, level, rng):
    """X (n, 784) plus Gaussian pixel noise of standard deviation ``level``, clipped to [0, 1]."""
    return np.clip(X + rng.normal(0.0, level, X.shape).astype(np.float32), 0.0, 1.0)


ROBUSTNESS = {"rotation (degrees)": (-45, -30, -15, 0, 15, 30, 45),
              "shift right (pixels)": (0, 1, 2, 3, 4, 5, 6),
              "pixel noise (standard deviation)": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)}
"""The fixed transforms the Evaluate page measures a network against, and their strengths."""


def robustness(network, X, y, seed=0, progress=None):
    """{transform: [accuracy at each strength of ROBUSTNESS[transform]]} on X (n, 784), labels y (n,).
    The noise is drawn from ``seed``, so two networks are measured on the very same noisy images.
    ``progress(fraction)``, if given, is called after each strength."""
    rng = np.random.default_rng(seed)
    make = {"rotation (degrees)": lambda s: rotated(X, s), "shift right (pixels)": lambda s: shifted(X, s),
            "pixel noise (standard deviation)": lambda s: noisy(X, s, rng) if s else X}
    total, done, result = sum(len(s) for s in ROBUSTNESS.values()), 0, {}
    for name, strengths in ROBUSTNESS.items():
        result[name] = []
        for s in strengths:
            result[name].append(network.accuracy(make[name](s), y))
            done += 1
            if progress is not None:
                progress(done / total)
    return result
