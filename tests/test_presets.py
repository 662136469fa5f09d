"""The presets are promises made in the README and the app; each one is trained in full here."""
import pytest

import mlp


def test_the_seed_preset_is_the_notebook():
    config = mlp.PRESETS["seed"].config
    assert config.layers == (784, 16, 16, 10) and config.activation == config.output == "sigmoid"
    assert (config.loss, config.optimizer, config.batch_size, config.epochs) == ("squared_error", "sgd", 1, 15)
    assert config.lr == 0.02 and config.init == "uniform" and config.shuffle is False
    assert len(mlp.NOTEBOOK_TEST_ACCURACY) == 15 and mlp.NOTEBOOK_TEST_ACCURACY[-1] == 94.31


@pytest.mark.parametrize("name,floor", [("fast", 0.955), ("wide", 0.98)])
def test_modern_presets_reach_their_promised_accuracy(name, floor, mnist):
    trainer = mlp.Trainer(mlp.PRESETS[name].config, mnist).run()
    assert trainer.status == "done" and len(trainer.history) == 15
    assert trainer.history[-1].test_accuracy >= floor
