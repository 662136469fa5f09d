"""My digits: keeping drawings from the Draw page, the gallery of a collection (delete one, download,
upload), and how a model does on them. Collections live in ``runner.digits``; every control acts on
the collection and the drawing it shows, by id."""
from __future__ import annotations

import numpy as np
import streamlit as st

from mlp import analysis
from ui import identity, state
from ui.errors import attempt, failure_text, show_failure
from ui.markdown import escape

COLUMNS = 8
UPLOADER = "digits_upload"
FAILED = "digits_failed"
"""Session key of the message of a change of a collection that failed (shown above the gallery)."""


def _store():
    return state.digit_store()


def _count(n, thing):
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _a(digit):
    """"a 7", "an 8"."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def canvas_grey(image):
    """The canvas's RGBA drawing (280, 280, 4) as grey levels (280, 280) uint8: white ink on black."""
    return np.asarray(image)[..., :3].max(axis=2).astype(np.uint8)


# ---- keeping a drawing (Draw page) ---------------------------------------------------------------------
def _mine(collection_id):
    """True if this session's person owns the collection (a teacher's own are theirs too)."""
    try:
        info = _store().info(collection_id)
    except KeyError:                        # none (or not an id)
        return False
    return info is not None and identity.me().owns(info.owner)


def _keep(collection_id, x, raw, label, clear):
    store, me = _store(), identity.acting()
    if not _mine(collection_id):            # none yet, deleted, or someone else's: start one of one's own
        collection_id = attempt("Keeping the drawing", "keep_error", store.create, me)
        if collection_id is None:
            return
        state.set_current_collection(collection_id)
    if attempt("Keeping the drawing", "keep_error", store.add, collection_id, x, raw, label, me) is None:
        return
    kept = attempt("Keeping the drawing", "keep_error", store.get, collection_id)
    if kept is None:
        return
    st.session_state["kept_note"] = (f"Kept as {_a(label)} in “{kept.name}”, which now holds "
                                     f"{_count(len(kept), 'drawing')}.")
    clear()


def keep_panel(x, digit, image, clear):
    """*Keep this drawing*, with its label (the network's reading unless changed), into the session's
    collection (a new one the first time); then the canvas is cleared for the next drawing."""
    collection_id = state.current_collection()
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    label = row.selectbox("It is a", list(range(10)), index=digit, key=f"keep_label_{digit}", width=110,
                          help="The digit you meant: the network's reading to start with.")
    row.button("Keep this drawing", key="keep", icon=":material/bookmark_add:", on_click=_keep,
               args=(collection_id, x, canvas_grey(image), label, clear))
    show_failure("keep_error")
    kept = _readable(collection_id) if _mine(collection_id) else None
    if kept is not None:
        st.caption(f"Kept drawings go to “{escape(kept.name)}” ({len(kept)} so far): see them on **My digits**.")
    else:
        st.caption("Your first kept drawing starts a collection of your own: see it on **My digits**.")


def link_collection():
    """Put the session's collection in the page's address (``?digits=ID``), so a reload or a shared
    link finds the same collection instead of starting another."""
    current = state.current_collection()
    if current is not None and st.query_params.get("digits") != current:
        st.query_params["digits"] = current
    return current


def kept_note():
    """After *Keep this drawing* the canvas is empty again: this says where the drawing went."""
    link_collection()
    if "kept_note" in st.session_state:
        st.success(escape(st.session_state.pop("kept_note")), icon=":material/bookmark_added:")


# ---- the collection and its gallery (My digits page) ---------------------------------------------------
def _picked():
    state.set_current_collection(st.session_state["collection_picker"])


def _new_collection():
    created = attempt("Starting a new collection", FAILED, _store().create, identity.acting())
    if created is not None:
        state.set_current_collection(created)


def collection_picker():
    """Choose the session's collection (or start one); returns its id, or None when there is none.
    The page's URL carries it (``?digits=ID``), so a refresh or a link finds it again."""
    listed = _store().list()
    current = state.current_collection()
    infos = [c for c in listed if c.problem is None]
    shown = identity.listed(infos, keep=(current,))
    damaged = [c for c in listed if c.problem is not None]
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    if shown:
        names = {c.id: f"{c.name} · {_count(c.count, 'drawing')}{identity.whose_suffix(c.owner, c.owner_name)}" for c in shown}
        if current not in names:
            current = next(iter(names))
            state.set_current_collection(current)
        st.session_state["collection_picker"] = current
        row.selectbox("Collection", list(names), key="collection_picker", format_func=names.get, on_change=_picked)
    else:
        current = None
        state.set_current_collection(None)
    row.button("New collection", key="new_collection", icon=":material/add:", on_click=_new_collection)
    with row:
        identity.scope_control("digits_scope")
    show_failure(FAILED)
    linked = st.query_params.get("digits")
    for c in damaged:
        if st.session_state.get(identity.SCOPE) == "all" or c.id == linked:
            st.warning(f"A collection file cannot be read: {escape(c.problem)}", icon=":material/broken_image:")
    if not shown:
        st.info("You have no collection yet: draw a digit on **Draw** and press *Keep this drawing*, or start "
                "one with *New collection*.", icon=":material/collections_bookmark:")
    return link_collection()


def _remove(collection_id, drawing_id):
    attempt("Deleting the drawing", FAILED, _store().remove, collection_id, drawing_id, identity.acting())


def _rename(collection_id):
    attempt("Renaming the collection", FAILED, _store().rename, collection_id, st.session_state["collection_name"],
            identity.acting())


def _readable(collection_id):
    """The collection, or None when there is none or it cannot be read (the picker says why)."""
    if collection_id is None:
        return None
    try:
        return _store().get(collection_id)
    except (KeyError, ValueError, OSError):
        return None


def gallery(collection_id):
    """Every drawing of the collection with its label and a Delete button bound to its id."""
    digits = _readable(collection_id)
    if digits is None:
        st.warning("That collection is no longer there, or cannot be read: choose another above.")
        return None
    allowed = identity.me().may_change(digits.owner)
    if not allowed:
        identity.owner_line(digits.owner, digits.owner_name, what="collection")
    st.session_state["collection_name"] = digits.name
    st.text_input("Name", key="collection_name", max_chars=80, on_change=_rename, args=(collection_id,),
                  disabled=not allowed)
    if not len(digits):
        st.info("No drawings yet: draw a digit on the **Draw** page and press *Keep this drawing*.",
                icon=":material/draw:")
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return digits
    as_drawn = st.toggle("Show them as drawn (the canvas)", key="as_drawn")
    counts = np.bincount(digits.labels, minlength=10)
    st.caption(f"{_count(len(digits), 'drawing')}: " + ", ".join(f"{c} × {d}" for d, c in enumerate(counts) if c) + ".")
    for start in range(0, len(digits), COLUMNS):
        columns = st.columns(COLUMNS)
        for column, i in zip(columns, range(start, min(start + COLUMNS, len(digits)))):
            picture = digits.raw[i] if as_drawn else digits.images[i].reshape(28, 28)
            column.image(picture, width=72, clamp=True, caption=_a(digits.labels[i]))
            if allowed:
                column.button("Delete", key=f"delete_{digits.ids[i]}", on_click=_remove,
                              args=(collection_id, digits.ids[i]), help="Delete this drawing from the collection.")
    return digits


def files(collection_id):
    """Download the collection as .npz, or upload one (checked, never unpickled) as a new collection."""
    digits = _readable(collection_id)
    row = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
    if digits is not None:
        row.download_button("Download (.npz)", lambda: _store().to_bytes(collection_id), file_name="my-digits.npz",
                            mime="application/octet-stream", key="download_digits", icon=":material/download:",
                            on_click="ignore")
    upload = st.file_uploader("Upload a collection (.npz)", type=["npz"], key=UPLOADER,
                              help="A file downloaded here before. It is checked completely before it is kept.")
    if upload is not None and st.session_state.get("uploaded_digits") != upload.file_id:
        st.session_state["uploaded_digits"] = upload.file_id
        try:
            new = _store().import_bytes(upload.getvalue(), identity.acting(), upload.name)
        except ValueError as err:
            st.error(f"Not kept: {escape(err)}", icon=":material/block:")
            return
        except OSError as err:
            st.error(f"Not kept: it could not be saved ({escape(failure_text(err))}).", icon=":material/error:")
            return
        state.set_current_collection(new)
        st.rerun()


# ---- a model on my digits (Evaluate page) --------------------------------------------------------------
def evaluation(network, mnist_accuracy):
    """The current model's accuracy on the session's collection beside its MNIST test accuracy, and
    the drawings it gets wrong."""
    collection_id = state.current_collection()
    if collection_id is None:
        st.caption("Keep some drawings on the **Draw** page to see how this model reads *your* handwriting.")
        return
    digits = _readable(collection_id)
    if digits is None:
        return
    if not len(digits):
        st.caption(f"“{escape(digits.name)}” holds no drawings yet: keep some on the **Draw** page.")
        return
    probabilities = analysis.as_probabilities(network.forward(digits.images))
    predicted = probabilities.argmax(axis=1)
    right = predicted == digits.labels
    cols = st.columns(2)
    cols[0].metric(f"On your {_count(len(digits), 'digit')} (“{escape(digits.name)}”)", f"{right.mean():.1%}",
                   delta=f"{100 * (right.mean() - mnist_accuracy):+.1f} points against MNIST",
                   delta_color="normal")
    cols[1].metric("On the MNIST test set", f"{mnist_accuracy:.2%}")
    wrong = np.flatnonzero(~right)
    if not len(wrong):
        st.success("It reads every one of your digits right.")
        return
    st.markdown(f"**The {len(wrong)} it gets wrong**")
    st.image([digits.images[i].reshape(28, 28) for i in wrong[:40]], width=72, clamp=True,
             caption=[f"{digits.labels[i]} read as {predicted[i]} ({probabilities[i, predicted[i]]:.0%})"
                      for i in wrong[:40]])
