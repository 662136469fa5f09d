"""Numba hidden: with this folder first on PYTHONPATH, ``import numba`` fails as on a machine without it.
tests/test_kernels.py and .ci/run's fallback step use it to test training without the compiled kernels."""
raise ImportError("numba is hidden here (tests/no_numba)")
