import numpy as np
import pytest

from mlp.activations import ACTIVATIONS, OUTPUTS

ALL = {**ACTIVATIONS, **OUTPUTS}


@pytest.mark.parametrize("name", list(ALL))
def test_backward_matches_finite_differences(name, rng):
    """backward(a, g) must equal the vector-Jacobian product g · df/dz, checked numerically."""
    act = ALL[name]
    z = rng.normal(0, 2, (4, 6))
    z[np.abs(z) < 1e-3] = 0.5           # stay away from ReLU's kink
    grad = rng.normal(size=z.shape)
    a = act.forward(z.copy(), out=np.empty_like(z))
    analytic = act.backward(a, grad, out=np.empty_like(z))
    eps, numeric = 1e-6, np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[idx] += eps
        minus[idx] -= eps
        f_plus = act.forward(plus, out=np.empty_like(z))
        f_minus = act.forward(minus, out=np.empty_like(z))
        numeric[idx] = np.sum(grad * (f_plus - f_minus)) / (2 * eps)
    assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", list(ALL))
def test_backward_may_write_over_its_gradient(name, rng):
    """The network passes the same array as grad and out; the result must not change."""
    act = ALL[name]
    z = rng.normal(size=(3, 5))
    a = act.forward(z, out=np.empty_like(z))
    grad = rng.normal(size=z.shape)
    expected = act.backward(a, grad.copy(), out=np.empty_like(z))
    in_place = grad.copy()
    act.backward(a, in_place, out=in_place)
    assert np.allclose(in_place, expected)


def test_softmax_is_stable_on_huge_inputs():
    z = np.array([[1000.0, 1001.0, 1002.0], [-1e6, 0.0, 1e6]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = OUTPUTS["softmax"].forward(z.copy(), out=np.empty_like(z))
    assert np.isfinite(p).all()
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(p[0], np.exp([-2, -1, 0]) / np.exp([-2, -1, 0]).sum())


def test_sigmoid_saturates_without_nan():
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=np.float32)
    with np.errstate(over="ignore"):
        a = ACTIVATIONS["sigmoid"].forward(z, out=np.empty_like(z))
    assert np.isfinite(a).all()
    assert a[0, 0] == 0.0 and a[0, 2] == 0.5 and a[0, -1] == 1.0


def test_known_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    out = np.empty_like(z)
    assert np.allclose(ACTIVATIONS["sigmoid"].forward(z, out.copy()), 1 / (1 + np.exp(-z)))
    assert np.allclose(ACTIVATIONS["tanh"].forward(z, out.copy()), np.tanh(z))
    assert np.array_equal(ACTIVATIONS["relu"].forward(z, out.copy()), [[0.0, 0.0, 3.0]])
    assert np.allclose(ACTIVATIONS["leaky_relu"].forward(z, out.copy()), [[-0.02, 0.0, 3.0]])
