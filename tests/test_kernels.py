"""The compiled kernels (mlp.kernels) make the NumPy engine's updates, and training never depends on them.

The equivalence tests train one epoch on 2,000 images both ways, the kernels (Trainer's fast path) and
the general NumPy step (fast=False), and compare every weight: float64 to 1e-10, float32 to float32
rounding. The fallback tests hide Numba, break a kernel, or make the cache unwritable, and train anyway.
"""
import itertools
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mlp
from mlp import compiled
from mlp.network import Network
from mlp.optimizers import Adam, Momentum
from conftest import ROOT

try:
    import numba  # noqa: F401
    NUMBA = True
except ImportError:
    NUMBA = False
pytestmark = pytest.mark.skipif(not NUMBA, reason="Numba cannot be imported here (the fallback is tested by "
                                                  ".ci/run's step without it)")
K = compiled.kernels(np.float64)
"""None where the kernels failed to build: then ``test_the_kernels_build_where_numba_is_installed``
fails, and every test below with it, rather than all of them being skipped as if Numba were absent."""
STEADY_LR = {"sgd": 0.02, "momentum": 0.002, "adam": 0.0005}
"""Learning rates at which one-sample training is not chaotic: rounding differences then stay rounding
differences for an epoch, instead of being amplified until any two float orders disagree."""
EVENTS_EVERY = 700
"""Batches between progress events: a few per epoch, each one cutting the compiled calls short."""
FLOAT32_MARGIN = 3.0
"""How much further from float64 a float32 kernel run may end than the float32 NumPy engine's, measured
as the RMS over all parameters: rounding errors are many small ones, and their size is their RMS. (Not
the largest: with Adam, the weights of the few pixels lit in only a handful of images take steps
divided by √u of those few gradients, so one rounding difference in one of them is carried through the
epoch unaveraged, and whichever engine happens to round it worse ends four or five times further from
float64 there, on one CPU and not another.) Across the matrix below the ratio is 0.8 to 2: the
kernel's sums run in a different order than BLAS's. A float32 sigmoid off by a factor 1 + 2e-5 (some
170 float32 steps) already ends 3.2 times further, and fails; one computing in float16 would fail by
orders of magnitude."""
HIDE_NUMBA = str(ROOT / "tests" / "no_numba")
"""A folder whose ``numba`` package raises ImportError: on PYTHONPATH, Numba is hidden."""


def test_the_kernels_build_where_numba_is_installed():
    assert K is not None and compiled.kernels(np.float32) is not None, (
        "Numba imports, but the kernels did not build (the mlp log says why)")


def data_of(mnist, n=2000):
    x_train, y_train, x_test, y_test = mnist
    return x_train[:n], y_train[:n], x_test[:500], y_test[:500]


def trained(config, data, fast, dtype, extra=None, path="_compiled"):
    """A run of ``config`` trained with the kernels (``fast``: through the Trainer's ``path``, the
    compiled steps or ``_batch_steps``) or with the NumPy engine alone."""
    network = Network(config.layers, config.activation, config.output, config.loss, config.init,
                      seed=config.seed, dtype=dtype)
    trainer = mlp.Trainer(config, data, network=network, fast=fast, extra=extra, eval_every=EVENTS_EVERY)
    assert (getattr(trainer, path) is not None) == fast
    return trainer.run()


def assert_same_training(config, data, extra=None, path="_compiled"):
    """Kernels against the NumPy engine: float64 to 1e-10, float32 to rounding: each float32 run is
    measured by its distance from the float64 result (which the engines agree on), and the kernel's
    may be at most ``FLOAT32_MARGIN`` times the NumPy engine's."""
    k64, n64 = (trained(config, data, fast, np.float64, extra, path) for fast in (True, False))
    assert not np.allclose(n64.network.params, n64.snapshots[0].params)        # it did train
    assert np.abs(k64.network.params - n64.network.params).max() <= 1e-10
    assert [e.samples_seen for e in k64.progress] == [e.samples_seen for e in n64.progress]
    assert np.allclose([e.train_loss for e in k64.progress], [e.train_loss for e in n64.progress], rtol=1e-9)
    k32, n32 = (trained(config, data, fast, np.float32, extra, path) for fast in (True, False))
    kernel_error, engine_error = (rms(run.network.params - n64.network.params) for run in (k32, n32))
    assert 0 < kernel_error <= FLOAT32_MARGIN * engine_error


def rms(difference):
    return float(np.sqrt(np.mean(np.square(difference, dtype=np.float64))))


MATRIX = list(itertools.product(mlp.ACTIVATIONS, mlp.OUTPUTS, mlp.LOSSES, mlp.OPTIMIZERS))


@pytest.mark.slow
@pytest.mark.parametrize("activation,output,loss,optimizer", MATRIX, ids=["-".join(m) for m in MATRIX])
@pytest.mark.parametrize("shuffle", [False, True], ids=["in order", "shuffled"])
def test_one_sample_training_makes_the_engines_updates(activation, output, loss, optimizer, shuffle, mnist,
                                                       unwritable_cache_run):
    config = mlp.TrainConfig(layers=(784, 12, 9, 10), activation=activation, output=output, loss=loss,
                             optimizer=optimizer, lr=STEADY_LR[optimizer], init="xavier", epochs=1,
                             train_size=2000, shuffle=shuffle, seed=3)
    assert_same_training(config, data_of(mnist))


@pytest.mark.parametrize("preset", ["seed", "fast"])
def test_the_presets_train_as_the_engine_does(preset, mnist):
    """The one-minute subset's share of the matrix above: the seed notebook's setup and the fast preset,
    with two epochs (the second reuses what the first set up) and progress events cutting calls short."""
    config = mlp.PRESETS[preset].config.replace(epochs=2, train_size=2000, lr_decay=1.0)
    assert_same_training(config, data_of(mnist))


@pytest.mark.parametrize("optimizer", list(mlp.OPTIMIZERS))
def test_mini_batches_with_weight_decay_and_a_learners_digits(optimizer, mnist):
    """Batches of 16 (the last one short), L2, and 30 drawings each standing for 5 rows of the epoch."""
    rng = np.random.default_rng(0)
    extra = (rng.random((30, 784), dtype=np.float32) * (rng.random((30, 784)) < 0.2), rng.integers(0, 10, 30))
    config = mlp.TrainConfig(layers=(784, 20, 10), activation="tanh", output="softmax", loss="cross_entropy",
                             optimizer=optimizer, lr=10 * STEADY_LR[optimizer], batch_size=16, l2=1e-3,
                             init="xavier", epochs=2, train_size=1990, shuffle=True, my_digits_repeat=5)
    assert_same_training(config, data_of(mnist, 1990), extra)


def test_deep_networks_and_the_largest_layers_the_kernels_take(mnist):
    config = mlp.TrainConfig(layers=(784, 9, 8, 7, 6, 10), activation="leaky_relu", optimizer="momentum",
                             lr=STEADY_LR["momentum"], init="he", epochs=1, train_size=600)
    assert_same_training(config, data_of(mnist, 600))
    too_deep = Network((784, 3, 3, 3, 3, 3, 10))
    with pytest.raises(ValueError, match="at most 5 layers"):
        compiled.Steps(too_deep, mnist[0][:10], mnist[1][:10], None, None, batch=1,
                       optimizer=mlp.optimizers.SGD(too_deep.params.size))


def batch_steps_config(activation="relu", output="softmax", loss="cross_entropy", optimizer="adam", **changes):
    """A setup too large for the compiled steps (64 × 32,634 parameters is past
    ``COMPILED_MINIBATCH_WORK``), so that the kernels train it through ``BatchSteps``.

    SGD and momentum average a batch's gradients, so they take ten times the one-sample rates; Adam's
    steps do not shrink with the batch, so it keeps its own. Even so, ReLU with Adam is chaotic on some
    seeds: at seed 5, one rounding that tips a unit on or off, or the sign of a near-zero gradient that
    Adam turns into a full step, leaves a float32 run 5 times further from float64 than the other
    engine's, and a NumPy engine computing its softmax with a correctly rounded exp does the same.
    At seed 0 every run of the matrix below ends within 0.93 to 1.06 times the engine's distance."""
    lr = (1 if optimizer == "adam" else 10) * STEADY_LR[optimizer]
    return mlp.TrainConfig(layers=(784, 40, 24, 10), activation=activation, output=output, loss=loss,
                           optimizer=optimizer, lr=lr, batch_size=64, init="xavier",
                           epochs=1, train_size=2000, shuffle=True, seed=0).replace(**changes)


@pytest.mark.slow
@pytest.mark.parametrize("activation,output,loss,optimizer", MATRIX, ids=["-".join(m) for m in MATRIX])
def test_mini_batch_steps_between_blas_products_make_the_engines_updates(activation, output, loss, optimizer,
                                                                          mnist):
    assert_same_training(batch_steps_config(activation, output, loss, optimizer), data_of(mnist),
                         path="_batch_steps")


DROPOUT_MATRIX = list(itertools.product(mlp.ACTIVATIONS, mlp.OPTIMIZERS))


@pytest.mark.slow
@pytest.mark.parametrize("activation,optimizer", DROPOUT_MATRIX, ids=["-".join(m) for m in DROPOUT_MATRIX])
def test_mini_batch_steps_with_dropout_and_weight_decay_make_the_engines_updates(activation, optimizer, mnist):
    """Both engines draw the same masks from the run's noise stream; the outputs alternate between
    sigmoid with squared error and softmax with cross-entropy."""
    sigmoid = DROPOUT_MATRIX.index((activation, optimizer)) % 2
    config = batch_steps_config(activation, "sigmoid" if sigmoid else "softmax",
                                "squared_error" if sigmoid else "cross_entropy", optimizer, dropout=0.3, l2=1e-3)
    assert_same_training(config, data_of(mnist), path="_batch_steps")


@pytest.mark.slow
def test_mini_batch_steps_on_the_deepest_network_the_app_builds(mnist):
    config = batch_steps_config("leaky_relu", layers=(784, 30, 20, 20, 20, 10), dropout=0.1, optimizer="momentum")
    assert_same_training(config, data_of(mnist), path="_batch_steps")


@pytest.mark.parametrize("preset", ["wide", "robust"])
def test_the_wide_presets_train_as_the_engine_does(preset, mnist):
    """The one-minute subset's share of the two tests above, on the presets themselves: the wide network
    at batches of 128 (the last one short), and with dropout and shifted images (augmented alike in
    both: the same stream, the same order)."""
    config = mlp.PRESETS[preset].config.replace(epochs=1, train_size=2000)
    assert_same_training(config, data_of(mnist), path="_batch_steps")


def one_gradient(network, X, Y, masks, batch_steps):
    """The loss and gradient of one batch, as ``BatchSteps`` or as ``Network.backprop`` makes them."""
    ws = mlp.network.Workspace(network.sizes, len(X), network.dtype)
    if batch_steps:
        given = []                          # an optimizer that keeps the gradient it is given

        class Keeper:
            def step(self, params, grads, lr):
                given.append(grads.astype(np.float64))
        loss = compiled.BatchSteps(network, Keeper()).step(X, Y, 0.1, ws, masks)
        assert np.array_equal(given[0], ws.grads)
    else:
        loss = network.backprop(network.forward_all(X, out=ws.acts, masks=masks, kept=ws.kept), Y, ws, 0.0, masks)
    return loss, ws.grads.astype(np.float64)


OUTPUT_MATRIX = list(itertools.product(mlp.ACTIVATIONS, mlp.OUTPUTS, mlp.LOSSES))


@pytest.mark.parametrize("activation,output,loss", OUTPUT_MATRIX, ids=["-".join(m) for m in OUTPUT_MATRIX])
def test_one_batch_steps_gradient_is_the_engines(activation, output, loss, mnist):
    """One step, where rounding cannot be amplified: the gradient the optimizer is given, with dropout
    masks and without, equals ``Network.backprop``'s, float64 to 1e-12 and float32 to its rounding (its
    distance from the float64 gradient at most ``FLOAT32_MARGIN`` times the engine's)."""
    rng = np.random.default_rng(7)
    X, Y = mnist[0][:50], mlp.losses.one_hot(mnist[1][:50])
    for masks in (None, mlp.network.dropout_masks(rng, (784, 40, 24, 10), 50, 0.3, np.float64)):
        runs = {}
        for dtype in (np.float64, np.float32):
            network = Network((784, 40, 24, 10), activation, output, loss, "xavier", seed=2, dtype=dtype)
            kept = None if masks is None else [m.astype(dtype) for m in masks]
            runs[dtype] = [one_gradient(network, X, Y, kept, batch_steps) for batch_steps in (True, False)]
        (k64_loss, k64), (n64_loss, n64) = runs[np.float64]
        assert abs(k64_loss - n64_loss) <= 1e-12 * abs(n64_loss)
        assert np.abs(k64 - n64).max() <= 1e-12 * np.abs(n64).max() and np.abs(n64).max() > 0
        (_, k32), (_, n32) = runs[np.float32]
        assert 0 < rms(k32 - n64) <= FLOAT32_MARGIN * rms(n32 - n64)


def test_batch_steps_refuse_a_batch_that_does_not_fit_before_anything_is_written(small_mnist):
    """The compiled passes index without bounds checks; ``BatchSteps.step`` checks every shape first."""
    network = Network((784, 16, 12, 10))
    steps = compiled.BatchSteps(network, mlp.optimizers.SGD(network.params.size))
    X, Y = small_mnist[0][:8], mlp.losses.one_hot(small_mnist[1][:8])
    ws = mlp.network.Workspace(network.sizes, 8, network.dtype)
    masks = [np.ones((8, 16), np.float32), np.ones((8, 12), np.float32)]
    before = network.params.copy()
    for bad in (dict(X=X[:, :700]), dict(Y=np.hstack([Y, Y[:, :1]])), dict(Y=Y[:7]),
                dict(ws=mlp.network.Workspace(network.sizes, 4, network.dtype)),
                dict(masks=masks[:1]), dict(masks=[masks[0], np.ones((8, 11), np.float32)])):
        args = dict(X=X, Y=Y, ws=ws, masks=masks) | bad
        with pytest.raises(ValueError, match="do not fit the network"):
            steps.step(args["X"], args["Y"], 0.1, args["ws"], args["masks"])
    assert np.array_equal(network.params, before)
    loss = steps.step(X, Y, 0.1, ws, masks)                       # and with the right ones it trains
    assert np.isfinite(loss) and not np.array_equal(network.params, before)


def test_buffers_rows_or_labels_that_do_not_fit_are_refused_before_anything_is_written(small_mnist):
    """The loops index without bounds checks, so ``train_steps`` checks every size and row it relies on
    first, and ``Steps`` the labels, by which the loops index the outputs."""
    network = Network((784, 16, 16, 10))
    steps = compiled.Steps(network, small_mnist[0][:50], small_mnist[1][:50], None, None, batch=4,
                           optimizer=mlp.optimizers.SGD(network.params.size))
    before = network.params.copy()
    for name, small in (("scratch", np.zeros(3 * 784, np.int16)), ("batch_rows", np.zeros((5, 3), np.int64)),
                        ("acts", np.zeros(4 * 42 - 1, np.float32)), ("grads", np.zeros(100, np.float32))):
        kept = getattr(steps, name)
        setattr(steps, name, small)
        with pytest.raises(ValueError, match="too small|smaller"):
            steps.train(np.arange(50), 0, 12, 0.01)
        setattr(steps, name, kept)
    for rows in (np.arange(51), np.array([0, 1, -1, 3])):         # row 50 is past the 50 images, -1 before them
        with pytest.raises(ValueError, match="row index"):
            steps.train(rows, 0, 13, 0.01)
    for labels in (np.full(50, 10), np.full(50, -1)):
        with pytest.raises(ValueError, match="labels must be 0 to 9"):
            compiled.Steps(network, small_mnist[0][:50], labels, None, None, batch=4,
                           optimizer=mlp.optimizers.SGD(network.params.size))
    assert np.array_equal(network.params, before)
    steps.train(np.arange(50), 0, 12, 0.01)                       # and with the right ones it trains
    assert not np.array_equal(network.params, before)


def test_which_setups_train_through_the_kernels(small_mnist):
    def path(fast=True, **changes):
        return mlp.Trainer(mlp.PRESETS["seed"].config.replace(train_size=300, **changes), small_mnist,
                           fast=fast).engine

    assert path() == path(optimizer="adam", batch_size=32) == "compiled kernels (mlp.kernels)"
    assert (path(dropout=0.2) == path(shift=1.0) == path(layers=(784, 256, 128, 10), optimizer="adam", batch_size=128)
            == "compiled passes between BLAS's matrix products (mlp.kernels)")
    assert path(layers=(784, 256, 128, 10), optimizer="adam", batch_size=128, fast=False) == "NumPy"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_optimizer_updates_equal_numpys_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    for kind in (Momentum, Adam):
        start = rng.standard_normal(1001).astype(dtype)
        params = [start.copy(), start.copy()]
        optimizers = [kind(1001, dtype), kind(1001, dtype, fused=compiled.kernels(dtype))]
        for _ in range(5):
            grads = rng.standard_normal(1001).astype(dtype)
            for p, opt in zip(params, optimizers):
                opt.step(p, grads.copy(), 0.01)
        assert np.array_equal(params[0], params[1]), kind.__name__
        assert not np.allclose(params[0], start)


def test_the_kernels_adam_step_sizes_are_the_optimizers_own():
    """``kernels.adam_factors`` is ``Adam.factors`` written again for the compiled loop (which cannot call
    Python): the same float64 arithmetic, so the same numbers, update after update."""
    adam = Adam(10)
    for t in range(1, 2001):
        adam.t = t
        assert K.adam_factors(0.003, adam.beta1, adam.beta2, adam.eps, t) == adam.factors(0.003)


def test_a_kernel_that_fails_to_compile_leaves_numpy_training(small_mnist, monkeypatch, caplog):
    """As with a Numba or LLVM that cannot build a loop: one warning, the NumPy path, never a failed run."""
    numba = pytest.importorskip("numba")
    untypable = numba.njit(lambda *args: object())          # a real typing error when it is compiled
    monkeypatch.setattr(compiled, "_ready", {})
    monkeypatch.setattr(compiled, "_said", set())
    monkeypatch.setattr(compiled._import(), "train_steps", untypable)
    with caplog.at_level(logging.WARNING, logger="mlp"):
        assert compiled.kernels(np.float32) is None and compiled.kernels(np.float32) is None
        trainer = mlp.Trainer(mlp.PRESETS["seed"].config.replace(epochs=1, train_size=500), small_mnist).run()
    assert trainer.status == "done" and trainer.engine == "NumPy, one-sample blocks (mlp.per_sample)"
    failures = [r for r in caplog.records if "failed to build" in r.getMessage()]
    assert len(failures) == 1 and "NumPy path" in failures[0].getMessage()


WARMED = ("train_steps", "bias_and_activate", "output_layer", "slope_and_bias_gradient", "sgd_update",
          "momentum_update", "adam_update")


def test_getting_the_kernels_ready_compiles_every_loop_training_calls():
    """``compiled.kernels`` exercises every loop a run calls from Python, so none compiles in the middle of
    a learner's run (a worker that takes the kernels from the cache trusts that they are all there).
    Checked in a fresh interpreter: in this one, earlier tests may have compiled them anyway."""
    code = ("import numpy as np, mlp.compiled as c\n"
            "k = c.kernels(np.float32)\n"
            f"print(*[name for name in {WARMED!r} if not getattr(k, name).signatures])\n")
    out, _ = train_in_a_fresh_process({}, code)
    assert out == "", f"not compiled by the warm-up: {out}"


def test_a_worker_uses_the_kernels_only_once_they_are_in_the_cache(small_mnist, monkeypatch, tmp_path):
    monkeypatch.setattr(compiled, "_ready", {})
    monkeypatch.setattr(compiled, "ready_mark", lambda: tmp_path / "ready-none")
    config = mlp.PRESETS["seed"].config.replace(epochs=1, train_size=300)
    assert mlp.Trainer(config, small_mnist, compile=False).engine.startswith("NumPy")
    (tmp_path / "ready-none").write_text("compiled\n")
    assert mlp.Trainer(config, small_mnist, compile=False).engine.startswith("compiled")


SEED_RUN = ("import mlp, mlp.compiled as c\n"
            "data = mlp.load_mnist()\n"
            "t = mlp.Trainer(mlp.PRESETS['seed'].config.replace(epochs=1, train_size=1000), data).run()\n"
            "print(t.status, '|', t.engine, '|', c.CACHING)\n")


def start_a_fresh_process(env, code=SEED_RUN):
    """Train the seed setup briefly (or run ``code``) in a new interpreter, started now."""
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "MLP_KERNELS": "1", **env})


def finished(process):
    """(stdout, stderr) of a process from ``start_a_fresh_process``, once it has ended well."""
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out.strip(), err


def train_in_a_fresh_process(env, code=SEED_RUN):
    return finished(start_a_fresh_process(env, code))


@pytest.fixture(scope="module")
def unwritable_cache_run(tmp_path_factory):
    """The seed setup trained in a process whose cache folder cannot be written, so it compiles the
    kernels in memory: seconds, so it starts with the first test that asks and runs beside the rest."""
    blocked = tmp_path_factory.mktemp("cache") / "a-file"
    blocked.write_text("not a folder")
    return start_a_fresh_process({"NUMBA_CACHE_DIR": str(blocked / "numba"), "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_without_numba_training_runs_on_numpy_and_says_so_once():
    out, err = train_in_a_fresh_process({"PYTHONPATH": os.pathsep.join([HIDE_NUMBA, str(ROOT)])})
    assert out == "done | NumPy, one-sample blocks (mlp.per_sample) | True"
    assert err.count("Numba is not available") == 1 and "NumPy path" in err


@pytest.mark.slow
def test_a_cache_folder_that_cannot_be_written_compiles_in_memory_with_one_warning(unwritable_cache_run):
    out, err = finished(unwritable_cache_run)
    assert out == "done | compiled kernels (mlp.kernels) | False"
    assert err.count("cannot be written") == 1 and "compile in memory" in err


@pytest.mark.slow
def test_the_servers_warm_up_fills_a_cache_in_the_background(tmp_path, monkeypatch):
    """A cache folder without the ready mark (Numba's files copied from this machine's cache, so that
    the test loads rather than compiles them: a fresh machine's compile is conftest's, once)."""
    shutil.copytree(compiled.CACHE_FOLDER, tmp_path / "numba", ignore=shutil.ignore_patterns("ready-*"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    monkeypatch.setenv("MLP_KERNELS", "1")
    assert not compiled.ready_mark().exists()
    process = compiled.warm_in_background()
    assert process is not None and process.wait(timeout=300) == 0
    assert compiled.ready_mark().exists() and any((tmp_path / "numba").rglob("*.nbi"))
    assert compiled.warm_in_background() is None                     # warm already: nothing to do
    out, _ = train_in_a_fresh_process({"PYTHONPATH": str(ROOT)}, code=(
        "import time, numpy as np, mlp.compiled as c\n"
        "started = time.perf_counter(); ok = c.kernels(np.float32, compile=False) is not None\n"
        "print(ok, time.perf_counter() - started < 5)\n"))
    assert out == "True True"                                       # loaded from the cache, not compiled


@pytest.mark.slow
def test_a_spare_worker_waits_with_the_kernels_loaded_and_a_run_starts_on_it(tmp_path, monkeypatch):
    from runner import dataset
    from runner.local import LocalTransport
    from runner.worker import RunSpec
    import threading
    import time

    monkeypatch.setenv("MLP_SPARE_WORKER", "1")
    transport = LocalTransport(dataset.cache_folder(), env={"MLP_KERNELS": "1"})
    dataset.shared_mnist()
    transport.prepare()
    spare = transport._spare
    time.sleep(3)                                    # it imports the engine and loads the kernels meanwhile
    trained, ended = threading.Event(), threading.Event()
    started = time.perf_counter()
    spec = RunSpec("0123456789ab", "spare", mlp.PRESETS["seed"].config.replace(epochs=1, train_size=3000),
                   str(tmp_path))
    seen, engines = [], set()

    def on_update(update):
        engines.add(update["engine"])
        if any(e["samples_seen"] for e in update["events"]):
            seen.append(time.perf_counter() - started)
            trained.set()

    worker = transport.start(spec, on_update, lambda death: ended.set())
    assert worker.pid == spare.process.pid and transport._spare is not spare    # the next one is on its way
    assert trained.wait(30) and ended.wait(60)
    assert seen[0] < 2.0                             # no interpreter to start, no kernels to load
    assert engines == {"compiled kernels (mlp.kernels)"}
    following = transport._spare
    transport.close()
    assert following.process.wait(timeout=10) is not None and transport._spare is None
