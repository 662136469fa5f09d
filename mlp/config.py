"""The training configuration: one dataclass whose fields are the app's sliders and the CLI's options."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from .activations import ACTIVATIONS, OUTPUTS
from .losses import LOSSES
from .network import INITS, check_architecture
from .optimizers import OPTIMIZERS

N_PIXELS, N_DIGITS = 784, 10
MAX_EPOCHS = 200
MAX_UNITS = 1024
MAX_HIDDEN_LAYERS = 4
MAX_LR = 10.0


class ConfigError(ValueError):
    """A setting is out of range or settings do not fit together; the message says which and why."""


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a training run. Defaults are the seed notebook's."""

    layers: tuple[int, ...] = (784, 16, 16, 10)
    """Units per layer, input first: 784 pixels in, 10 digits out, hidden layers between."""
    activation: str = "sigmoid"
    """Activation of the hidden layers (see ``mlp.activations.ACTIVATIONS``)."""
    output: str = "sigmoid"
    """Activation of the output layer: sigmoid or softmax."""
    loss: str = "squared_error"
    """squared_error or cross_entropy."""
    optimizer: str = "sgd"
    """sgd, momentum or adam."""
    lr: float = 0.02
    """Learning rate: how far each update moves the weights."""
    lr_decay: float = 1.0
    """After every epoch the learning rate is multiplied by this; 1 keeps it constant."""
    batch_size: int = 1
    """Samples averaged per update; 1 is the seed notebook's pure stochastic descent."""
    epochs: int = 15
    """Passes over the training set."""
    init: str = "uniform"
    """How the weights start: uniform, xavier or he."""
    l2: float = 0.0
    """Weight decay: adds (l2/2)·Σ W² to the loss, pulling weights towards zero."""
    shuffle: bool = False
    """Visit the training samples in a new random order every epoch (the notebook did not)."""
    seed: int = 0
    """Seeds every random choice: initial weights and shuffling."""
    train_size: int = 60_000
    """Train on the first N training samples only (quick experiments)."""

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(int(s) for s in self.layers))

    def validate(self, n_available=60_000):
        """Raise ConfigError with a plain reason if the settings cannot train; return self otherwise."""
        try:
            check_architecture(self.layers, self.activation, self.output, self.loss, self.init)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.layers[0] != N_PIXELS or self.layers[-1] != N_DIGITS:
            raise ConfigError(f"layers must start with {N_PIXELS} (pixels) and end with {N_DIGITS} "
                              f"(digits), got {','.join(map(str, self.layers))}")
        if len(self.layers) - 2 > MAX_HIDDEN_LAYERS or max(self.layers[1:-1], default=1) > MAX_UNITS:
            raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers of at most {MAX_UNITS} units")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ConfigError(f"learning rate must be above 0 and at most {MAX_LR:g}, got {self.lr:g}")
        if not (math.isfinite(self.lr_decay) and 0.1 <= self.lr_decay <= 1):
            raise ConfigError(f"lr decay must be between 0.1 and 1, got {self.lr_decay:g}")
        if not (math.isfinite(self.l2) and 0 <= self.l2 <= 1):
            raise ConfigError(f"l2 must be between 0 and 1, got {self.l2:g}")
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs}")
        if not 1 <= self.train_size <= n_available:
            raise ConfigError(f"training-set size must be between 1 and {n_available}, got {self.train_size}")
        if not 1 <= self.batch_size <= self.train_size:
            raise ConfigError(f"batch size must be between 1 and the training-set size "
                              f"({self.train_size}), got {self.batch_size}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be between 0 and {2**32 - 1}, got {self.seed}")
        return self

    def to_dict(self):
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d):
        """Build from plain data (a saved file, a URL), ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes):
        return replace(self, **changes)


CHOICES = {"activation": list(ACTIVATIONS), "output": list(OUTPUTS), "loss": list(LOSSES),
           "optimizer": list(OPTIMIZERS), "init": list(INITS)}
"""The allowed values of each categorical field."""
