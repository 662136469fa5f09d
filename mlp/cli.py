"""Command line: ``python -m mlp train ...``, ``python -m mlp evaluate PATH`` and ``python -m mlp export PATH``.

Bad options get one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

from .config import CHOICES, FIELDS, ConfigError
from .data import DataError, load_mnist
from .analysis import confusion_matrix, per_digit_accuracy
from .io import atomic_write, load, save, thin_snapshots
from .presets import NOTEBOOK_TEST_ACCURACY, PRESETS, follows_the_notebook
from .runs import RunMeta
from . import compiled, training
from .training import Trainer, TrainingDiverged, evaluate

USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse prints a usage block before its error; we print one clear line instead."""

    def error(self, message):
        raise SystemExit(_fail(f"{self.prog}: {message} (see --help)"))


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def _layers(text):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layers takes whole numbers separated by commas, got {text!r}")


def build_parser():
    parser = OneLineParser(prog="python -m mlp", description="Train and evaluate MLPs on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser("train", help="train a network and print test accuracy per epoch")
    train.add_argument("--preset", choices=list(PRESETS), default="seed",
                       help="start from this preset's settings; options below override them (default: seed)")
    train.add_argument("--layers", type=_layers, help="units per layer, e.g. 784,128,10")
    for field in ("activation", "output", "loss", "optimizer", "init"):
        train.add_argument(f"--{field}", choices=CHOICES[field])
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--lr-decay", type=float, help="multiply the learning rate by this after every epoch")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--l2", type=float, help="weight decay strength")
    train.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None,
                       help="reshuffle the training samples every epoch")
    train.add_argument("--seed", type=int)
    train.add_argument("--train-size", type=int, help="train on the first N samples only")
    train.add_argument("--dropout", type=float, help="share of hidden units dropped per batch (0 to 0.9)")
    train.add_argument("--shift", type=float, help="augmentation: move images by up to this many pixels")
    train.add_argument("--rotation", type=float, help="augmentation: turn images by up to this many degrees")
    train.add_argument("--scaling", type=float, help="augmentation: resize images by up to this fraction")
    train.add_argument("--elastic", type=float, help="augmentation: bend images by about this many pixels")
    train.add_argument("--data", help="an MNIST-format .npz or folder of IDX files (default: data/mnist.npz)")
    train.add_argument("--out", help="save the trained model to this .npz")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate_cmd = commands.add_parser("evaluate", help="print test accuracy and a per-digit table")
    evaluate_cmd.add_argument("path", help="a model saved with --out")
    evaluate_cmd.add_argument("--data", help="an MNIST-format .npz or folder of IDX files")

    export_cmd = commands.add_parser("export", help="write a saved run as a Python script or notebook that "
                                                    "trains it again, exactly")
    export_cmd.add_argument("path", help="a run's .npz (saved by the app, by train --out, or a models/ file)")
    export_cmd.add_argument("--script", help="write a standalone NumPy script here (.py)")
    export_cmd.add_argument("--notebook", help="write a Jupyter notebook here (.ipynb; needs nbformat)")
    export_cmd.add_argument("--digits", help="the learner's collection (.npz from My digits) a fine-tuned run "
                                             "trained on")
    return parser


def config_from_args(args):
    base = PRESETS[args.preset].config
    return base.replace(**{k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None})


class ProgressBar:
    """A one-line progress bar on stderr, redrawn in place while an epoch runs."""

    def __init__(self, stream=sys.stderr, width=30):
        self.stream, self.width = stream, width

    def __call__(self, event, total_epochs):
        if event.kind != "progress":
            self.stream.write("\r" + " " * (self.width + 60) + "\r")
            return
        done = event.epoch % 1
        filled = int(done * self.width)
        self.stream.write(f"\repoch {int(event.epoch) + 1}/{total_epochs} [{'#' * filled}"
                          f"{'.' * (self.width - filled)}] {done:4.0%}  loss {event.train_loss:.4f}")
        self.stream.flush()


def train(args):
    config = config_from_args(args)
    if args.out:
        check_out(args.out)
    # The compiled kernels if they are in the cache (loaded while MNIST is read: both take a moment); if
    # not, this run trains with NumPy at once while a process of its own compiles them for the next
    # runs (seconds, once per machine): no one waits.
    loading = threading.Thread(target=compiled.kernels, kwargs={"compile": False}, daemon=True)
    loading.start()
    data = load_mnist(args.data)
    loading.join()
    trainer = Trainer(config, data, compile=False)
    if trainer.kernels is None and compiled.warm_in_background() is not None:
        print("(compiling the fast training loops in the background, once on this machine: this run trains "
              "with NumPy, the next ones with them)")
    bar = None if args.quiet else ProgressBar()
    notebook = follows_the_notebook(config)
    print(f"training {'-'.join(map(str, config.layers))} on {config.train_size:,} samples: "
          f"{config.activation}/{config.output}, {config.loss}, {config.optimizer} lr={config.lr:g}, "
          f"batch {config.batch_size}, seed {config.seed}")

    def report(event):
        if bar:
            bar(event, config.epochs)
        if event.kind == "epoch":
            e = int(event.epoch)
            reference = (f"   (notebook: {NOTEBOOK_TEST_ACCURACY[e - 1]:.2f}%)"
                         if notebook and e <= len(NOTEBOOK_TEST_ACCURACY) else "")
            print(f"epoch {e:3d}  test accuracy {event.test_accuracy:7.2%}  "
                  f"train loss {event.train_loss:.4f}  {event.elapsed:6.1f}s{reference}", flush=True)

    if notebook and config.train_size < 60_000:
        print(f"(the notebook trained on all 60,000 images; this run uses {config.train_size:,})")
    try:
        with one_blas_thread(config):
            trainer.run(callback=report)
    except TrainingDiverged as err:
        if bar:
            bar.stream.write("\n")
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.out:
        snapshots, snapshot_epochs = thin_snapshots(*trainer.snapshot_arrays(), max_bytes=8 * 2**20)
        meta = RunMeta.of_training(Path(args.out).stem, trainer.status, time.time() - trainer.elapsed,
                                   trainer.results(), finished=time.time(), dataset=str(args.data or "mnist"))
        save(trainer.network, args.out, snapshots=snapshots, snapshot_epochs=snapshot_epochs, **meta.to_dict())
        print(f"saved {args.out}")
    return 0


def check_out(out):
    """Refuse an ``--out`` that could not be written before training, not after: a folder, or a file
    in a folder that does not exist or cannot be written."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"--out {out} is a folder: give a file name, such as {path / 'model.npz'}")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--out {out}: the folder {folder} cannot be written to")


def one_blas_thread(config):
    """One-sample training makes tiny matrix products: a second BLAS thread only costs a core for the
    same wall time (measured: bench/speed.py). Pin BLAS to one thread then."""
    return training.one_blas_thread() if config.batch_size == 1 else contextlib.nullcontext()


def evaluate_model(args):
    network = load(args.path)
    _, _, x_test, y_test = load_mnist(args.data)
    loss, accuracy = evaluate(network, x_test, y_test)
    counts = confusion_matrix(y_test, network.predict(x_test))
    print(f"{args.path}: {'-'.join(map(str, network.sizes))}, test accuracy {accuracy:.2%}, "
          f"test loss {loss:.4f}")
    print("digit  samples  accuracy")
    for digit, (samples, share) in enumerate(zip(counts.sum(axis=1), per_digit_accuracy(counts))):
        print(f"{digit:5d}  {int(samples):7d}  {float(share):8.2%}")
    return 0


def export_run(args):
    """Write the run as code (and, for a fine-tuned run, its inputs file beside it); refuse with the
    reason a run that cannot be written, before writing anything."""
    from . import as_code, digits as digits_format, export

    targets = [(kind, out) for kind, out in (("script", args.script), ("notebook", args.notebook)) if out]
    if not targets:
        raise ValueError("say what to write: --script OUT.py, --notebook OUT.ipynb, or both")
    for _, out in targets:
        check_out(out)
    saved = load(args.path, with_extras=True)
    collection = digits_format.load(args.digits) if args.digits else None
    recipe = export.recipe_of_run(saved, collection, name=Path(args.path).name)
    for kind, out in targets:
        written = export.with_inputs_name(recipe, out)
        text = as_code.script(written) if kind == "script" else as_code.notebook(written)
        atomic_write(out, lambda f: f.write(text.encode("utf-8")))
        print(f"wrote {out}")
        if written.needs_inputs:
            beside = Path(out).with_name(written.inputs_name)
            atomic_write(beside, lambda f: f.write(written.inputs_bytes()))
            print(f"wrote {beside} (what the run started from; keep it beside {Path(out).name})")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    commands = {"train": train, "evaluate": evaluate_model, "export": export_run}
    try:
        status = commands[args.command](args)
    except (ConfigError, DataError, ValueError, OSError) as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return _fail("interrupted")
    if args.command == "train":
        print(f"done in {time.perf_counter() - started:.1f}s")
    return status
