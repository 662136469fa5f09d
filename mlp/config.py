"""The training configuration: one dataclass whose fields are the app's sliders and the CLI's options."""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace

from .activations import ACTIVATIONS, OUTPUTS
from .augment import Augmentation, check as check_augmentation
from .losses import LOSSES
from .network import INITS, check_architecture
from .optimizers import OPTIMIZERS

N_PIXELS, N_DIGITS = 784, 10
MAX_EPOCHS = 200
MAX_UNITS = 1024
MAX_HIDDEN_LAYERS = 4
MAX_LR = 10.0
MAX_DROPOUT = 0.9
MAX_REPEAT = 100
MAX_HOLDOUT = 0.9
START_FROM = re.compile(r"(model:[a-z0-9_-]{1,40}|[0-9a-f]{12})?")
COLLECTION = re.compile(r"([0-9a-f]{12})?")


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
    dropout: float = 0.0
    """Share of every hidden layer's units switched off at random for each training batch
    (inverted dropout); evaluation always uses every unit."""
    shift: float = 0.0
    """Augmentation: move each training image by up to this many pixels, afresh every batch."""
    rotation: float = 0.0
    """Augmentation: turn each training image by up to this many degrees either way."""
    scaling: float = 0.0
    """Augmentation: resize each training image by up to this fraction, larger or smaller."""
    elastic: float = 0.0
    """Augmentation: bend each training image by a smooth random field of about this many pixels."""
    start_from: str = ""
    """Fine-tuning: the run id (or ``model:NAME``) whose weights this run starts from; "" for new ones."""
    my_digits: str = ""
    """Fine-tuning: the id of a collection of the learner's own digits to train on besides MNIST."""
    my_digits_repeat: int = 10
    """How much the learner's digits weigh: each counts as this many training images per epoch."""
    holdout: float = 0.25
    """The share of the learner's digits kept out of training, to measure what the run learned."""

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(int(s) for s in self.layers))

    def validate(self, n_available=60_000):
        """Raise ConfigError with a plain reason if the settings cannot train; return self otherwise."""
        try:
            check_architecture(self.layers, self.activation, self.output, self.loss, self.init)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        try:
            check_layers(self.layers)
        except ValueError as err:
            raise ConfigError(str(err)) from None
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
        if not START_FROM.fullmatch(self.start_from):
            raise ConfigError(f"start_from should be a run id or model:NAME, got {self.start_from[:40]!r}")
        if not COLLECTION.fullmatch(self.my_digits):
            raise ConfigError(f"my_digits should be a collection id, got {self.my_digits[:40]!r}")
        if not 1 <= self.my_digits_repeat <= MAX_REPEAT:
            raise ConfigError(f"my_digits_repeat must be between 1 and {MAX_REPEAT}, got {self.my_digits_repeat}")
        if not (math.isfinite(self.holdout) and 0 <= self.holdout <= MAX_HOLDOUT):
            raise ConfigError(f"holdout must be between 0 and {MAX_HOLDOUT:g}, got {self.holdout:g}")
        if not (math.isfinite(self.dropout) and 0 <= self.dropout <= MAX_DROPOUT):
            raise ConfigError(f"dropout must be between 0 and {MAX_DROPOUT:g}, got {self.dropout:g}")
        try:
            check_augmentation(Augmentation.of(self))
        except ValueError as err:
            raise ConfigError(str(err)) from None
        return self

    def to_dict(self):
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d):
        """Build from plain data, ignoring keys that are not fields (types are not checked: for
        data from outside, use ``config_from_plain``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes):
        return replace(self, **changes)

    @property
    def weights(self):
        """How many weights (connections) the network has, biases not counted: 12,960 for 784-16-16-10."""
        return sum(a * b for a, b in zip(self.layers, self.layers[1:]))

    def summary(self):
        """The settings in one line, for a list: "784-16-16-10 sigmoid/sigmoid, squared_error, sgd
        lr 0.02, batch 1, 15 epochs" plus whatever differs from the seed's other defaults."""
        line = (f"{'-'.join(map(str, self.layers))} {self.activation}/{self.output}, {self.loss}, "
                f"{self.optimizer} lr {self.lr:g}, batch {self.batch_size}, {self.epochs} epochs")
        usual = TrainConfig()
        extras = [f"{name} {getattr(self, name):g}" for name in ("lr_decay", "l2", "dropout", "shift", "rotation",
                                                                  "scaling", "elastic")
                  if getattr(self, name) != getattr(usual, name)]
        extras += ["shuffled"] if self.shuffle else []
        extras += [f"{self.train_size:,} images"] if self.train_size != usual.train_size else []
        extras += [f"init {self.init}"] if self.init != usual.init else []
        extras += ["fine-tuned"] if self.start_from or self.my_digits else []
        return ", ".join([line, *extras])


def check_layers(sizes):
    """Raise ValueError unless ``sizes`` is a network this app trains (and so shows): 784 pixels in,
    10 digits out, at most MAX_HIDDEN_LAYERS hidden layers of 1 to MAX_UNITS units each."""
    sizes = list(sizes)
    if len(sizes) < 2 or sizes[0] != N_PIXELS or sizes[-1] != N_DIGITS:
        raise ValueError(f"layers must start with {N_PIXELS} (pixels) and end with {N_DIGITS} "
                         f"(digits), got {'-'.join(map(str, sizes[:8]))}{'…' if len(sizes) > 8 else ''}")
    hidden = sizes[1:-1]
    if len(hidden) > MAX_HIDDEN_LAYERS or max(hidden, default=1) > MAX_UNITS or min(hidden, default=1) < 1:
        got = f"{len(hidden)} hidden layer{'s' if len(hidden) != 1 else ''} of {min(hidden)} to {max(hidden)} units"
        raise ValueError(f"this app takes at most {MAX_HIDDEN_LAYERS} hidden layers of at most {MAX_UNITS} "
                         f"units (and at least one) each; got {got}")


def config_from_plain(data):
    """A validated TrainConfig from plain data read from outside (a file's JSON): every field's type
    is checked before use (a bool is not a number, "0.1" is not a float). Keys that are not fields
    are ignored; missing ones take the defaults. Raises ConfigError saying what is wrong."""
    if not isinstance(data, dict):
        raise ConfigError("the settings should be a table of names and values")
    values = {}
    for f in fields(TrainConfig):
        if f.name not in data:
            continue
        value = data[f.name]
        kind = _KINDS[f.name]
        if kind == "layers":
            ok = isinstance(value, (list, tuple)) and all(type(v) is int for v in value)
        elif kind is float:
            ok = type(value) in (int, float)
        else:
            ok = type(value) is kind
        if not ok:
            raise ConfigError(f"{f.name} should be {_KIND_NAMES[kind]}, got {str(value)[:40]!r}")
        values[f.name] = value
    return TrainConfig(**values).validate()


FIELDS = tuple(f.name for f in fields(TrainConfig))
"""Every setting's name, in the dataclass's order (layers, activation, ..., train_size)."""

CHOICES = {"activation": list(ACTIVATIONS), "output": list(OUTPUTS), "loss": list(LOSSES),
           "optimizer": list(OPTIMIZERS), "init": list(INITS)}
"""The allowed values of each categorical field."""

_KINDS = {f.name: {"tuple[int, ...]": "layers", "str": str, "float": float, "int": int, "bool": bool}[f.type]
          for f in fields(TrainConfig)}
"""Each field's kind, from the dataclass's annotations, for ``config_from_plain``."""
_KIND_NAMES = {"layers": "a list of whole numbers", str: "a name", float: "a number", int: "a whole number",
               bool: "true or false"}

HELP = {
    "layers": "Units in each hidden layer, between the 784 pixels in and the 10 digits out.",
    "activation": "How each hidden unit squashes its weighted input sum.",
    "output": "Softmax turns the 10 outputs into probabilities that add up to 1; sigmoid squashes each on its own.",
    "loss": "How wrongness is measured: squared distance to the target, or minus the log-probability of the right digit.",
    "optimizer": "How a gradient becomes a weight change: plain steps, steps with momentum, or Adam's per-weight steps.",
    "lr": "How far each update moves the weights. Too small crawls, too large diverges.",
    "lr_decay": "After every epoch the learning rate is multiplied by this (1 = constant).",
    "batch_size": "Samples averaged per update: 1 updates after every image, larger batches are smoother and faster.",
    "epochs": "How many times the network sees the whole training set.",
    "init": "How the weights start: U(-0.5, 0.5) like the notebook, or Xavier/He scaled to the layer sizes.",
    "l2": "Weight decay: a pull of every weight towards zero, against overfitting.",
    "shuffle": "Visit the training images in a new random order every epoch (the notebook did not).",
    "train_size": "Train on the first N of the 60,000 training images: smaller is quicker, larger learns more.",
    "seed": "Fixes every random choice (initial weights, shuffling): the same seed gives the same run.",
    "dropout": "Switch this share of every hidden layer's units off at random for each batch, so no unit can "
               "rely on another; evaluation uses them all.",
    "shift": "Move each training image by up to this many pixels, a new random amount every batch.",
    "rotation": "Turn each training image by up to this many degrees either way, afresh every batch.",
    "scaling": "Make each training image up to this fraction larger or smaller, afresh every batch.",
    "elastic": "Bend each training image by a smooth random field of about this many pixels, like an "
               "unsteady hand.",
    "start_from": "Start from a trained network's weights instead of random ones (fine-tuning): its "
                  "architecture is then this run's.",
    "my_digits": "Train on your own kept digits too, besides MNIST.",
    "my_digits_repeat": "How much your digits weigh: each counts as this many training images per epoch.",
    "holdout": "The share of your digits kept out of training, to measure whether the run learned your "
               "handwriting (not just memorised it).",
}
"""One line of help per field, shown beside the app's controls."""


def advice(config):
    """Plain-language notes on settings that work but are unusual or slow; empty when all is usual."""
    notes = []
    if config.loss == "cross_entropy" and config.output == "sigmoid":
        notes.append("Cross-entropy with a sigmoid output only rewards the right digit's output and "
                     "ignores the others; softmax is its usual partner.")
    if config.loss == "squared_error" and config.output == "softmax":
        notes.append("Squared error through a softmax learns slowly when it is very wrong; "
                     "cross-entropy is the usual partner of softmax.")
    if config.activation in ("relu", "leaky_relu") and config.init == "uniform":
        notes.append("U(-0.5, 0.5) weights are large for ReLU units and can silence many of them; "
                     "He initialisation is made for ReLU.")
    if config.optimizer == "adam" and config.lr > 0.05:
        notes.append(f"Adam usually wants a learning rate near 0.001; {config.lr:g} will likely diverge.")
    if config.optimizer == "sgd" and config.batch_size == 1 and config.lr > 1:
        notes.append(f"A learning rate of {config.lr:g} with one sample per update will likely diverge.")
    if config.batch_size > config.train_size:
        notes.append("The batch is larger than the training set.")
    return notes


def to_query(config):
    """The config as URL query parameters (strings), e.g. for a link that opens the same setup."""
    d = config.to_dict()
    d["layers"] = "-".join(map(str, config.layers))
    d["shuffle"] = "1" if config.shuffle else "0"
    return {k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in d.items()}


def from_query(params, base=None):
    """Parse URL query parameters into a config. Returns (config, problems): unreadable or invalid
    values are left at ``base`` (the seed defaults) and described in ``problems``."""
    base = base or TrainConfig()
    parsers = {f.name: f.type for f in fields(TrainConfig)}
    changes, problems = {}, []
    for key, raw in params.items():
        if key not in parsers:
            continue
        try:
            if key == "layers":
                value = tuple(int(p) for p in str(raw).replace(",", "-").split("-"))
            elif key == "shuffle":
                value = {"1": True, "true": True, "0": False, "false": False}[str(raw).lower()]
            elif parsers[key] in ("int", int):
                value = int(raw)
            elif parsers[key] in ("float", float):
                value = float(raw)
            else:
                value = str(raw)
            base.replace(**{key: value}).validate()
        except (ValueError, KeyError, ConfigError) as err:
            problems.append(f"{key}={raw!r} ignored: {err}")
            continue
        changes[key] = value
    config = base.replace(**changes)
    try:
        config.validate()
    except ConfigError as err:
        return base, problems + [f"the link's settings do not fit together ({err}); using the defaults"]
    return config, problems
