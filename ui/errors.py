"""A save or change that fails (a full disk, a read-only runs folder, something deleted meanwhile) is
said where the user acted, in words, and changes nothing: never a traceback.

Callbacks cannot draw where their control is, so ``attempt`` keeps the message under a session key
and ``show_failure`` draws it beside the control on the next run.
"""
from __future__ import annotations

import streamlit as st

from runner.identity import NotYours
from runner.store import RunGone
from ui.markdown import escape


def failure_text(err):
    """Why an action failed, as a phrase: "no space left on device", "it has been deleted"."""
    if isinstance(err, (RunGone, NotYours)):
        return str(err)
    if isinstance(err, KeyError):
        return "it is no longer there: it was deleted"
    if isinstance(err, OSError):
        return (err.strerror or str(err) or type(err).__name__).lower()
    return str(err) or type(err).__name__


def attempt(what, key, action, *args):
    """``action(*args)``, or None with "<what> failed: <why>. Nothing was changed." kept under
    ``key`` for ``show_failure`` when it raises OSError, KeyError or ValueError."""
    try:
        return action(*args)
    except (OSError, KeyError, ValueError) as err:
        st.session_state[key] = f"{what} failed: {failure_text(err)}. Nothing was changed."
        return None


def show_failure(key):
    """Draw (once) the message ``attempt`` kept under ``key``, if any."""
    if key in st.session_state:
        st.error(escape(st.session_state.pop(key)), icon=":material/error:")
