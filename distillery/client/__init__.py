"""The Python client: `from distillery.client import Client, AsyncClient`.

Invariants: every operation is one `calls.Call`, executed by both clients alike; inputs
are validated with the server's own schemas before they are sent; every error status
raises an `ApiError` carrying the server's type, message and details; the API key goes
only into the Authorization header, never into a repr, message or log.
"""

from distillery.client.asynchronous import AsyncClient
from distillery.client.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    ConflictError,
    InvalidRequestError,
    LocalSpecError,
    NotFoundError,
    ServerUnreachable,
    WaitTimeout,
)
from distillery.client.polling import Backoff
from distillery.client.sync import Client
from distillery.schemas.datasets import RowFilters

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Backoff",
    "Client",
    "ClientError",
    "ConflictError",
    "InvalidRequestError",
    "LocalSpecError",
    "NotFoundError",
    "RowFilters",
    "ServerUnreachable",
    "WaitTimeout",
]
