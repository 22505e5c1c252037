"""The web dashboard under /ui: server-rendered pages, a little JavaScript, no CDN.

Invariants: templates autoescape everything; the tenant key lives only in the server-side
session store (never in HTML, a cookie, a URL or a log); every form that changes
something carries a CSRF token; every /ui response carries the security headers of
distillery/ui/headers.py (no inline script or style anywhere); pages read through the same domain
functions as the API, and the page scripts read the API itself through the bridge
(distillery.ui.session.ApiBridge), so there is one implementation of every read.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from distillery.ui.headers import UiHeaders
from distillery.ui.routes import router, sessions_unavailable
from distillery.ui.session import ApiBridge, LoginRequired
from distillery.ui.session_store import StoreUnavailable


def _to_login(_: Request, __: Exception) -> Response:
    return RedirectResponse("/ui/login", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")
    app.add_middleware(ApiBridge)
    # Outside the bridge, which rewrites /ui/api paths to /v1: its answers get them too.
    app.add_middleware(UiHeaders)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(StoreUnavailable, sessions_unavailable)
