"""The dashboard's pages: server-rendered with the signed-in tenant's data.

Thin like the API's routes: parse, one read inside `unit_of_work()`, render. Live parts
(status, progress, training curves) are fetched by static/app.js through the API bridge.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from distillery.api.deps import Offset, RecordId, ResourceId
from distillery.datasets import flags
from distillery.datasets import queries as dataset_queries
from distillery.db.session import unit_of_work
from distillery.errors import Conflict, InvalidSpec, NotFound
from distillery.jobs import queries
from distillery.pipelines import queries as pipeline_queries
from distillery.schemas.datasets import FileFormat, RowFilters
from distillery.training import queries as training_queries
from distillery.ui import browse, dataset_view, pipeline_view
from distillery.ui.session import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_PATH,
    MAX_AGE_S,
    MAX_COOKIE_CHARS,
    UiTenant,
    close_session,
    csrf_token,
    csrf_valid,
    key_of_session,
    login_token,
    login_token_valid,
    new_login_nonce,
    open_session,
    set_cookie,
    signed_in_tenant,
    tenant_of_key,
)

PAGE_SIZE = 50
SearchText = Annotated[str | None, Query(max_length=200)]
# Scores as the filter form sends them: "" for none.
ScoreText = Annotated[str | None, Query(max_length=40)]
CsrfField = Annotated[str, Form(max_length=200)]


def _pretty(value: Any) -> str:
    # Plain text, so autoescape escapes it like everything else.
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
_env.filters["pretty"] = _pretty
_env.filters["percent"] = pipeline_view.percent_label
templates = Jinja2Templates(env=_env)
router = APIRouter(prefix="/ui", include_in_schema=False)
signed_in = [Depends(signed_in_tenant)]


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    # Signed-in pages get the session's CSRF token for their sign-out form and scripts.
    context = {"csrf_token": getattr(request.state, "csrf_token", None), **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _problem(request: Request, title: str, message: str, status_code: int) -> HTMLResponse:
    return _render(request, "problem.html", {"title": title, "message": message}, status_code=status_code)


def sessions_unavailable(request: Request, _: Exception) -> Response:
    message = "Dashboard sessions cannot be reached just now. Please try again in a moment."
    response = _problem(request, "Unavailable", message, 503)
    response.headers["Retry-After"] = "5"
    return response


def _missing(request: Request, exc: NotFound) -> HTMLResponse:
    return _render(request, "missing.html", {"message": exc.message}, status_code=404)


def _text(value: str | None) -> str | None:
    # Postgres cannot hold NUL in a string; a search for one finds nothing anyway.
    return value.replace("\x00", "").strip() or None if value else None


@router.get("")
def home() -> Response:
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


def _login_form(request: Request, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    """The sign-in form, its CSRF token bound to a pre-session cookie that only this path
    receives (kept if the browser has one, so two open tabs both work)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not nonce or len(nonce) > MAX_COOKIE_CHARS:
        nonce = new_login_nonce()
    context = {"error": error, "login_csrf": login_token(nonce)}
    response = _render(request, "login.html", context, status_code=status_code)
    set_cookie(response, request, LOGIN_COOKIE, nonce, path=LOGIN_PATH, max_age=None, samesite="strict")
    return response


@router.post("/login")
def login(request: Request, key: Annotated[str, Form(max_length=1000)] = "", csrf: CsrfField = "") -> Response:
    # The token first: a forged sign-in learns nothing, not even whether its key is known.
    if not login_token_valid(request.cookies.get(LOGIN_COOKIE), csrf):
        expired = "This sign-in form has expired or was sent from another site. Please sign in again."
        return _login_form(request, expired, status_code=403)
    key = key.strip()
    if not key or tenant_of_key(key) is None:
        return _login_form(request, "That key is unknown or revoked.", status_code=401)
    close_session(request.cookies.get(COOKIE))  # an earlier sign-in in this browser
    response = RedirectResponse("/ui/jobs", status_code=303)
    set_cookie(response, request, COOKIE, open_session(key), path="/ui", max_age=MAX_AGE_S, samesite="lax")
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
def logout(request: Request, csrf: CsrfField = "") -> Response:
    """Ends the session on the server: the old cookie no longer signs anyone in."""
    session_id = request.cookies.get(COOKIE)
    if session_id and key_of_session(session_id) is not None:
        if not csrf_valid(session_id, csrf):
            request.state.csrf_token = csrf_token(session_id)
            message = "This sign-out request did not come from this dashboard's page. Use the Sign out button."
            return _problem(request, "Not signed out", message, 403)
        close_session(session_id)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/jobs")
def jobs_page(request: Request, tenant: UiTenant, offset: Offset = 0) -> HTMLResponse:
    with unit_of_work() as session:
        jobs = queries.list_all(session, tenant, PAGE_SIZE, offset)
    next_offset = offset + PAGE_SIZE if len(jobs) == PAGE_SIZE else None
    return _render(request, "jobs.html", {"jobs": jobs, "offset": offset, "next_offset": next_offset})


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    job_id: ResourceId,
    tenant: UiTenant,
    status: Literal["", "accepted", "rejected", "failed"] = "",
    reason: SearchText = None,
    q: SearchText = None,
    offset: Offset = 0,
) -> HTMLResponse:
    # The filter form sends "" for "all".
    where = queries.RecordFilter(status=status or None, reason=_text(reason), text=_text(q))
    try:
        with unit_of_work() as session:
            view = browse.job_view(session, tenant, job_id, where, offset)
    except NotFound as exc:
        return _missing(request, exc)
    kept = {"status": where.status, "reason": where.reason, "q": where.text}
    params = "".join(f"&{urlencode({k: v})}" for k, v in kept.items() if v)
    return _render(request, "job.html", {"view": view, "where": where, "offset": offset, "params": params})


@router.get("/pipelines")
def pipelines_page(request: Request, tenant: UiTenant, offset: Offset = 0) -> HTMLResponse:
    with unit_of_work() as session:
        pipelines = pipeline_queries.list_all(session, tenant, PAGE_SIZE, offset)
    next_offset = offset + PAGE_SIZE if len(pipelines) == PAGE_SIZE else None
    return _render(request, "pipelines.html", {"pipelines": pipelines, "offset": offset, "next_offset": next_offset})


@router.get("/pipelines/{pipeline_id}")
def pipeline_page(request: Request, pipeline_id: ResourceId, tenant: UiTenant) -> HTMLResponse:
    try:
        with unit_of_work() as session:
            view = pipeline_view.pipeline_view(session, tenant, pipeline_id)
    except NotFound as exc:
        return _missing(request, exc)
    return _render(request, "pipeline.html", {"view": view})


@router.get("/datasets")
def datasets_page(request: Request, tenant: UiTenant, offset: Offset = 0) -> HTMLResponse:
    with unit_of_work() as session:
        datasets = dataset_queries.list_all(session, tenant, PAGE_SIZE, offset)
    next_offset = offset + PAGE_SIZE if len(datasets) == PAGE_SIZE else None
    return _render(request, "datasets.html", {"datasets": datasets, "offset": offset, "next_offset": next_offset})


@router.get("/datasets/{dataset_id}")
def dataset_page(
    request: Request,
    dataset_id: ResourceId,
    tenant: UiTenant,
    view: Literal["", "kept", "rejected"] = "",
    q: SearchText = None,
    min_score: ScoreText = None,
    max_score: ScoreText = None,
    reason: SearchText = None,
    flagged: Literal["", "yes", "no"] = "",
    offset: Offset = 0,
) -> HTMLResponse:
    # The filter form sends "" for "any"; choosing a reason shows the rejected records.
    reason = _text(reason)
    try:
        where = RowFilters(
            view="rejected" if view == "rejected" or reason else "kept",
            q=_text(q),
            min_score=_score(min_score, "min score"),
            max_score=_score(max_score, "max score"),
            reason=reason,
            flagged={"yes": True, "no": False}.get(flagged),
        )
        with unit_of_work() as session:
            page = dataset_view.dataset_view(session, tenant, dataset_id, where, offset)
    except NotFound as exc:
        return _missing(request, exc)
    except InvalidSpec as exc:
        return _problem(request, "Cannot filter rows", exc.message, 422)
    context = {
        "view": page,
        "dataset": page.dataset,
        "files": get_args(FileFormat),
        "where": where,
        "min_score": min_score or "",
        "max_score": max_score or "",
        "flagged": flagged,
        "offset": offset,
        "page_size": dataset_view.ROWS_PER_PAGE,
        "back": dataset_view.filter_query(str(request.url.query)),
        "params": "".join(f"&{urlencode({k: v})}" for k, v in parse_qsl(str(request.url.query)) if k != "offset"),
    }
    return _render(request, "dataset.html", context)


@router.post("/datasets/{dataset_id}/flags/{record_id}")
def flag_row(
    request: Request,
    dataset_id: ResourceId,
    record_id: RecordId,
    tenant: UiTenant,
    action: Annotated[Literal["flag", "unflag"], Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
    csrf: CsrfField = "",
) -> Response:
    """The row viewer's flag and unflag buttons; back to the same page of rows."""
    if not _form_from_this_page(request, csrf):
        return _not_from_this_page(request)
    try:
        with unit_of_work() as session:
            if action == "flag":
                flags.flag(session, tenant, dataset_id, record_id, _text(note))
            else:
                flags.unflag(session, tenant, dataset_id, record_id)
    except NotFound as exc:
        return _missing(request, exc)
    query = dataset_view.filter_query(back)
    return RedirectResponse(f"/ui/datasets/{dataset_id}{'?' + query if query else ''}#row-{record_id}", 303)


@router.post("/datasets/{dataset_id}/versions")
def version_without_flagged(
    request: Request, dataset_id: ResourceId, tenant: UiTenant, csrf: CsrfField = ""
) -> Response:
    if not _form_from_this_page(request, csrf):
        return _not_from_this_page(request)
    try:
        with unit_of_work() as session:
            version = flags.without_flagged(session, tenant, dataset_id, None)
            new_id = version.id
    except NotFound as exc:
        return _missing(request, exc)
    except Conflict as exc:
        return _problem(request, "No new version", exc.message, 409)
    return RedirectResponse(f"/ui/datasets/{new_id}", 303)


def _form_from_this_page(request: Request, csrf: str) -> bool:
    return csrf_valid(request.cookies.get(COOKIE) or "", csrf)


def _not_from_this_page(request: Request) -> HTMLResponse:
    message = "This form did not come from this dashboard's page. Reload the page and try again."
    return _problem(request, "Not saved", message, 403)


def _score(text: str | None, name: str) -> float | None:
    if not text or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidSpec(name, "must be a number, such as 7.5")
    return value


@router.get("/training", dependencies=signed_in)
def training_page(request: Request) -> HTMLResponse:
    return _render(request, "training.html", {})


@router.get("/training/{training_job_id}")
def training_job_page(request: Request, training_job_id: ResourceId, tenant: UiTenant) -> HTMLResponse:
    # The page's data comes through the API bridge; this read only says whether it exists.
    try:
        with unit_of_work() as session:
            training_queries.get(session, tenant, training_job_id)
    except NotFound as exc:
        return _missing(request, exc)
    return _render(request, "training_job.html", {"training_job_id": training_job_id})
