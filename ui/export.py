"""As code: any saved run, shipped model or the settings above downloads as a standalone NumPy script or a
notebook that trains it again, exactly (``mlp.export``). What cannot be written says why instead."""
from __future__ import annotations

import streamlit as st

from mlp.config import ConfigError
from mlp.export import ExportError, download_bytes, download_name
from runner.export import recipe_of_live, recipe_of_saved
from ui import identity, state
from ui.markdown import escape

SETTINGS = "settings"
PICKER = "export_pick"


def _recipe(choice, config, job):
    """The recipe of the chosen item; raises ExportError (or ValueError) saying why there is none."""
    if choice == SETTINGS:
        if isinstance(config, ConfigError):
            raise ExportError(f"these settings cannot train ({config})")
        if job is not None and job.status.active:
            return recipe_of_live(job.config, job.name, job.inputs)
        from ui.live import resolve_fine_tune     # ui.live draws this panel: imported when it is used

        name = st.session_state.get("run_name") or "my settings"
        return recipe_of_live(config, name, resolve_fine_tune(config))
    saved = state.saved_file(choice)
    if saved is None:
        raise ExportError("it is no longer there: it was deleted")
    return recipe_of_saved(saved, state.digit_store(), f"run {choice}")


def as_code(config, runs, job=None):
    """The picker and the two downloads (``runs``: the saved runs the list shows)."""
    st.markdown("**As code**")
    training = job is not None and job.status.active
    options = {SETTINGS: "The run training now (its settings)" if training else "The settings above"}
    options.update({run_id: f"pretrained: {path.stem}" for run_id, path in state.shipped_models().items()})
    options.update({r.id: r.name + identity.whose_suffix(r.owner, r.owner_name) for r in runs if not r.damaged})
    if st.session_state.get(PICKER) not in options:
        st.session_state[PICKER] = SETTINGS
    choice = st.selectbox("Run, model or settings", list(options), key=PICKER, format_func=options.get,
                          help="A standalone Python file (or notebook) that needs only NumPy: run as it is, it "
                               "trains the run again, exactly, and prints the test accuracy after every epoch.")
    try:
        recipe = _recipe(choice, config, job)
    except (ExportError, ValueError, OSError) as err:
        st.warning(f"No code for it: {escape(err)}.", icon=":material/code_off:")
        return
    row = st.container(horizontal=True, gap="small")
    for kind, label, icon in (("script", "Download as a Python script", ":material/code:"),
                              ("notebook", "Download as a notebook", ":material/book:")):
        name, mime = download_name(recipe, kind)
        row.download_button(label, data=lambda kind=kind: download_bytes(recipe, kind), file_name=name, mime=mime,
                            key=f"export_{kind}", icon=icon, on_click="ignore")
    if recipe.needs_inputs:
        st.caption("A .zip: the code and, beside it, the weights and drawings the run starts from.")
