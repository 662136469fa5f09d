import subprocess
import sys

import pytest

import mlp
from conftest import ROOT


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mlp", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_train_prints_accuracy_per_epoch_shows_progress_and_saves(tmp_path):
    out = tmp_path / "m.npz"
    result = run_cli("train", "--preset", "fast", "--epochs", "2", "--train-size", "3000",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2 and "test accuracy" in epoch_lines[0]
    assert "%" in epoch_lines[1] and f"saved {out}" in result.stdout
    assert "epoch 1/2 [" in result.stderr                      # the progress bar
    model = mlp.load(out)
    assert model.sizes == (784, 16, 16, 10) and model.activation == "leaky_relu"
    assert model.meta["config"]["train_size"] == 3000 and 0.5 < model.meta["test_accuracy"] <= 1


def test_seed_setup_prints_the_notebook_figures_beside_ours_as_the_app_does():
    """Any seed, epoch count or training-set size still trains as the notebook did (the app's rule,
    ``follows_the_notebook``); other changes do not."""
    result = run_cli("train", "--epochs", "1", "--train-size", "2000", "--seed", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "784-16-16-10" in result.stdout and "sigmoid/sigmoid, squared_error, sgd lr=0.02" in result.stdout
    assert "(notebook: 83.41%)" in result.stdout and "this run uses 2,000" in result.stdout
    assert result.stderr == ""
    changed = run_cli("train", "--epochs", "1", "--train-size", "2000", "--lr", "0.05", "--quiet")
    assert changed.returncode == 0 and "(notebook:" not in changed.stdout


def test_one_sample_training_pins_blas_to_one_thread():
    from mlp.cli import one_blas_thread
    from threadpoolctl import threadpool_info

    with one_blas_thread(mlp.PRESETS["seed"].config):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert isinstance(one_blas_thread(mlp.PRESETS["fast"].config), __import__("contextlib").nullcontext)


def test_any_architecture_and_options(tmp_path):
    result = run_cli("train", "--layers", "784,24,12,10", "--activation", "leaky_relu",
                     "--output", "softmax", "--loss", "cross_entropy", "--optimizer", "momentum",
                     "--lr", "0.05", "--batch-size", "20", "--epochs", "1", "--init", "he",
                     "--l2", "0.0001", "--shuffle", "--seed", "3", "--train-size", "2000", "--quiet",
                     "--out", str(tmp_path / "x.npz"))
    assert result.returncode == 0, result.stderr
    meta = mlp.load(tmp_path / "x.npz").meta
    assert meta["sizes"] == [784, 24, 12, 10] and meta["config"]["shuffle"] is True
    assert meta["config"]["optimizer"] == "momentum" and meta["config"]["l2"] == 0.0001


def test_evaluate_prints_accuracy_and_a_per_digit_table(tmp_path):
    net = mlp.Network([784, 10], "sigmoid", "softmax", "cross_entropy", "xavier")
    mlp.save(net, tmp_path / "m.npz")
    result = run_cli("evaluate", str(tmp_path / "m.npz"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "test accuracy" in lines[0] and lines[1].split() == ["digit", "samples", "accuracy"]
    assert [line.split()[0] for line in lines[2:12]] == [str(d) for d in range(10)]
    assert sum(int(line.split()[1]) for line in lines[2:12]) == 10000


@pytest.mark.parametrize("args,words", [
    (["train", "--lr", "-1"], "learning rate"),
    (["train", "--layers", "784,x,10"], "--layers"),
    (["train", "--layers", "784,16"], "end with 10"),
    (["train", "--activation", "swish"], "invalid choice"),
    (["train", "--epochs", "0"], "epochs"),
    (["train", "--batch-size", "100", "--train-size", "50"], "batch size"),
    (["train", "--lr", "abc"], "invalid float"),
    (["evaluate", "missing.npz"], "missing.npz cannot be read: No such file"),
    (["fly"], "invalid choice"),
])
def test_bad_input_gets_one_line_and_exit_code_2(args, words, tmp_path):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("meta,words", [
    (None, "not a readable .npz"),
    ({"activation": ["relu"]}, "'activation' should be a name"),     # was a TypeError traceback, exit 1
    ({"sizes": "784-8-10"}, "'sizes' should be a list"),
    ({"format_version": [1]}, "not supported"),
])
def test_malformed_model_is_refused_in_one_line(meta, words, tmp_path):
    import json

    import numpy as np

    path = tmp_path / "bad.npz"
    if meta is None:
        path.write_text("not a model")
    else:
        net = mlp.Network([784, 8, 10])
        mlp.save(net, path)
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), **meta}))
        np.savez(path, **arrays)
    result = run_cli("evaluate", str(path))
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_divergence_exits_with_the_explanation():
    result = run_cli("train", "--lr", "10", "--optimizer", "adam", "--epochs", "1", "--train-size", "3000", "--quiet")
    assert result.returncode == 1
    assert "diverged" in result.stderr and "learning rate 10 is too large" in result.stderr


@pytest.mark.parametrize("mutation", ["JSON nested 5,000 deep", "encrypted", "deflate64", "negative shape"])
def test_crafted_model_files_are_refused_in_one_line(mutation, tmp_path):
    """Before: each of these raised past the reader, and `evaluate` exited 1 with a traceback."""
    from test_bounded_reads import STRUCTURED, model_file

    path = tmp_path / "crafted.npz"
    path.write_bytes(STRUCTURED[mutation](model_file()))
    result = run_cli("evaluate", str(path))
    assert result.returncode == 2 and result.stderr.startswith("error: crafted.npz"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("out,words", [(".", "is a folder"), ("no/such/folder/m.npz", "does not exist")])
def test_an_out_that_cannot_be_written_is_refused_before_training(out, words, tmp_path):
    result = run_cli("train", "--epochs", "1", "--train-size", "100", "--out", str(tmp_path / out), "--quiet")
    assert result.returncode == 2 and words in result.stderr and "epoch" not in result.stdout, result.stderr


def test_a_data_folder_of_bombs_or_no_images_is_refused_in_one_line(tmp_path):
    import gzip

    def idx(shape, payload=b""):
        return b"\0\0\x08" + bytes([len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape) + payload

    files = {"train-images-idx3-ubyte.gz": idx((0, 28, 28)), "train-labels-idx1-ubyte.gz": idx((0,)),
             "t10k-images-idx3-ubyte.gz": idx((1, 28, 28), bytes(784)), "t10k-labels-idx1-ubyte.gz": idx((1,), b"\1")}
    for name, content in files.items():
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(content)
    result = run_cli("train", "--data", str(tmp_path), "--epochs", "1", "--quiet")
    assert result.returncode == 2 and "holds no train images" in result.stderr, result.stderr
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:        # 10⁹ images declared
        f.write(idx((10**9, 28, 28)))
        for _ in range(20):
            f.write(bytes(2**20))
    result = run_cli("train", "--data", str(tmp_path), "--epochs", "1", "--quiet")
    assert result.returncode == 2 and "declares the shape (1000000000, 28, 28)" in result.stderr, result.stderr
