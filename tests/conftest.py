import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlp  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    """The shipped MNIST, loaded once for the whole test session."""
    return mlp.load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 3,000 training and 1,000 test samples: enough to learn something in seconds."""
    x_train, y_train, x_test, y_test = mnist
    return x_train[:3000], y_train[:3000], x_test[:1000], y_test[:1000]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def wait_until(condition, timeout=30.0, interval=0.02):
    """Poll ``condition()`` until it is true (returns True) or ``timeout`` seconds pass (False)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
