"""Who is using this session (``me()``), and the small panel that says so (in the sidebar).

A session's person comes from, in this order: the identity provider, when the school has one and
the user signed in (``st.login``, configured in ``.streamlit/secrets.toml``); the browser's
identity cookie (``ui.cookie``, set by ``app.py``'s middleware); and, for a browser that sent no
cookie (cookies blocked, or ``AppTest``, which sends none), a token of this session alone, kept in
``st.session_state[SESSION_TOKEN]``: that is the one seam the tests use to be a given browser. No
URL, page, log or file ever holds a token: the run service sees only the owner id it hashes to.
"""
from __future__ import annotations

import os

import streamlit as st

from runner.identity import Identities, KeyRefused, NotKept, Person, called, new_token, whose
from ui import state
from ui.cookie import COOKIE
from ui.markdown import escape

SESSION_TOKEN = "browser_token"
"""Session key of the token of a session whose browser sent no identity cookie."""
MESSAGE = "identity_message"


def teacher_key():
    """The server's teacher key: ``MLP_TEACHER_KEY`` in the environment, else in the app's secrets."""
    key = os.environ.get("MLP_TEACHER_KEY")
    if key:
        return key
    try:
        return st.secrets.get("MLP_TEACHER_KEY") or None
    except Exception:                         # no secrets.toml, or one that cannot be parsed
        return None


def teacher_emails():
    """The signed-in addresses that are teachers: ``MLP_TEACHERS`` (comma-separated) in the
    environment, else a list (or such a string) under that name in the app's secrets."""
    listed = os.environ.get("MLP_TEACHERS")
    if listed is None:
        try:
            listed = st.secrets.get("MLP_TEACHERS") or ""
        except Exception:
            listed = ""
    return tuple(sorted(listed.split(",") if isinstance(listed, str) else map(str, listed)))


def sign_in_configured():
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (a school's identity provider)."""
    try:
        return "auth" in st.secrets
    except Exception:
        return False


@st.cache_resource
def _identities(runs_dir, key, emails):
    return Identities(runs_dir, key, emails)


def identities() -> Identities:
    return _identities(str(state.RUNS_DIR), teacher_key(), teacher_emails())


def _signed_in():
    """st.user's claims when signed in through the identity provider, else None."""
    try:
        user = st.user
        return dict(user) if user.get("is_logged_in") else None
    except Exception:
        return None


def cookie_token():
    """The identity cookie's value as the browser sent it (text), or None."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:
        return None
    return value if isinstance(value, str) else None


ME = "identity_person"
"""Session key of the person as looked up for this run of the page (``me``), dropped by ``app.py``
at the start of every run so a change made elsewhere (a name, teacher status) shows at once."""


def forget_me():
    st.session_state.pop(ME, None)


def me() -> Person:
    """The person using this session, looked up once per run of the page: what a page shows."""
    if st.session_state.get(ME) is None:
        st.session_state[ME] = acting()
    return st.session_state[ME]


def acting() -> Person:
    """The person using this session, looked up now (see the module's docstring): what a callback
    passes to the run service as who acts, since a callback runs before the page and a teacher may
    have stopped being one since the page was drawn."""
    user = _signed_in()
    if user is not None and (user.get("sub") or user.get("email")):
        verified = user.get("email") if user.get("email_verified", True) is not False else None
        return identities().of_provider(user.get("iss"), user.get("sub") or user.get("email"),
                                        user.get("name") or user.get("email"), email=verified)
    person = identities().of_token(cookie_token())
    if person is None:
        person = identities().of_token(st.session_state.setdefault(SESSION_TOKEN, new_token()))
    return person


def whose_text(owner, owner_name):
    """"yours", "Ada's", ... as seen by this session's person."""
    return whose(owner, owner_name, me())


# ---- the panel --------------------------------------------------------------------------------------
def _say(kind, text):
    st.session_state[MESSAGE] = (kind, text)


def _save_name():
    try:
        person = identities().set_name(acting(), st.session_state.get("display_name", ""))
    except ValueError as err:
        _say("error", f"Not saved: {err}.")
        return
    _say("success", f"Others now see your runs as {person.name}'s.")


def _claim_teacher():
    key = st.session_state.get("teacher_key_entry", "")
    st.session_state["teacher_key_entry"] = ""
    try:
        identities().claim_teacher(acting(), key)
    except (KeyRefused, NotKept) as err:
        _say("error", f"Not a teacher: {err}.")
        return
    _say("success", "You are a teacher on this server: you may pause, stop, rename and delete any run and "
                    "any collection.")


def _leave_teacher():
    try:
        identities().leave_teacher(acting())
    except NotKept as err:
        _say("error", f"Still a teacher: {err}.")
        return
    _say("success", "You are a learner again.")


def label(person):
    who = person.name or ("signed in" if person.signed_in else "this browser")
    return f"{who} · teacher" if person.teacher else who


def panel():
    """Who you are, your display name, the teacher key, and what clearing cookies would cost."""
    person = me()
    with st.sidebar.popover(escape(label(person)), icon=":material/person:", width="stretch"):
        if person.signed_in:
            st.markdown("You are **signed in** through your school's sign-in: on any browser where you sign "
                        "in, you are you.")
        else:
            st.markdown("You are **this browser**: no account, a private cookie keeps you apart from others.")
            if cookie_token() is None:
                st.warning("Your browser sent no identity cookie (are cookies blocked?): what you make now is "
                           "yours only until this tab is closed or reloaded.", icon=":material/block:")
        st.caption("Your runs and digits are yours to change; others on this server can look at them, compare "
                   "with them and fine-tune copies of their own." + (
                       "" if person.signed_in else " Clearing this site's cookies, or opening the app in another "
                       "browser or a private window, makes you a new learner: your work stays on the server, "
                       "but it is no longer yours to change (a teacher can still manage it)."))
        if identities().problem:
            st.warning(f"On this server, {escape(identities().problem)}.", icon=":material/warning:")
        if MESSAGE in st.session_state:
            kind, text = st.session_state.pop(MESSAGE)
            (st.error if kind == "error" else st.success)(escape(text))
        st.session_state.setdefault("display_name", person.name or "")
        st.text_input("Your name, shown with your runs", key="display_name", max_chars=40,
                      placeholder="e.g. Ada", on_change=_save_name)
        _teacher_part(person)
        _sign_in_part(person)


def _teacher_part(person):
    if person.teacher:
        st.markdown(":violet-badge[teacher] You may pause, stop, rename and delete anyone's runs and collections.")
        st.button("Stop being a teacher", key="leave_teacher", on_click=_leave_teacher)
    elif identities().has_teacher_key:
        with st.form("teacher_form", border=False, enter_to_submit=True):
            st.text_input("Teacher key", key="teacher_key_entry", type="password",
                          help="The key the server was started with (MLP_TEACHER_KEY). Enter it once: this "
                               "browser stays a teacher until the key changes.")
            st.form_submit_button("Become a teacher", on_click=_claim_teacher)


def _sign_in_part(person):
    if not sign_in_configured():
        return
    import importlib.util

    if importlib.util.find_spec("authlib") is None:       # st.login needs it; it is not in requirements.txt
        st.caption("Sign-in is configured on this server but cannot work yet: `pip install Authlib` there.")
        return
    if person.signed_in:
        st.button("Sign out", key="sign_out", on_click=st.logout)
    else:
        st.button("Sign in with your school account", key="sign_in", on_click=st.login)


def owner_line(owner, owner_name, what="run"):
    """For something another person owns: a line saying whose it is and what you may do with it."""
    person = me()
    if person.owns(owner):
        return
    if person.teacher:
        st.info(f"This {what} is {escape(whose(owner, owner_name))}; as a teacher you may change it.",
                icon=":material/school:")
        return
    does = ("watch it, compare with it, evaluate it, draw on it, look inside it and fine-tune a copy of your own "
            "from it" if what == "run" else "look at it and measure networks on it")
    st.info(f"This {what} is {escape(whose(owner, owner_name))}: you can {does}, but not change it.",
            icon=":material/visibility:")


# ---- whose work a list shows ------------------------------------------------------------------------
SCOPE = "list_scope"
"""Session key: whose runs and collections the lists show, "mine" (the default) or "all"."""
SCOPES = {"mine": "Mine", "all": "Everything on this server"}


def scope_control(key):
    """Mine / everything, for one list (each list has its own widget; the choice is shared)."""
    st.session_state.setdefault(SCOPE, "mine")
    st.session_state[key] = st.session_state[SCOPE]
    st.segmented_control("Show", list(SCOPES), key=key, format_func=SCOPES.get, required=True,
                         on_change=lambda: st.session_state.update({SCOPE: st.session_state[key]}),
                         label_visibility="collapsed")
    return st.session_state[SCOPE]


def mine_first(items, everything=None):
    """``items`` (with ``owner``) in this list's scope: this person's first, then (when the scope is
    everything) everyone else's, each in the order given."""
    person = me()
    everything = st.session_state.get(SCOPE, "mine") == "all" if everything is None else everything
    mine = [i for i in items if person.owns(i.owner)]
    return mine + ([i for i in items if not person.owns(i.owner)] if everything else [])


def listed(items, keep=()):
    """``mine_first(items)``, plus any of ``items`` whose id is in ``keep`` (the run or collection a
    page has open, someone else's from a link), so a list always shows what is chosen in it."""
    shown = mine_first(items)
    ids = {i.id for i in shown}
    return shown + [i for i in items if i.id in keep and i.id not in ids]


def whose_suffix(owner, owner_name):
    """"" for this person's own, else " · Ada's" (for a list's labels)."""
    name = owner_label(owner, owner_name)
    return "" if name == "you" else f" · {name}'s"


def owner_label(owner, owner_name):
    """A list's owner column: "you", "Ada", "another learner", "nobody"."""
    return called(owner, owner_name, me())
