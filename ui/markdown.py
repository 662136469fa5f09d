"""User text inside Streamlit's Markdown: shown as the characters typed, never as Markdown or HTML.

Streamlit renders Markdown in ``st.markdown``, ``st.write``, captions, alerts, labels, help texts and
popover labels. A run name such as ``![x](http://host/x.png)`` would otherwise make every viewer's
browser fetch that address, and ``**`` or ``:red[...]`` would change how the page reads. Every piece
of user text (run names, uploaded file names, messages that quote them) goes through ``escape``.
"""
import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^\"'@])")


def escape(text):
    """``text`` with every character Markdown (or Streamlit's directives) could act on backslashed,
    and line breaks flattened, so it renders as exactly the characters it holds."""
    flat = " ".join(str(text).split())
    return _SPECIAL.sub(r"\\\1", flat)
