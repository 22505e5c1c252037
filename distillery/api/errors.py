"""The one error mapper: every error leaves as {"error": {type, message, details}}.

Validation details name the field and the problem and never echo the input, which may
hold a teacher key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from distillery.errors import DatabaseBusy, DistilleryError
from distillery.schemas.base import MAX_DEPTH, invalid_request

log = logging.getLogger(__name__)


def error_response(
    status: int, type_: str, message: str, details: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, details = invalid_request(exc.errors())
    return error_response(422, "invalid_request", message, details)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DistilleryError)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return error_response(exc.status, exc.type, exc.message, exc.details, headers=headers)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # A body nested so deep the JSON parser gave up: the same answer as one just too deep.
        problem = f"nested deeper than {MAX_DEPTH} levels"
        details = [{"field": "body", "problem": problem}]
        return error_response(422, "invalid_request", f"invalid request: body: {problem}", details)
    kinds = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return error_response(
        exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail), headers=exc.headers
    )


def _operational(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return _domain(request, DatabaseBusy("the database is busy or unreachable; retry shortly"))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "internal error; the request was not applied")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DistilleryError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(Exception, _unexpected)
