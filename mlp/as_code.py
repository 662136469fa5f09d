"""A run written out as code: a standalone NumPy script, or a notebook, that trains it again, exactly.

The code is generated from the run's own choices and nothing else (``Recipe``, made by ``mlp.export``):
its activations, loss, optimizer, initialisation, and dropout, augmentation or a learner's digits only
if it used them. It reproduces the run because it does what the engine does in the engine's order:

- every random choice is drawn from the same streams: ``default_rng(seed)`` for the initial weights,
  ``[seed, 1]`` for the order of the images, ``[seed, 2]`` for dropout masks, ``[seed, 4]`` for the
  augmentation (``mlp.training.Trainer``), each drawn in the same order and the same amounts;
- every operation that rounds is written so it rounds as the engine's does (float32 throughout, the
  same products and sums: ``a·(1 − a)`` as ``g − g·a`` with ``g = grad·a``, a batch's sum as a product
  with a row of ones, Adam's moments kept scaled), so on the same machine the general path's updates
  come out bit for bit the same. Where the engine trains through its compiled kernels
  (``mlp.kernels``: one image per batch, or small mini-batches) or ``mlp.per_sample``, it makes the
  same updates rounded in another order: there the weights agree to float32 rounding
  (``docs/export.md`` has the measurements).

User text (a run's name, a collection's name) goes into the code only as data: ``repr`` of a string,
never into a comment, a docstring or the notebook's Markdown, so no name can become code.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from string import Template

from .augment import ELASTIC_SMOOTHING
from .data import IDX_NAMES
from .io import FORMAT, FORMAT_VERSION
from .losses import LOG_FLOOR
from .activations import LEAKY_SLOPE

NOTEBOOK_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


@dataclass(frozen=True)
class Section:
    """One part of the code: a heading, a few plain words about it (the notebook's Markdown: fixed
    text, never user text) and its code."""

    title: str
    words: str
    code: str


DROP = "\x00"
"""A placeholder's value that removes its whole line (an empty block)."""


def code(text, **values):
    """Dedented code with its ``$name`` placeholders filled (a Template: code has braces of its own).
    A line that is only a placeholder whose value is ``block("")`` goes away."""
    filled = Template(textwrap.dedent(text).strip("\n")).substitute(values)
    return "".join(line + "\n" for line in filled.split("\n") if line != DROP)


def block(text, levels):
    """Lines to fill a placeholder that stands alone at the start of a line: each indented by
    ``levels`` × 4 spaces; ``DROP`` (the line goes) when there are none."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    return "\n".join("    " * levels + line if line else "" for line in lines) if lines else DROP


# ---- the pieces ---------------------------------------------------------------------------------
ACTIVATION_CODE = {
    "sigmoid": '''
        def sigmoid(Z):
            """1 / (1 + e^−z) for every entry: squashes any sum into (0, 1)."""
            return 1.0 / (1.0 + np.exp(-Z))


        def sigmoid_backward(A, grad):
            """dC/dZ from dC/dA (``grad``) for A = sigmoid(Z): grad · A(1 − A), computed as g − g·A with
            g = grad·A (the same number, rounded as the app rounds it)."""
            g = grad * A
            return g - g * A


        np.seterr(over="ignore")      # e^−z overflows to inf for z < −88: then 1 / (1 + inf) is the right 0
        ''',
    "tanh": '''
        def tanh(Z):
            """An S-curve like sigmoid, centred on zero: every entry squashed into (−1, 1)."""
            return np.tanh(Z)


        def tanh_backward(A, grad):
            """dC/dZ from dC/dA (``grad``) for A = tanh(Z): grad · (1 − A²)."""
            return grad * (1.0 - A * A)
        ''',
    "relu": '''
        def relu(Z):
            """max(0, z) for every entry."""
            return np.maximum(Z, 0.0)


        def relu_backward(A, grad):
            """dC/dZ from dC/dA (``grad``) for A = relu(Z): grad where the unit was on (A > 0), else 0."""
            return grad * (A > 0)
        ''',
    "leaky_relu": '''
        LEAKY_SLOPE = $slope


        def leaky_relu(Z):
            """z where z > 0, else 0.01 z: the small slope keeps a unit that is off still learning."""
            return np.maximum(Z, LEAKY_SLOPE * Z)


        def leaky_relu_backward(A, grad):
            """dC/dZ from dC/dA (``grad``) for A = leaky_relu(Z): grad where A > 0, else 0.01 grad."""
            return np.where(A > 0, grad, LEAKY_SLOPE * grad)
        ''',
    "softmax": '''
        def softmax(Z):
            """e^z / Σ e^z along each row: ten outputs that are probabilities adding up to 1. Taking away
            the row's largest z first changes nothing but keeps e^z from overflowing."""
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            return E / E.sum(axis=1, keepdims=True)
        ''',
    "softmax_backward": '''
        def softmax_backward(A, grad):
            """dC/dZ from dC/dA (``grad``) for A = softmax(Z): a softmax mixes its row, so each z moves
            every output: A · (grad − Σ_j A_j grad_j)."""
            return A * (grad - np.sum(A * grad, axis=1, keepdims=True))
        ''',
}

INIT_CODE = {
    "uniform": ('''
        def initial_parameters():
            """Each layer's weights W (fan_in, fan_out) and biases b (fan_out,), drawn as the app draws them:
            layer by layer, W then b, every number from U(−0.5, 0.5)."""
            rng = np.random.default_rng(SEED)
            weights, biases = [], []
            for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
                weights.append(rng.uniform(-0.5, 0.5, (fan_in, fan_out)).astype(np.float32))
                biases.append(rng.uniform(-0.5, 0.5, fan_out).astype(np.float32))
            return weights, biases
        '''),
    "xavier": ('''
        def initial_parameters():
            """Each layer's weights W (fan_in, fan_out) from U(±√(6 / (fan_in + fan_out))) (Xavier: the signal
            keeps its size through sigmoid and tanh layers) and biases b (fan_out,) of 0."""
            rng = np.random.default_rng(SEED)
            weights, biases = [], []
            for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
                biases.append(np.zeros(fan_out, np.float32))
            return weights, biases
        '''),
    "he": ('''
        def initial_parameters():
            """Each layer's weights W (fan_in, fan_out) from N(0, √(2 / fan_in)) (He: the signal keeps its
            size through ReLU layers) and biases b (fan_out,) of 0."""
            rng = np.random.default_rng(SEED)
            weights, biases = [], []
            for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
                weights.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)).astype(np.float32))
                biases.append(np.zeros(fan_out, np.float32))
            return weights, biases
        '''),
}

INIT_WORDS = {
    "uniform": "weights and biases drawn from U(−0.5, 0.5)",
    "xavier": "Xavier-initialised weights and zero biases",
    "he": "He-initialised weights and zero biases",
}
LOSS_WORDS = {"squared_error": "the squared-error loss C = Σ(a − y)²",
              "cross_entropy": "the cross-entropy loss C = −log a_y"}
OPTIMIZER_WORDS = {"sgd": "plain SGD", "momentum": "SGD with momentum 0.9", "adam": "Adam"}


def _number(value):
    """A number as Python reads it back exactly (repr), with thousands marked for large whole ones."""
    return f"{value:_}" if type(value) is int and value >= 10_000 else repr(value)


class _Writer:
    """Writes one recipe's sections (``sections``), then the script around them or the notebook."""

    def __init__(self, recipe):
        self.recipe, self.config = recipe, recipe.config
        c = self.config
        self.hidden, self.output = c.activation, c.output
        self.dropout = c.dropout > 0
        self.shuffle = c.shuffle
        self.augmented = any((c.shift, c.rotation, c.scaling, c.elastic))
        self.started = recipe.start is not None
        self.digits = recipe.my_digits is not None
        self.inputs = self.started or self.digits

    # ---- the words ----
    def choices(self):
        """The run's choices in one sentence (fixed words and numbers only)."""
        c = self.config
        hidden = f"{c.activation.replace('_', ' ')} hidden units"
        parts = [f"{hidden} and {'a softmax' if c.output == 'softmax' else 'sigmoid'} outputs",
                 LOSS_WORDS[c.loss],
                 f"{OPTIMIZER_WORDS[c.optimizer]} with learning rate {c.lr:g}"
                 + (f" (times {c.lr_decay:g} after every epoch)" if c.lr_decay != 1 else "")
                 + (" on one image at a time" if c.batch_size == 1 else f" on batches of {c.batch_size}")]
        if c.l2:
            parts.append(f"weight decay {c.l2:g}")
        parts.append("the weights and biases of the network it started from" if self.started
                     else INIT_WORDS[c.init])
        order = "in a new random order every epoch" if c.shuffle else "in dataset order"
        parts.append(f"the first {c.train_size:,} training images {order}")
        if self.dropout:
            parts.append(f"dropout of {c.dropout:g} on the hidden layers")
        moves = [f"moved by up to {c.shift:g} pixels" if c.shift else "",
                 f"turned by up to {c.rotation:g}°" if c.rotation else "",
                 f"resized by up to {c.scaling:.0%}" if c.scaling else "",
                 f"bent by about {c.elastic:g} pixels" if c.elastic else ""]
        if self.augmented:
            parts.append("every training image " + ", ".join(m for m in moves if m) + ", afresh every batch")
        if self.digits:
            parts.append(f"the learner's own {len(self.recipe.my_digits.labels)} drawings, each counted "
                         f"{c.my_digits_repeat} times an epoch")
        return "; ".join(parts)

    # ---- the sections ----
    def settings(self):
        c, r = self.config, self.recipe
        lines = [("RUN_NAME", repr(r.name), "what the app called this run"),
                 ("LAYERS", repr(tuple(c.layers)), "units per layer: 784 pixels in, 10 digits out"),
                 ("LEARNING_RATE", _number(c.lr), "how far each update moves the weights")]
        if c.lr_decay != 1:
            lines.append(("LR_DECAY", _number(c.lr_decay), "after every epoch the learning rate is multiplied by this"))
        lines += [("BATCH_SIZE", _number(c.batch_size), "images averaged per update"),
                  ("EPOCHS", _number(c.epochs), "passes over the training images"),
                  ("TRAIN_SIZE", _number(c.train_size), "train on the first TRAIN_SIZE training images")]
        if c.l2:
            lines.append(("L2", _number(c.l2), "weight decay: the loss gains (L2 / 2) Σ W² over every weight"))
        if self.dropout:
            lines.append(("DROPOUT", _number(c.dropout), "share of hidden units switched off, afresh every batch"))
        for name, words in (("shift", "move each training image by up to this many pixels"),
                            ("rotation", "turn each training image by up to this many degrees either way"),
                            ("scaling", "resize each training image by up to this fraction"),
                            ("elastic", "bend each training image by a smooth field of about this many pixels")):
            if getattr(c, name):
                lines.append((name.upper(), _number(float(getattr(c, name))), words))
        if self.digits:
            lines.append(("MY_DIGITS_REPEAT", _number(c.my_digits_repeat),
                          "each of the learner's drawings counts as this many training images an epoch"))
        lines.append(("SEED", _number(c.seed), "every random choice is drawn from generators seeded with it"))
        if self.inputs:
            lines.append(("INPUTS", repr(r.inputs_name), "what it started from, written beside this file"))
        if r.recorded:
            figures = ", ".join(repr(round(100 * a, 2)) for a in r.recorded) + ("," if len(r.recorded) == 1 else "")
            wrapped = textwrap.wrap(f"({figures})", 100 - len("APP_TEST_ACCURACY = "))
            lines.append(("APP_TEST_ACCURACY", ("\n" + " " * len("APP_TEST_ACCURACY = ")).join(wrapped),
                          "% the app measured after each epoch"))
        short = [len(f"{name} = {value}") for name, value, _ in lines if len(f"{name} = {value}") <= 40]
        width = max(short, default=0)
        body = "\n".join(f"{f'{name} = {value}':<{width}}  # {words}" if len(f"{name} = {value}") <= 40
                         else f"# {words}\n{name} = {value}" for name, value, words in lines)
        notes = "".join(f"# {note}\n" for note in r.notes)
        return notes + body + "\n"

    def imports(self):
        names = ["argparse", "gzip", "json", "math"] + (["zipfile"] if self.inputs else [])
        return "".join(f"import {n}\n" for n in names) + "from pathlib import Path\n\nimport numpy as np\n"

    def data(self):
        public = self.recipe.public_half
        idx = ",\n             ".join(f'"{k}": "{v}"' for k, v in IDX_NAMES.items())
        text = code('''
            IDX_FILES = {$idx}


            def find_mnist(*folders):
                """data/mnist.npz in the first of ``folders`` (or a folder above one) that has it."""
                for start in folders:
                    for folder in (start, *start.parents):
                        if (folder / "data" / "mnist.npz").is_file():
                            return folder / "data" / "mnist.npz"
                raise SystemExit("No data/mnist.npz here or above: give the path of an MNIST .npz, or of a "
                                 "folder of its four IDX files.")


            def read_idx(path):
                """One IDX file (MNIST's own format, gzipped or not) as a uint8 array: a magic number whose last
                byte counts the dimensions, one big-endian 4-byte size per dimension, then the bytes."""
                if not path.exists() and path.with_name(path.name + ".gz").exists():
                    path = path.with_name(path.name + ".gz")
                with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
                    content = f.read()
                if content[:3] != b"\\0\\0\\x08" or not 1 <= content[3] <= 4:
                    raise SystemExit(f"{path} is not an IDX file of bytes")
                dims = content[3]
                shape = tuple(int.from_bytes(content[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
                if len(content) != 4 + 4 * dims + math.prod(shape):
                    raise SystemExit(f"{path} is truncated: its header promises {shape}")
                return np.frombuffer(content, np.uint8, offset=4 + 4 * dims).reshape(shape)


            def load_mnist(path):
                """(x_train, y_train, x_test, y_test) from an .npz holding those four uint8 arrays or from a
                folder of the four IDX files: images (n, 784) float32, pixels 0..255 scaled to [0, 1], one
                flattened 28×28 image per row; labels (n,) int64."""
                path = Path(path)
                if path.is_dir():
                    arrays = {key: read_idx(path / name) for key, name in IDX_FILES.items()}
                else:
                    with np.load(path, allow_pickle=False) as archive:
                        missing = [key for key in IDX_FILES if key not in archive.files]
                        if missing:
                            raise SystemExit(f"{path} lacks {missing}: an MNIST .npz holds {list(IDX_FILES)}")
                        arrays = {key: archive[key] for key in IDX_FILES}
                for split in ("train", "test"):
                    images, labels = arrays["x_" + split], arrays["y_" + split]
                    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or labels.shape != (len(images),) \\
                            or labels.dtype != np.uint8 or labels.max(initial=0) > 9:
                        raise SystemExit(f"{path}: expected uint8 {split} images of 28×28 and a digit 0-9 for each")
                if len(arrays["x_train"]) < TRAIN_SIZE:
                    raise SystemExit(f"{path} holds {len(arrays['x_train'])} training images, fewer than {TRAIN_SIZE}")
                x_train, x_test = (arrays[key].reshape(len(arrays[key]), 784).astype(np.float32) / np.float32(255)
                                   for key in ("x_train", "x_test"))
                return x_train, arrays["y_train"].astype(np.int64), x_test, arrays["y_test"].astype(np.int64)


            def one_hot(labels):
                """Digit labels (n,) as target rows (n, 10): 1 for the right digit, 0 for the others."""
                Y = np.zeros((len(labels), 10), np.float32)
                Y[np.arange(len(labels)), labels] = 1
                return Y
            ''', idx=idx)
        words = ("MNIST: 60,000 training and 10,000 test images of handwritten digits, 28×28 pixels each. "
                 "Each image becomes one row of 784 numbers between 0 and 1.")
        if public:
            words += (" This run was in a class challenge, so the app tested it on the public half of the test "
                      "set only: the 5,000 even-numbered images.")
        return Section("Data", words, text)

    def inputs_section(self):
        r = self.recipe
        members, checks = [], []
        if self.started:
            members.append('[f"{key}{l}" for l in range(len(LAYERS) - 1) for key in "Wb"]')
            checks.append(code('''
                for l, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
                    expect(f"W{l}", (fan_in, fan_out), np.float32)
                    expect(f"b{l}", (fan_out,), np.float32)
                '''))
        if self.digits:
            members.append('["my_x", "my_y", "held_x", "held_y"]')
            checks.append(code('''
                for images, labels, count in (("my_x", "my_y", $trained), ("held_x", "held_y", $held)):
                    expect(images, (count, 784), np.float32, 0, 1)
                    expect(labels, (count,), np.uint8, 0, 9)
                ''', trained=len(r.my_digits.labels), held=len(r.my_digits.held_labels)))
        what = " and ".join((["the weights and biases the app's run started from"] if self.started else []) +
                            (["the learner's drawings it trained on and held out"] if self.digits else []))
        text = code('''
            def read_inputs(path):
                """The arrays written beside this file: $what. Each is checked before
                use: exactly the expected members, their sizes before anything is inflated, then every
                dtype, shape and value."""
                names = $members
                with zipfile.ZipFile(path) as archive:
                    declared = {info.filename: info.file_size for info in archive.infolist()}
                if sorted(declared) != sorted(name + ".npy" for name in names):
                    raise SystemExit(f"{path} should hold exactly {names}")
                if sum(declared.values()) > $limit:
                    raise SystemExit(f"{path} declares more data than it should hold")
                with np.load(path, allow_pickle=False) as archive:
                    arrays = {name: archive[name] for name in names}

                def expect(name, shape, dtype, low=None, high=None):
                    array = arrays[name]
                    if array.shape != shape or array.dtype != dtype:
                        raise SystemExit(f"{path}: {name} should be {np.dtype(dtype)} {shape}, "
                                         f"not {array.dtype} {array.shape}")
                    if not np.isfinite(array).all() or (low is not None and array.size
                                                        and not low <= array.min() <= array.max() <= high):
                        raise SystemExit(f"{path}: {name} holds values out of range")

            $checks
                return arrays
            ''', what=what, members=" + ".join(members), limit=_number(r.inputs_limit()),
                    checks=block("".join(checks), 1))
        words = ("The run did not start from scratch: " + what + " come from the file written beside this one, "
                 "read and checked before anything trains.")
        return Section("What the run started from", words, text)

    def network(self):
        pieces = [] if self.started else [code(INIT_CODE[self.config.init])]
        if self.started:
            pieces.append(code('''
                def starting_parameters(inputs):
                    """The weights W (fan_in, fan_out) and biases b (fan_out,) of every layer, as the app's run
                    began: those of the network it was fine-tuned from."""
                    count = len(LAYERS) - 1
                    weights = [inputs[f"W{l}"].copy() for l in range(count)]
                    return weights, [inputs[f"b{l}"].copy() for l in range(count)]
                '''))
        for name in dict.fromkeys((self.hidden, self.output)):
            pieces.append(code(ACTIVATION_CODE[name], slope=repr(LEAKY_SLOPE)))
        if self.output == "softmax" and self.config.loss == "squared_error":
            pieces.append(code(ACTIVATION_CODE["softmax_backward"]))
        words = (f"A {'-'.join(map(str, self.config.layers))} network: every layer computes Z = A @ W + b from "
                 "the layer before and squashes it with its activation. Each activation comes with its slope, "
                 "which backpropagation needs.")
        return Section("The network", words, "\n\n".join(pieces))

    def forward(self):
        last = "" if self.hidden == self.output else f" if l < len(weights) - 1 else {self.output}(Z)"
        if self.dropout:
            text = code('''
                def forward(X, weights, biases, masks=None):
                    """Every layer's activations for a batch X (n, 784): [X, A1, ..., A_out], A_l (n, LAYERS[l]).
                    With dropout ``masks`` (training only) hidden layer l's output is multiplied by masks[l]
                    before the next layer receives it. Returns (activations, received): received[l] is what
                    layer l was given."""
                    activations, received = [X], [X]
                    for l, (W, b) in enumerate(zip(weights, biases)):
                        Z = received[-1] @ W + b                 # (n, fan_out): each unit's weighted sum
                        A = $hidden(Z)$last
                        activations.append(A)
                        if l < len(weights) - 1:
                            received.append(A if masks is None else A * masks[l])
                    return activations, received
                ''', hidden=self.hidden, last=last)
        else:
            text = code('''
                def forward(X, weights, biases):
                    """Every layer's activations for a batch X (n, 784): [X, A1, ..., A_out], A_l (n, LAYERS[l])."""
                    activations = [X]
                    for l, (W, b) in enumerate(zip(weights, biases)):
                        Z = activations[-1] @ W + b              # (n, fan_out): each unit's weighted sum
                        activations.append($hidden(Z)$last)
                    return activations
                ''', hidden=self.hidden, last=last)
        return Section("Forward pass", "The batch flows through the layers; every layer's activations are "
                       "kept, since backpropagation needs them.", text)

    def loss(self):
        c = self.config
        if c.loss == "cross_entropy" and c.output == "softmax":
            text = code('''
                def loss_and_output_delta(A, Y):
                    """The batch's mean cross-entropy C = −log a_y (a_y: the probability given to the right
                    digit) and δ = dC/dZ of the output layer (n, 10). Through a softmax it is simply
                    (A − Y) / n: no division by a tiny probability."""
                    n = len(A)
                    right = (A * Y).sum(axis=1)                  # each image's probability of its digit
                    loss = -float(np.log(np.maximum(right, $floor)).sum()) / n
                    return loss, (A - Y) / n
                ''', floor=repr(LOG_FLOOR))
        elif c.loss == "cross_entropy":
            text = code('''
                def loss_and_output_delta(A, Y):
                    """The batch's mean cross-entropy C = −Σ_k y_k log a_k and δ = dC/dZ of the output layer
                    (n, 10). Probabilities are kept above $floor so that log 0 never happens."""
                    n = len(A)
                    clipped = np.maximum(A, $floor)
                    loss = -float(np.sum(Y * np.log(clipped))) / n
                    grad = (Y / clipped) * (-1.0 / n)            # dC/dA
                    return loss, ${output}_backward(A, grad)    # dC/dZ
                ''', floor=repr(LOG_FLOOR), output=c.output)
        else:
            text = code('''
                def loss_and_output_delta(A, Y):
                    """The batch's mean loss C = Σ_k (a_k − y_k)² (summed over the ten outputs, averaged over
                    the n images) and δ = dC/dZ of the output layer (n, 10)."""
                    n = len(A)
                    error = A - Y
                    loss = float(np.vdot(error, error)) / n
                    grad = error * (2.0 / n)                     # dC/dA = 2 (A − Y) / n
                    return loss, ${output}_backward(A, grad)    # dC/dZ = dC/dA · slope
                ''', output=c.output)
        return Section("Loss", "How wrong the outputs are for the targets Y, and where backpropagation "
                       "starts: the loss's gradient with respect to the output layer's sums Z.", text)

    def backprop(self):
        received = "received" if self.dropout else "activations"
        dropped = "grad = grad * masks[l - 1]                      # a dropped unit passed nothing on"
        l2 = code('''
            for l, W in enumerate(weights):                     # weight decay: C + (L2 / 2) Σ W²
                dW[l] = dW[l] + L2 * W
            loss += 0.5 * L2 * sum(float(np.vdot(W, W)) for W in weights)
            ''') if self.config.l2 else ""
        signature = "activations, received, Y, weights, masks" if self.dropout else "activations, Y, weights"
        text = code('''
            def batch_sum(delta):
                """Σ of delta (n, k) over the batch's rows, (k,): as a product with a row of ones, which is how
                the app adds them, so the two round alike."""
                return np.ones(len(delta), np.float32) @ delta


            def backprop($signature):
                """The batch's mean loss and its gradient with respect to every weight and bias: dW[l] shaped
                like W[l] (fan_in, fan_out), db[l] like b[l] (fan_out,)."""
                loss, delta = loss_and_output_delta(activations[-1], Y)     # δ of the output layer
                dW, db = [None] * len(weights), [None] * len(weights)
                for l in range(len(weights) - 1, -1, -1):
                    dW[l] = $received[l].T @ delta              # dC/dW = A_before^T δ
                    db[l] = batch_sum(delta)                    # dC/db = Σ over the batch of δ
                    if l > 0:
                        grad = delta @ weights[l].T             # dC/dA of the layer below (n, fan_in)
            $dropped
                        delta = ${hidden}_backward(activations[l], grad)   # its δ = dC/dZ
            $l2
                return loss, dW, db
            ''', signature=signature, received=received, hidden=self.hidden,
                    dropped=block(dropped if self.dropout else "", 3), l2=block(l2, 1))
        return Section("Backpropagation", "The chain rule, layer by layer from the output back: each layer's "
                       "δ = dC/dZ gives its weights' and biases' gradients and, through its weights, the δ of "
                       "the layer before.", text)

    def update(self):
        name = self.config.optimizer
        if name == "sgd":
            text = code('''
                def update(params, grads, lr):
                    """Plain gradient descent: every parameter steps downhill by lr × its gradient."""
                    for p, g in zip(params, grads):
                        p -= lr * g
                ''')
        elif name == "momentum":
            text = code('''
                MOMENTUM = 0.9


                class Momentum:
                    """Heavy-ball momentum: v ← 0.9 v − lr · g, then p ← p + v. The velocity v remembers past
                    steps, so the descent speeds up where they agree and damps zig-zags."""

                    def __init__(self, params):
                        self.velocities = [np.zeros_like(p) for p in params]

                    def update(self, params, grads, lr):
                        for p, g, v in zip(params, grads, self.velocities):
                            v *= MOMENTUM
                            v -= lr * g
                            p += v
                ''')
        else:
            text = code('''
                BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-08


                class Adam:
                    """Adam (Kingma & Ba, 2015): m ← β1 m + (1 − β1) g, v ← β2 v + (1 − β2) g², then
                    p ← p − lr · m̂ / (√v̂ + ε) with m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t).

                    Kept as the app keeps it, scaled: w = m / (1 − β1) and u = v / (1 − β2), so each average is a
                    scale and an add (w ← β1 w + g, u ← β2 u + g²) and the constants fold into the step size and
                    ε: the same steps, rounded as the app rounds them."""

                    def __init__(self, params):
                        self.w = [np.zeros_like(p) for p in params]
                        self.u = [np.zeros_like(p) for p in params]
                        self.t = 0

                    def update(self, params, grads, lr):
                        self.t += 1
                        root = math.sqrt(1 - BETA2)
                        correction = math.sqrt(1 - BETA2 ** self.t)
                        step = lr * (1 - BETA1) * correction / ((1 - BETA1 ** self.t) * root)
                        epsilon = EPSILON * correction / root
                        for p, g, w, u in zip(params, grads, self.w, self.u):
                            w *= BETA1
                            w += g
                            u *= BETA2
                            u += g * g
                            p -= (w / (np.sqrt(u) + epsilon)) * step
                ''')
        return Section("Update", f"{OPTIMIZER_WORDS[name][0].upper()}{OPTIMIZER_WORDS[name][1:]}: how a gradient "
                       "becomes a change of the weights.", text)

    def dropout_section(self):
        text = code('''
            def dropout_masks(rng, n):
                """One mask (n, units) per hidden layer: 0 for a dropped unit (each with probability DROPOUT),
                1 / (1 − DROPOUT) for a kept one, so a unit's expected output is unchanged ("inverted"
                dropout) and testing needs no masks."""
                keep = 1.0 - DROPOUT
                return [(rng.random((n, units), dtype=np.float32) < keep) * np.float32(1.0 / keep)
                        for units in LAYERS[1:-1]]
            ''')
        return Section("Dropout", "For every training batch a random share of the hidden units is switched off, "
                       "so no unit can rely on another.", text)

    def augmentation_section(self):
        c = self.config
        draws = [
            "angle = np.radians(rng.uniform(-ROTATION, ROTATION, n))" if c.rotation else
            "rng.random(n)          # the app draws an angle for every image even when it turns none: so do we",
            "scale = rng.uniform(1 - SCALING, 1 + SCALING, n)" if c.scaling else
            "rng.random(n)          # ... and a scale,",
            "shift = rng.uniform(-SHIFT, SHIFT, (n, 2))" if c.shift else
            "rng.random((n, 2))     # ... and a shift, to stay in step with its random numbers",
        ]
        if c.rotation:
            turn = ("cos, sin = np.cos(angle) / scale, np.sin(angle) / scale" if c.scaling else
                    "cos, sin = np.cos(angle), np.sin(angle)")
            place = code('''
                $turn
                A = np.empty((n, 2, 2))                     # reads the input at R(−θ) p / s: turns by θ, grows by s
                A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1] = cos, sin, -sin, cos
                points = A.astype(np.float32) @ GRID        # (n, 2, 784)
                ''', turn=turn)
        elif c.scaling:
            place = "points = (1 / scale).astype(np.float32)[:, None, None] * GRID    # reads p / s: grows by s\n"
        else:
            place = "points = GRID + np.zeros((n, 1, 1), np.float32)     # (n, 2, 784): each image's own copy\n"
        if c.elastic:
            place += "points = points + elastic_fields(rng, n)             # bent by a smooth random field\n"
        place += ("points = points + ((-shift).astype(np.float32) + CENTRE)[:, :, None]   # moved by shift\n"
                  if c.shift else "points = points + CENTRE\n")
        elastic = code('''
            def smoothing_basis(sigma=$sigma, keep=1e-4):
                """B (28, k): white noise M (k, k) becomes a Gaussian-smoothed field B M Bᵀ (smoothing of
                ``sigma`` pixels, zero beyond the image): the smoothing matrix's SVD, the directions that
                weigh at least ``keep`` of the largest (11 of 28)."""
                offsets = np.arange(SIDE)[:, None] - np.arange(SIDE)[None, :]
                kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
                kernel /= kernel[SIDE // 2].sum()
                u, s, _ = np.linalg.svd(kernel)
                k = int(np.sum(s > keep * s[0]))
                return (u[:, :k] * s[:k]).astype(np.float32)


            BASIS = smoothing_basis()


            def elastic_fields(rng, n):
                """Smooth random displacements (n, 2, 784), rows then columns, whose root mean square is
                ELASTIC pixels (after Simard et al., 2003: smoothed white noise)."""
                k = BASIS.shape[1]
                noise = rng.random((2 * n, k, k), dtype=np.float32)
                noise -= 0.5
                fields = (BASIS @ noise @ BASIS.T).reshape(n, 2, SIDE * SIDE)
                mean_square = np.einsum("ijk,ijk->i", fields, fields) / (2 * SIDE * SIDE)
                fields *= (ELASTIC / np.sqrt(np.maximum(mean_square, 1e-24))).astype(np.float32)[:, None, None]
                return fields


            ''', sigma=repr(ELASTIC_SMOOTHING)) if c.elastic else ""
        text = code('''
            SIDE, CENTRE = 28, 13.5
            _rows, _cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
            GRID = np.stack([_rows.ravel() - CENTRE, _cols.ravel() - CENTRE])   # (2, 784): each pixel's place


            $elastic
            def bilinear(X, points):
                """Images X (n, 784) read at ``points`` (n, 2, 784), rows then columns, each point between four
                pixels weighted by how near it is; off the image reads 0 (the background)."""
                n = len(X)
                padded = np.pad(X.reshape(n, SIDE, SIDE), ((0, 0), (2, 2), (2, 2)))   # zeros around
                points = np.clip(points, -2, SIDE + 2 - 1.001)
                corner = np.floor(points)
                row, col = points[:, 0] - corner[:, 0], points[:, 1] - corner[:, 1]   # how far past it
                r, k = corner[:, 0].astype(np.intp) + 2, corner[:, 1].astype(np.intp) + 2
                image = np.arange(n)[:, None]
                upper = (padded[image, r, k + 1] - padded[image, r, k]) * col + padded[image, r, k]
                lower = (padded[image, r + 1, k + 1] - padded[image, r + 1, k]) * col + padded[image, r + 1, k]
                return (lower - upper) * row + upper


            def augment(X, rng):
                """The batch X (n, 784), every image moved by a transform of its own, drawn afresh: output
                pixel p reads the input at a source point."""
                n = len(X)
            $draws
            $place
                return bilinear(X, points)
            ''', elastic=block(elastic, 0), draws=block("\n".join(draws), 1), place=block(place, 1))
        return Section("Augmentation", "Every training batch's digits are moved at random, afresh each time, so "
                       "the network never sees the same image twice and learns what a digit is rather than where "
                       "its pixels were.", text)

    def evaluation(self):
        outputs = "forward(X, weights, biases)[0][-1]" if self.dropout else "forward(X, weights, biases)[-1]"
        text = code('''
            def correct(X, y, weights, biases):
                """How many of the images X (n, 784) get their label y (n,): the digit with the highest output."""
                return int((${outputs}.argmax(axis=1) == y).sum())
            ''', outputs=outputs)
        return Section("Evaluation", "An image counts as right when its highest output is its digit.", text)

    def training(self):
        c = self.config
        rngs = []
        if self.shuffle:
            rngs.append("order_rng = np.random.default_rng([SEED, 1])       # the images' order, new every epoch")
        if self.dropout:
            rngs.append("dropout_rng = np.random.default_rng([SEED, 2])     # which units each batch drops")
        if self.augmented:
            rngs.append("augment_rng = np.random.default_rng([SEED, 4])     # how each batch's digits move")
        optimizer = {"sgd": None, "momentum": "Momentum", "adam": "Adam"}[c.optimizer]
        if optimizer:
            rngs.insert(0, f"optimizer = {optimizer}(params)")
        update = "update(params, dW + db, lr)" if optimizer is None else "optimizer.update(params, dW + db, lr)"
        if self.digits:
            size = "epoch_size"
            setup = ("my_Y = one_hot(my_y)\n"
                     "epoch_size = TRAIN_SIZE + len(my_y) * MY_DIGITS_REPEAT   # each drawing that many times")
            rows = ("order[start:start + BATCH_SIZE]" if self.shuffle else
                    "np.arange(start, min(start + BATCH_SIZE, epoch_size))")
            batch = code('''
                rows = $rows
                mnist = rows < TRAIN_SIZE                               # later rows are the learner's drawings
                mine = (rows[~mnist] - TRAIN_SIZE) % len(my_y)
                X_batch = np.concatenate([X[rows[mnist]], my_x[mine]])
                Y_batch = np.concatenate([Y[rows[mnist]], my_Y[mine]])
                ''', rows=rows)
        else:
            size, setup = "TRAIN_SIZE", ""
            rows = "order[start:start + BATCH_SIZE]" if self.shuffle else "slice(start, start + BATCH_SIZE)"
            batch = f"rows = {rows}\nX_batch, Y_batch = X[rows], Y[rows]\n"
        if self.augmented:
            batch += "X_batch = augment(X_batch, augment_rng)\n"
        if self.dropout:
            batch += "masks = dropout_masks(dropout_rng, len(X_batch))\n"
            batch += ("activations, received = forward(X_batch, weights, biases, masks)\n"
                      "loss, dW, db = backprop(activations, received, Y_batch, weights, masks)\n")
        else:
            batch += ("activations = forward(X_batch, weights, biases)\n"
                      "loss, dW, db = backprop(activations, Y_batch, weights)\n")
        batch += f"{update}\ntotal_loss += loss\n"
        app = ('app = f"   app: {APP_TEST_ACCURACY[epoch - 1]:.2f}%" if epoch <= len(APP_TEST_ACCURACY) else ""'
               if self.recorded else "")
        digits_args = ", my_x, my_y" if self.digits else ""
        text = code('''
            def train(data, weights, biases$digits_args):
                """Train the network (its ``weights`` and ``biases`` change in place) for EPOCHS epochs, printing
                the test accuracy after each; returns those accuracies."""
                x_train, y_train, x_test, y_test = data
            $public
                X, Y = x_train[:TRAIN_SIZE], one_hot(y_train[:TRAIN_SIZE])
                params, lr = weights + biases, LEARNING_RATE
            $setup
                accuracies = []
                for epoch in range(1, EPOCHS + 1):
            $order
                    total_loss, batches = 0.0, math.ceil($size / BATCH_SIZE)
                    for start in range(0, $size, BATCH_SIZE):
            $batch
                    if not math.isfinite(total_loss):
                        print(f"epoch {epoch:2d}  the loss became {total_loss}: training diverged "
                              "(the learning rate is too large for this setup)")
                        break
                    right = correct(x_test, y_test, weights, biases)
                    accuracies.append(right / len(y_test))
            $app
                    print(f"epoch {epoch:2d}  test accuracy {100 * right / len(y_test):6.2f}% "
                          f"({right} of {len(y_test)})  train loss {total_loss / batches:.4f}$shown", flush=True)
            $decay
                return accuracies
            ''', digits_args=digits_args, size=size, app=block(app, 2), shown="{app}" if app else "",
                    public=block("x_test, y_test = x_test[::2], y_test[::2]     # the public half: even-numbered "
                                 "test images" if self.recipe.public_half else "", 1),
                    setup=block("\n".join(rngs + ([setup] if setup else [])), 1),
                    order=block(f"order = order_rng.permutation({size})" if self.shuffle else "", 2),
                    batch=block(batch, 3), decay=block("lr *= LR_DECAY" if c.lr_decay != 1 else "", 2))
        return Section("Training loop", "Batch after batch: forward pass, backpropagation, update; after every "
                       "epoch, the test accuracy.", text)

    @property
    def recorded(self):
        return bool(self.recipe.recorded)

    def save_section(self):
        c = self.config
        text = code('''
            def save(path, weights, biases):
                """The trained network as a model file the app opens: W0, b0, W1, b1, ... and its description."""
                meta = {"format": "$format", "format_version": $version, "sizes": list(LAYERS), "name": RUN_NAME,
                        "activation": "$hidden", "output": "$output", "loss": "$loss", "init": "$init"}
                layers = {f"{key}{l}": array for l, (W, b) in enumerate(zip(weights, biases))
                          for key, array in (("W", W), ("b", b))}
                np.savez(path, meta=np.array(json.dumps(meta)), **layers)
            ''', format=FORMAT, version=FORMAT_VERSION, hidden=c.activation, output=c.output, loss=c.loss,
                    init=c.init)
        return Section("Keeping the trained network", "Saved as a model file, the trained network opens in the "
                       "app like any of its runs.", text)

    def sections(self):
        parts = [self.data()]
        if self.inputs:
            parts.append(self.inputs_section())
        parts += [self.network(), self.forward(), self.loss(), self.backprop(), self.update()]
        if self.dropout:
            parts.append(self.dropout_section())
        if self.augmented:
            parts.append(self.augmentation_section())
        parts += [self.evaluation(), self.training(), self.save_section()]
        return parts

    # ---- what starts it ----
    def start_lines(self, inputs_path):
        """The lines that set up the weights (and the learner's drawings) and train."""
        lines = []
        if self.inputs:
            lines.append(f"inputs = read_inputs({inputs_path})")
        lines.append("weights, biases = starting_parameters(inputs)" if self.started else
                     "weights, biases = initial_parameters()")
        args = ', inputs["my_x"], inputs["my_y"].astype(np.int64)' if self.digits else ""
        lines.append(f"accuracies = train(data, weights, biases{args})")
        if self.digits:
            held = self.recipe.recorded_held_out
            app = f' f"   app: {100 * held:.0f}%"' if held is not None else ""
            lines.append('held_right = correct(inputs["held_x"], inputs["held_y"].astype(np.int64), weights, biases)')
            lines.append('print(f"the learner\'s held-out drawings: {held_right} of {len(inputs[\'held_y\'])} right"'
                         f'{app})')
        return lines

    def main(self):
        inputs = ""
        if self.inputs:
            inputs = ('\n    parser.add_argument("--inputs", default=Path(__file__).with_name(INPUTS),\n'
                      '                        help="the starting weights and drawings "\n'
                      '                             "(default: INPUTS beside this file)")')
        body = block("\n".join(self.start_lines("args.inputs")), 1)
        return code('''
            def main():
                parser = argparse.ArgumentParser(description="Train the app's run again, exactly.")
                parser.add_argument("data", nargs="?", help="an MNIST .npz or a folder of its IDX files "
                                                            "(default: data/mnist.npz here or above)")
                parser.add_argument("--save", metavar="FILE", help="keep the trained network in FILE (.npz)")$inputs
                args = parser.parse_args()
                data = load_mnist(args.data or find_mnist(Path.cwd(), Path(__file__).resolve().parent))
            $body
                if args.save:
                    save(args.save, weights, biases)
                    print(f"saved {args.save}")


            if __name__ == "__main__":
                main()
            ''', inputs=inputs, body=body)

    def docstring(self):
        c = self.config
        reproduces = ("the app's initial weights" if not self.started else "the weights the app's run started from")
        extras = ", the same units dropped" if self.dropout else ""
        extras += ", the same digits moved" if self.augmented else ""
        return code('''
            """Train a $layers network on MNIST again, exactly as the MNIST MLP app trained it.

            $choices

            $reproduces

                python THIS_FILE.py [DATA] [--save FILE]

            DATA is an MNIST .npz (x_train, y_train, x_test, y_test) or a folder of its four IDX files; without
            it the script looks for data/mnist.npz here and in the folders above. --save keeps the trained
            network in FILE, a model file the app opens.

            Shapes, the same throughout: a batch of n images is X (n, 784), one flattened 28×28 image per row,
            pixels in [0, 1]; layer l's weights W[l] are (fan_in, fan_out) and its biases b[l] (fan_out,), so
            the layer computes Z = A @ W[l] + b[l] from the activations A (n, fan_in) of the layer before.
            Needs Python 3 and NumPy only.
            """
            ''', layers="-".join(map(str, c.layers)),
                    choices=_wrap(f"Written by the app from the run's own choices, and only those: {self.choices()}.",
                                  100),
                    reproduces=_wrap(f"Run as it is, it starts from {reproduces}, visits the images in the app's "
                                     f"order{extras} and makes the app's updates, so it prints the test accuracy "
                                     "the app measured after every epoch.", 100))


def _wrap(text, width):
    return "\n".join(textwrap.wrap(text, width))


def _banner(title):
    return f"# ---- {title.lower()} " + "-" * (100 - len(title) - 8)


def script(recipe):
    """The run as one standalone Python file (text)."""
    w = _Writer(recipe)
    parts = [w.docstring() + w.imports(), _banner("The run's settings") + "\n" + w.settings()]
    parts += [_banner(s.title) + "\n" + s.code for s in w.sections()]
    parts.append(w.main())
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts).replace("\n\n\n\n", "\n\n\n")


def notebook_node(recipe):
    """The run as an nbformat notebook node: the script's code in cells with a few words between them."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    w = _Writer(recipe)
    c = recipe.config
    cells = [new_markdown_cell(
        f"# A {'-'.join(map(str, c.layers))} network learns MNIST\n\n"
        f"Written by the MNIST MLP app from a run's own choices: {w.choices()}.\n\n"
        "Run every cell in order and it trains the run again, exactly: the same initial weights, the same "
        "order of images and the same updates, so the test accuracy after every epoch is the app's.\n\n"
        "Shapes, the same throughout: a batch of n images is `X (n, 784)`; layer l's weights `W[l]` are "
        "`(fan_in, fan_out)` and its biases `b[l]` `(fan_out,)`, so a layer computes `Z = A @ W[l] + b[l]`."),
        new_code_cell(w.imports() + "\n" + w.settings())]
    for section in w.sections():
        cells.append(new_markdown_cell(f"## {section.title}\n\n{section.words}"))
        cells.append(new_code_cell(section.code.rstrip("\n")))
        if section.title == "Data":
            cells.append(new_code_cell("data = load_mnist(find_mnist(Path.cwd()))\n"
                                       "print(f\"{len(data[0]):,} training and {len(data[2]):,} test images\")"))
    run = w.start_lines("Path(INPUTS)")
    cells.insert(-2, new_markdown_cell("## Train it"))
    cells.insert(-2, new_code_cell("\n".join(run)))
    plot = code('''
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print("Matplotlib is not installed (pip install matplotlib): the curve is the accuracies above.")
        else:
            epochs = range(1, len(accuracies) + 1)
            plt.plot(epochs, [100 * a for a in accuracies], marker="o", label="this notebook")
            $app
            plt.xlabel("epoch")
            plt.ylabel("test accuracy (%)")
            plt.legend()
            plt.show()
        ''', app=('plt.plot(range(1, len(APP_TEST_ACCURACY) + 1), APP_TEST_ACCURACY, "--", label="the app\'s run")'
                  if recipe.recorded else ""))
    cells.insert(-2, new_markdown_cell("## The curve"))
    cells.insert(-2, new_code_cell(plot.replace("\n    \n", "\n").rstrip("\n")))
    cells.append(new_code_cell('# save("trained.npz", weights, biases)    # a model file the app opens'))
    nb = new_notebook(cells=cells, metadata={"kernelspec": NOTEBOOK_KERNEL, "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


def notebook(recipe):
    """The run as a Jupyter notebook (its JSON text), valid against nbformat's schema."""
    import nbformat

    return nbformat.writes(notebook_node(recipe))
