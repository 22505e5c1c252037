"""Dashboard sign-in: a server-side session named by a random id in an HttpOnly cookie.

The tenant key stays on the server (distillery.ui.session_store), sealed under the server's
secret; the cookie holds only the session's id, so it is no key for /v1, and signing out
drops the session: the old cookie then names nothing. Each request resolves the session's
key again, so revoking the key (`distillery keys revoke`) signs the dashboard out too.

CSRF: every form that changes something carries a token a foreign site cannot know. Signed
in, it is a tag of the session id (distillery.security.secrets.tag); on the sign-in form, before
any session, a tag of a random pre-session cookie that only /ui/login receives.

`ApiBridge` lets the pages' JavaScript read the JSON API without seeing the key: a
request to /ui/api/<path> is served by /v1/<path> with the session's key as its bearer
token, so every route, check and error is the API's own. Only reads pass freely; a write
(cancel) must carry the session's CSRF token in the X-Distillery-UI header.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from cryptography.fernet import InvalidToken
from fastapi import Cookie, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from distillery.db.session import unit_of_work
from distillery.security.api_keys import tenant_for_key
from distillery.security.secrets import decrypt, encrypt, tag, tag_matches
from distillery.settings import get_settings
from distillery.ui.session_store import StoreUnavailable, session_store

COOKIE = "distillery_session"
LOGIN_COOKIE = "distillery_login"
LOGIN_PATH = "/ui/login"
# A working day; signing in again costs one paste.
MAX_AGE_S = 12 * 3600
BRIDGE_PREFIX = "/ui/api/"
WRITE_HEADER = b"x-distillery-ui"
# Cookie values we make are 43 characters; anything much longer is not ours.
MAX_COOKIE_CHARS = 100


class LoginRequired(Exception):
    """No valid session: the dashboard answers with its sign-in page."""


def open_session(api_key: str) -> str:
    """Store a new session for the key; its id goes into the cookie."""
    session_id = secrets.token_urlsafe(32)
    session_store().put(session_id, encrypt(api_key), MAX_AGE_S)
    return session_id


def close_session(session_id: str | None) -> None:
    if session_id:
        session_store().drop(session_id)


def key_of_session(session_id: str | None) -> str | None:
    if not session_id or len(session_id) > MAX_COOKIE_CHARS:
        return None
    sealed = session_store().get(session_id)
    if sealed is None:
        return None
    try:
        return decrypt(sealed)
    except (InvalidToken, ValueError):
        return None


def csrf_token(session_id: str) -> str:
    return tag("ui-csrf", session_id)


def csrf_valid(session_id: str, claimed: str) -> bool:
    return tag_matches("ui-csrf", session_id, claimed)


def new_login_nonce() -> str:
    return secrets.token_urlsafe(32)


def login_token(nonce: str) -> str:
    return tag("ui-login", nonce)


def login_token_valid(nonce: str | None, claimed: str) -> bool:
    return bool(nonce) and len(nonce or "") <= MAX_COOKIE_CHARS and tag_matches("ui-login", nonce or "", claimed)


def over_https(request: Request) -> bool:
    """Whether the browser reached us over https (then cookies are `Secure`)."""
    if get_settings().trust_forwarded_proto:
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded:
            return forwarded == "https"
    return request.url.scheme == "https"


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int | None,
    samesite: Literal["lax", "strict"],
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite=samesite, secure=over_https(request)
    )


def tenant_of_key(api_key: str) -> str | None:
    with unit_of_work() as session:
        return tenant_for_key(session, api_key)


def signed_in_tenant(request: Request, distillery_session: Annotated[str | None, Cookie()] = None) -> str:
    api_key = key_of_session(distillery_session)
    tenant = tenant_of_key(api_key) if api_key else None
    if tenant is None or distillery_session is None:
        raise LoginRequired
    # For the pages' forms (sign out) and scripts (cancel).
    request.state.csrf_token = csrf_token(distillery_session)
    return tenant


UiTenant = Annotated[str, Depends(signed_in_tenant)]


class ApiBridge:
    """ASGI middleware: /ui/api/<path> → /v1/<path>, authorised by the session cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(BRIDGE_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        cookies = cookie_parser(b"; ".join(v for k, v in headers if k == b"cookie").decode("latin-1"))
        session_id = cookies.get(COOKIE)
        if scope["method"] not in ("GET", "HEAD"):
            claimed = next((v.decode("latin-1") for k, v in headers if k == WRITE_HEADER), "")
            if not session_id or not csrf_valid(session_id, claimed):
                message = "dashboard writes need the page's CSRF token in the X-Distillery-UI header"
                await _refuse(403, "forbidden", message)(scope, receive, send)
                return
        try:
            api_key = await run_in_threadpool(key_of_session, session_id)
        except StoreUnavailable:
            await _refuse(503, "unavailable", "dashboard sessions are unavailable; retry shortly")(scope, receive, send)
            return
        if api_key is not None:
            headers.append((b"authorization", f"Bearer {api_key}".encode()))
        path = "/v1/" + scope["path"].removeprefix(BRIDGE_PREFIX)
        await self.app({**scope, "path": path, "raw_path": path.encode(), "headers": headers}, receive, send)


def _refuse(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)
