"""Typed dependencies: the caller's tenant, ids in paths, paging and search parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api import request_rate
from app.db.session import unit_of_work
from app.errors import Unauthenticated
from app.security.api_keys import tenant_for_key

_bearer = HTTPBearer(auto_error=False, description="a tenant API key: `distillery keys create`")


def tenant_id(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <api key>'")
    with unit_of_work() as session:
        tenant = tenant_for_key(session, credentials.credentials)
    if tenant is None:
        raise Unauthenticated("invalid or revoked API key")
    request_rate.admit(tenant)
    return tenant


Tenant = Annotated[str, Depends(tenant_id)]
# Ids are ours (`job_3f9a...`): anything else, a NUL byte (which Postgres cannot hold)
# included, is refused with a 422 before it reaches a query.
ResourceId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description="an id the API returned")]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
# For free-text query parameters: NUL-free, for the same reason as ids.
NUL_FREE = "^[^\x00]*$"
