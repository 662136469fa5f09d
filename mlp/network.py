"""The multilayer perceptron: its parameters, one forward pass, and backpropagation.

Shape convention, used everywhere in the project:

    X      (n, 784)           a batch of n images, one flattened 28×28 image per row, pixels in [0, 1]
    W[l]   (fan_in, fan_out)  so a layer computes  Z = A_prev @ W[l] + b[l]
    b[l]   (fan_out,)
    A[l]   (n, sizes[l])      activations: A[0] is X, A[-1] the network's outputs

So hidden unit j of the first layer "looks at" the image ``W[0][:, j].reshape(28, 28)``.

All weights and biases live in one flat vector, ``net.params``; ``net.weights[l]`` and ``net.biases[l]``
are views into it (change them in place). An optimizer can then update every parameter with a single
NumPy operation, which keeps training one sample at a time cheap (``mlp.per_sample`` goes further for
the seed notebook's setup).
"""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS, OUTPUTS
from .losses import LOSSES, one_hot, softmax_cross_entropy

INITS = {
    "uniform": "Weights and biases drawn from U(-0.5, 0.5), as in the seed notebook.",
    "xavier": "Weights from U(±√(6 / (fan_in + fan_out))), biases 0: keeps signal size steady for sigmoid/tanh.",
    "he": "Weights from N(0, √(2 / fan_in)), biases 0: keeps signal size steady for ReLU.",
}


def parameter_views(flat, sizes):
    """Cut a flat vector into per-layer (W, b) views: W[l] (sizes[l], sizes[l+1]), b[l] (sizes[l+1],)."""
    weights, biases, start = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights.append(flat[start:start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
        biases.append(flat[start:start + fan_out])
        start += fan_out
    return weights, biases


def dropout_masks(rng, sizes, n, rate, dtype=np.float32):
    """Inverted-dropout masks for a batch of n: per hidden layer (n, units), each entry 0 with
    probability ``rate`` and 1 / (1 - rate) otherwise, drawn from ``rng``."""
    keep = 1.0 - rate
    return [np.multiply(rng.random((n, units), dtype=np.float32) < keep, 1.0 / keep, dtype=dtype)
            for units in sizes[1:-1]]


def parameter_count(sizes):
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


class Workspace:
    """Preallocated arrays for one batch size, so a training step allocates (almost) nothing.

    acts[l]    (n, sizes[l+1])  output of layer l
    kept[l]    (n, sizes[l+1])  hidden layer l's output after dropout (what the next layer receives)
    deltas[l]  (n, sizes[l+1])  dL/dZ of layer l during backprop
    ones       (n,)             for summing a batch's rows as a product
    grads      flat gradient, laid out like ``Network.params``; dW[l], db[l] are views into it
    """

    def __init__(self, sizes, n, dtype):
        self.n = n
        self.acts = [np.empty((n, s), dtype) for s in sizes[1:]]
        self.kept = [np.empty((n, s), dtype) for s in sizes[1:-1]]
        self.deltas = [np.empty((n, s), dtype) for s in sizes[1:]]
        self.ones = np.ones(n, dtype)
        self.grads = np.zeros(parameter_count(sizes), dtype)
        self.dW, self.db = parameter_views(self.grads, sizes)


class Network:
    """A fully connected network, e.g. ``Network([784, 16, 16, 10])``.

    activation: the hidden layers' activation (a key of ``ACTIVATIONS``)
    output:     the output layer's activation (a key of ``OUTPUTS``)
    loss:       a key of ``LOSSES``
    init:       a key of ``INITS``; the random draws come from ``np.random.default_rng(seed)``
    dtype:      float32 to train fast, float64 for exact gradient checks
    """

    def __init__(self, sizes, activation="sigmoid", output="sigmoid", loss="squared_error",
                 init="uniform", seed=0, dtype=np.float32):
        self.sizes = tuple(int(s) for s in sizes)
        check_architecture(self.sizes, activation, output, loss, init)
        self.activation, self.output, self.loss_name, self.init = activation, output, loss, init
        self.dtype = np.dtype(dtype)
        self.params = np.zeros(parameter_count(self.sizes), self.dtype)
        self.weights, self.biases = parameter_views(self.params, self.sizes)
        self.layer_activations = [ACTIVATIONS[activation]] * (len(self.sizes) - 2) + [OUTPUTS[output]]
        self.loss = LOSSES[loss]
        self._initialise(np.random.default_rng(seed))

    def _initialise(self, rng):
        for W, b in zip(self.weights, self.biases):
            fan_in, fan_out = W.shape
            if self.init == "uniform":
                W[...] = rng.uniform(-0.5, 0.5, W.shape)
                b[...] = rng.uniform(-0.5, 0.5, b.shape)
            elif self.init == "xavier":
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-limit, limit, W.shape)
            else:  # he
                W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), W.shape)

    # ---- forward -------------------------------------------------------------------------------
    def forward_all(self, X, out=None, masks=None, kept=None, start=0):
        """Activations of every layer for a batch X (n, sizes[0]): [X, A1, ..., A_last].

        ``out`` is an optional list of arrays (one per layer, shaped like its activations) to
        write into; the training loop passes a ``Workspace``'s arrays there.

        Dropout (training only): ``masks[l]`` (n, sizes[l+1]) multiplies hidden layer l's output
        before the next layer sees it; each entry is 0 (dropped) or 1/keep ("inverted" dropout, so a
        unit's expected output is unchanged and evaluation needs no masks). The masked outputs go
        into ``kept[l]``; the returned activations are the unmasked ones, which backprop needs for
        the activations' slopes.

        ``start``: run only the layers from layer ``start`` on, X being what that layer receives
        (n, sizes[start]); returns [X, A_start+1, ..., A_last]. For rerunning the layers after a
        changed one (``analysis.unit_importance``).
        """
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.sizes[start]:
            raise ValueError(f"expected inputs of shape (n, {self.sizes[start]}), got {X.shape}")
        acts, inputs = [X], X
        for l in range(start, len(self.weights)):
            W, b, f = self.weights[l], self.biases[l], self.layer_activations[l]
            Z = np.dot(inputs, W, out=None if out is None else out[l])
            Z += b
            acts.append(f.forward(Z, out=Z))
            inputs = acts[-1] if masks is None or l == len(self.weights) - 1 else \
                np.multiply(acts[-1], masks[l], out=kept[l])
        return acts

    def forward(self, X, masks=None):
        """Outputs (n, 10) for inputs X (n, 784) (with dropout ``masks``, as in training, if given)."""
        kept = None if masks is None else [np.empty_like(m, dtype=self.dtype) for m in masks]
        with np.errstate(over="ignore"):    # a saturated sigmoid's e^-z may overflow to inf: fine
            return self.forward_all(X, masks=masks, kept=kept)[-1]

    def predict(self, X):
        """Predicted digits (n,)."""
        return self.forward(X).argmax(axis=1)

    def accuracy(self, X, y, batch=10_000):
        """Fraction of the samples whose predicted digit equals the label."""
        correct = sum(int((self.predict(X[i:i + batch]) == y[i:i + batch]).sum())
                      for i in range(0, len(y), batch))
        return correct / max(len(y), 1)

    # ---- backward ------------------------------------------------------------------------------
    def backprop(self, acts, Y, ws, l2=0.0, masks=None):
        """Fill ``ws.grads`` with the gradient of the loss for the batch whose forward pass is ``acts``.

        acts: the list from ``forward_all``; Y: one-hot targets (n, 10); ws: a Workspace for n;
        masks: the dropout masks the forward pass used (its masked outputs in ``ws.kept``), or None.
        Returns the loss: the batch mean of the per-sample loss, plus (l2 / 2) Σ W² when l2 > 0.
        """
        last = len(self.weights) - 1
        delta = ws.deltas[last]
        loss = self._output_error(acts[-1], Y, delta)                         # delta = dL/dZ_last
        for l in range(last, -1, -1):
            inputs = acts[l] if masks is None or l == 0 else ws.kept[l - 1]   # what layer l received
            np.dot(inputs.T, delta, out=ws.dW[l])                   # dL/dW = A_prev^T dL/dZ
            np.dot(ws.ones, delta, out=ws.db[l])                    # dL/db = Σ_rows dL/dZ (a GEMV:
                                                                    # 2.5× faster than np.sum on axis 0)
            if l > 0:
                prev = ws.deltas[l - 1]
                np.dot(delta, self.weights[l].T, out=prev)          # dL/dA_prev = dL/dZ W^T
                if masks is not None:
                    prev *= masks[l - 1]                            # a dropped unit passed nothing back
                self.layer_activations[l - 1].backward(acts[l], prev, out=prev)
                delta = prev
        if l2:
            loss += self.add_weight_decay(ws.dW, l2)
        return loss

    def add_weight_decay(self, dW, l2):
        """dW[l] += l2 · W[l] for every layer (the biases are not decayed); returns the loss's share of
        it, (l2 / 2) Σ W². (``compiled.BatchSteps`` adds it the same way.)"""
        for W, grad in zip(self.weights, dW):
            grad += l2 * W
        return 0.5 * l2 * sum(float(np.vdot(W, W)) for W in self.weights)

    def loss_and_gradients(self, X, y, l2=0.0, masks=None):
        """Loss and gradients for inputs X (n, 784) and integer labels y (n,), with the dropout
        ``masks`` given (or none).

        Returns ``(loss, [(dW, db), ...])`` with dW, db shaped like each layer's weights and biases.
        """
        ws = Workspace(self.sizes, len(X), self.dtype)
        with np.errstate(over="ignore"):
            acts = self.forward_all(X, out=ws.acts, masks=masks, kept=ws.kept)
            loss = self.backprop(acts, one_hot(y, self.dtype), ws, l2, masks)
        return loss, [(dW.copy(), db.copy()) for dW, db in zip(ws.dW, ws.db)]

    def input_gradient(self, X, output_grad, before_squashing=False, layer=None, acts=None):
        """d(score)/dX for inputs X (n, 784), where ``output_grad`` (n, sizes[layer + 1]) is d(score)/d(outputs)
        of layer ``layer`` (default: the output layer; 0 is the first hidden layer).

        Backpropagation all the way to the pixels: it says how each pixel pushes the score. With
        ``before_squashing``, ``output_grad`` is taken against that layer's weighted sums Z (the logits
        of a softmax, a unit's z before its sigmoid) instead of its activations: those do not saturate,
        so a confident answer still has a readable gradient. The dreams (``mlp.dreams``) and the
        adversarial nudges (``mlp.adversarial``) climb these gradients. ``acts``: X's forward pass
        (``forward_all``), where the caller has made it already.
        """
        top = len(self.weights) - 1 if layer is None else int(layer)
        if not 0 <= top < len(self.weights):
            raise ValueError(f"layer {layer} is not one of this network's {len(self.weights)} layers")
        if acts is None:
            with np.errstate(over="ignore"):
                acts = self.forward_all(X)
        delta = np.array(output_grad, self.dtype)
        if delta.shape != acts[top + 1].shape:
            raise ValueError(f"expected a gradient of shape {acts[top + 1].shape}, got {delta.shape}")
        if not before_squashing:
            delta = self.layer_activations[top].backward(acts[top + 1], delta, out=delta)
        return self._back_to_pixels(acts, delta, top)

    def _back_to_pixels(self, acts, delta, top):
        """dC/dX from dC/dZ of layer ``top`` (``delta``), given the forward pass ``acts``."""
        for l in range(top, 0, -1):
            grad = np.dot(delta, self.weights[l].T)
            delta = self.layer_activations[l - 1].backward(acts[l], grad, out=grad)
        return np.dot(delta, self.weights[0].T)

    def loss_input_gradient(self, X, y):
        """dC/dX (n, 784): how each pixel of row i moves that row's own loss C for its label ``y[i]``.

        The same output error as training's ``backprop`` (softmax with cross-entropy: a - y), then
        ``input_gradient`` down to the pixels. The losses give dC/dZ of the batch *mean*, so the
        error is multiplied back by n: row i's gradient does not shrink as more rows are asked for."""
        X = np.asarray(X, dtype=self.dtype)
        with np.errstate(over="ignore"):
            acts = self.forward_all(X)
        delta = np.empty_like(acts[-1])
        self._output_error(acts[-1], one_hot(y, self.dtype), delta)
        delta *= len(X)
        return self._back_to_pixels(acts, delta, len(self.weights) - 1)

    def _output_error(self, outputs, Y, delta):
        """The batch-mean loss of ``outputs`` (n, 10) for one-hot ``Y``, with dL/dZ of the output layer
        written into ``delta``."""
        if self.loss_name == "cross_entropy" and self.output == "softmax":
            # Softmax followed by cross-entropy: dL/dZ simplifies to (A - Y) / n, which avoids
            # dividing by tiny probabilities. Valid only for this pair.
            return softmax_cross_entropy(outputs, Y, delta)
        loss = self.loss.value_and_grad(outputs, Y, delta)                     # dL/dA, then through f'
        self.layer_activations[-1].backward(outputs, delta, out=delta)
        return loss

    # ---- inspection and persistence ------------------------------------------------------------
    def hidden_activations(self, X):
        """Activations of the hidden layers only, [A1, ..., A_{last-1}], for inputs X (n, 784)."""
        with np.errstate(over="ignore"):
            return self.forward_all(X)[1:-1]

    def describe(self):
        """Architecture as plain data (the part of a saved file that rebuilds the network)."""
        return {"sizes": list(self.sizes), "activation": self.activation, "output": self.output,
                "loss": self.loss_name, "init": self.init}

    def copy(self):
        """An independent copy (its own parameters), made without drawing new random weights."""
        clone = object.__new__(Network)
        clone.__dict__.update(self.__dict__)
        clone.params = self.params.copy()
        clone.weights, clone.biases = parameter_views(clone.params, self.sizes)
        return clone


def check_architecture(sizes, activation, output, loss, init):
    """Raise ValueError with a plain reason if the network cannot be built."""
    if len(sizes) < 2:
        raise ValueError("a network needs at least an input and an output layer")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every layer needs at least one unit, got {list(sizes)}")
    for value, table, what in ((activation, ACTIVATIONS, "activation"), (output, OUTPUTS, "output"),
                               (loss, LOSSES, "loss"), (init, INITS, "init")):
        if value not in table:
            raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(table)}")
