"""One example through the network and back: every number a learner needs to follow backprop by hand.

``trace`` runs the engine's own forward pass and backprop (``Network.forward_all``/``backprop``) on a
batch of one and keeps every intermediate; ``chain_rule`` writes the gradient of one weight as the
product the chain rule gives; ``step_preview`` and ``apply_step`` make the update an optimizer would.
Nothing here changes a network unless it is ``apply_step``, which a caller gives a copy.

Layers are counted as in ``Network``: layer l maps A[l] (sizes[l],) to A[l+1] (sizes[l+1],) with
weights W[l] (sizes[l], sizes[l+1]); so "layer 0" is the first hidden layer's weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .losses import one_hot
from .network import Network, Workspace, parameter_views
from .optimizers import make_optimizer
from .training import score


@dataclass(frozen=True)
class Trace:
    """One example, forward and backward.

    x (784,), label: the input and its digit
    z[l], a[l] (sizes[l+1],): layer l's weighted sums z = a_prev @ W[l] + b[l] and outputs a = f(z)
    loss: C for this example (plus the run's L2 term, if any)
    output_error (10,): dC/da of the outputs, straight from the loss
    deltas[l] (sizes[l+1],): dC/dz of layer l, as the engine's backprop left them
    dW[l] (sizes[l], sizes[l+1]), db[l] (sizes[l+1],): the gradient this one example sends
    """

    x: np.ndarray
    label: int
    z: list
    a: list
    loss: float
    output_error: np.ndarray
    deltas: list
    dW: list
    db: list

    def inputs_to(self, layer):
        """What flows into ``layer``'s weights: the image for layer 0, else the previous layer's outputs."""
        return self.x if layer == 0 else self.a[layer - 1]

    @property
    def gradient(self):
        """The gradient as one flat vector laid out like ``Network.params``."""
        return np.concatenate([p for dW, db in zip(self.dW, self.db) for p in (dW.ravel(), db)])


def trace(network: Network, x, label, l2=0.0) -> Trace:
    """Forward pass and backprop of the single example ``x`` (784,) with digit ``label``."""
    X = np.asarray(x, network.dtype).reshape(1, -1)
    Y = one_hot([int(label)], network.dtype)
    ws = Workspace(network.sizes, 1, network.dtype)
    with np.errstate(over="ignore", under="ignore"):
        acts = network.forward_all(X, out=ws.acts)
        z = [(acts[l] @ W + b)[0] for l, (W, b) in enumerate(zip(network.weights, network.biases))]
        output_error = np.empty_like(acts[-1])
        network.loss.value_and_grad(acts[-1], Y, output_error)
        loss = network.backprop(acts, Y, ws, l2)
    return Trace(X[0].copy(), int(label), z, [a[0].copy() for a in acts[1:]], float(loss),
                 output_error[0], [d[0].copy() for d in ws.deltas],
                 [dW.copy() for dW in ws.dW], [db.copy() for db in ws.db])


@dataclass(frozen=True)
class ChainRule:
    """dC/dw for the weight w = W[layer][source, target], as the chain rule builds it.

        dC/dw = dC/dz_target × dz_target/dw = delta × incoming

    incoming: a_source, the value flowing along the weight (dz/dw)
    upstream: dC/da_target: from the loss at the output layer; at a hidden layer the sum of what
              the next layer sends back, Σ_k W[layer+1][target, k] · δ_k (its terms in ``terms``)
    slope:    f'(z_target), when the activation acts on each unit alone (None for softmax)
    kind:     "elementwise" (delta = upstream × slope), "softmax" (delta = a_t (upstream - Σ_k a_k
              dC/da_k)) or "softmax_cross_entropy" (delta = a_t - y_t: the two derivatives cancel)
    """

    layer: int
    source: int
    target: int
    incoming: float
    upstream: float
    slope: float | None
    delta: float
    gradient: float
    kind: str
    terms: tuple = ()          # ((W[layer+1][target, k], δ_k), ...) for a hidden layer


def chain_rule(network: Network, t: Trace, layer, source, target) -> ChainRule:
    last = len(network.weights) - 1
    incoming = float(t.inputs_to(layer)[source])
    a_t = t.a[layer][target]
    delta = float(t.deltas[layer][target])
    if layer == last:
        upstream, terms = float(t.output_error[target]), ()
    else:
        outgoing, after = network.weights[layer + 1][target], t.deltas[layer + 1]
        terms = tuple((float(w), float(d)) for w, d in zip(outgoing, after))
        upstream = float(np.dot(outgoing.astype(np.float64), after.astype(np.float64)))
    activation = network.layer_activations[layer]
    if activation.name != "softmax":
        one = np.ones((1, 1), network.dtype)
        slope = float(activation.backward(np.array([[a_t]], network.dtype), one, out=np.empty_like(one))[0, 0])
        kind = "elementwise"
    elif network.loss_name == "cross_entropy":
        slope, kind = None, "softmax_cross_entropy"
    else:
        slope, kind = None, "softmax"
    return ChainRule(layer, source, target, incoming, upstream, slope, delta,
                     float(t.dW[layer][source, target]), kind, terms)


def loss_at(network: Network, x, label, l2=0.0):
    """C for one example (the same number ``trace`` reports), without backprop."""
    loss = score(network, network.forward(np.asarray(x, network.dtype).reshape(1, -1)), np.array([int(label)]))[0]
    if l2:
        loss += 0.5 * l2 * sum(float(np.vdot(W, W)) for W in network.weights)
    return float(loss)


def finite_difference(network: Network, x, label, layer, source, target, h=1e-5, l2=0.0):
    """(C(w + h) - C(w - h)) / 2h for w = W[layer][source, target], in float64 on a copy: the
    derivative measured by nudging the weight, with no backprop at all."""
    probe = Network(network.sizes, network.activation, network.output, network.loss_name, dtype=np.float64)
    probe.params[...] = network.params
    w = probe.weights[layer]
    original = w[source, target]
    w[source, target] = original + h
    up = loss_at(probe, x, label, l2)
    w[source, target] = original - h
    down = loss_at(probe, x, label, l2)
    return (up - down) / (2 * h)


def new_optimizer(network: Network, name):
    """A fresh optimizer (zero momentum and moments) for ``network``'s parameters."""
    return make_optimizer(name, network.params.size, network.dtype)


def step_preview(network: Network, optimizer, t: Trace, lr):
    """The change (flat, like ``params``) that one step of ``optimizer`` on this example's gradient
    would make; neither the network nor the optimizer changes."""
    params = network.params.copy()
    copy.deepcopy(optimizer).step(params, t.gradient.astype(network.dtype), lr)
    return params - network.params


def apply_step(network: Network, optimizer, x, label, lr, l2=0.0):
    """One optimizer step on this single example, in place (give it a copy). Returns its Trace from
    before the step, so the caller can compare."""
    before = trace(network, x, label, l2)
    optimizer.step(network.params, before.gradient.astype(network.dtype), lr)
    return before


def per_layer(flat, sizes):
    """Cut a flat vector laid out like ``params`` into [(W-shaped, b-shaped), ...] per layer."""
    weights, biases = parameter_views(flat, sizes)
    return list(zip(weights, biases))
