"""Optimizers: turn a gradient into a change of the parameters. Each one owns its own state.

All of them work on the network's flat parameter vector ``params`` and a gradient ``grads`` of the
same shape, so one update is a handful of NumPy operations whatever the number of layers.
``step`` may overwrite ``grads`` (it is scratch space that the next backprop refills).

Momentum and Adam make their update in one compiled pass when given the kernels (``fused``: the
``mlp.kernels`` module, as the trainer does where ``mlp.compiled`` has them), else with the NumPy
operations written here, which say what the pass computes: the same operations in the same order,
so both give the same numbers (``tests/test_kernels.py``).
"""
from __future__ import annotations

import math

import numpy as np


class SGD:
    """Plain gradient descent: params ← params - lr · grad."""

    description = "Plain stochastic gradient descent: step downhill by lr × gradient."

    def __init__(self, size, dtype=np.float32, fused=None):
        pass

    def step(self, params, grads, lr):
        grads *= float(lr)          # a Python float keeps the operation in the arrays' dtype (see Adam)
        params -= grads


class Momentum:
    """Heavy-ball momentum: v ← μ v - lr · grad;  params ← params + v.

    The velocity v remembers past steps, so the descent speeds up along directions that agree and
    damps zig-zags across a narrow valley.
    """

    description = "SGD with momentum 0.9: keeps moving in the direction it was going."

    def __init__(self, size, dtype=np.float32, fused=None, momentum=0.9):
        self.momentum = momentum
        self.velocity = np.zeros(size, dtype)
        self.fused = fused

    def step(self, params, grads, lr):
        if self.fused is not None:
            return self.fused.momentum_update(params, grads, self.velocity, float(lr), self.momentum)
        self.velocity *= self.momentum
        grads *= float(lr)
        self.velocity -= grads
        params += self.velocity


class Adam:
    """Adam (Kingma & Ba, 2015): momentum on the gradient (m) scaled by a running RMS of it (v).

        m ← β1 m + (1 - β1) g          v ← β2 v + (1 - β2) g²
        params ← params - lr · m̂ / (√v̂ + ε),   m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)

    Every parameter gets its own step size, so the learning rate is far less fiddly than for SGD.

    Stored scaled, to save passes over the parameters (NumPy cannot fuse operations, so each
    elementwise operation is one pass over 235,146 numbers for the wide preset, and the update is
    most of what an epoch spends outside its matrix products): ``w = m / (1 - β1)`` and
    ``u = v / (1 - β2)``, which turn both running averages into a scale and an add,

        w ← β1 w + g                    u ← β2 u + g²

    and the constant factors fold into the step size and ε: ten passes instead of twelve.
    ``moments()`` gives m and v themselves.
    """

    description = "Adaptive steps per parameter (momentum + RMS scaling); forgiving of the learning rate."

    def __init__(self, size, dtype=np.float32, fused=None, beta1=0.9, beta2=0.999, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.w = np.zeros(size, dtype)
        self.u = np.zeros(size, dtype)
        self.t = 0
        self._scratch = None
        self.fused = fused

    def moments(self):
        """(m, v): the running averages of the gradient and of its square, as Adam defines them."""
        return self.w * (1 - self.beta1), self.u * (1 - self.beta2)

    def factors(self, lr):
        """The step size and ε of update number ``self.t``, with m = (1 - β1) w, v = (1 - β2) u and the
        bias corrections folded in:  lr · m̂ / (√v̂ + ε) = step · w / (√u + eps'),

            step = lr (1 - β1) √(1 - β2^t) / ((1 - β1^t) √(1 - β2)),   eps' = ε √(1 - β2^t) / √(1 - β2)

        Both are Python floats: a NumPy float64 scalar would make each in-place operation on the
        float32 arrays run in float64 with a cast per element, several times slower."""
        root = math.sqrt(1 - self.beta2)
        correction = math.sqrt(1 - self.beta2 ** self.t)
        return (float(lr) * (1 - self.beta1) * correction / ((1 - self.beta1 ** self.t) * root),
                self.eps * correction / root)

    def step(self, params, grads, lr):
        self.t += 1
        step, eps = self.factors(lr)
        w, u = self.w, self.u
        if self.fused is not None:
            return self.fused.adam_update(params, grads, w, u, self.beta1, self.beta2, step, eps)
        if self._scratch is None:
            self._scratch = np.zeros_like(params)
        tmp = self._scratch
        w *= self.beta1                                  # w ← β1 w + g
        w += grads
        u *= self.beta2                                  # u ← β2 u + g²
        np.multiply(grads, grads, out=grads)
        u += grads
        np.sqrt(u, out=tmp)                              # params ← params - step · w / (√u + eps')
        tmp += eps
        np.divide(w, tmp, out=tmp)
        tmp *= step
        params -= tmp


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, size, dtype=np.float32, fused=None):
    """The optimizer called ``name`` for ``size`` parameters; ``fused``: the compiled kernels, or None."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](size, dtype, fused)
