"""Training one sample at a time, fast: the seed notebook's kind of training without its cost.

Plain SGD with a batch of one sample makes 60,000 small updates per epoch. Done the obvious way
(``Network.backprop`` and ``SGD.step`` on one row, as the trainer does for every other setup), one
update is about 40 NumPy calls on tiny arrays, and most of the time goes to the calls themselves,
not to arithmetic. ``PerSampleSGD`` makes the same updates (equal up to rounding; the tests check
it against the general engine and against the notebook's own loop) with two ideas:

1. **The first layer, a block of samples at a time.** Within a block of consecutive samples the
   first layer changes only by the updates of the samples before, each a rank-one step
   ``W1 -= lr · x_t^T δ_t`` and ``b1 -= lr · δ_t`` (δ_t = dC/dz1 of sample t, shape (h1,)). So sample
   s of the block meets

       z1_s = (x_s W1 + b1)  -  lr · Σ_{t<s} (x_s · x_t + 1) δ_t        W1, b1 as at the block's start

   The first term, for the whole block, is one matrix product ``X_b @ W1``; the dot products
   ``x_s · x_t`` are one more, the block's Gram matrix ``X_b @ X_b.T``. The loop over the block's
   samples then works on vectors of h1 numbers only, never on the 784 × h1 matrix, and the block's
   updates reach ``W1`` at its end as one product ``W1 -= lr · X_b^T Δ``. With no shuffling the
   blocks are the same every epoch, so their Gram matrices are computed once per run.

2. **Few calls for the small layers.** Every later layer is kept as one matrix ``-[W; b]``
   (fan_in + 1, fan_out): the activations carry a trailing 1 so the bias is part of the product,
   and the minus sign makes that product ``-z`` at once, so a sigmoid ``1 / (1 + e^-z)`` costs an
   exp, an add and a reciprocal. All activations live in one buffer, so a(1 - a) for every layer
   is two calls. Every array is allocated once; each call writes into one of them.

It applies to what the seed notebook trains: sigmoid on every layer, squared-error loss, plain SGD
without L2, one sample per batch, one or more hidden layers of any width (``applies``).

Shapes, as everywhere: X (n, 784), W (fan_in, fan_out), b (fan_out,); one-hot targets Y (n, 10).
The deltas kept here are ``k = -lr · dC/dz``, so every update is a subtraction of ``outer(a, k)``
from a stored ``-[W; b]``.
"""
from __future__ import annotations

import numpy as np

from .augment import Augmentation

BLOCK = 32
"""Samples per block: large enough that the per-block matrix products pay, small enough that the
per-sample correction Σ_t G[s, t] k_t stays a short product."""


def applies(config):
    """True if ``config`` trains the way this module speeds up (see the module's docstring)."""
    return (config.batch_size == 1 and config.optimizer == "sgd" and config.l2 == 0 and config.dropout == 0
            and not Augmentation.of(config).active
            and config.activation == "sigmoid" and config.output == "sigmoid"
            and config.loss == "squared_error" and len(config.layers) >= 3)


class PerSampleSGD:
    """Plain SGD, one sample per update, on ``network`` (a sigmoid / squared-error ``Network``).

    ``train(X, Y, lr)`` runs the samples of X (n, 784) in order, one update each, and returns the
    sum of their losses. ``network.params`` is up to date whenever ``train`` returns.
    """

    def __init__(self, network, block=BLOCK):
        sizes, dtype = network.sizes, network.dtype
        self.network, self.block, self.dtype = network, block, dtype
        widths = sizes[1:]
        # All activations in one buffer [a1, 1, a2, 1, ..., a_last]; every 1 multiplies a bias row.
        self.acts = np.ones(sum(widths) + len(widths) - 1, dtype)
        self.slopes = np.empty_like(self.acts)          # -a(1 - a) for every activation
        starts = np.cumsum([0] + [w + 1 for w in widths[:-1]])
        self.a = [self.acts[s:s + w] for s, w in zip(starts, widths)]
        self.a_with_one = [self.acts[s:s + w + 1] for s, w in zip(starts[:-1], widths[:-1])]
        self.slope = [self.slopes[s:s + w] for s, w in zip(starts, widths)]
        self.neg_params = [np.empty((fan_in + 1, fan_out), dtype)     # -[W; b] of layers 2, 3, ...
                           for fan_in, fan_out in zip(sizes[1:-1], sizes[2:])]
        self.outer = [np.empty_like(p) for p in self.neg_params]
        self.k = [np.empty((1, w), dtype) for w in widths[1:]]         # -lr dC/dz, layers 2, 3, ...
        self.pre = [np.empty(w, dtype) for w in widths]                # -z, then 1 + e^-z
        self.ones = [np.ones(w, dtype) for w in widths]
        self.grad = [np.empty(w, dtype) for w in widths[:-1]]          # W_next k_next per layer
        self.two_lr = np.empty(widths[-1], dtype)
        self.first_k = np.zeros((block, widths[0]), dtype)             # k of layer 1, per sample
        self.first_z = np.empty((block, widths[0]), dtype)             # -z1 at the block's start
        self.errors = np.empty((block, widths[-1]), dtype)             # a_last - y, per sample
        self.grams = {}
        # What the per-sample loop walks through, layer by layer (layers 2, 3, ..., last):
        self._forward = list(zip(self.a_with_one, self.neg_params, self.pre[1:], self.ones[1:],
                                 self.a[1:]))
        # backprop from the last layer down to layer 2: k_l = (-W_{l+1}) k_{l+1} * slope_l
        self._backward = [(P[:-1], k[0], g, s, k_prev[0]) for P, k, g, s, k_prev in
                          zip(self.neg_params[:0:-1], self.k[:0:-1], self.grad[:0:-1],
                              self.slope[-2:0:-1], self.k[-2::-1])]
        self._updates = list(zip([a.reshape(-1, 1) for a in self.a_with_one], self.k, self.outer,
                                 self.neg_params))

    def train(self, X, Y, lr, cache_key=None):
        """Train on the rows of X and Y in order; return the sum of the samples' losses.

        ``cache_key`` names this set of rows when the same rows come back every epoch (no
        shuffling), so their Gram matrices are computed once and kept: block² numbers per block,
        8 MB in float32 for 60,000 samples.
        """
        self.two_lr.fill(2 * lr)
        self._load()
        total = 0.0
        with np.errstate(over="ignore", under="ignore"):   # e^-z overflowing to inf gives a = 0: fine
            for start in range(0, len(X), self.block):
                rows = slice(start, start + self.block)
                key = None if cache_key is None else (cache_key, start)
                total += self._block(np.asarray(X[rows], self.dtype), np.asarray(Y[rows], self.dtype),
                                     key)
        self._store()
        return total

    def _load(self):
        for P, W, b in zip(self.neg_params, self.network.weights[1:], self.network.biases[1:]):
            np.negative(W, out=P[:-1])
            np.negative(b, out=P[-1])

    def _store(self):
        for P, W, b in zip(self.neg_params, self.network.weights[1:], self.network.biases[1:]):
            np.negative(P[:-1], out=W)
            np.negative(P[-1], out=b)

    def _gram(self, X, key):
        """-(X X^T + 1) below the diagonal, 0 elsewhere: row s weighs the k_t of the samples t < s."""
        gram = self.grams.get(key)
        if gram is None:
            gram = np.dot(X, X.T)
            gram += 1.0
            gram = -np.tril(gram, -1)
            if key is not None:
                self.grams[key] = gram
        return gram

    def _block(self, X, Y, key):
        """One update per row of X (at most ``block`` rows). Returns the sum of their losses."""
        n = len(X)
        W1, b1 = self.network.weights[0], self.network.biases[0]
        K, minus_z, errors = self.first_k[:n], self.first_z[:n], self.errors[:n]
        K.fill(0.0)
        np.dot(X, W1, out=minus_z)
        minus_z += b1
        np.negative(minus_z, out=minus_z)
        self._samples(self._gram(X, key), minus_z, Y, errors, K)
        W1 += np.dot(X.T, K)           # K holds -lr dC/dz1 per sample: the block's updates at once
        b1 += K.sum(axis=0)
        return float(np.vdot(errors, errors))

    def _samples(self, gram, minus_z, Y, errors, K):
        """The per-sample loop: forward, backprop and update of every layer after the first."""
        dot, add, sub, mul, exp, rec = np.dot, np.add, np.subtract, np.multiply, np.exp, np.reciprocal
        acts, slopes, two_lr = self.acts, self.slopes, self.two_lr
        pre1, ones1, a1 = self.pre[0], self.ones[0], self.a[0]
        k_last, a_last, slope_last = self.k[-1][0], self.a[-1], self.slope[-1]
        P2, k2, grad1, slope1 = self.neg_params[0][:-1], self.k[0][0], self.grad[0], self.slope[0]
        forward, backward, updates = self._forward, self._backward, self._updates
        for g, m, y, e, k1 in zip(gram, minus_z, Y, errors, K):
            dot(g, K, pre1)                   # layer 1: -z1 = -(x W1 + b1) - Σ_t G k_t
            add(pre1, m, pre1)
            exp(pre1, pre1)
            add(pre1, ones1, pre1)
            rec(pre1, a1)                     # a1 = 1 / (1 + e^-z1)
            for a_in, P, pre, ones, a_out in forward:
                dot(a_in, P, pre)             # -z = [a, 1] @ -[W; b]
                exp(pre, pre)
                add(pre, ones, pre)
                rec(pre, a_out)
            mul(acts, acts, slopes)
            sub(slopes, acts, slopes)         # -a(1 - a) = -sigmoid'(z), every layer at once
            sub(a_last, y, e)                 # e = a - y, so dC/da = 2e
            mul(e, slope_last, k_last)
            mul(k_last, two_lr, k_last)       # k = -lr 2 (a - y) a (1 - a) = -lr dC/dz
            for W, k, grad, slope, k_prev in backward:
                dot(W, k, grad)               # (-W)(-lr dC/dz) = lr dC/da of the layer below
                mul(grad, slope, k_prev)
            dot(P2, k2, grad1)
            mul(grad1, slope1, k1)            # layer 1's k, kept for the block's corrections
            for column, k, outer, P in updates:
                dot(column, k, outer)         # outer([a, 1], k)
                sub(P, outer, P)              # -[W; b] -= outer, i.e. W -= lr a^T dC/dz
