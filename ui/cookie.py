"""The browser's identity cookie, set by an ASGI middleware of ``st.App`` (``app.py``).

Every HTTP response to a request that carries no well-formed ``mlp_owner`` cookie sets one: a fresh
random token (``runner.identity.new_token``), HttpOnly (page scripts cannot read it), SameSite=Lax
(other sites' pages cannot send it along with their own requests), for a year, with ``Secure`` when
the app is served over TLS (``MLP_COOKIE_SECURE=1``; see docs/class.md). A forged or malformed
cookie is replaced, never interpreted: it can only make its browser a new learner. The token is
never logged: this module writes nothing anywhere.

Plain ASGI (no Streamlit import), so it is tested by calling it with a fake app.
"""
from __future__ import annotations

import os
from http.cookies import SimpleCookie

from runner.identity import is_token, new_token

COOKIE = "mlp_owner"
MAX_AGE = 365 * 24 * 3600


def secure_cookie():
    """True when the app is served over TLS (``MLP_COOKIE_SECURE=1``): the cookie then says Secure."""
    return os.environ.get("MLP_COOKIE_SECURE", "").strip().lower() in ("1", "true", "yes")


def token_in(headers):
    """The well-formed browser token among a request's raw ASGI headers, or None."""
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        jar = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except Exception:                        # a malformed Cookie header: as good as none
            continue
        if COOKIE in jar and is_token(jar[COOKIE].value):
            return jar[COOKIE].value
    return None


def set_cookie_header(token, secure):
    parts = [f"{COOKIE}={token}", "Path=/", f"Max-Age={MAX_AGE}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class BrowserIdentity:
    """ASGI middleware: give every browser that has no (valid) identity cookie a new one."""

    def __init__(self, app, secure=None):
        self.app = app
        self.secure = secure_cookie() if secure is None else secure

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or token_in(scope.get("headers", ())) is not None:
            await self.app(scope, receive, send)
            return
        header = set_cookie_header(new_token(), self.secure)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"set-cookie", header)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
