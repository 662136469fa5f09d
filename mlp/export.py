"""Exporting a run as code: what a script needs to reproduce it (a ``Recipe``), checked, and the files.

A recipe comes from a saved run's file (``recipe_of_run``: its settings, the test accuracies it measured,
the weights it started from, which are its first snapshot) or from settings about to train
(``recipe_of_settings``). ``mlp.as_code`` writes the code. A fine-tuned run's code needs data beside
it, the weights it started from and the learner's drawings, written as one ``.npz`` (``inputs_bytes``)
that the code checks before use.

What the exporter cannot express it refuses, naming it (``ExportError``), rather than writing code
that would train something else: a learning rate changed while the run trained, a learner's collection
that is gone or has changed since, a file that holds no settings.
"""
from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, TrainConfig, config_from_plain
from .digits import TrainingSplit, fingerprint, training_split
from .network import parameter_count, parameter_views

MAX_NPY_HEADER = 128
"""Bytes an .npy header of these arrays takes at most (NumPy pads it to 64 or 128)."""


class ExportError(ValueError):
    """The run cannot be written as code that reproduces it; the message says why."""


@dataclass(frozen=True)
class Recipe:
    """Everything the code needs to train a run again, exactly.

    config:      its settings (validated)
    name:        what the app called it (user text: it goes into the code only as a repr'd string)
    recorded:    the test accuracy (fraction) it measured after each epoch, to print beside the code's
    public_half: it was a class challenge run, tested on the even-numbered test images only
    start:       the parameters it started from (flat float32, laid out like ``Network.params``), or None
    my_digits:   the learner's drawings it trained on and held out (``mlp.digits.TrainingSplit``), or None
    recorded_held_out: the share of the held-out drawings it got right at its end, or None
    notes:       how the app's run ended where that was not after its last epoch (fixed words, numbers)
    inputs_name: the file name of the inputs .npz beside the code (only used when there is one)
    """

    config: TrainConfig
    name: str = ""
    recorded: tuple = ()
    public_half: bool = False
    start: np.ndarray | None = None
    my_digits: TrainingSplit | None = None
    recorded_held_out: float | None = None
    notes: tuple = field(default=())
    inputs_name: str = "run-inputs.npz"

    @property
    def needs_inputs(self):
        return self.start is not None or self.my_digits is not None

    def inputs_arrays(self):
        """The arrays of the inputs file: W0, b0, ... (the start) and my_x, my_y, held_x, held_y."""
        arrays = {}
        if self.start is not None:
            weights, biases = parameter_views(np.asarray(self.start, np.float32), self.config.layers)
            for l, (W, b) in enumerate(zip(weights, biases)):
                arrays[f"W{l}"], arrays[f"b{l}"] = W, b
        if self.my_digits is not None:
            d = self.my_digits
            arrays.update(my_x=d.images.astype(np.float32), my_y=d.labels.astype(np.uint8),
                          held_x=d.held_images.astype(np.float32), held_y=d.held_labels.astype(np.uint8))
        return arrays

    def inputs_limit(self):
        """The most bytes the inputs file's members may declare, for the code to check before reading."""
        return sum(a.nbytes + MAX_NPY_HEADER for a in self.inputs_arrays().values())

    def inputs_bytes(self):
        """The inputs file (an uncompressed .npz), or None when the run needs none."""
        if not self.needs_inputs:
            return None
        buffer = io.BytesIO()
        np.savez(buffer, **self.inputs_arrays())
        return buffer.getvalue()


# ---- from a saved run ---------------------------------------------------------------------------------
def recipe_of_run(saved, digits=None, name=None):
    """The recipe of a saved run (``mlp.io.SavedModel``, as ``mlp.io.load(..., with_extras=True)`` gives).

    digits: the learner's collection it trained on (``mlp.digits.Digits``), when its settings name one.
    Raises ExportError saying what stands in the way.
    """
    meta = saved.meta
    label = name or meta.get("name") or "this run"
    if "config" not in meta:
        dropped = [n for n in saved.notices if n.startswith("'config'")]
        raise ExportError(f"{_quoted(label)} holds no training settings" +
                          (f" ({dropped[0]})" if dropped else " (it was not trained by this app)") +
                          ", so there is nothing to replay")
    try:
        config = config_from_plain(meta["config"])
    except ConfigError as err:                   # mlp.io checked it already; a hand-made meta may not be
        raise ExportError(f"its settings cannot train: {err}") from None
    _check_architecture(saved.network, config)
    history = list(meta.get("history") or [])
    lr = _first_lr(config, meta.get("progress") or history)
    _check_lr(config, lr, meta.get("progress") or [], history)
    if lr != config.lr:
        config = config.replace(lr=lr)
    fine_tune = meta.get("fine_tune") or {}
    start = None
    if config.start_from:
        start = _starting_params(saved)
    split = None
    if config.my_digits:
        split = _drawings(config, digits, fine_tune)
    return Recipe(config, name=str(meta.get("name") or ""), recorded=tuple(e["test_accuracy"] for e in history),
                  public_half=bool(meta.get("challenge")), start=start, my_digits=split,
                  recorded_held_out=fine_tune.get("held_out_after") if split is not None else None,
                  notes=_ending(meta, config, history))


def recipe_of_settings(config, name="", start=None, digits=None, split=None):
    """The recipe of settings not trained yet (or still training): ``start`` the flat parameters the run
    starts from (fine-tuning), and the learner's drawings when its settings ask: ``digits`` (images,
    labels) to split as the run will, or the ``split`` a run already made (``TrainingSplit``)."""
    config = config.validate()
    if config.my_digits and split is None:
        if digits is None:
            raise ExportError("its settings train on a collection of the learner's digits that is not there")
        split = training_split(*digits, config.seed, config.holdout)
    if config.start_from and start is None:
        raise ExportError("its settings start from a network that is not there")
    if start is not None and np.asarray(start).size != parameter_count(config.layers):
        raise ExportError("the network it starts from does not have its layers")
    return Recipe(config, name=name, start=None if start is None else np.asarray(start, np.float32).copy(),
                  my_digits=split if config.my_digits else None)


def _quoted(text):
    return f"“{text}”"


def _check_architecture(network, config):
    described = (list(network.sizes), network.activation, network.output, network.loss_name)
    wanted = (list(config.layers), config.activation, config.output, config.loss)
    if described != wanted:
        raise ExportError(f"its settings describe a {'-'.join(map(str, config.layers))} {config.activation}/"
                          f"{config.output} network, but its weights are for another one")


def _first_lr(config, events):
    """The learning rate the run began with: its first event's (a rate set while it was queued)."""
    return float(events[0]["lr"]) if events else config.lr


def _check_lr(config, lr, progress, history):
    """Refuse a run whose learning rate changed while it trained: each epoch must have used the rate
    the settings give (the first one, times lr_decay after every epoch)."""
    expected = [lr]
    for _ in range(max(len(history), int(max((e["epoch"] for e in progress), default=0)) + 1)):
        expected.append(expected[-1] * config.lr_decay)
    for event in [*progress, *history]:
        epoch = int(event["epoch"]) - (1 if event["kind"] == "epoch" else 0)
        want = expected[min(max(epoch, 0), len(expected) - 1)]
        if not math.isclose(event["lr"], want, rel_tol=1e-9):
            raise ExportError(f"its learning rate (lr) was changed while it trained, to {event['lr']:g} in epoch "
                              f"{max(epoch, 0) + 1}: a script cannot replay a change made by hand at some moment "
                              "of a run. Export its settings instead, or train it again without the change")


def _starting_params(saved):
    """The weights a fine-tuned run started from: its first snapshot, taken before its first update."""
    if saved.snapshots is None or not len(saved.snapshot_epochs) or saved.snapshot_epochs[0] != 0:
        raise ExportError("it was fine-tuned, but its file does not keep the weights it started from "
                          "(its first snapshot)")
    return np.asarray(saved.snapshots[0], np.float32).copy()


def _drawings(config, digits, fine_tune):
    """The learner's drawings the run trained on, split as it split them; refused unless the collection
    is the one it used, unchanged (its fingerprint, kept with the run)."""
    if digits is None:
        raise ExportError("it also trained on a collection of the learner's digits (my_digits), which is not "
                          "here: it has been deleted, or give its file (My digits → Download)")
    recorded = fine_tune.get("digits_sha256")
    if recorded is None:
        raise ExportError("it trained on the learner's digits (my_digits) before runs kept a fingerprint of the "
                          "drawings they used, so there is no telling whether the collection is still what it "
                          "trained on")
    if fingerprint(digits.images, digits.labels) != recorded:
        raise ExportError(f"the collection of digits it trained on (my_digits) has changed since: drawings were "
                          f"added or deleted (it now holds {len(digits)}), so a script would train on others")
    return training_split(digits.images, digits.labels, config.seed, config.holdout)


def _ending(meta, config, history):
    """Notes for a run that did not end after its last epoch (fixed words and numbers only)."""
    status, done = meta.get("status"), len(history)
    if status == "diverged":
        return (f"The app's run diverged in epoch {done + 1} and stopped there; this code trains the same "
                f"settings, and stops if its loss becomes infinite or NaN.",)
    if done < config.epochs and status in ("stopped", "interrupted", "failed"):
        return (f"The app's run was {status} after {done} of its {config.epochs} epochs; this code trains all "
                f"{config.epochs}, and its first {done} are the app's.",)
    return ()


# ---- the files ---------------------------------------------------------------------------------------
SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def file_stem(name, fallback="run"):
    """A file name stem made from a run's name: letters, digits, - and _ only (nothing else reaches a
    file name), at most 40 long."""
    stem = SAFE_NAME.sub("-", str(name or "")).strip("-_")[:40].strip("-_")
    return stem or fallback


def with_inputs_name(recipe, code_path):
    """The recipe with its inputs file named after the code's file: ``out.py`` -> ``out-inputs.npz``."""
    from dataclasses import replace

    return replace(recipe, inputs_name=f"{Path(code_path).stem}-inputs.npz")


def download_name(recipe, kind):
    """(file name, mime type) of a download of ``kind`` ("script" or "notebook"): the code alone, or for a
    run with inputs a .zip of the code and its inputs file."""
    stem = file_stem(recipe.name)
    if recipe.needs_inputs:
        return f"{stem}{'' if kind == 'script' else '-notebook'}.zip", "application/zip"
    return (f"{stem}.py", "text/x-python") if kind == "script" else (f"{stem}.ipynb", "application/x-ipynb+json")


def download_bytes(recipe, kind):
    """What the download ``download_name`` names holds."""
    from . import as_code

    stem = file_stem(recipe.name)
    suffix = ".py" if kind == "script" else ".ipynb"
    recipe = with_inputs_name(recipe, stem + suffix)
    text = as_code.script(recipe) if kind == "script" else as_code.notebook(recipe)
    if not recipe.needs_inputs:
        return text.encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}/{stem}{suffix}", text)
        archive.writestr(f"{stem}/{recipe.inputs_name}", recipe.inputs_bytes())
    return buffer.getvalue()
