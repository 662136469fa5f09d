"""Entry point: the identity cookie, page setup and navigation. Run with `python -m streamlit run app.py`.

``app`` is the ASGI application ``streamlit run`` serves: Streamlit's own, with one middleware that
gives every browser its identity cookie (``ui.cookie``). The rest is the script every session runs.
"""
import asyncio
import contextlib

import streamlit as st
from starlette.middleware import Middleware

from ui.cookie import BrowserIdentity


@contextlib.asynccontextmanager
async def lifespan(app):
    """On the way out (SIGTERM, Ctrl-C), save every unfinished run marked "interrupted"."""
    yield
    from ui import state

    await asyncio.to_thread(state.shutdown)


app = st.App(__file__, middleware=[Middleware(BrowserIdentity)], lifespan=lifespan)

if st.runtime.exists():
    import ui
    from ui import identity

    # An emoji favicon is drawn by the browser itself; a ":material/...:" one would be fetched from a font server.
    st.set_page_config(page_title="MLP from scratch", page_icon="🧠", layout="wide")

    pages = st.navigation([
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/weights.py", title="Hidden weights", icon=":material/grid_on:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
        st.Page("pages/my_digits.py", title="My digits", icon=":material/collections_bookmark:"),
        st.Page("pages/computes.py", title="How it computes", icon=":material/account_tree:"),
        st.Page("pages/dreams.py", title="Dreams and adversaries", icon=":material/psychology:"),
        st.Page("pages/class.py", title="Class", icon=":material/groups:"),
    ])
    identity.forget_me()
    identity.panel()
    with ui.inside_navigation(), ui.timed_run(pages.title):
        pages.run()
