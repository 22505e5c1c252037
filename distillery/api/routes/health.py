from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from distillery.db.session import unit_of_work
from distillery.queue import broker_reachable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is down"}})
def readyz() -> JSONResponse:
    checks = {"database": _database_ok(), "broker": broker_reachable()}
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": {k: "ok" if v else "down" for k, v in checks.items()}},
        status_code=200 if ready else 503,
    )


def _database_ok() -> bool:
    try:
        with unit_of_work() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
