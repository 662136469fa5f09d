"""The Train page's controls: one widget per ``TrainConfig`` field, keyed by the field's name."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import streamlit as st

import mlp
from mlp import augment
from mlp.config import (HELP, MAX_DROPOUT, MAX_EPOCHS, MAX_HIDDEN_LAYERS, MAX_HOLDOUT, MAX_REPEAT, MAX_UNITS,
                        ConfigError, advice, from_query, to_query)
from ui import identity, state
from ui.live import is_mine, set_live_lr
from ui.markdown import escape

LR_OPTIONS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02,
              0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0]
BATCH_OPTIONS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
L2_OPTIONS = [0.0, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
TRAIN_SIZES = [1, 10, 100, 300, 1000, 3000, 10_000, 20_000, 30_000, 60_000]
PERSIST = {"persist_state": "session"}


@dataclass(frozen=True)
class Steps:
    """The values a control can show: a list of options (a select slider), or low..high by step."""

    options: tuple = ()
    low: float = 0
    high: float = 0
    step: float = 1

    @property
    def bounds(self):
        return (self.options[0], self.options[-1]) if self.options else (self.low, self.high)

    def fit(self, value):
        """(the control's value nearest to ``value``, True if that is not ``value`` itself).
        ValueError if ``value`` lies outside the control's range."""
        low, high = self.bounds
        if not low - 1e-12 <= value <= high + 1e-12:
            raise ValueError(f"outside this control's range, {low:g} to {high:g}")
        if self.options:
            fitted = min(self.options, key=lambda option: abs(option - value))
        else:
            fitted = round(round((value - self.low) / self.step) * self.step + self.low, 10)
            fitted = type(self.step)(fitted) if isinstance(self.step, int) else fitted
        return fitted, not math.isclose(fitted, value, rel_tol=1e-9, abs_tol=1e-15)


STEPS = {"lr": Steps(tuple(LR_OPTIONS)), "batch_size": Steps(tuple(BATCH_OPTIONS)), "l2": Steps(tuple(L2_OPTIONS)),
         "train_size": Steps(tuple(TRAIN_SIZES)), "epochs": Steps(low=1, high=MAX_EPOCHS, step=1),
         "lr_decay": Steps(low=0.1, high=1.0, step=0.01), "dropout": Steps(low=0.0, high=MAX_DROPOUT, step=0.05),
         "shift": Steps(low=0.0, high=augment.LIMITS["shift"], step=0.5),
         "rotation": Steps(low=0.0, high=augment.LIMITS["rotation"], step=1.0),
         "scaling": Steps(low=0.0, high=augment.LIMITS["scaling"], step=0.01),
         "elastic": Steps(low=0.0, high=augment.LIMITS["elastic"], step=0.1),
         "my_digits_repeat": Steps(low=1, high=MAX_REPEAT, step=1),
         "holdout": Steps(low=0.0, high=MAX_HOLDOUT, step=0.05)}
"""Every control that cannot show every value the config accepts, with the values it can show.
Where the config accepts more (a learning rate below 1e-5, a batch above 1024), a link's value
outside the control is ignored with a warning; a value between two steps is moved to the nearest
one, and the page says so."""


def apply_config(config, fallback=None):
    """Set every control to ``config``. Returns notes, one per value the controls could not show
    exactly: moved to the nearest step, or (outside a control's range) replaced by ``fallback``'s."""
    hidden = config.layers[1:-1]
    state = st.session_state
    state["n_hidden"] = len(hidden)
    for i in range(MAX_HIDDEN_LAYERS):
        state[f"units_{i}"] = hidden[i] if i < len(hidden) else state.get(f"units_{i}", 16)
    for name in ("activation", "output", "loss", "optimizer", "init", "shuffle", "seed", "start_from", "my_digits"):
        state[name] = getattr(config, name)
    notes = []
    for name, steps in STEPS.items():
        value = getattr(config, name)
        try:
            fitted, moved = steps.fit(value)
        except ValueError as err:
            fitted, moved = steps.fit(getattr(fallback or mlp.PRESETS["seed"].config, name))[0], False
            notes.append(f"{name}={value:g} ignored: {err}; using {fitted:g}")
        if moved:
            notes.append(f"{name}={value:g} is between this control's steps; using {fitted:g}")
        state[name] = fitted
    return notes


def init_controls():
    """Once per session: the controls start from the link's settings if it has any, else the seed preset."""
    if st.session_state.get("controls_ready"):
        return
    seed = mlp.PRESETS["seed"].config
    config, problems = from_query(st.query_params.to_dict(), base=seed)
    problems += apply_config(config, fallback=seed)
    if config.start_from:                   # a link to a fine-tuning setup: the network is its base's
        adopt_base()
        problems += [st.session_state.pop("start_error")] if "start_error" in st.session_state else []
        problems += _replaced_by_base(config)
    st.session_state["url_problems"] = problems
    st.session_state["preset"] = next((name for name, p in mlp.PRESETS.items() if p.config == config), None)
    st.session_state["controls_ready"] = True


ARCHITECTURE = ("activation", "output", "loss")
"""The settings besides the layers that a network's weights fix (a run starting from it takes them)."""


def _replaced_by_base(config):
    """Notes for the link's own layers/activation/output/loss that the base network's replaced."""
    s, asked = st.session_state, st.query_params
    if not s.get("start_from"):
        return []
    hidden = [s[f"units_{i}"] for i in range(s["n_hidden"])]
    replaced = []
    if "layers" in asked and list(config.layers[1:-1]) != hidden:
        replaced.append(f"layers={'-'.join(map(str, config.layers))} (it is {'-'.join(map(str, [784, *hidden, 10]))})")
    replaced += [f"{name}={getattr(config, name)} (it is {s[name]})" for name in ARCHITECTURE
                 if name in asked and getattr(config, name) != s[name]]
    if not replaced:
        return []
    return [f"{', '.join(replaced)} replaced by the network it starts from: a run that starts from a trained "
            "network keeps that network's shape"]


def _apply_preset():
    name = st.session_state.get("preset")
    if name in mlp.PRESETS:
        apply_config(mlp.PRESETS[name].config)


def preset_picker(disabled):
    st.selectbox("Preset", list(mlp.PRESETS), key="preset", on_change=_apply_preset, disabled=disabled,
                 format_func=lambda name: mlp.PRESETS[name].title, placeholder="Custom settings",
                 help="Fills every control below with a complete, tested setup.", **PERSIST)
    if st.session_state.get("preset") in mlp.PRESETS:
        st.caption(mlp.PRESETS[st.session_state["preset"]].description)


DESCRIPTIONS = {"activation": {k: a.description for k, a in mlp.ACTIVATIONS.items()},
                "output": {k: a.description for k, a in mlp.OUTPUTS.items()},
                "loss": {k: loss.description for k, loss in mlp.LOSSES.items()},
                "optimizer": {k: o.description for k, o in mlp.OPTIMIZERS.items()},
                "init": dict(mlp.INITS)}
"""What each choice of a categorical setting does, in one line, from the engine's own tables."""


def _choice(label, field, disabled):
    """A categorical setting: its selectbox, and what the chosen option does."""
    value = st.selectbox(label, mlp.CHOICES[field], key=field, disabled=disabled, help=HELP[field], **PERSIST)
    st.caption(DESCRIPTIONS[field][value])


def controls(disabled=False, on_lr_change=None, lr_disabled=False):
    """Draw the controls and return the TrainConfig they describe (or the ConfigError it raises)."""
    net, opt, data = st.tabs(["Network", "Optimisation", "Data"])
    based = disabled or bool(st.session_state.get("start_from"))   # a base network fixes the architecture
    with net:
        n_hidden = st.slider("Hidden layers", 0, MAX_HIDDEN_LAYERS, key="n_hidden", disabled=based,
                             help=HELP["layers"], **PERSIST)
        unit_cols = st.columns(max(n_hidden, 1))
        units = [unit_cols[i].number_input(f"Units {i + 1}", 1, MAX_UNITS, key=f"units_{i}", step=1,
                                           disabled=based, **PERSIST) for i in range(n_hidden)]
        if based and not disabled:
            st.caption("The network is the one this run starts from (see *Fine-tune* below).")
        _choice("Hidden activation", "activation", based)
        _choice("Output", "output", based)
        _choice("Loss", "loss", based)
        _choice("Initialisation", "init", based)
    with opt:
        _choice("Optimizer", "optimizer", disabled)
        st.select_slider("Learning rate (log scale)", LR_OPTIONS, key="lr", format_func=lambda v: f"{v:g}",
                         on_change=on_lr_change, help=HELP["lr"] + " You can change it while training.",
                         disabled=lr_disabled, **PERSIST)
        st.slider("Learning-rate decay per epoch", STEPS["lr_decay"].low, STEPS["lr_decay"].high, key="lr_decay",
                  step=STEPS["lr_decay"].step, disabled=disabled, help=HELP["lr_decay"], **PERSIST)
        st.select_slider("Batch size", BATCH_OPTIONS, key="batch_size", disabled=disabled,
                         help=HELP["batch_size"], **PERSIST)
        st.select_slider("L2 weight decay", L2_OPTIONS, key="l2", format_func=lambda v: f"{v:g}",
                         disabled=disabled, help=HELP["l2"], **PERSIST)
        _slider("Dropout (share of hidden units off per batch)", "dropout", disabled, "%.2f")
    with data:
        st.slider("Epochs", STEPS["epochs"].low, STEPS["epochs"].high, key="epochs", disabled=disabled,
                  help=HELP["epochs"], **PERSIST)
        st.select_slider("Training images", TRAIN_SIZES, key="train_size", format_func=lambda v: f"{v:,}",
                         disabled=disabled, help=HELP["train_size"], **PERSIST)
        st.toggle("Shuffle every epoch", key="shuffle", disabled=disabled, help=HELP["shuffle"], **PERSIST)
        st.number_input("Seed", 0, 2**32 - 1, key="seed", step=1, disabled=disabled, help=HELP["seed"],
                        **PERSIST)
        st.markdown("**Augmentation**: each training image transformed at random, afresh every batch")
        _slider("Shift (pixels)", "shift", disabled, "%.1f")
        _slider("Rotation (degrees)", "rotation", disabled, "%d°")
        _slider("Scaling (fraction)", "scaling", disabled, "%.2f")
        _slider("Elastic distortion (pixels)", "elastic", disabled, "%.1f")
        augmented_samples()
    s = st.session_state
    with st.expander("Fine-tune: start from a trained network, train on my digits",
                     expanded=bool(s.get("start_from") or s.get("my_digits"))):
        fine_tune_controls(disabled)
    config = mlp.TrainConfig(layers=(784, *units, 10), activation=s["activation"], output=s["output"],
                             loss=s["loss"], optimizer=s["optimizer"], lr=s["lr"], lr_decay=s["lr_decay"],
                             batch_size=s["batch_size"], epochs=s["epochs"], init=s["init"], l2=s["l2"],
                             shuffle=s["shuffle"], seed=int(s["seed"]), train_size=s["train_size"],
                             dropout=s["dropout"], shift=s["shift"], rotation=s["rotation"], scaling=s["scaling"],
                             elastic=s["elastic"], start_from=s["start_from"] or "", my_digits=s["my_digits"] or "",
                             my_digits_repeat=s["my_digits_repeat"], holdout=s["holdout"])
    try:
        return config.validate()
    except ConfigError as err:
        return err


def _bases():
    """{id: label} of what a run can start from: random weights, saved runs, shipped models."""
    bases = {"": "random weights (new)"}
    saved = identity.listed([r for r in state.store().list() if not r.damaged], keep=(st.session_state.get("start_from"),))
    bases.update({r.id: f"{r.name} · {r.architecture}{identity.whose_suffix(r.owner, r.owner_name)}" for r in saved})
    bases.update({run_id: f"pretrained: {path.stem}" for run_id, path in state.shipped_models().items()})
    return bases


def adopt_base():
    """A base network was chosen: the network controls take its architecture (it cannot change)."""
    run_id = st.session_state.get("start_from")
    if not run_id:
        return
    path = state.model_file(run_id)
    try:
        if path is None:
            raise ValueError(f"there is no run or shipped model {run_id!r} on this server (deleted, or never here)")
        meta = mlp.io.read_meta(path, check_sizes=mlp.config.check_layers)
    except (ValueError, OSError) as err:
        st.session_state["start_error"] = f"The network to start from cannot be used: {err}. Starting from random weights."
        st.session_state["start_from"] = ""
        return
    hidden = meta["sizes"][1:-1]
    st.session_state["n_hidden"] = len(hidden)
    for i, units in enumerate(hidden):
        st.session_state[f"units_{i}"] = units
    for name in ARCHITECTURE:
        st.session_state[name] = meta[name]


def fine_tune_controls(disabled):
    """Start from a trained network, and train on the learner's own digits besides MNIST."""
    bases = _bases()
    if st.session_state.get("start_from") not in bases:
        st.session_state["start_from"] = ""
    st.selectbox("Start from", list(bases), key="start_from", format_func=bases.get, on_change=adopt_base,
                 disabled=disabled, help=HELP["start_from"], **PERSIST)
    collections = {"": "none: MNIST only"}
    usable = [c for c in state.digit_store().list() if c.problem is None]
    collections.update({c.id: f"{c.name} · {c.count} drawings{identity.whose_suffix(c.owner, c.owner_name)}"
                        for c in identity.listed(usable, keep=(st.session_state.get("my_digits"),))})
    if st.session_state.get("my_digits") not in collections:
        st.session_state["my_digits"] = ""
    st.selectbox("Train on my digits too", list(collections), key="my_digits", format_func=collections.get,
                 disabled=disabled, help=HELP["my_digits"], **PERSIST)
    mine = bool(st.session_state["my_digits"])
    _slider("Weight of my digits (each counts as N images)", "my_digits_repeat", disabled or not mine, "%d")
    _slider("Held out of training (share of my digits)", "holdout", disabled or not mine, "%.2f")
    st.caption("To teach a network your handwriting: start from a trained run, add your digits (keep some on "
               "**Draw**), train a few epochs with a small learning rate. The run then reports, before and "
               "after, its accuracy on your held-out digits and on the MNIST test set: did it learn you, did "
               "it forget MNIST?")


def _slider(label, field, disabled, format):
    steps = STEPS[field]
    st.slider(label, steps.low, steps.high, key=field, step=steps.step, disabled=disabled, format=format,
              help=HELP[field], **PERSIST)


PREVIEW = 4
"""Training digits shown with their augmentation: one row of each fits the settings column."""


def augmented_samples():
    """A few training digits as the chosen augmentation would show them to the network (a new draw
    each time a strength changes; *Another draw* for more)."""
    s = st.session_state
    strengths = augment.Augmentation(s["shift"], s["rotation"], s["scaling"], s["elastic"])
    if not strengths.active:
        st.caption("Every strength is 0: the network sees the training images as they are.")
        return
    draw = s.setdefault("augment_draw", 0)
    X = state.dataset()[0][:PREVIEW]
    shown = augment.augment(X, strengths, np.random.default_rng([int(s["seed"]), draw]))
    st.image([x.reshape(28, 28) for x in X], width=44, clamp=True)
    st.image([x.reshape(28, 28) for x in shown], width=44, clamp=True)
    st.caption("Above: training digits as they are; below: as the network might see them in one batch. Each "
               "batch gets a fresh random transform per image, drawn from the run's seed; the labels stay.")
    st.button("Another draw", key="augment_again", icon=":material/casino:",
              on_click=lambda: s.update(augment_draw=draw + 1))


def settings_panel(training, job):
    """The settings box (locked while a run trains, but for the learning rate) and the page's link;
    returns the TrainConfig the controls describe, or the ConfigError they raise."""
    with st.container(border=True):
        preset_picker(disabled=training)
        watching = training and not is_mine(job)     # someone else's run: nothing here may change it
        config = controls(disabled=training, on_lr_change=set_live_lr, lr_disabled=watching)
        explain(config)
        if watching:
            st.caption("These are the settings of someone else's run: you can watch it, not change it.")
        elif training:
            st.caption("The settings are locked while a run trains, except the learning rate, "
                       "which the run takes at its next batch.")
    run_id = state.current_run_id()
    share_link(job.config if training else config, run_id if state.store().exists(run_id) or job else None)
    return config


def explain(config):
    """Warnings for unusual but valid settings, and the reason a setup cannot train."""
    if isinstance(config, ConfigError):
        st.error(f"These settings cannot train: {escape(config)}")
        return
    for note in advice(config):
        st.warning(note, icon=":material/lightbulb:")


def share_link(config, run_id=None):
    """Keep the page's URL equal to the current setup (and run), so it can be sent as a link."""
    if isinstance(config, ConfigError):
        return
    wanted = to_query(config)
    if run_id:
        wanted["run"] = run_id
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
