"""The Python client: `from app.client import Client, AsyncClient`.

Invariants: every operation is one `calls.Call`, executed by both clients alike; inputs
are validated with the server's own schemas before they are sent; every error status
raises an `ApiError` carrying the server's type, message and details; the API key goes
only into the Authorization header, never into a repr, message or log.
"""

from app.client.asynchronous import AsyncClient
from app.client.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServerUnreachable,
    WaitTimeout,
)
from app.client.polling import Backoff
from app.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "Backoff",
    "Client",
    "ClientError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "ServerUnreachable",
    "WaitTimeout",
]
