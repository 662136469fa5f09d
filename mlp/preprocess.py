"""From a drawing on a canvas to the 784 numbers the network reads.

MNIST's digits were not simply shrunk: each was cropped to its ink, scaled (keeping its shape) so
its larger side is 20 pixels, anti-aliased, and placed in a 28×28 field with its centre of mass at
the centre. A drawing prepared any other way looks unlike anything the network has seen, which is
why drawn digits fail in so many demos. ``canvas_to_mnist`` follows that recipe; ``plain_resize``
is the naive way, kept to show the difference.

Input: an (H, W, 4) uint8 RGBA image of any size, light ink on a dark background.
Output: float32 (784,) in [0, 1], ink high, or None when there is no ink at all.
"""
from __future__ import annotations

import numpy as np

FIELD, BOX = 28, 20
INK_THRESHOLD = 0.1
"""Ink strength (0..1) above which a canvas pixel counts as drawn."""


def ink(image):
    """Ink strength in [0, 1] per pixel: luminance × alpha (a transparent pixel carries no ink)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 4) uint8 RGBA image, got {image.dtype} {image.shape}")
    rgb = image[..., :3].astype(np.float32)
    luminance = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return luminance * (image[..., 3].astype(np.float32) / 255.0) / 255.0


def ink_box(strength, threshold=INK_THRESHOLD):
    """(top, bottom, left, right) bounds of the drawn pixels (bottom/right exclusive), or None."""
    rows = np.flatnonzero((strength > threshold).any(axis=1))
    cols = np.flatnonzero((strength > threshold).any(axis=0))
    if not len(rows):
        return None
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _resize(array, width, height):
    """Anti-aliased resize of a float image in [0, 1] (area averaging when shrinking)."""
    from PIL import Image          # here, not at the top: ``import mlp`` needs NumPy alone

    picture = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
    return np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS), np.float32) / 255.0


def canvas_to_mnist(image):
    """The MNIST recipe: crop to the ink, scale the larger side to 20 px, centre the mass in 28×28."""
    strength = ink(image)
    box = ink_box(strength)
    if box is None:
        return None
    top, bottom, left, right = box
    digit = strength[top:bottom, left:right]
    height, width = digit.shape
    scale = BOX / max(height, width)
    digit = _resize(digit, max(1, round(width * scale)), max(1, round(height * scale)))
    field = np.zeros((FIELD, FIELD), np.float32)
    mass = digit.sum()
    rows, cols = np.indices(digit.shape)
    centre_row = (rows * digit).sum() / mass if mass else digit.shape[0] / 2
    centre_col = (cols * digit).sum() / mass if mass else digit.shape[1] / 2
    top = int(np.clip(round(FIELD / 2 - centre_row), 0, FIELD - digit.shape[0]))
    left = int(np.clip(round(FIELD / 2 - centre_col), 0, FIELD - digit.shape[1]))
    field[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return field.reshape(-1)


def plain_resize(image):
    """The naive way: the whole canvas shrunk to 28×28, wherever and however large the digit is."""
    strength = ink(image)
    if ink_box(strength) is None:
        return None
    return _resize(strength, FIELD, FIELD).reshape(-1)


def centre_of_mass(x):
    """(row, column) of the ink's centre of mass in a (784,) input."""
    field = np.asarray(x, np.float64).reshape(FIELD, FIELD)
    rows, cols = np.indices(field.shape)
    return (rows * field).sum() / field.sum(), (cols * field).sum() / field.sum()


def drawing_problems(image):
    """Reasons a drawing is unlikely to be a digit: a stray dot, or a filled-in scribble. May be empty."""
    strength = ink(image)
    box = ink_box(strength)
    if box is None:
        return []
    top, bottom, left, right = box
    problems = []
    if max(bottom - top, right - left) < 0.12 * max(strength.shape):
        problems.append("it is tiny, more a dot than a digit")
    inked = (strength[top:bottom, left:right] > INK_THRESHOLD).mean()
    if inked > 0.6 and min(bottom - top, right - left) > 0.3 * max(strength.shape):
        problems.append("it is mostly filled in, more a blot or a scribble than a digit")
    return problems
