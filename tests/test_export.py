"""A run as code (``mlp.export``, ``mlp.as_code``): the generated script and notebook train the run again,
exactly, and what cannot be written is refused with the reason.

The engine trains each setup here itself, in this process; the script runs in a subprocess with only
Python and NumPy, on the same small MNIST file, and its printed counts of right test images and its
saved final weights are compared with the engine's. On the engine's general NumPy path they come out
bit for bit equal; a run trained through the compiled kernels (``mlp.kernels``) or ``mlp.per_sample``
makes the same updates rounded in another order, and its script agrees to float32 rounding.
"""
import ast
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import mlp
from mlp import PRESETS, TrainConfig, Trainer, as_code, export
from mlp.digits import Digits, fingerprint, training_split
from mlp.io import save
from mlp.training import one_blas_thread
from conftest import ROOT

SMALL = dict(train_size=400, epochs=2)
FAST_PATH_TOLERANCE = 1e-5
"""A run trained through the compiled kernels or ``mlp.per_sample`` makes the same updates rounded in
another order. Two epochs on 400 images leave the weights within about 1e-6 (measured: 7e-7)."""

MATRIX = {
    "tanh, momentum, xavier, l2": TrainConfig(activation="tanh", optimizer="momentum", lr=0.05, init="xavier",
                                               l2=0.001, batch_size=4),
    "relu, softmax + cross-entropy, adam, he, shuffled": TrainConfig(
        activation="relu", output="softmax", loss="cross_entropy", optimizer="adam", lr=0.003, init="he",
        batch_size=8, shuffle=True),
    "leaky relu, softmax + squared error, lr decay": TrainConfig(activation="leaky_relu", output="softmax",
                                                                 lr=0.5, lr_decay=0.9, batch_size=16),
    "sigmoid + cross-entropy, dropout": TrainConfig(loss="cross_entropy", lr=0.5, dropout=0.3, batch_size=16),
    "sgd, one image at a time, with dropout": TrainConfig(dropout=0.2),
    **{f"augmented: {name}": TrainConfig(activation="relu", output="softmax", loss="cross_entropy", lr=0.1,
                                         init="he", batch_size=16, **{name: strength})
       for name, strength in (("shift", 2.0), ("rotation", 15.0), ("scaling", 0.2), ("elastic", 2.0))},
    "every augmentation, dropout, shuffled": TrainConfig(
        activation="relu", output="softmax", loss="cross_entropy", lr=0.1, init="he", batch_size=16, shift=1.5,
        rotation=10.0, scaling=0.1, elastic=1.0, dropout=0.2, shuffle=True),
}
SETUPS = {**{f"preset {name}": preset.config for name, preset in PRESETS.items()}, **MATRIX}


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, mnist):
    """A small MNIST .npz (the raw uint8 layout the script reads) and the same data as the engine reads it."""
    x_train, y_train, x_test, y_test = mlp.load_mnist(raw=True)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=x_train[:600], y_train=y_train[:600], x_test=x_test[:1000], y_test=y_test[:1000])
    return path, mlp.load_mnist(path)


def engine_run(config, data, network=None, extra=None, fast=False):
    """The engine's run of ``config``: on its general NumPy path, which the script mirrors bit for bit,
    unless ``fast`` (the app's own path: the compiled kernels where they apply)."""
    with one_blas_thread():
        trainer = Trainer(config, data, network=network, extra=extra, fast=fast)
        trainer.run()
    return trainer


def run_script(path, *args, cwd):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)                    # standalone: nothing of the project on its path
    result = subprocess.run([sys.executable, str(path), *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def counts_printed(output):
    return [int(m.group(1)) for m in re.finditer(r"test accuracy .*\((\d+) of \d+\)", output)]


def counts_of(trainer, n_test):
    return [round(e.test_accuracy * n_test) for e in trainer.history]


def assert_same_weights(params, trainer):
    if trainer.engine.startswith("NumPy") and trainer._per_sample is None:
        np.testing.assert_array_equal(params, trainer.network.params)
    else:
        np.testing.assert_allclose(params, trainer.network.params, rtol=0, atol=FAST_PATH_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("label", list(SETUPS))
def test_the_script_reproduces_the_engines_run(label, small_file, tmp_path):
    path, data = small_file
    config = SETUPS[label].replace(**SMALL)
    trainer = engine_run(config, data)
    recipe = export.recipe_of_run(saved_run(trainer, tmp_path, "run"))
    script = tmp_path / "run.py"
    script.write_text(as_code.script(recipe))
    output = run_script(script, path, "--save", tmp_path / "trained.npz", cwd=tmp_path)
    assert counts_printed(output) == counts_of(trainer, len(data[3]))
    assert re.search(r"app: +\d", output)                                  # the app's figures beside
    trained = mlp.load(tmp_path / "trained.npz")                            # a model file the app opens
    assert (trained.sizes, trained.activation, trained.output) == (config.layers, config.activation, config.output)
    assert_same_weights(trained.params, trainer)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["seed", "fast"])
def test_a_run_the_app_trained_through_its_fast_path_and_its_script_agree_to_rounding(preset, small_file, tmp_path):
    path, data = small_file
    trainer = engine_run(PRESETS[preset].config.replace(**SMALL), data, fast=True)
    assert trainer.engine.startswith("compiled") or mlp.compiled.kernels() is None
    script = tmp_path / "run.py"
    script.write_text(as_code.script(export.recipe_of_run(saved_run(trainer, tmp_path, "run"))))
    output = run_script(script, path, "--save", tmp_path / "trained.npz", cwd=tmp_path)
    assert counts_printed(output) == counts_of(trainer, len(data[3]))
    assert_same_weights(mlp.load(tmp_path / "trained.npz").params, trainer)


def saved_run(trainer, folder, name, **extra_meta):
    """The trainer's run saved as the app saves it, and read back as the exporter reads it."""
    meta = mlp.RunMeta.of_training(name, trainer.status, 0.0, trainer.results(), finished=1.0).to_dict()
    meta.update(extra_meta)
    path = folder / f"{name}.npz"
    save(trainer.network, path, *trainer.snapshot_arrays(), **meta)
    return mlp.load(path, with_extras=True)


def test_the_script_holds_the_runs_own_choices_and_nothing_else():
    seed = as_code.script(export.recipe_of_settings(PRESETS["seed"].config))
    for absent in ("dropout", "augment", "Adam", "softmax", "relu", "order_rng", "LR_DECAY", "L2", "read_inputs"):
        assert absent not in seed, absent
    assert "sigmoid_backward" in seed and "U(−0.5, 0.5)" in seed and "def update(params, grads, lr)" in seed
    robust = as_code.script(export.recipe_of_settings(PRESETS["robust"].config))
    for present in ("def dropout_masks", "def augment", "class Adam", "def relu", "def softmax",
                    "order_rng = np.random.default_rng([SEED, 1])", "LR_DECAY = 0.9", "SHIFT = 1.0"):
        assert present in robust, present
    for absent in ("ROTATION =", "elastic_fields", "sigmoid", "U(−0.5"):
        assert absent not in robust, absent
    for text in (seed, robust):
        ast.parse(text)
        assert max(len(line) for line in text.splitlines()) <= 120


def test_a_name_goes_into_the_code_as_data_only(tmp_path):
    hostile = 'x"""\nimport os; os.system("echo owned")\n# \r\u2028<b>**bold**</b> \\'
    recipe = export.recipe_of_settings(PRESETS["fast"].config, name=hostile)
    text = as_code.script(recipe)
    tree = ast.parse(text)
    names = [node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and getattr(node.targets[0], "id", None) == "RUN_NAME"]
    assert names == [hostile]                                   # one string constant, exactly the name
    assert "os.system" not in "".join(line for line in text.splitlines() if not line.startswith("RUN_NAME"))
    notebook = json.loads(as_code.notebook(recipe))
    markdown = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    assert "bold" not in markdown and "owned" not in markdown


def test_the_notebook_is_valid_and_holds_the_scripts_code():
    import nbformat

    recipe = export.recipe_of_settings(PRESETS["robust"].config, name="robust")
    node = nbformat.reads(as_code.notebook(recipe), as_version=4)
    nbformat.validate(node)
    code = "\n".join(cell.source for cell in node.cells if cell.cell_type == "code")
    script = as_code.script(recipe)
    for piece in ("def forward(", "def backprop(", "class Adam", "def augment(", "def train("):
        assert piece in code and piece in script
    headings = [cell.source.splitlines()[0] for cell in node.cells if cell.cell_type == "markdown"]
    for heading in ("## Data", "## The network", "## Forward pass", "## Loss", "## Backpropagation", "## Update",
                    "## Training loop", "## Evaluation", "## The curve"):
        assert heading in headings, heading


@pytest.mark.slow
def test_every_setups_notebook_run_by_nbclient_reproduces_the_run(small_file, tmp_path, monkeypatch):
    """Each preset's and each setting's notebook, executed cell by cell in one Python kernel (started once:
    every notebook defines all it uses), prints the engine's counts and saves the engine's weights."""
    import nbclient
    import nbformat

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")                   # the kernel's BLAS on one thread, as the engine here
    path, data = small_file
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.npz").write_bytes(path.read_bytes())     # found as data/mnist.npz
    client = nbclient.NotebookClient(nbformat.v4.new_notebook(), timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for number, (label, setup) in enumerate(SETUPS.items()):
            config = setup.replace(**SMALL)
            trainer = engine_run(config, data)
            node = as_code.notebook_node(export.recipe_of_settings(config))
            node.cells.append(nbformat.v4.new_code_cell(f'save("trained-{number}.npz", weights, biases)'))
            client.nb = node
            for index, cell in enumerate(node.cells):
                client.execute_cell(cell, index)
            output = "".join(o.get("text", "") for cell in node.cells if cell.cell_type == "code"
                             for o in cell.outputs)
            assert counts_printed(output) == counts_of(trainer, len(data[3])), label
            assert "atplotlib" in output, label                            # the curve, or why not
            assert_same_weights(mlp.load(tmp_path / f"trained-{number}.npz").params, trainer)


# ---- fine-tuned runs --------------------------------------------------------------------------------------
def collection(rng, count=12):
    images = rng.random((count, 784), dtype=np.float32)
    return Digits("mine", tuple(f"{i:x}" for i in range(count)), images, np.zeros((count, 280, 280), np.uint8),
                  (np.arange(count) % 10).astype(np.uint8))


def fine_tuned(small_file, tmp_path, rng):
    """A run fine-tuned from the shipped seed model on a learner's digits, trained by the engine and saved."""
    _, data = small_file
    base = mlp.load(ROOT / "models" / "seed.npz")
    digits = collection(rng)
    config = PRESETS["seed"].config.replace(start_from="model:seed", my_digits="0123456789ab", shuffle=True,
                                            batch_size=4, **SMALL)
    split = training_split(digits.images, digits.labels, config.seed, config.holdout)
    network = base.copy()
    trainer = engine_run(config, data, network=network, extra=(split.images, split.labels))
    held = network.accuracy(split.held_images, split.held_labels)
    saved = saved_run(trainer, tmp_path, "tuned", fine_tune={
        "start_from": "pretrained: seed", "my_digits": "mine", "held_out": len(split.held_labels),
        "held_out_after": held, "digits_sha256": fingerprint(digits.images, digits.labels)})
    return saved, digits, trainer, held


def fine_tuned_script(small_file, tmp_path, rng):
    """The fine-tuned run's script written as ``tuned.py``; returns (recipe, trainer, held-out accuracy)."""
    saved, digits, trainer, held = fine_tuned(small_file, tmp_path, rng)
    recipe = export.with_inputs_name(export.recipe_of_run(saved, digits), "tuned.py")
    (tmp_path / "tuned.py").write_text(as_code.script(recipe))
    return recipe, trainer, held


@pytest.mark.slow
def test_a_fine_tuned_runs_script_starts_from_its_weights_and_trains_on_the_drawings(small_file, tmp_path, rng):
    path, data = small_file
    recipe, trainer, held = fine_tuned_script(small_file, tmp_path, rng)
    (tmp_path / "tuned-inputs.npz").write_bytes(recipe.inputs_bytes())
    output = run_script(tmp_path / "tuned.py", path, "--save", tmp_path / "out.npz", cwd=tmp_path)
    assert counts_printed(output) == counts_of(trainer, len(data[3]))
    np.testing.assert_array_equal(mlp.load(tmp_path / "out.npz").params, trainer.network.params)
    right = round(held * recipe.my_digits.held_labels.size)
    assert f"held-out drawings: {right} of {recipe.my_digits.held_labels.size} right" in output


@pytest.mark.slow
def test_the_script_refuses_an_inputs_file_that_is_not_what_it_expects(small_file, tmp_path, rng):
    path, _ = small_file
    recipe, _, _ = fine_tuned_script(small_file, tmp_path, rng)
    arrays = recipe.inputs_arrays()
    for name, broken in (("my_x", arrays["my_x"] + 2), ("W0", arrays["W0"][:, :3]), ("extra", arrays["W0"])):
        changed = {**arrays, name: broken}
        np.savez(tmp_path / "tuned-inputs.npz", **changed)
        result = subprocess.run([sys.executable, "tuned.py", str(path)], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode != 0 and "tuned-inputs.npz" in result.stderr, name
        assert "epoch" not in result.stdout                            # refused before anything trained


def test_export_refuses_what_it_cannot_express(small_file, tmp_path, rng):
    saved, digits, trainer, _ = fine_tuned(small_file, tmp_path, rng)
    with pytest.raises(export.ExportError, match="my_digits.*not here"):
        export.recipe_of_run(saved, None)
    changed = Digits(digits.name, digits.ids[:-1], digits.images[:-1], digits.raw[:-1], digits.labels[:-1])
    with pytest.raises(export.ExportError, match="has changed since.*holds 11"):
        export.recipe_of_run(saved, changed)
    old = dict(saved.meta, fine_tune={k: v for k, v in saved.meta["fine_tune"].items() if k != "digits_sha256"})
    with pytest.raises(export.ExportError, match="fingerprint"):
        export.recipe_of_run(mlp.SavedModel(saved.network, old, saved.snapshots, saved.snapshot_epochs), digits)
    with pytest.raises(export.ExportError, match="weights it started from"):
        export.recipe_of_run(mlp.SavedModel(saved.network, saved.meta), digits)
    events = [dict(e) for e in saved.meta["history"]]
    events[1]["lr"] = 0.5
    with pytest.raises(export.ExportError, match=r"learning rate \(lr\) was changed.*0.5 in epoch 2"):
        export.recipe_of_run(mlp.SavedModel(saved.network, dict(saved.meta, history=events),
                                            saved.snapshots, saved.snapshot_epochs), digits)
    bare = {k: v for k, v in saved.meta.items() if k != "config"}
    with pytest.raises(export.ExportError, match="holds no training settings"):
        export.recipe_of_run(mlp.SavedModel(saved.network, bare))


def test_a_rate_set_while_queued_is_the_scripts_rate(small_file, tmp_path):
    _, data = small_file
    config = TrainConfig(batch_size=20, lr_decay=0.5, **SMALL)
    with one_blas_thread():
        trainer = Trainer(config, data)
        trainer.set_lr(0.3)
        trainer.run()
    recipe = export.recipe_of_run(saved_run(trainer, tmp_path, "queued"))
    assert recipe.config.lr == 0.3 and "LEARNING_RATE = 0.3 " in as_code.script(recipe)


def test_a_stopped_run_says_which_of_its_epochs_are_the_apps(small_file, tmp_path):
    _, data = small_file
    config = TrainConfig(batch_size=20, epochs=5, train_size=400)
    with one_blas_thread():
        trainer = Trainer(config, data)
        trainer.run(until_epoch=2)
        trainer.stop()
        trainer.status = mlp.Status.STOPPED
    recipe = export.recipe_of_run(saved_run(trainer, tmp_path, "stopped"))
    assert "# The app's run was stopped after 2 of its 5 epochs" in as_code.script(recipe)


# ---- the command line -------------------------------------------------------------------------------------
def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mlp", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_cli_exports_a_shipped_model_and_a_fine_tuned_run_with_its_digits(small_file, tmp_path, rng):
    path, data = small_file
    result = run_cli("export", ROOT / "models" / "fast.npz", "--script", tmp_path / "fast.py",
                     "--notebook", tmp_path / "fast.ipynb")
    assert result.returncode == 0, result.stderr
    assert "APP_TEST_ACCURACY = (" in (tmp_path / "fast.py").read_text()
    import nbformat
    nbformat.validate(nbformat.read(tmp_path / "fast.ipynb", as_version=4))
    saved, digits, trainer, _ = fine_tuned(small_file, tmp_path, rng)
    mlp.digits.save(digits, tmp_path / "mine.npz")
    refused = run_cli("export", tmp_path / "tuned.npz", "--script", tmp_path / "t.py")
    assert refused.returncode == 2 and "my_digits" in refused.stderr and not (tmp_path / "t.py").exists()
    result = run_cli("export", tmp_path / "tuned.npz", "--script", tmp_path / "t.py", "--digits", tmp_path / "mine.npz")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t-inputs.npz").exists()
    output = run_script(tmp_path / "t.py", path, cwd=tmp_path)
    assert counts_printed(output) == counts_of(trainer, len(data[3]))


def test_cli_refuses_a_damaged_run_file_with_the_reason(tmp_path):
    damaged = tmp_path / "broken.npz"
    damaged.write_bytes((ROOT / "models" / "seed.npz").read_bytes()[:5000])
    result = run_cli("export", damaged, "--script", tmp_path / "out.py")
    assert result.returncode == 2 and "broken.npz" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.py").exists()


@pytest.mark.slow
def test_the_script_reads_the_idx_files_too(small_file, tmp_path):
    path, data = small_file
    arrays = np.load(path)
    folder = tmp_path / "idx"
    folder.mkdir()
    for key, name in mlp.data.IDX_NAMES.items():
        values = arrays[key]
        header = bytes([0, 0, 8, values.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in values.shape)
        (folder / name).write_bytes(header + values.tobytes())
    config = TrainConfig(batch_size=10, **SMALL)
    trainer = engine_run(config, data)
    (tmp_path / "run.py").write_text(as_code.script(export.recipe_of_settings(config)))
    assert counts_printed(run_script(tmp_path / "run.py", folder, cwd=tmp_path)) == counts_of(trainer, len(data[3]))


def test_the_readme_prints_the_seed_models_script_as_the_exporter_writes_it():
    readme = (ROOT / "README.md").read_text()
    printed = readme.split("<details><summary>seed.py</summary>\n\n```python\n", 1)[1].split("```\n\n</details>")[0]
    written = as_code.script(export.with_inputs_name(
        export.recipe_of_run(mlp.load(ROOT / "models" / "seed.npz", with_extras=True)), "seed.py"))
    assert printed == written
    assert max(len(line) for line in written.splitlines()) <= 120
