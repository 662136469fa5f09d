import gzip
import shutil

import numpy as np
import pytest

import mlp
from mlp import data


def test_shipped_mnist_matches_its_published_facts():
    x_train, y_train, x_test, y_test = mlp.load_mnist(raw=True)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x_train.mean() == pytest.approx(33.318, abs=1e-3)


def test_network_ready_arrays(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 784) and x_train.dtype == np.float32
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert y_test.dtype == np.int64 and len(y_test) == 10000


def test_found_relative_to_the_package_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(mlp.load_mnist(raw=True)[1]) == 60000


def test_missing_file_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MNIST_PATH", tmp_path / "mnist.npz")
    with pytest.raises(mlp.DataError, match="not found.*git checkout -- data/mnist.npz"):
        data.load_mnist()


def test_altered_file_is_refused_by_checksum(tmp_path, monkeypatch):
    altered = tmp_path / "mnist.npz"
    shutil.copy(data.MNIST_PATH, altered)
    with open(altered, "r+b") as f:
        f.seek(5000)
        f.write(b"\x00\x01\x02")
    monkeypatch.setattr(data, "MNIST_PATH", altered)
    with pytest.raises(mlp.DataError, match="damaged or altered.*restore"):
        data.load_mnist()


def test_truncated_other_npz_gets_a_clear_error(tmp_path):
    truncated = tmp_path / "other.npz"
    truncated.write_bytes(data.MNIST_PATH.read_bytes()[:100_000])
    with pytest.raises(mlp.DataError, match="not a readable .npz file: it is truncated"):
        mlp.load_mnist(truncated)


def test_npz_with_wrong_layout_is_refused(tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(mlp.DataError, match="lacks the arrays"):
        mlp.load_mnist(path)
    np.savez(path, x_train=np.zeros((5, 28, 27), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(mlp.DataError, match=r"\(n, 28, 28\)"):
        mlp.load_mnist(path)


def write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_is_read_like_the_original_files(tmp_path, compress):
    x_train, y_train, x_test, y_test = mlp.load_mnist(raw=True)
    suffix = ".gz" if compress else ""
    for name, array in (("train-images-idx3-ubyte", x_train[:50]), ("train-labels-idx1-ubyte", y_train[:50]),
                        ("t10k-images-idx3-ubyte", x_test[:20]), ("t10k-labels-idx1-ubyte", y_test[:20])):
        write_idx(tmp_path / (name + suffix), array, compress)
    loaded = mlp.load_mnist(tmp_path, raw=True)
    for got, expected in zip(loaded, (x_train[:50], y_train[:50], x_test[:20], y_test[:20])):
        assert np.array_equal(got, expected)
    x, y, _, _ = mlp.load_mnist(tmp_path)
    assert x.shape == (50, 784) and np.allclose(x * 255, x_train[:50].reshape(50, 784))


def test_idx_folder_problems_are_explained(tmp_path):
    with pytest.raises(mlp.DataError, match="has no train-images-idx3-ubyte"):
        mlp.load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3)
    with pytest.raises(mlp.DataError, match="truncated"):
        data.read_idx(tmp_path / "train-images-idx3-ubyte")
    (tmp_path / "bad").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(mlp.DataError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")


def test_import_mlp_needs_numpy_alone():
    """The engine imports neither Streamlit, Pillow, Plotly nor the run service."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys; import mlp; loaded = [m for m in ('streamlit', 'PIL', 'plotly', 'runner', 'threadpoolctl') "
            "if m in sys.modules]; print(loaded)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
