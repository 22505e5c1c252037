"""Typed dependencies: the caller's tenant and paging parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    return tenant


Tenant = Annotated[str, Depends(tenant_id)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
