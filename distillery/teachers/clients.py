"""HTTP and Redis clients shared by every chunk a worker process runs on one event loop.

A client per chunk would open fresh connections (and a TLS handshake) for every chunk;
these keep them alive across chunks. Clients belong to the loop that made them, so they
are kept per loop and dropped with it.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import weakref
from functools import lru_cache
from typing import Any

import anyio
import certifi

# The openai SDK runs on httpx2/httpcore2 (its own fork of httpx): its transports are these.
import httpcore2
import httpx2
import openai
from openai import AsyncOpenAI
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo

from distillery.security import teacher_urls

_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


@lru_cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds; once per process is enough.
    return ssl.create_default_context(cafile=certifi.where())


def _shared(key: tuple[Any, ...], make: Any) -> Any:
    clients = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if key not in clients:
        clients[key] = make()
    return clients[key]


class AddressRefused(httpcore2.ConnectError):
    """The teacher's host resolved to an address the SSRF guard refuses: no connection made."""


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Connects only to addresses the SSRF guard allows (distillery/security/teacher_urls.py): the
    host is resolved here, every address it resolves to is checked, and the connection goes
    to a checked address, never to a second resolution an attacker's DNS could answer
    differently. TLS still verifies, and sends SNI for, the host name (httpcore starts TLS
    on this stream with the origin's name)."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.AsyncNetworkStream:
        allowed = teacher_urls.rules()
        if teacher_urls.name_allowed(host, port, allowed):
            addresses = [host]
        else:
            addresses = [str(a) for a in await self._checked(host, port, allowed)]
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
                return SocketKeepingStream(stream)
            except httpcore2.ConnectError as exc:  # another of the host's (checked) addresses may answer
                failure = exc
        raise failure or httpcore2.ConnectError(f"host '{host}' resolved to no address")

    async def _checked(self, host: str, port: int, allowed: list[teacher_urls.Rule]) -> list[teacher_urls.IPAddress]:
        try:
            addresses = await anyio.to_thread.run_sync(teacher_urls.resolve, host, port)
        except OSError as exc:
            raise httpcore2.ConnectError(f"could not resolve host '{host}'") from exc
        for address in addresses:
            refused = teacher_urls.address_refusal(host, address, port, allowed)
            if refused:
                raise AddressRefused(refused)
        return addresses

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise AddressRefused("teachers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class SocketKeepingStream(httpcore2.AsyncNetworkStream):
    """A stream that remembers its socket. The pool asks every idle connection whether it
    is readable before each request, and anyio builds a fresh table of attributes to find
    the socket each time: at 64 connections, a tenth of a worker's CPU."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return SocketKeepingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # data or EOF waiting on an idle connection: it is dead
            if self._socket is None or self._socket.fileno() < 0:
                return True
            poller = select.poll()
            poller.register(self._socket, select.POLLIN)
            return bool(poller.poll(0))
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """The SDK's transport over GuardedBackend (the transport takes no network backend; its pool does).
    Proxies from the environment are not used: an explicit transport turns them off, and a
    proxy would resolve the host itself, past the guard."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool._network_backend = GuardedBackend()


def openai_client(base_url: str, api_key: str | None, timeout_s: float) -> AsyncOpenAI:
    return _shared(
        ("openai", base_url, api_key, timeout_s),
        lambda: AsyncOpenAI(
            base_url=base_url,
            # Simulators and local servers need no key; the SDK insists on a value.
            api_key=api_key or "no-key",
            max_retries=0,  # retries are ours: paced, and counted per item
            timeout=timeout_s,
            # The SDK's client follows redirects; ours follows none, so a teacher cannot
            # send our requests (its key in their headers, the prompts in their bodies) to
            # a host nobody vetted. A redirect is the teacher's answer: a non-retried
            # `teacher_http_3xx` failure. (A 301/302 would turn the POST into a GET anyway.)
            http_client=openai.DefaultAsyncHttpxClient(
                transport=GuardedTransport(verify=_tls(), limits=openai.DEFAULT_CONNECTION_LIMITS),
                follow_redirects=False,
            ),
        ),
    )


# A Redis restart or failover takes seconds: the pacing calls wait it out (backoff from
# 0.1 s to 2 s, about a minute in all) instead of failing the teacher calls in flight.
# redis-py's default gives up after a second or two.
REDIS_OUTAGE_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=35)


def redis_client(url: str) -> Redis:
    # DriverInfo() reads package metadata (milliseconds); build it once per client.
    return _shared(("redis", url), lambda: Redis.from_url(url, driver_info=DriverInfo(), retry=REDIS_OUTAGE_RETRY))


async def close_all() -> None:
    """Close this loop's clients (a worker process shutting down, a test's loop ending)."""
    for client in _per_loop.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose() if isinstance(client, Redis) else await client.close()
