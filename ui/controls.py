"""The Train page's controls: one widget per ``TrainConfig`` field, keyed by the field's name."""
from __future__ import annotations

import streamlit as st

import mlp
from mlp.config import HELP, MAX_HIDDEN_LAYERS, MAX_UNITS, ConfigError, advice, from_query, to_query

LR_OPTIONS = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02,
              0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0]
BATCH_OPTIONS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
L2_OPTIONS = [0.0, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1]
TRAIN_SIZES = [1, 10, 100, 300, 1000, 3000, 10_000, 20_000, 30_000, 60_000]
MAX_EPOCHS_SLIDER = 100
PERSIST = {"persist_state": "session"}


def nearest(options, value):
    return min(options, key=lambda option: abs(option - value))


def apply_config(config):
    """Set every control to ``config`` (values between the options snap to the nearest one)."""
    hidden = config.layers[1:-1]
    state = st.session_state
    state["n_hidden"] = len(hidden)
    for i in range(MAX_HIDDEN_LAYERS):
        state[f"units_{i}"] = hidden[i] if i < len(hidden) else state.get(f"units_{i}", 16)
    for name in ("activation", "output", "loss", "optimizer", "init", "shuffle", "seed"):
        state[name] = getattr(config, name)
    state["lr"] = nearest(LR_OPTIONS, config.lr)
    state["batch_size"] = nearest(BATCH_OPTIONS, config.batch_size)
    state["l2"] = nearest(L2_OPTIONS, config.l2)
    state["train_size"] = nearest(TRAIN_SIZES, config.train_size)
    state["epochs"] = min(config.epochs, MAX_EPOCHS_SLIDER)
    state["lr_decay"] = config.lr_decay


def init_controls():
    """Once per session: the controls start from the link's settings if it has any, else the seed preset."""
    if st.session_state.get("controls_ready"):
        return
    config, problems = from_query(st.query_params.to_dict(), base=mlp.PRESETS["seed"].config)
    apply_config(config)
    st.session_state["url_problems"] = problems
    st.session_state["preset"] = next((name for name, p in mlp.PRESETS.items() if p.config == config), None)
    st.session_state["controls_ready"] = True


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


def controls(disabled=False, on_lr_change=None):
    """Draw the controls and return the TrainConfig they describe (or the ConfigError it raises)."""
    c = mlp.CHOICES
    net, opt, data = st.tabs(["Network", "Optimisation", "Data"])
    with net:
        n_hidden = st.slider("Hidden layers", 0, MAX_HIDDEN_LAYERS, key="n_hidden", disabled=disabled,
                             help=HELP["layers"], **PERSIST)
        unit_cols = st.columns(max(n_hidden, 1))
        units = [unit_cols[i].number_input(f"Units {i + 1}", 1, MAX_UNITS, key=f"units_{i}", step=1,
                                           disabled=disabled, **PERSIST) for i in range(n_hidden)]
        st.selectbox("Hidden activation", c["activation"], key="activation", disabled=disabled,
                     help=HELP["activation"], **PERSIST)
        st.selectbox("Output", c["output"], key="output", disabled=disabled, help=HELP["output"], **PERSIST)
        st.selectbox("Loss", c["loss"], key="loss", disabled=disabled, help=HELP["loss"], **PERSIST)
        st.selectbox("Initialisation", c["init"], key="init", disabled=disabled, help=HELP["init"], **PERSIST)
    with opt:
        st.selectbox("Optimizer", c["optimizer"], key="optimizer", disabled=disabled,
                     help=HELP["optimizer"], **PERSIST)
        st.select_slider("Learning rate (log scale)", LR_OPTIONS, key="lr", format_func=lambda v: f"{v:g}",
                         on_change=on_lr_change, help=HELP["lr"] + " You can change it while training.",
                         **PERSIST)
        st.slider("Learning-rate decay per epoch", 0.5, 1.0, key="lr_decay", step=0.01, disabled=disabled,
                  help=HELP["lr_decay"], **PERSIST)
        st.select_slider("Batch size", BATCH_OPTIONS, key="batch_size", disabled=disabled,
                         help=HELP["batch_size"], **PERSIST)
        st.select_slider("L2 weight decay", L2_OPTIONS, key="l2", format_func=lambda v: f"{v:g}",
                         disabled=disabled, help=HELP["l2"], **PERSIST)
    with data:
        st.slider("Epochs", 1, MAX_EPOCHS_SLIDER, key="epochs", disabled=disabled, help=HELP["epochs"], **PERSIST)
        st.select_slider("Training images", TRAIN_SIZES, key="train_size", format_func=lambda v: f"{v:,}",
                         disabled=disabled, help=HELP["train_size"], **PERSIST)
        st.toggle("Shuffle every epoch", key="shuffle", disabled=disabled, help=HELP["shuffle"], **PERSIST)
        st.number_input("Seed", 0, 2**32 - 1, key="seed", step=1, disabled=disabled, help=HELP["seed"],
                        **PERSIST)
    s = st.session_state
    config = mlp.TrainConfig(layers=(784, *units, 10), activation=s["activation"], output=s["output"],
                             loss=s["loss"], optimizer=s["optimizer"], lr=s["lr"], lr_decay=s["lr_decay"],
                             batch_size=s["batch_size"], epochs=s["epochs"], init=s["init"], l2=s["l2"],
                             shuffle=s["shuffle"], seed=int(s["seed"]), train_size=s["train_size"])
    try:
        return config.validate()
    except ConfigError as err:
        return err


def explain(config):
    """Warnings for unusual but valid settings, and the reason a setup cannot train."""
    if isinstance(config, ConfigError):
        st.error(f"These settings cannot train: {config}")
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
