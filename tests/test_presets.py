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
def test_modern_presets_reach_their_promised_accuracy(name, floor, promised):
    status, accuracies = promised(name)                    # trained in full (tests/promises.py)
    assert status == "done" and len(accuracies) == 15
    assert accuracies[-1] >= floor


def test_the_robust_preset_drops_out_shifts_and_is_on_its_way_after_two_epochs(promised):
    """Its full promise (98.5% within a minute of training, medians of three seeds) is measured by
    bench/presets.py; here: its first two epochs, which reach about 97%."""
    config = mlp.PRESETS["robust"].config
    assert config.dropout == 0.2 and config.shift == 1.0 and config.layers == mlp.PRESETS["wide"].config.layers
    status, accuracies = promised("robust, two epochs")
    assert status == "done" and accuracies[-1] >= 0.965
