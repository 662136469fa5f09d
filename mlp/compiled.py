"""Whether the compiled kernels (``mlp.kernels``, Numba) can be used here, and getting them ready.

The engine asks ``kernels(dtype)`` and gets the module, ready to call for arrays of that dtype, or
None, and then trains with NumPy as before. None when:

- Numba cannot be imported (not installed, or a broken install): said once, in the ``mlp`` log;
- a kernel fails to compile (a Numba or LLVM version that cannot build it): said once, and that
  dtype stays on NumPy for the rest of the process, so no run ever fails for it;
- ``MLP_KERNELS=0`` asks for NumPy (benchmarks compare both paths in one machine this way; the
  in-process switch is ``use_kernels``).

Compiling takes seconds, so it happens once per machine: Numba caches the machine code in
``NUMBA_CACHE_DIR`` (default: the project's ``.cache/numba``), where every worker process loads it
in a fraction of a second. The web server warms that cache when it starts, in a process of its own at
a low priority (``warm_in_background``), and writes a *ready* mark beside it; a worker whose run
starts before the mark is there trains that run with NumPy instead of making its learner wait for a
compiler (``kernels(dtype, compile=False)``). A cache folder that cannot be written (a read-only
install) turns caching off: the kernels then compile in memory in each process, with one warning.
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
from importlib.util import find_spec
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "numba"
log = logging.getLogger("mlp")


def _cache_folder():
    """The folder Numba caches into, made if need be, or None if it cannot be written."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or DEFAULT_CACHE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        return None
    return folder


CACHE_FOLDER = None
CACHING = False
"""Read by ``mlp.kernels`` as it is compiled: cache the machine code on disk, or not (set on first use)."""
_lock = threading.Lock()
_module = None              # mlp.kernels once imported; False if it cannot be
_ready: dict = {}           # dtype name -> True (compiled and run once) or False (failed)
_said: set = set()
use_kernels = os.environ.get("MLP_KERNELS", "1") != "0"


def _say_once(key, message):
    if key not in _said:
        _said.add(key)
        log.warning(message)


def _import():
    global _module, CACHE_FOLDER, CACHING
    if _module is None:
        CACHE_FOLDER = _cache_folder()
        CACHING = CACHE_FOLDER is not None
        if CACHING:
            os.environ["NUMBA_CACHE_DIR"] = str(CACHE_FOLDER)     # before Numba is imported, for its config
        else:
            _say_once("cache", "the compiled kernels' cache folder cannot be written "
                      f"({os.environ.get('NUMBA_CACHE_DIR') or DEFAULT_CACHE}); they compile in memory in "
                      "every process instead")
        try:
            from . import kernels as module
        except Exception as err:        # ImportError, or a Numba/LLVM that fails as it loads
            _say_once("import", f"Numba is not available ({type(err).__name__}: {err}); training runs on "
                      "the NumPy path, as fast as NumPy allows")
            module = False
        _module = module
    return _module or None


def ready_mark():
    """The file that says the kernels are compiled into the cache, for this code and this Numba."""
    source = (ROOT / "mlp" / "kernels.py").read_bytes()
    try:
        from importlib.metadata import version
        numba_version = version("numba")
    except Exception:
        numba_version = "none"
    digest = hashlib.sha256(source + numba_version.encode() + sys.version.encode()).hexdigest()[:16]
    return Path(os.environ.get("NUMBA_CACHE_DIR") or DEFAULT_CACHE) / f"ready-{digest}"


def kernels(dtype=np.float32, compile=True):
    """``mlp.kernels``, compiled for arrays of ``dtype`` (float32 or float64), or None (see the module's
    docstring). ``compile=False``: None unless that needs no compiling now (compiled already in this
    process, or ``ready_mark`` says the cache holds it)."""
    name = np.dtype(dtype).name
    if not use_kernels or name not in ("float32", "float64"):
        return None
    with _lock:
        if name in _ready:
            return _module if _ready[name] else None
        if not compile and not ready_mark().exists():
            return None
        module = _import()
        if module is None:
            return None
        try:
            _exercise(module, np.dtype(dtype))
        except Exception as err:       # a compiler that cannot build a loop: NumPy it is, never a failure
            _say_once(f"compile-{name}", f"the compiled kernels failed to build for {name} "
                      f"({type(err).__name__}: {err}); training runs on the NumPy path")
            _ready[name] = False
            return None
        _ready[name] = True
        return module


def _exercise(module, dtype):
    """Call every kernel once on a tiny network, in the types training calls them with: compiles them
    (or loads them from the cache) now rather than in the middle of a run."""
    from .network import Network, Workspace, parameter_count
    from .optimizers import Adam
    sizes = (784, 3, 2, 10)
    net = Network(sizes, dtype=dtype)
    size = parameter_count(sizes)
    steps = Steps(net, np.zeros((2, 784), np.float32), np.zeros(2, np.int64), None, None, batch=2,
                  optimizer=Adam(size, dtype), module=module)
    steps.train(np.arange(2), 0, 1, 0.01)
    relu = Network(sizes, activation="relu", dtype=dtype)   # sigmoid's hidden layers stay NumPy's
    BatchSteps(relu, Adam(size, dtype, fused=module), module=module).step(
        np.zeros((2, 784), dtype), np.eye(2, 10, dtype=dtype), 0.01, Workspace(sizes, 2, dtype),
        [np.ones((2, 3), dtype), np.ones((2, 2), dtype)])          # a mask has the type of "none"
    grads = np.zeros(size, dtype)
    module.sgd_update(net.params, grads, 0.01)
    module.momentum_update(net.params, grads, np.zeros(size, dtype), 0.01, 0.9)
    module.adam_update(net.params, grads, np.zeros(size, dtype), np.zeros(size, dtype), 0.9, 0.999, 0.01, 1e-8)


def warm(dtypes=("float32",)):
    """Compile the kernels into the cache and leave the ready mark (what ``python -m mlp.compiled``
    does). Returns True if they are ready."""
    ok = all(kernels(dtype) is not None for dtype in dtypes)
    if ok and CACHING:
        mark = ready_mark()
        tmp = mark.with_suffix(".tmp")
        tmp.write_text("compiled\n")
        os.replace(tmp, mark)
    return ok


def warm_in_background():
    """Start warming the cache in a low-priority process of its own, unless it is warm already; the
    caller (the web server) never waits for it and its interpreter's lock is never taken. Returns the
    process, or None if there was nothing to do."""
    if not use_kernels or ready_mark().exists() or _cache_folder() is None or not find_spec("numba"):
        return None
    command = [sys.executable, "-c", "import os; os.nice(10); import mlp.compiled as c; c.warm()"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        _say_once("warm", f"could not start compiling the kernels in the background ({err})")
        return None


def read_only(array, dtype=None):
    """A read-only, C-ordered view of ``array`` (a copy only if its type or order must change). The
    kernels are compiled for the types of their arrays, and read-only is one of them: a worker's MNIST
    is a read-only memory map, so every input array is passed read-only, and one compiled version
    serves the worker, the command line and the tests."""
    view = np.ascontiguousarray(array, dtype).view(np.ndarray)
    view.flags.writeable = False
    return view


class Steps:
    """Training steps for ``network`` through ``mlp.kernels.train_steps``: its buffers, its layout and
    the optimizer's state, made once per run.

    X, labels          the training set (n, 784) and its digits (n,)
    X_extra, y_extra   the learner's own digits (m, 784), (m,), or None
    optimizer          the run's ``mlp.optimizers`` instance, whose state the kernel updates in place
                       (Momentum's velocity, Adam's w, u and t), so both paths share it
    """

    def __init__(self, network, X, labels, X_extra, y_extra, batch, optimizer, l2=0.0, module=None):
        self.kernels = module or kernels(network.dtype)
        if len(network.sizes) - 1 > self.kernels.MAX_LAYERS:
            raise ValueError(f"the compiled steps take at most {self.kernels.MAX_LAYERS} layers")
        self.network, self.batch, self.l2 = network, batch, float(l2)
        k = self.kernels
        self.optimizer = optimizer
        name = type(optimizer).__name__.lower()
        self.codes = np.array([k.ACTIVATION_CODES[network.activation], k.ACTIVATION_CODES[network.output],
                               k.LOSS_CODES[network.loss_name], k.OPTIMIZER_CODES[name]], np.int64)
        acts, offset, rows = 0, 0, []
        for fan_in, fan_out in zip(network.sizes[:-1], network.sizes[1:]):
            rows.append((offset, offset + fan_in * fan_out, fan_in, fan_out, acts))
            offset += fan_in * fan_out + fan_out
            acts += fan_out
        self.layout = np.array(rows, np.int64)
        dtype, size = network.dtype, network.params.size
        self.grads = np.zeros(size, dtype)
        self.acts = np.zeros(batch * acts, dtype)
        self.deltas = np.zeros(batch * acts, dtype)
        self.scratch = np.zeros(batch * network.sizes[0], np.int16)
        self.batch_rows = np.zeros((5, batch), np.int64)
        X = np.ascontiguousarray(X, network.dtype)      # as the engine's forward pass casts it
        X_extra = np.zeros((0, network.sizes[0]), X.dtype) if X_extra is None else X_extra
        y_extra = np.zeros(0, np.int64) if y_extra is None else y_extra
        self.X, self.X_extra = read_only(X), read_only(np.ascontiguousarray(X_extra, X.dtype))
        self.labels, self.y_extra = read_only(labels, np.int64), read_only(y_extra, np.int64)
        for digits in (self.labels, self.y_extra):      # the loops index the outputs by them, unchecked
            if digits.size and not (digits.min() >= 0 and digits.max() < network.sizes[-1]):
                raise ValueError(f"labels must be 0 to {network.sizes[-1] - 1}")
        self.pixels, self.starts = map(read_only, k.lit_pixels(self.X))
        self.state = np.zeros(1, np.int64)
        nothing = np.zeros(0, dtype)                    # SGD keeps no state
        self.moments = (getattr(optimizer, "velocity", getattr(optimizer, "w", nothing)),
                        getattr(optimizer, "u", nothing))

    def train(self, rows, first, last, lr):
        """Batches ``first`` to ``last - 1`` of the epoch whose samples come in the order ``rows``;
        returns the sum of their losses. The optimizer's own arrays are updated in place."""
        opt = self.optimizer
        self.state[0] = getattr(opt, "t", 0)
        hyper = np.array([lr, self.l2, getattr(opt, "momentum", 0.0), getattr(opt, "beta1", 0.0),
                          getattr(opt, "beta2", 0.0), getattr(opt, "eps", 0.0)])
        loss = self.kernels.train_steps(self.network.params, self.grads, self.layout, self.codes, hyper,
                                        self.state, *self.moments, self.X, self.labels, self.pixels,
                                        self.starts, self.X_extra, self.y_extra, read_only(rows, np.int64),
                                        first, last, self.batch,
                                        self.acts, self.deltas, self.scratch, self.batch_rows)
        if hasattr(opt, "t"):
            opt.t = int(self.state[0])
        return float(loss)


NUMPYS_ACTIVATIONS = ("sigmoid", "tanh")
"""Hidden activations ``BatchSteps`` leaves to NumPy: its exp and tanh take 8 floats at a time, the
compiled loops' one, 2 to 4 times slower on a batch of 128 × 256 (2026-12-03). (The output layer's 10
units are too few for that to matter beside the calls saved.)"""


class BatchSteps:
    """Mini-batch steps whose matrix products stay in BLAS (``np.dot``) and whose other passes are
    compiled: the step ``Network.forward_all``, ``Network.backprop`` and the optimizer make, for the
    runs ``Steps`` does not take (networks too large for its loops, such as the wide preset's
    784-256-128-10 at batches of 128, dropout, augmented batches).

    Per layer, after BLAS's Z = A_prev W, one call adds the biases and applies the activation (and the
    dropout mask); at the output one call takes the activation, the loss, dL/dz and dL/db; going back,
    after BLAS's dL/dA_prev = dL/dZ W^T, one call applies the slope (and the mask) and sums dL/db. The
    NumPy engine makes each of those several calls (the output layer a dozen), each with its overhead
    and its own pass over the batch. Hidden sigmoid and tanh layers keep NumPy's forward passes
    (``NUMPYS_ACTIVATIONS``). For the wide preset the steps went from 1.27 and 1.28 times their own
    matrix products to 1.17 (``bench/wide_epoch.py``, two runs, 2026-12-03). The products are the
    engine's own calls on the same operands, so the results differ from the engine's by the compiled
    passes' rounding only (``tests/test_kernels.py``)."""

    def __init__(self, network, optimizer, l2=0.0, module=None):
        self.kernels = k = module or kernels(network.dtype)
        self.network, self.optimizer, self.l2 = network, optimizer, float(l2)
        self.codes = (k.ACTIVATION_CODES[network.activation], k.ACTIVATION_CODES[network.output],
                      k.LOSS_CODES[network.loss_name])
        self._labels = {}                               # batch size -> its digits' buffer
        self._none = np.zeros((0, 0), network.dtype)    # "no dropout mask" for the compiled calls

    def step(self, X, Y, lr, ws, masks=None):
        """One update on the batch X (n, 784) with one-hot targets Y (n, 10), ``ws`` a ``Workspace`` for
        n and ``masks`` the hidden layers' dropout masks (n, units) or None, as ``Trainer``'s NumPy
        step takes them. Returns the batch's loss. Every shape is checked first: the compiled passes
        index without bounds checks."""
        net, k, none = self.network, self.kernels, self._none
        X = np.asarray(X, dtype=net.dtype)
        n, layers = len(X), len(net.weights)
        units = net.sizes[1:-1]
        if (X.shape != (n, net.sizes[0]) or np.shape(Y) != (n, net.sizes[-1]) or ws.n != n
                or (masks is not None and [np.shape(m) for m in masks] != [(n, u) for u in units])):
            raise ValueError("the batch, its targets, workspace or masks do not fit the network")
        hidden, output, loss_code = self.codes
        inputs = [X]                                    # what each layer receives
        for l in range(layers - 1):                    # the hidden layers
            Z, b = np.dot(inputs[l], net.weights[l], out=ws.acts[l]), net.biases[l]
            if net.activation in NUMPYS_ACTIVATIONS:    # the engine's passes
                Z += b
                net.layer_activations[l].forward(Z, out=Z)
                if masks is not None:
                    np.multiply(Z, masks[l], out=ws.kept[l])
            else:
                k.bias_and_activate(hidden, Z, b, none if masks is None else masks[l],
                                    none if masks is None else ws.kept[l])
            inputs.append(Z if masks is None else ws.kept[l])
        labels = self._labels.get(n)
        if labels is None:
            labels = self._labels[n] = np.empty(n, np.int64)
        np.argmax(Y, axis=1, out=labels)
        Z = np.dot(inputs[-1], net.weights[-1], out=ws.acts[-1])
        loss = k.output_layer(loss_code, output, Z, net.biases[-1], labels, ws.deltas[-1], ws.db[-1])
        for l in range(layers - 1, -1, -1):
            np.dot(inputs[l].T, ws.deltas[l], out=ws.dW[l])                 # dL/dW = A_prev^T dL/dZ
            if l > 0:
                np.dot(ws.deltas[l], net.weights[l].T, out=ws.deltas[l - 1])  # dL/dA_prev = dL/dZ W^T
                k.slope_and_bias_gradient(hidden, ws.acts[l - 1], ws.deltas[l - 1],
                                          none if masks is None else masks[l - 1], ws.db[l - 1])
        if self.l2:
            loss += net.add_weight_decay(ws.dW, self.l2)
        self.optimizer.step(net.params, ws.grads, lr)
        return float(loss)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(0 if warm() else 1)
