"""The local transport: each run's ``TrainingWorker`` in a process of its own on this machine.

A worker is ``python -m runner.local`` started with two pipes: commands in, updates out. Messages are
JSON with NumPy arrays sent as raw bytes beside it (``encode``/``decode``): nothing crosses the pipes
as pickle. A thread of the server reads each worker's updates and hands them to its job, so a page
only ever reads the last state it was sent. (A fresh interpreter, not a fork of the web server: a
fork would inherit the server's threads and locks; the start costs about 0.4 s, and 0.75 s more to
load the compiled kernels, which is why the server keeps a spare one started ahead: ``prepare``.)

A worker exits when its run is saved. If the server disappears (its end of the command pipe closes),
the worker stops its run, saves it marked *interrupted* and exits: no orphan keeps training. If the
worker dies (killed, out of memory, a crash), the reading thread sees its pipe close without a final
update and reports why, so the job can mark the run *failed* and save what it had.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKER_NICENESS = 10
"""Workers run at a lower CPU priority than the web server: when both want a core, a page answers
first and training waits a moment (a run alone on a core loses nothing)."""
SPARE_LOOKS_EVERY = 1.0
"""Seconds between a spare worker's looks for the compiled kernels' cache, while it waits for a run."""


class LocalTransport:
    """Starts each run's worker in a process of its own; the workers read MNIST from ``data_folder``
    (a ``runner.dataset`` cache).

    ``prepare()`` (the web server calls it as it starts) keeps one worker started ahead, a *spare*,
    that has imported the engine and loaded the compiled kernels and waits for a run: a run then starts
    training at once instead of after a new interpreter's second. Each run that takes the spare starts
    the next one. A spare whose server has gone sees its command pipe close and exits."""

    name = "local worker processes"

    def __init__(self, data_folder, env=None):
        self.data_folder = str(data_folder)
        self.env = dict(env or {})            # more environment for the workers (bench/scale.py's MLP_KERNELS=0)
        self._spare = None
        self._keep_spare = False
        self._lock = threading.Lock()

    def prepare(self):
        """Start a spare worker now, and one after every run that takes it (unless MLP_SPARE_WORKER=0:
        the tests, which make many short-lived servers, start theirs only where they test it)."""
        if os.environ.get("MLP_SPARE_WORKER", "1") == "0":
            return
        with self._lock:
            self._keep_spare = True
            if self._spare is None:
                self._spare = WorkerProcess(self.env)

    def close(self):
        """End the spare worker, and start no more."""
        with self._lock:
            self._keep_spare = False
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.end()

    def start(self, spec, on_update, on_exit):
        with self._lock:
            process, self._spare = self._spare, None
            if process is None or not process.alive:
                process = WorkerProcess(self.env)
        worker = LocalWorker(process, spec, self.data_folder, on_update, on_exit)
        with self._lock:
            if self._keep_spare and self._spare is None:
                self._spare = WorkerProcess(self.env)
        return worker


class WorkerProcess:
    """A started ``python -m runner.local`` and its two pipes, waiting for the run it is to train."""

    def __init__(self, env=None):
        command_in, command_out = os.pipe()
        update_in, update_out = os.pipe()
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, **(env or {}), "PYTHONPATH": path}
        self.process = subprocess.Popen([sys.executable, "-m", "runner.local", str(command_in), str(update_out)],
                                        pass_fds=(command_in, update_out), cwd=ROOT, env=env,
                                        start_new_session=True)   # Ctrl-C goes to the server, which stops it
        os.close(command_in)
        os.close(update_out)
        self.commands = Connection(command_out, readable=False)
        self.updates = Connection(update_in, writable=False)

    @property
    def alive(self):
        return self.process.poll() is None

    def end(self):
        """Close its pipes: a spare that waits for a run then exits."""
        self.commands.close()
        self.updates.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LocalWorker:
    """A worker process for one run. ``on_update(update)`` and ``on_exit(reason)`` are called from a
    thread of this process: ``on_exit`` with None after a final update, else with why it died."""

    def __init__(self, started: WorkerProcess, spec, data_folder, on_update, on_exit):
        self.process, self._commands, self._updates = started.process, started.commands, started.updates
        self._send_lock = threading.Lock()
        self.command("start", {"spec": spec.to_plain(), "data_folder": data_folder})
        self._reader = threading.Thread(target=self._read, args=(on_update, on_exit),
                                        name=f"updates-{spec.run_id}", daemon=True)
        self._reader.start()

    @property
    def pid(self):
        return self.process.pid

    def command(self, name, value=None):
        with self._send_lock:
            try:
                self._commands.send_bytes(encode({"command": name, "value": value}))
            except (OSError, EOFError):
                pass                             # the worker has gone: its reader reports why

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()

    def _read(self, on_update, on_exit):
        settled = False
        try:
            while True:
                try:
                    update = decode(self._updates.recv_bytes())
                except (EOFError, OSError):
                    break
                on_update(update)
                if update["settled"]:
                    settled = True
                    break
        finally:
            try:
                self.process.wait(timeout=None if settled else 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._updates.close()
            with self._send_lock:
                self._commands.close()
            on_exit(None if settled else _death(self.process.returncode))


def _death(code):
    """Why a worker process ended without saying goodbye, in words."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed, for example by the system when memory ran out)" if -code == signal.SIGKILL else ""
        return f"the worker process was ended by {name}{hint}"
    return f"the worker process exited with code {code}"


# ---- the wire format: JSON, with arrays as raw bytes after it (never pickle) -------------------------
def encode(message):
    """bytes: a 4-byte length, the JSON of ``message`` (arrays replaced by references), the arrays."""
    blobs = []

    def plain(value):
        if isinstance(value, np.ndarray):
            blobs.append(np.ascontiguousarray(value))
            return {"__array__": len(blobs) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, np.generic):
            return value.item()
        return value

    head = json.dumps(plain(message)).encode()
    return b"".join([struct.pack("<I", len(head)), head, *(b.tobytes() for b in blobs)])


def decode(data):
    """The message ``encode`` made (only plain JSON types and float/int arrays come out)."""
    (size,) = struct.unpack_from("<I", data)
    message = json.loads(data[4:4 + size])
    offset = [4 + size]

    def arrays(value):
        if isinstance(value, dict) and "__array__" in value:
            dtype = np.dtype(value["dtype"])
            if dtype.kind not in "fiu":
                raise ValueError(f"unexpected array type {dtype}")
            count = int(np.prod(value["shape"], dtype=np.int64))
            array = np.frombuffer(data, dtype, count, offset[0]).reshape(value["shape"]).copy()
            offset[0] += count * dtype.itemsize
            return array
        if isinstance(value, list):
            return [arrays(v) for v in value]
        if isinstance(value, dict):
            return {k: arrays(v) for k, v in value.items()}
        return value

    return arrays(message)


# ---- the worker process ---------------------------------------------------------------------------
def main(command_fd, update_fd):
    """Train one run: the first command carries its spec; then listen for commands while training."""
    from mlp.training import one_blas_thread
    from runner.dataset import open_cache
    from runner.worker import RunSpec, TrainingWorker

    from mlp import compiled

    commands = Connection(command_fd, writable=False)
    updates = Connection(update_fd, readable=False)
    one_blas_thread()                         # many runs share the machine's cores
    os.nice(WORKER_NICENESS)
    try:
        # Load the compiled kernels before a run is asked for: from the cache, once the server's warm-up
        # has put them there (mlp.compiled), which a spare started with the server waits for.
        while True:
            compiled.kernels(np.float32, compile=False)
            if commands.poll(SPARE_LOOKS_EVERY):
                break
        start = decode(commands.recv_bytes())["value"]
    except (EOFError, OSError):               # a spare worker whose server has gone: nothing to do
        return
    spec = RunSpec.from_plain(start["spec"])
    worker = TrainingWorker(spec, open_cache(start["data_folder"]))

    def listen():
        while True:
            try:
                message = decode(commands.recv_bytes())
            except (EOFError, OSError):           # the server has gone: save what we have, and end
                worker.command("interrupt")
                return
            worker.command(message["command"], message["value"])

    def publish(update):
        try:
            updates.send_bytes(encode(update))
        except OSError:                           # the server has gone; the listener stops the run
            pass

    threading.Thread(target=listen, name="commands", daemon=True).start()
    worker.run(publish)
    updates.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
