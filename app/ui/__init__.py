"""The web dashboard under /ui: server-rendered pages, a little JavaScript, no CDN.

Invariants: templates autoescape everything; the tenant key lives only in an encrypted
HttpOnly cookie (never in HTML, a URL or a log); pages read through the same domain
functions as the API, and the page scripts read the API itself through the bridge
(app.ui.session.ApiBridge), so there is one implementation of every read.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.ui.routes import router
from app.ui.session import ApiBridge, LoginRequired


def _to_login(_: Request, __: Exception) -> Response:
    return RedirectResponse("/ui/login", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")
    app.add_middleware(ApiBridge)
    app.add_exception_handler(LoginRequired, _to_login)
