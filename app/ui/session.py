"""Dashboard sign-in: a tenant key kept in an HttpOnly cookie, never in a page.

The cookie holds the key encrypted under the server's secret (app.security.secrets), so
the cookie alone is not a key for /v1. Each request resolves it again, so revoking the
key (`distillery keys revoke`) signs the dashboard out too.

`ApiBridge` lets the pages' JavaScript read the JSON API without seeing the key: a
request to /ui/api/<path> is served by /v1/<path> with the cookie's key as its bearer
token, so every route, check and error is the API's own. Only reads pass freely; a write
(cancel) must carry the X-Distillery-UI header, which a cross-site form cannot send.
"""

from __future__ import annotations

from typing import Annotated

from cryptography.fernet import InvalidToken
from fastapi import Cookie, Depends
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db.session import unit_of_work
from app.security.api_keys import tenant_for_key
from app.security.secrets import decrypt, encrypt

COOKIE = "distillery_session"
# A working day; signing in again costs one paste.
MAX_AGE_S = 12 * 3600
BRIDGE_PREFIX = "/ui/api/"
WRITE_HEADER = b"x-distillery-ui"


class LoginRequired(Exception):
    """No valid session: the dashboard answers with its sign-in page."""


def seal(api_key: str) -> str:
    return encrypt(api_key)


def unseal(cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        return decrypt(cookie)
    except (InvalidToken, ValueError):
        return None


def tenant_of_key(api_key: str) -> str | None:
    with unit_of_work() as session:
        return tenant_for_key(session, api_key)


def signed_in_tenant(distillery_session: Annotated[str | None, Cookie()] = None) -> str:
    api_key = unseal(distillery_session)
    tenant = tenant_of_key(api_key) if api_key else None
    if tenant is None:
        raise LoginRequired
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
        if scope["method"] not in ("GET", "HEAD") and not any(k == WRITE_HEADER for k, _ in headers):
            body = {"error": {"type": "forbidden", "message": "dashboard writes need the X-Distillery-UI header"}}
            await JSONResponse(body, status_code=403)(scope, receive, send)
            return
        cookies = cookie_parser(b"; ".join(v for k, v in headers if k == b"cookie").decode("latin-1"))
        api_key = unseal(cookies.get(COOKIE))
        if api_key is not None:
            headers.append((b"authorization", f"Bearer {api_key}".encode()))
        path = "/v1/" + scope["path"].removeprefix(BRIDGE_PREFIX)
        await self.app({**scope, "path": path, "raw_path": path.encode(), "headers": headers}, receive, send)
