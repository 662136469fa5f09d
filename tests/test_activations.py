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


@pytest.mark.parametrize("shape", [(128, 256), (3, 5), (300, 300)])
def test_relu_in_place_leaves_its_cached_zeros_zero(shape, rng):
    """ReLU takes the maximum against a cached zero array (NumPy's fast loop) for training-sized
    batches and against the scalar 0 beyond: the same result either way, in place too, and the
    cache stays zero (it is read-only)."""
    relu = ACTIVATIONS["relu"]
    for dtype in (np.float32, np.float64):
        z = rng.normal(size=shape).astype(dtype)
        expected = np.where(z > 0, z, 0).astype(dtype)
        np.testing.assert_array_equal(relu.forward(z.copy(), out=np.empty_like(z)), expected)
        in_place = z.copy()
        relu.forward(in_place, out=in_place)
        np.testing.assert_array_equal(in_place, expected)
        again = rng.normal(size=shape).astype(dtype)
        np.testing.assert_array_equal(relu.forward(again.copy(), out=np.empty_like(again)), np.maximum(again, 0))


def test_softmax_cross_entropy_is_cross_entropy_through_the_softmax(rng):
    """The fused pair gives cross_entropy's value and the gradient with respect to the softmax's input
    (checked against the chain rule through softmax_backward), with a probability of 0 floored."""
    from mlp.losses import LOSSES, one_hot, softmax_cross_entropy

    z = rng.normal(0, 3, (7, 10))
    a = OUTPUTS["softmax"].forward(z, out=np.empty_like(z))
    a[0] = np.eye(10)[3]                                # row 0: certain of 3, its true digit is 5
    Y = one_hot(np.array([5, 1, 2, 3, 4, 5, 9]), np.float64)
    dL_da = np.empty_like(a)
    expected_loss = LOSSES["cross_entropy"].value_and_grad(a, Y, dL_da)
    delta = np.empty_like(a)
    loss = softmax_cross_entropy(a, Y, delta)
    assert loss == pytest.approx(expected_loss, rel=1e-12) and np.isfinite(loss)
    rows = slice(1, None)          # (row 0: the floor caps dL/da, so the chain rule gives 0 there, not -1/n)
    chain = OUTPUTS["softmax"].backward(a[rows], dL_da[rows], out=np.empty_like(a[rows]))
    np.testing.assert_allclose(delta[rows], chain, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(delta, (a - Y) / 7)
