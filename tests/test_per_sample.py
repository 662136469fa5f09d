"""PerSampleSGD must make the general engine's updates, one sample at a time, whatever the setup. It is
the NumPy path of one-sample training where the compiled kernels are not at hand, so these tests train
without them."""
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("numpy_only")

import mlp
from mlp.per_sample import BLOCK, PerSampleSGD, applies

SEED = mlp.PRESETS["seed"].config


def float64_trainer(config, data, fast, **options):
    network = mlp.Network(config.layers, config.activation, config.output, config.loss, config.init,
                          seed=config.seed, dtype=np.float64)
    return mlp.Trainer(config, data, network=network, fast=fast, **options)


@pytest.mark.parametrize("layers", [(784, 16, 16, 10), (784, 20, 10), (784, 8, 12, 6, 10)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_same_updates_as_the_general_engine(layers, shuffle, small_mnist):
    # 203 samples: blocks of 32 do not divide it; events every 7 and snapshots every 5 samples cut
    # blocks short; two epochs reuse the cached Gram matrices when nothing is shuffled.
    config = SEED.replace(layers=layers, shuffle=shuffle, epochs=2, train_size=203, lr=0.5)
    fast = float64_trainer(config, small_mnist, True, eval_every=7, snapshot_every=5).run()
    general = float64_trainer(config, small_mnist, False, eval_every=7, snapshot_every=5).run()
    assert fast._per_sample is not None and general._per_sample is None
    assert np.allclose(fast.network.params, general.network.params, rtol=0, atol=1e-12)
    assert not np.allclose(fast.network.params, fast.snapshots[0].params)      # it did train
    assert [e.samples_seen for e in fast.progress] == [e.samples_seen for e in general.progress]
    assert np.allclose([e.train_loss for e in fast.progress], [e.train_loss for e in general.progress],
                       rtol=1e-12)
    assert [s.samples_seen for s in fast.snapshots] == [s.samples_seen for s in general.snapshots]
    for a, b in zip(fast.snapshots, general.snapshots):
        assert np.allclose(a.params, b.params, rtol=0, atol=1e-12)


def test_a_learning_rate_changed_mid_run_is_used_from_the_next_block(small_mnist):
    config = SEED.replace(epochs=1, train_size=300, lr=0.1)
    params = []
    for fast in (True, False):
        trainer = float64_trainer(config, small_mnist, fast, eval_every=50)
        for event in trainer.events():
            if event.samples_seen == 100:
                trainer.set_lr(2.0)
        params.append(trainer.network.params)
    assert np.allclose(params[0], params[1], rtol=0, atol=1e-12)
    unchanged = float64_trainer(config, small_mnist, True, eval_every=50).run()
    assert not np.allclose(params[0], unchanged.network.params)


def test_float32_training_stays_close_to_float64(small_mnist):
    x, y = small_mnist[0][:BLOCK * 3], small_mnist[1][:BLOCK * 3]
    Y = mlp.losses.one_hot(y, np.float64)
    nets = [mlp.Network(SEED.layers, dtype=dtype) for dtype in (np.float32, np.float64)]
    losses = [PerSampleSGD(net).train(x, Y, 0.02) for net in nets]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert np.allclose(nets[0].params, nets[1].params, atol=1e-4)


def test_it_applies_to_the_notebooks_setup_only():
    assert applies(SEED) and applies(SEED.replace(layers=(784, 100, 10), shuffle=True, lr=0.5))
    for changes in (dict(batch_size=2), dict(optimizer="momentum"), dict(l2=1e-4),
                    dict(activation="tanh"), dict(output="softmax", loss="cross_entropy"),
                    dict(loss="cross_entropy"), dict(layers=(784, 10))):
        assert not applies(SEED.replace(**changes)), changes


def test_a_diverging_run_still_stops_with_the_learning_rate_named(small_mnist):
    trainer = mlp.Trainer(SEED.replace(epochs=5, train_size=1000, lr=10.0), small_mnist)
    assert trainer._per_sample is not None
    with pytest.raises(mlp.TrainingDiverged, match="learning rate 10"):
        trainer.run()
    assert np.isfinite(trainer.network.params).all()
