"""A multilayer perceptron for handwritten digits, in plain NumPy.

Shape convention, everywhere: X is (n, 784), ``weights[l]`` is (fan_in, fan_out), ``Z = X @ W + b``.

    >>> import mlp
    >>> x_train, y_train, x_test, y_test = mlp.load_mnist()
    >>> trainer = mlp.Trainer(mlp.PRESETS["seed"].config, (x_train, y_train, x_test, y_test))
    >>> trainer.run(callback=print)          # doctest: +SKIP
    >>> mlp.save(trainer.network, "models/seed.npz")   # doctest: +SKIP
"""
from .activations import ACTIVATIONS, OUTPUTS
from .config import CHOICES, ConfigError, TrainConfig
from .data import DataError, load_mnist
from .io import ModelFileError, SavedModel, load, save
from .losses import LOSSES
from .network import INITS, Network
from .optimizers import OPTIMIZERS
from .preprocess import canvas_to_mnist, plain_resize
from .presets import NOTEBOOK_TEST_ACCURACY, PRESETS
from .runs import RunMeta, Status
from .training import Event, Snapshot, Trainer, TrainingDiverged, evaluate

__all__ = ["ACTIVATIONS", "CHOICES", "ConfigError", "DataError", "Event", "INITS", "LOSSES", "ModelFileError",
           "NOTEBOOK_TEST_ACCURACY", "Network", "OPTIMIZERS", "OUTPUTS", "PRESETS", "RunMeta", "SavedModel", "Snapshot", "Status",
           "TrainConfig", "Trainer", "TrainingDiverged", "canvas_to_mnist", "evaluate", "load", "load_mnist",
           "plain_resize", "save"]
