"""Compiled training loops (Numba): what the NumPy engine computes, without NumPy's cost per call.

Why: training one sample at a time makes 60,000 tiny updates per epoch, and in NumPy each update is
a few dozen calls on arrays of 16 numbers, so the calls' own overhead, not arithmetic, sets the pace
(``mlp.per_sample`` shows how far NumPy alone gets). Here the same updates are plain loops compiled
once by Numba: the whole run of batches between two progress events is one call.

Everything follows the engine's conventions: the parameters are one flat vector laid out like
``Network.params`` (per layer W (fan_in, fan_out) row by row, then b (fan_out,)), and every loop makes
the operations the engine makes, in the same order where the order decides the rounding (products
before sums, the learning rate applied to the gradient, Adam's scaled moments), so that float64 runs
agree with the engine to 1e-10 and float32 runs to float32 rounding (``tests/test_kernels.py``).

The loops:

``train_steps``   mini-batch SGD, momentum or Adam on any network the app builds (every hidden
                  activation, sigmoid or softmax output, squared error or cross-entropy, L2), for
                  batches ``first`` to ``last - 1`` of an epoch whose sample order is ``rows``. Per
                  batch: the forward pass of each sample; its loss and dL/dz at the output; backprop
                  layer by layer; the gradient summed over the batch; one optimizer update.
                  Three things make it fast beyond compiling:

                  - *Zero pixels cost nothing.* Four fifths of an MNIST image's pixels are 0. The
                    first layer's weighted sum visits only the pixels that are not (a list made once
                    per run, ``lit_pixels``), and so does its gradient x^T δ, whose other rows are
                    exactly 0.
                  - *Layer by layer, the batch's samples inside.* Each layer's W, and the batch's
                    activations and deltas of that layer, are 2-D views made once per call
                    (``_layers``, ``_blocks``); the inner loops index them as ``W[i, j]``, j
                    counting from 0, which LLVM vectorises, and the forward pass's sums may be
                    reordered as BLAS reorders them (``jit_sums``). (``params[start + j]`` is an
                    index Numba cannot prove is not negative: checked on every access, its loop is
                    not vectorised, twice as slow.)
                  - *Nothing counted, nothing copied per batch.* No reference counts (``jit``'s
                    ``_nrt=False``: they were a fifth of a one-sample epoch), and the forward and
                    backward passes are written into ``train_steps`` rather than called with their
                    views for every batch (``inlined_sums``): with the two, a one-sample epoch takes
                    0.7 of the time it took (``bench/speed.py``, 2026-12-03). Without bounds checks
                    or the runtime's care, ``_check_sizes`` checks every buffer and row index a call
                    will use before it starts.
                  - *One-sample SGD updates in place.* With a batch of one, plain SGD and no L2, each
                    layer's weights change by -lr · a^T δ as soon as δ_prev = δ W^T has been taken
                    from the old weights: no gradient vector is written, zeroed or read again, and of
                    the first layer only the rows of lit pixels are touched. That is the seed
                    notebook's training, and what every learner runs first.

``bias_and_activate``, ``output_layer``, ``slope_and_bias_gradient``
                  the passes between the matrix products of a mini-batch step whose products stay in
                  BLAS (``mlp.compiled.BatchSteps``: the wide preset, dropout, augmented batches), one
                  call each where the NumPy engine makes a few: a layer's bias and activation (and
                  dropout mask); the output's activation, loss, dL/dz and dL/db; a layer's slope (and
                  mask) and dL/db. ReLU's and leaky ReLU's loops add the bias, or sum dL/db, in the
                  same pass as their selects, which LLVM vectorises (an in-place select that may keep
                  the value it loaded, LLVM turns into a conditional store it does not vectorise:
                  7 times slower on a batch of 128 × 256).

``sgd_update``, ``momentum_update``, ``adam_update``
                  the optimizers of ``mlp.optimizers`` as one pass over the flat vector each (NumPy
                  makes two, four and ten), used by ``train_steps`` and by ``BatchSteps`` (the wide
                  preset's Adam).

Types: the loops are compiled for the arrays they get (float32 in the app, float64 in the tests);
every constant is converted to the parameters' type first (``dtype.type(...)``), because a float64
literal would silently turn float32 arithmetic into float64 and change the rounding.

This module imports Numba; the engine reaches it only through ``mlp.compiled``, which decides
whether it can (and where compiled code is cached) and falls back to NumPy when it cannot.
"""
from __future__ import annotations

import math

import numpy as np
import llvmlite.binding
from numba import njit

from .compiled import CACHING

SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = range(5)
ACTIVATION_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "leaky_relu": LEAKY_RELU, "softmax": SOFTMAX}
SQUARED_ERROR, CROSS_ENTROPY = range(2)
LOSS_CODES = {"squared_error": SQUARED_ERROR, "cross_entropy": CROSS_ENTROPY}
SGD, MOMENTUM, ADAM = range(3)
OPTIMIZER_CODES = {"sgd": SGD, "momentum": MOMENTUM, "adam": ADAM}

W_START, B_START, FAN_IN, FAN_OUT, ACT_START = range(5)
"""Columns of ``layout`` (layers, 5): where layer l's W and b start in the flat parameters, its fan-in
and fan-out, and how many units the layers before it have (its block of a batch's activations starts at
that many times the batch: ``_block``)."""
MAX_LAYERS = 5
"""Weight layers the loops take (the config's 4 hidden layers at most, and the output layer)."""
LABEL, IMAGE, EXTRA, BEGIN, END = range(5)
"""Rows of a batch's ``batch_rows`` (5, batch), filled by ``_gather``: a sample's true digit; its image's
row in X, or with EXTRA 1 in the learner's digits X_extra; where its lit pixels are listed, from BEGIN to
END (in the ``lit_pixels`` of X, or in the scratch a learner's digit is scanned into)."""
LR, L2, MU, BETA1, BETA2, EPS = range(6)
"""Entries of ``hyper`` (float64): learning rate, L2 strength, momentum, Adam's β1, β2 and ε."""

llvmlite.binding.set_option("mlp.kernels", "-force-vector-interleave=1")
"""LLVM vectorises a loop 8 floats at a time (256-bit) and, by default, four such vectors per turn, so a
loop of fewer than 32 turns, such as a row of the seed network's 16 units, ran 4 floats at a time in its
remainder loop. One vector per turn takes a 16-unit row in two: 12 to 14% off a seed epoch and off
Adam with batch 32 (``bench/speed.py``, 2026-12-03), the fused Adam pass unchanged. (An LLVM setting for
the whole process: in the app's processes Numba compiles these loops only.)"""

jit = njit(cache=CACHING, nogil=True, error_model="numpy", _nrt=False, fastmath=False)
"""nogil: a worker's other threads (its commands, its updates) run while a loop trains.
error_model numpy: a division by 0 gives inf or nan, as in NumPy, never an exception.
_nrt=False: no reference counting. Every array a loop touches is an argument, which its Python caller
holds for the whole call, or a view of one, so counting references to them protects nothing; Numba
counted them anyway, with two atomic operations per array at each call and each view: a fifth of a
one-sample epoch (``perf``, 2026-12-03). Without the runtime a loop cannot make an
array (``lit_pixels``, which must, keeps it: ``jit_making``), and Numba refuses to compile one that
tries. (An option Numba has kept since 0.19 without documenting it: a Numba without it fails to build
the loops, and training falls back to NumPy, as ``mlp.compiled`` does for any such failure.)"""
jit_sums = njit(cache=CACHING, nogil=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract"})
"""For the forward and backward passes: sums may be reordered and a multiply-add fused, as BLAS does,
so that LLVM vectorises the weighted sums (the result changes by rounding only; inf and nan keep
their meaning, so a diverging run is still caught)."""
inlined_sums = njit(cache=CACHING, nogil=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract"},
                    inline="always")
"""The forward and backward passes, written into ``train_steps`` itself by Numba rather than called for
every batch, which passed them two dozen arrays' descriptors (about 2 kB) each time: inlined, a
one-sample epoch takes a sixth less. The smaller helpers stay calls: inlined as well, they made batch
32 slower by a sixth."""
inlined = njit(cache=CACHING, nogil=True, error_model="numpy", _nrt=False, inline="always")
"""For the functions that make views: without the runtime a function may not return a view, so these
are written into their callers."""
jit_making = njit(cache=CACHING, nogil=True, error_model="numpy")


@jit
def _activate(code, Z, n):
    """Z[:n] ← f(Z[:n]) in place, Z (batch, units) one layer's weighted sums: the engine's
    ``mlp.activations`` forwards."""
    one = Z.dtype.type(1.0)
    units = Z.shape[1]
    for s in range(n):
        if code == SIGMOID:
            for j in range(units):
                Z[s, j] = one / (one + math.exp(-Z[s, j]))      # e^-z overflowing to inf gives 0: right
        elif code == TANH:
            for j in range(units):
                Z[s, j] = math.tanh(Z[s, j])
        elif code == RELU:
            for j in range(units):
                Z[s, j] = max(Z[s, j], Z.dtype.type(0.0))
        elif code == LEAKY_RELU:
            slope = Z.dtype.type(0.01)
            for j in range(units):
                Z[s, j] = max(Z[s, j], slope * Z[s, j])
        else:                                                   # softmax: the row's maximum first
            top = Z[s, 0]
            for j in range(1, units):
                top = max(top, Z[s, j])
            total = Z.dtype.type(0.0)
            for j in range(units):
                Z[s, j] = math.exp(Z[s, j] - top)
                total += Z[s, j]
            for j in range(units):
                Z[s, j] /= total


@jit
def _through_slope(code, A, D, n):
    """D[:n] ← dL/dz from dL/da in place, given the layer's outputs A (batch, units): the engine's
    backwards."""
    units = A.shape[1]
    for s in range(n):
        if code == SIGMOID:
            for j in range(units):
                ga = D[s, j] * A[s, j]
                D[s, j] = ga - ga * A[s, j]                     # g·a − (g·a)·a, rounded as the engine's
        elif code == TANH:
            one = A.dtype.type(1.0)
            for j in range(units):
                D[s, j] = D[s, j] * (one - A[s, j] * A[s, j])
        elif code == RELU:
            for j in range(units):
                if not A[s, j] > 0:
                    D[s, j] = 0.0
        elif code == LEAKY_RELU:
            slope = A.dtype.type(0.01)
            for j in range(units):
                if not A[s, j] > 0:
                    D[s, j] = D[s, j] * slope
        else:                                                   # softmax mixes the row
            weighted = A.dtype.type(0.0)
            for j in range(units):
                weighted += A[s, j] * D[s, j]
            for j in range(units):
                D[s, j] = (D[s, j] - weighted) * A[s, j]


@jit
def _loss_and_delta(loss_code, out_code, A, labels, n, D):
    """The summed loss of the batch's outputs A[:n] (batch, 10) for its true digits ``labels`` (n,), and
    dL/dz of the output layer into D: the engine's losses, which are batch means."""
    kind = A.dtype.type
    floor = kind(1e-12)
    loss = 0.0
    for s in range(n):
        label = labels[s]
        if loss_code == CROSS_ENTROPY and out_code == SOFTMAX:  # dL/dz = (a - y) / n
            for j in range(A.shape[1]):
                D[s, j] = (A[s, j] - kind(j == label)) / kind(n)
            loss -= math.log(max(float(A[s, label]), float(floor)))
        elif loss_code == SQUARED_ERROR:                        # dL/da = 2 (a - y) / n
            scale = kind(2.0 / n)
            for j in range(A.shape[1]):
                error = A[s, j] - kind(j == label)
                loss += float(error * error)
                D[s, j] = error * scale
        else:                                                   # dL/da = -y / a / n
            scale = kind(-1.0 / n)
            for j in range(A.shape[1]):
                D[s, j] = (kind(j == label) / max(A[s, j], floor)) * scale
            loss -= math.log(max(float(A[s, label]), float(floor)))
    if not (loss_code == CROSS_ENTROPY and out_code == SOFTMAX):
        _through_slope(out_code, A, D, n)
    return loss


@jit
def bias_and_activate(code, Z, bias, mask, kept):
    """Z ← f(Z + b) in place for a whole batch of one layer's weighted sums Z (n, units), as the engine's
    ``Z += b`` and forward; with a dropout ``mask`` (n, units) (an empty one for none), kept ← Z · mask,
    what the next layer receives. (``BatchSteps``: BLAS made Z = A_prev W just before.)"""
    n, zero = Z.shape[0], Z.dtype.type(0.0)
    if code == RELU or code == LEAKY_RELU:      # the bias and the activation in one loop, as selects LLVM
        slope = Z.dtype.type(0.01)              # vectorises (NumPy's maximum(z, 0), nan and -0 kept;
        for s in range(n):                      # _activate's loops, not vectorised, take 8 times as long)
            for j in range(Z.shape[1]):
                z = Z[s, j] + bias[j]
                if code == RELU:
                    Z[s, j] = z if not z < zero else zero
                else:
                    Z[s, j] = z if not z < zero else slope * z
    else:
        for s in range(n):
            for j in range(Z.shape[1]):
                Z[s, j] += bias[j]
        _activate(code, Z, n)
    if mask.shape[0]:
        for s in range(n):
            for j in range(Z.shape[1]):
                kept[s, j] = Z[s, j] * mask[s, j]


@jit
def output_layer(loss_code, out_code, Z, bias, labels, D, db):
    """The output layer after BLAS's Z = A_prev W (n, 10): Z ← the outputs f(Z + b) in place, then their
    batch-mean loss for the digits ``labels`` (n,), returned, with dL/dz into D and dL/db, D's column
    sums, into db."""
    n = Z.shape[0]
    bias_and_activate(out_code, Z, bias, Z[:0], Z[:0])
    loss = _loss_and_delta(loss_code, out_code, Z, labels, n, D)
    _column_sums(D, db)
    return loss / n


@jit
def slope_and_bias_gradient(code, A, D, mask, db):
    """D ← dL/dz from dL/da (n, units) in place, given the layer's outputs A, after the dropout ``mask``
    (an empty one for none: a dropped unit passed nothing back); its column sums, dL/db, into db."""
    n, zero = A.shape[0], A.dtype.type(0.0)
    if mask.shape[0]:
        for s in range(n):
            for j in range(A.shape[1]):
                D[s, j] *= mask[s, j]
    if code == RELU or code == LEAKY_RELU:      # slope and sum in one pass (the sums as _column_sums)
        slope = A.dtype.type(0.01)
        for j in range(A.shape[1]):
            db[j] = 0.0
        for s in range(n):
            for j in range(A.shape[1]):
                if code == RELU:
                    d = D[s, j] if A[s, j] > zero else zero
                else:
                    d = D[s, j] if A[s, j] > zero else D[s, j] * slope
                D[s, j] = d
                db[j] += d
    else:
        _through_slope(code, A, D, n)
        _column_sums(D, db)


@jit
def _column_sums(D, total):
    """total ← Σ_rows D (D (n, units)): a row at a time, so the adds run across the units, vectorised."""
    for j in range(D.shape[1]):
        total[j] = 0.0
    for s in range(D.shape[0]):
        for j in range(D.shape[1]):
            total[j] += D[s, j]


@jit_making
def lit_pixels(X):
    """Where each image of X (n, 784) is not 0: ``pixels[starts[r]:starts[r + 1]]`` (int16) are image r's
    lit pixels. Made once per run (a fifth of X's size for MNIST), so no epoch scans X for them."""
    counts = np.zeros(X.shape[0] + 1, np.int64)
    for r in range(X.shape[0]):
        counts[r + 1] = counts[r] + np.count_nonzero(X[r])
    pixels = np.empty(counts[-1] + X.shape[1], np.int16)       # room for _scan's writes past the last
    for r in range(X.shape[0]):
        _scan(X, r, pixels, counts[r])
    return pixels[:counts[-1]].copy(), counts


@jit
def _scan(images, row, lit, begin):
    """Write the indices of the lit pixels of images[row] into lit from ``begin`` on (lit has room for
    all of the row's pixels there); return how many. Branch-free: every index is written and the count
    moves past the lit ones only (three times faster than testing each pixel)."""
    count = begin
    for i in range(images.shape[1]):
        lit[count] = i
        count += images[row, i] != 0
    return count - begin


@jit
def _gather(X, labels, starts, X_extra, labels_extra, rows, start, n, scratch, batch_rows):
    """Fill ``batch_rows`` for the batch of the n samples rows[start:start + n], once for both passes: each
    sample's digit, its image, and where its lit pixels are listed (in the ``lit_pixels`` of X for X's
    images; a learner's digit scanned now into ``scratch`` at the sample's place, once, where each pass
    used to scan it again)."""
    for s in range(n):
        r = rows[start + s]
        if r < X.shape[0]:
            batch_rows[LABEL, s], batch_rows[IMAGE, s], batch_rows[EXTRA, s] = labels[r], r, 0
            batch_rows[BEGIN, s], batch_rows[END, s] = starts[r], starts[r + 1]
        else:
            image, begin = (r - X.shape[0]) % X_extra.shape[0], s * X.shape[1]
            batch_rows[LABEL, s], batch_rows[IMAGE, s], batch_rows[EXTRA, s] = labels_extra[image], image, 1
            batch_rows[BEGIN, s], batch_rows[END, s] = begin, begin + _scan(X_extra, image, scratch, begin)


@jit_sums
def _first_sums(Z, s, bias, W, images, row, lit, begin, end):
    """Z[s] ← bias + images[row] W over the row's lit pixels lit[begin:end] only: the first layer's
    weighted sums of one sample, four rows of W at a time (a quarter of the stores)."""
    kind = W.dtype.type
    for j in range(W.shape[1]):
        Z[s, j] = bias[j]
    k = begin
    while k + 4 <= end:
        i0, i1, i2, i3 = lit[k], lit[k + 1], lit[k + 2], lit[k + 3]
        x0, x1, x2, x3 = kind(images[row, i0]), kind(images[row, i1]), kind(images[row, i2]), kind(images[row, i3])
        for j in range(W.shape[1]):
            Z[s, j] += (x0 * W[i0, j] + x1 * W[i1, j]) + (x2 * W[i2, j] + x3 * W[i3, j])
        k += 4
    for k in range(k, end):
        i = lit[k]
        xi = kind(images[row, i])
        for j in range(W.shape[1]):
            Z[s, j] += xi * W[i, j]


@jit_sums
def _first_gradient(G, D, s, images, row, lit, begin, end, lr, in_place):
    """The first layer's gradient of one sample, images[row]^T D[s], on its lit pixels' rows only (the
    others are exactly 0): added to G, or ``in_place`` (G the weights) subtracted times lr at once."""
    kind = G.dtype.type
    if in_place:
        for k in range(begin, end):
            i = lit[k]
            xi = kind(images[row, i])
            for j in range(G.shape[1]):
                G[i, j] -= (xi * D[s, j]) * lr
    else:
        for k in range(begin, end):
            i = lit[k]
            xi = kind(images[row, i])
            for j in range(G.shape[1]):
                G[i, j] += xi * D[s, j]


@inlined
def _weights(flat, layout, l):
    """Layer l's W (fan_in, fan_out) as a view of the flat vector; an empty one past the last layer."""
    if l >= layout.shape[0]:
        return flat[0:0].reshape(0, 0)
    return flat[layout[l, W_START]:layout[l, B_START]].reshape(layout[l, FAN_IN], layout[l, FAN_OUT])


@inlined
def _biases(flat, layout, l):
    if l >= layout.shape[0]:
        return flat[0:0]
    return flat[layout[l, B_START]:layout[l, B_START] + layout[l, FAN_OUT]]


@inlined
def _block(buffer, layout, l, batch):
    """Layer l's (batch, units) block of a batch's activations or deltas, laid out layer after layer."""
    if l >= layout.shape[0]:
        return buffer[0:0].reshape(0, 0)
    start, units = layout[l, ACT_START] * batch, layout[l, FAN_OUT]
    return buffer[start:start + batch * units].reshape(batch, units)


@inlined
def _layers(flat, layout):
    """Every layer's W and b as views of ``flat`` (the parameters or the gradient), in two tuples of
    ``MAX_LAYERS`` whatever the depth: in the loops a layer's view is then a look-up, where making it
    anew (a reference count each time) costs a third of a one-sample epoch."""
    return ((_weights(flat, layout, 0), _weights(flat, layout, 1), _weights(flat, layout, 2),
             _weights(flat, layout, 3), _weights(flat, layout, 4)),
            (_biases(flat, layout, 0), _biases(flat, layout, 1), _biases(flat, layout, 2),
             _biases(flat, layout, 3), _biases(flat, layout, 4)))


@inlined
def _blocks(buffer, layout, batch):
    """Every layer's block of a batch's activations (or deltas), a tuple of ``MAX_LAYERS``."""
    return (_block(buffer, layout, 0, batch), _block(buffer, layout, 1, batch), _block(buffer, layout, 2, batch),
            _block(buffer, layout, 3, batch), _block(buffer, layout, 4, batch))


@inlined_sums
def _forward(Ws, bs, As, layers, hidden_code, out_code, X, X_extra, pixels, scratch, batch_rows, n):
    """The forward pass of the batch's n samples (``batch_rows``) into the blocks ``As``, layer after
    layer."""
    for l in range(layers):
        W, bias, Z = Ws[l], bs[l], As[l]
        fan_in, fan_out = W.shape
        if l == 0:
            for s in range(n):
                image, begin, end = batch_rows[IMAGE, s], batch_rows[BEGIN, s], batch_rows[END, s]
                if batch_rows[EXTRA, s]:
                    _first_sums(Z, s, bias, W, X_extra, image, scratch, begin, end)
                else:
                    _first_sums(Z, s, bias, W, X, image, pixels, begin, end)
        else:
            A = As[l - 1]
            for s in range(n):
                for j in range(fan_out):
                    Z[s, j] = bias[j]
                for i in range(fan_in):
                    ai = A[s, i]
                    for j in range(fan_out):
                        Z[s, j] += ai * W[i, j]
        _activate(out_code if l == layers - 1 else hidden_code, Z, n)


@inlined_sums
def _backward(Ws, Gs, gbs, As, Ds, layers, hidden_code, X, X_extra, pixels, scratch, batch_rows, n, lr, in_place):
    """Backprop of the batch whose output dL/dz is in the last of the blocks ``Ds``. Adds the gradient
    to the views ``Gs`` (weights) and ``gbs`` (biases) or, ``in_place`` (one-sample SGD, those being
    the parameters' own views), subtracts lr × it at once, each layer's only after δ_prev = δ W^T has
    been taken from its old weights. (The update of a row is written out in both loops below: as a
    helper function it measured 1.4 to 1.7 times slower, its branch and bounds no longer hoisted.)"""
    for l in range(layers - 1, -1, -1):
        W, G, bias, D = Ws[l], Gs[l], gbs[l], Ds[l]
        fan_in, fan_out = W.shape
        if l > 0:
            A, below = As[l - 1], Ds[l - 1]
            for s in range(n):
                for i in range(fan_in):
                    total = W.dtype.type(0.0)
                    for j in range(fan_out):
                        total += W[i, j] * D[s, j]
                    below[s, i] = total
            _through_slope(hidden_code, A, below, n)
            for s in range(n):
                for i in range(fan_in):
                    ai = A[s, i]
                    if in_place:
                        for j in range(fan_out):
                            G[i, j] -= (ai * D[s, j]) * lr
                    else:
                        for j in range(fan_out):
                            G[i, j] += ai * D[s, j]
        else:
            for s in range(n):
                image, begin, end = batch_rows[IMAGE, s], batch_rows[BEGIN, s], batch_rows[END, s]
                if batch_rows[EXTRA, s]:
                    _first_gradient(G, D, s, X_extra, image, scratch, begin, end, lr, in_place)
                else:
                    _first_gradient(G, D, s, X, image, pixels, begin, end, lr, in_place)
        for s in range(n):
            if in_place:
                for j in range(fan_out):
                    bias[j] -= D[s, j] * lr
            else:
                for j in range(fan_out):
                    bias[j] += D[s, j]


@jit
def sgd_update(params, grads, lr):
    """params ← params − lr · grads (``mlp.optimizers.SGD``: the gradient scaled first, then taken)."""
    rate = params.dtype.type(lr)
    for i in range(params.size):
        params[i] -= grads[i] * rate


@jit
def momentum_update(params, grads, velocity, lr, mu):
    """v ← μ v − lr · g;  params ← params + v (``mlp.optimizers.Momentum``, one pass)."""
    rate, keep = params.dtype.type(lr), params.dtype.type(mu)
    for i in range(params.size):
        v = velocity[i] * keep - grads[i] * rate
        velocity[i] = v
        params[i] += v


@jit
def adam_update(params, grads, w, u, beta1, beta2, step, eps):
    """Adam with its moments stored scaled (``mlp.optimizers.Adam``: w ← β1 w + g, u ← β2 u + g²,
    params ← params − step · w / (√u + eps), step and eps with the bias corrections folded in), one
    pass instead of ten."""
    kind = params.dtype.type
    b1, b2, rate, floor = kind(beta1), kind(beta2), kind(step), kind(eps)
    for i in range(params.size):
        g = grads[i]
        wi = w[i] * b1 + g
        ui = u[i] * b2 + g * g
        w[i], u[i] = wi, ui
        params[i] -= (wi / (math.sqrt(ui) + floor)) * rate


@jit
def adam_factors(lr, beta1, beta2, eps, t):
    """Adam's step size and ε for update number t, the bias corrections folded in:
    ``mlp.optimizers.Adam.factors`` again, for the loop that cannot call Python (the same float64
    arithmetic; ``tests/test_kernels.py`` holds them equal)."""
    root = math.sqrt(1 - beta2)
    correction = math.sqrt(1 - beta2 ** float(t))       # pow(), as Python takes it: not repeated products
    return lr * (1 - beta1) * correction / ((1 - beta1 ** float(t)) * root), eps * correction / root


@jit
def _add_l2(params, grads, layout, l2):
    """grads += l2 · W for every layer's weights (not the biases); returns Σ W², in float64."""
    decay, squares = params.dtype.type(l2), 0.0
    for l in range(layout.shape[0]):
        w, fan_in, fan_out = layout[l, W_START], layout[l, FAN_IN], layout[l, FAN_OUT]
        for i in range(w, w + fan_in * fan_out):
            grads[i] += decay * params[i]
            squares += float(params[i] * params[i])
    return squares


@jit
def _check_sizes(params, grads, layout, X, labels, starts, X_extra, labels_extra, rows, first, last, batch, acts,
                 deltas, scratch, batch_rows):
    """Raise ValueError unless every buffer and index ``train_steps`` will use is in bounds: the loops
    index without checks (Numba's default), and nothing else would stop a write past an array's end."""
    layers = layout.shape[0]
    if not 1 <= layers <= MAX_LAYERS or layout[0, FAN_IN] != X.shape[1] or X_extra.shape[1] != X.shape[1]:
        raise ValueError("the layout does not fit the inputs")
    units = layout[layers - 1, ACT_START] + layout[layers - 1, FAN_OUT]
    end = layout[layers - 1, B_START] + layout[layers - 1, FAN_OUT]
    if params.size < end or grads.size < end or acts.size < batch * units or deltas.size < batch * units:
        raise ValueError("a parameter or scratch buffer is smaller than the layout needs")
    if scratch.size < batch * X.shape[1] or batch_rows.shape[0] != 5 or batch_rows.shape[1] < batch or batch < 1:
        raise ValueError("a batch's scratch buffer is too small")
    if labels.size != X.shape[0] or starts.size != X.shape[0] + 1 or labels_extra.size != X_extra.shape[0]:
        raise ValueError("the labels or lit pixels do not match the images")
    for k in range(min(first * batch, rows.size), min(last * batch, rows.size)):
        if rows[k] < 0 or (rows[k] >= X.shape[0] and X_extra.shape[0] == 0):
            raise ValueError("a row index is out of range")


@jit_sums
def train_steps(params, grads, layout, codes, hyper, state, first_moment, second_moment, X, labels, pixels,
                starts, X_extra, labels_extra, rows, first, last, batch, acts, deltas, scratch, batch_rows):
    """Train batches ``first`` to ``last - 1`` of an epoch visiting samples in the order ``rows``
    (n_epoch,): batch k is rows[k·batch:(k+1)·batch]. Returns the sum of the batches' losses.

    params, grads  (P,) the flat parameters and a gradient buffer laid out alike
    layout         (layers, 5) int64, see ``W_START`` ...; codes: [hidden, output, loss, optimizer]
    hyper          float64, see ``LR`` ...; state: int64 [Adam's update count t], advanced here
    first_moment, second_moment  (P,): Momentum's velocity (and nothing), or Adam's w and u, updated
                   in place (the optimizer's own arrays); unused for SGD
    X, labels      (n, 784), (n,): the training set, and its ``lit_pixels``; a row index r ≥ n means
                   X_extra[(r - n) % m], the learner's own digits (m of them, each standing for
                   several rows)
    acts, deltas   (batch × units of all layers,) scratch, layer after layer (``_block``);
    scratch        (batch × 784,) int16: the lit pixels of the batch's learner digits, sample after sample
    batch_rows     (5, batch) int64 scratch: the batch's samples, see ``LABEL`` ... (``_gather``)

    Compiled with ``jit_sums``'s flags, which the inlined passes need; its own arithmetic (the losses'
    sum, L2 in ``_add_l2``) does not depend on them.
    """
    hidden_code, out_code, loss_code, optimizer = codes[0], codes[1], codes[2], codes[3]
    lr, l2 = hyper[LR], hyper[L2]
    rate = params.dtype.type(lr)
    _check_sizes(params, grads, layout, X, labels, starts, X_extra, labels_extra, rows, first, last, batch, acts,
                 deltas, scratch, batch_rows)
    layers = layout.shape[0]
    Ws, bs = _layers(params, layout)
    Gs, gbs = _layers(grads, layout)
    As, Ds = _blocks(acts, layout, batch), _blocks(deltas, layout, batch)
    total = 0.0
    for k in range(first, last):
        start = k * batch
        n = min(start + batch, rows.size) - start
        in_place = n == 1 and optimizer == SGD and l2 == 0
        if not in_place:
            grads[:] = 0.0
        _gather(X, labels, starts, X_extra, labels_extra, rows, start, n, scratch, batch_rows)
        _forward(Ws, bs, As, layers, hidden_code, out_code, X, X_extra, pixels, scratch, batch_rows, n)
        loss = _loss_and_delta(loss_code, out_code, As[layers - 1], batch_rows[LABEL], n, Ds[layers - 1])
        targets, target_biases = (Ws, bs) if in_place else (Gs, gbs)
        _backward(Ws, targets, target_biases, As, Ds, layers, hidden_code, X, X_extra, pixels, scratch, batch_rows,
                  n, rate, in_place)
        loss /= n
        if l2 != 0:
            loss += 0.5 * l2 * _add_l2(params, grads, layout, l2)
        if not in_place:
            if optimizer == SGD:
                sgd_update(params, grads, lr)
            elif optimizer == MOMENTUM:
                momentum_update(params, grads, first_moment, lr, hyper[MU])
            else:
                state[0] += 1
                step, eps = adam_factors(lr, hyper[BETA1], hyper[BETA2], hyper[EPS], state[0])
                adam_update(params, grads, first_moment, second_moment, hyper[BETA1], hyper[BETA2], step, eps)
        total += loss
    return total
