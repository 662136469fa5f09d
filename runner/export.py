"""A saved run, a shipped model or a training run's settings as code (``mlp.export``), gathered from the
run service: the run's file from the run store, the learner's collection it trained on from the digit
store, a live run's starting weights and drawings from its job. Downloading code is allowed to whoever
may download the run's file and the collection (everyone who can see them); nothing here changes a thing.
"""
from __future__ import annotations

from dataclasses import replace

from mlp.digits import TrainingSplit
from mlp.export import ExportError, recipe_of_run, recipe_of_settings


def recipe_of_saved(saved, digit_store, fallback_name):
    """The recipe of a saved run or shipped model (its checked ``SavedModel``); its collection, if it
    trained on one, comes from ``digit_store``. Raises ExportError saying why there is none."""
    config = saved.meta.get("config") or {}
    digits = None
    if config.get("my_digits"):
        try:
            digits = digit_store.get(config["my_digits"])
        except KeyError:
            digits = None
        except ValueError as err:
            raise ExportError(f"the collection of digits it trained on cannot be read: {err}") from None
    name = saved.meta.get("name") or fallback_name
    recipe = recipe_of_run(saved, digits, name=name)
    return recipe if recipe.name else replace(recipe, name=name)


def recipe_of_live(config, name, inputs=None):
    """The recipe of settings about to train or training now: ``inputs`` what the run starts from, as
    ``runner.worker.fine_tune_inputs`` gives them (a job's own, or those resolved for the settings)."""
    inputs = inputs or {}
    split = None
    if inputs.get("extra_x") is not None:
        split = TrainingSplit(inputs["extra_x"], inputs["extra_y"], inputs["holdout_x"], inputs["holdout_y"])
    return recipe_of_settings(config, name, start=inputs.get("base_params"), split=split)
