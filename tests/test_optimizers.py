"""One update worked by hand per optimizer, on two parameters."""
import numpy as np
import pytest

from mlp.optimizers import Adam, Momentum, SGD, make_optimizer


def test_sgd_step():
    params, grads = np.array([1.0, -2.0]), np.array([0.5, -1.0])
    SGD(2, np.float64).step(params, grads, lr=0.1)
    assert np.allclose(params, [1.0 - 0.05, -2.0 + 0.1])


def test_momentum_two_steps():
    opt = Momentum(2, np.float64)
    params = np.array([1.0, 1.0])
    opt.step(params, np.array([1.0, -1.0]), lr=0.1)      # v = [-0.1, 0.1]
    assert np.allclose(params, [0.9, 1.1])
    opt.step(params, np.array([1.0, -1.0]), lr=0.1)      # v = 0.9 v - 0.1 g = [-0.19, 0.19]
    assert np.allclose(opt.velocity, [-0.19, 0.19])
    assert np.allclose(params, [0.71, 1.29])


def test_adam_first_step_moves_each_parameter_by_lr():
    """At t = 1: m̂ = g and v̂ = g², so the step is lr · g / (|g| + ε) ≈ lr · sign(g)."""
    opt = Adam(2, np.float64)
    params = np.array([0.0, 0.0])
    opt.step(params, np.array([4.0, -0.001]), lr=0.01)
    assert np.allclose(params, [-0.01 * 4 / (4 + 1e-8), 0.01 * 0.001 / (0.001 + 1e-8)])


def test_adam_second_step_by_hand():
    opt = Adam(1, np.float64)
    params = np.array([0.0])
    opt.step(params, np.array([1.0]), lr=0.1)
    opt.step(params, np.array([3.0]), lr=0.1)
    m = 0.9 * 0.1 * 1 + 0.1 * 3              # = 0.39
    v = 0.999 * 0.001 * 1 + 0.001 * 9        # = 0.009999
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    expected = -0.1 * 1.0 / (1 + 1e-8) - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    assert params[0] == pytest.approx(expected, rel=1e-9)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="choose one of sgd, momentum, adam"):
        make_optimizer("rmsprop", 3)


def test_adam_matches_the_textbook_update_over_many_steps():
    """Adam keeps its moments scaled (w, u) to save passes: the updates must still be the paper's."""
    rng = np.random.default_rng(0)
    opt = Adam(50, np.float64)
    params = rng.standard_normal(50)
    ours = params.copy()
    m, v = np.zeros(50), np.zeros(50)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, 31):
        g = rng.standard_normal(50) * (1 + t % 3)
        lr = 0.01 * 0.9 ** (t // 10)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        params -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        opt.step(ours, g.copy(), lr)
    np.testing.assert_allclose(ours, params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(opt.moments()[0], m, rtol=1e-12)
    np.testing.assert_allclose(opt.moments()[1], v, rtol=1e-12)


@pytest.mark.parametrize("lr", [0.01, np.float64(0.01)])
def test_adam_computes_in_the_parameters_dtype(lr):
    """Every operation of a float32 update runs in float32: a NumPy float64 scalar in an in-place
    operation would run it in float64 with a cast per element (the wide preset's epoch spent a
    sixth of its time there). Float32 arithmetic throughout gives exactly this reference."""
    rng = np.random.default_rng(1)
    opt = Adam(10_000, np.float32)
    params = rng.standard_normal(10_000).astype(np.float32)
    reference, w, u = params.copy(), np.zeros_like(params), np.zeros_like(params)
    f32 = np.float32
    for t in range(1, 4):
        g = (rng.standard_normal(10_000) * 1e-3).astype(np.float32)
        w = f32(0.9) * w + g
        u = f32(0.999) * u + g * g
        root, correction = np.sqrt(1 - 0.999), np.sqrt(1 - 0.999 ** t)
        step = f32(0.01 * 0.1 * correction / ((1 - 0.9 ** t) * root))
        reference -= w / (np.sqrt(u) + f32(1e-8 * correction / root)) * step
        opt.step(params, g, lr)
    assert params.dtype == np.float32
    np.testing.assert_array_equal(params, reference)
