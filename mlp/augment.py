"""Data augmentation: each training batch's digits moved, turned, resized and bent at random, drawn
afresh for every batch from the run's seed, so the network never sees the exact same image twice
and learns what a digit is rather than where its pixels were.

Shapes: a batch X is (n, 784), each row a 28×28 image, as everywhere in the project.

Every image gets its own random transform, built from the strengths in an ``Augmentation``:

- shift:    moved by up to ``shift`` pixels in each direction
- rotation: turned by up to ``rotation`` degrees either way, about the image's centre
- scaling:  resized by a factor between 1 - ``scaling`` and 1 + ``scaling``
- elastic:  bent by a smooth random displacement field whose typical size is ``elastic`` pixels
            (Simard et al., 2003: uniform noise smoothed by a Gaussian of 4 pixels)

The labels never change: a moved 7 is still a 7. The first three make one affine map per image;
with the elastic field added, every output pixel (r, c) reads the input at a source point, and
``sample`` interpolates the input bilinearly there (zero outside the image).

``sample`` is NumPy: gathering the four neighbours of all of a batch's points with one fancy index
each was measured faster than SciPy's ``ndimage.map_coordinates`` on the same points (``bench/
augment.py``), which loops over points in C but through general spline code. The elastic field's
smoothing is SciPy's ``ndimage.gaussian_filter`` (imported only when elastic distortion is asked for:
``import mlp`` needs NumPy alone).
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


def random_affines(rng, n, aug):
    """Per image, the inverse map from output to input: a (n, 2, 2) matrix and a (n, 2) offset, so
    that output pixel p (centred) reads the input at  A p + t  (centred)."""
    angle = np.radians(rng.uniform(-aug.rotation, aug.rotation, n))
    scale = rng.uniform(1 - aug.scaling, 1 + aug.scaling, n)
    shift = rng.uniform(-aug.shift, aug.shift, (n, 2))
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    A = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)     # R(-θ) / s
    return A.astype(np.float32), (-shift).astype(np.float32)


def elastic_fields(rng, n, strength):
    """Smooth random displacements (n, 2, 784) whose root mean square is ``strength`` pixels."""
    from scipy.ndimage import gaussian_filter

    noise = rng.uniform(-1, 1, (n, 2, SIDE, SIDE))
    smooth = gaussian_filter(noise, sigma=(0, 0, ELASTIC_SMOOTHING, ELASTIC_SMOOTHING), mode="constant")
    rms = np.sqrt(np.mean(np.square(smooth), axis=(1, 2, 3), keepdims=True))
    return (smooth * (strength / np.maximum(rms, 1e-12))).reshape(n, 2, SIDE * SIDE).astype(np.float32)


def source_points(rng, n, aug):
    """Where each output pixel of each of n images reads its input: rows, cols (n, 784), uncentred."""
    A, t = random_affines(rng, n, aug)
    rows = A[:, 0, :1] * GRID_ROWS + A[:, 0, 1:] * GRID_COLS + t[:, :1]
    cols = A[:, 1, :1] * GRID_ROWS + A[:, 1, 1:] * GRID_COLS + t[:, 1:]
    if aug.elastic:
        field = elastic_fields(rng, n, aug.elastic)
        rows += field[:, 0]
        cols += field[:, 1]
    return rows + CENTRE, cols + CENTRE


PAD = 2


def sample(X, rows, cols):
    """Bilinear interpolation of images X (n, 784) at the points (rows, cols) (n, 784); points off
    the image read 0 (the background). Returns (n, 784) float32."""
    n = len(X)
    size = SIDE + 2 * PAD
    padded = np.zeros((n, size, size), np.float32)
    padded[:, PAD:PAD + SIDE, PAD:PAD + SIDE] = X.reshape(n, SIDE, SIDE)
    # Clipped so that every neighbour lies in the padded image; a point clipped to the edge reads
    # only padding, so it stays 0.
    rows = np.clip(rows, -PAD, SIDE + PAD - 1.001)
    cols = np.clip(cols, -PAD, SIDE + PAD - 1.001)
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = rows - r0, cols - c0
    index = ((r0.astype(np.intp) + PAD) * size + c0.astype(np.intp) + PAD) + (np.arange(n) * size * size)[:, None]
    flat = padded.ravel()
    top = flat[index] * (1 - fc) + flat[index + 1] * fc
    bottom = flat[index + size] * (1 - fc) + flat[index + size + 1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32, copy=False)


def augment(X, aug, rng):
    """A randomly transformed copy of the batch X (n, 784) (X itself if nothing is asked for)."""
    if not aug.active or not len(X):
        return X
    rows, cols = source_points(rng, len(X), aug)
    return sample(np.asarray(X, np.float32), rows, cols)


def check(aug):
    """Raise ValueError with a plain reason if a strength is out of range."""
    for name, limit in LIMITS.items():
        value = getattr(aug, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= limit):
            raise ValueError(f"{name} must be between 0 and {limit:g}, got {value!r}")
