"""Typed dependencies: the caller's tenant, ids in paths, paging and search parameters."""

from __future__ import annotations

import threading
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from distillery.api import request_rate
from distillery.db.session import unit_of_work
from distillery.errors import Unauthenticated
from distillery.security.api_keys import hash_key, tenant_for_key

_bearer = HTTPBearer(auto_error=False, description="a tenant API key: `distillery keys create`")


# Each key's tenant (or None: unknown or revoked), remembered briefly by the key's hash: a
# request then costs no database round trip of its own to authenticate, and a revoked key
# stops working within KEY_CACHE_S.
KEY_CACHE_S = 2.0
_tenants: TTLCache[str, str | None] = TTLCache(maxsize=10_000, ttl=KEY_CACHE_S)
_tenants_lock = threading.Lock()


async def tenant_id(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    # Async: a sync dependency costs every request a hop to the thread pool, and a cached
    # key needs none; only a lookup goes to a thread.
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <api key>'")
    digest = hash_key(credentials.credentials)
    with _tenants_lock:
        cached = digest in _tenants
        tenant = _tenants.get(digest)
    if not cached:
        tenant = await run_in_threadpool(_lookup, credentials.credentials)
        with _tenants_lock:
            _tenants[digest] = tenant
    if tenant is None:
        raise Unauthenticated("invalid or revoked API key")
    if request_rate.enabled():  # a round trip to Redis: not on the event loop
        await run_in_threadpool(request_rate.admit, tenant)
    return tenant


def _lookup(key: str) -> str | None:
    with unit_of_work() as session:
        return tenant_for_key(session, key)


Tenant = Annotated[str, Depends(tenant_id)]
# Ids are ours (`job_3f9a...`): anything else, a NUL byte (which Postgres cannot hold)
# included, is refused with a 422 before it reaches a query.
ResourceId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description="an id the API returned")]
# Record ids are 64-bit: a larger number would fail in the database, not here.
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a record id (a dataset row's record_id)")]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
# For free-text query parameters: NUL-free, for the same reason as ids.
NUL_FREE = "^[^\x00]*$"
