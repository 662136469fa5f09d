"""Optimizers: turn a gradient into a change of the parameters. Each one owns its own state.

All of them work on the network's flat parameter vector ``params`` and a gradient ``grads`` of the
same shape, so one update is a handful of NumPy operations whatever the number of layers.
``step`` may overwrite ``grads`` (it is scratch space that the next backprop refills).
"""
from __future__ import annotations

import numpy as np


class SGD:
    """Plain gradient descent: params ← params - lr · grad."""

    description = "Plain stochastic gradient descent: step downhill by lr × gradient."

    def __init__(self, size, dtype=np.float32):
        pass

    def step(self, params, grads, lr):
        grads *= lr
        params -= grads


class Momentum:
    """Heavy-ball momentum: v ← μ v - lr · grad;  params ← params + v.

    The velocity v remembers past steps, so the descent speeds up along directions that agree and
    damps zig-zags across a narrow valley.
    """

    description = "SGD with momentum 0.9: keeps moving in the direction it was going."

    def __init__(self, size, dtype=np.float32, momentum=0.9):
        self.momentum = momentum
        self.velocity = np.zeros(size, dtype)

    def step(self, params, grads, lr):
        self.velocity *= self.momentum
        grads *= lr
        self.velocity -= grads
        params += self.velocity


class Adam:
    """Adam (Kingma & Ba, 2015): momentum on the gradient (m) scaled by a running RMS of it (v).

        m ← β1 m + (1 - β1) g          v ← β2 v + (1 - β2) g²
        params ← params - lr · m̂ / (√v̂ + ε),   m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)

    Every parameter gets its own step size, so the learning rate is far less fiddly than for SGD.
    """

    description = "Adaptive steps per parameter (momentum + RMS scaling); forgiving of the learning rate."

    def __init__(self, size, dtype=np.float32, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)
        self.t = 0
        self._scratch = np.zeros(size, dtype)

    def step(self, params, grads, lr):
        # Written as in-place updates into preallocated arrays: for a wide network a fresh
        # temporary per line would cost more than the arithmetic.
        self.t += 1
        m, v, tmp = self.m, self.v, self._scratch
        np.subtract(grads, m, out=tmp)                  # m += (1 - β1)(g - m)  ==  β1 m + (1 - β1) g
        tmp *= 1 - self.beta1
        m += tmp
        np.multiply(grads, grads, out=grads)            # v += (1 - β2)(g² - v)
        grads -= v
        grads *= 1 - self.beta2
        v += grads
        # The bias corrections m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t) are folded into the step
        # size and ε, which gives exactly  lr · m̂ / (√v̂ + ε).
        correction = np.sqrt(1 - self.beta2 ** self.t)
        step_size = lr * correction / (1 - self.beta1 ** self.t)
        np.sqrt(v, out=tmp)
        tmp += self.eps * correction
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        params -= tmp


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, size, dtype=np.float32):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](size, dtype)
