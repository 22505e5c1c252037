"""HTTP to teachers: one aiohttp session per (teacher URL, key, event loop), behind the SSRF
guard, and the failures a request can end in.

aiohttp rather than the openai SDK: the SDK (over httpx) spent about 1.7 ms of CPU per
chat request against 0.4 ms for aiohttp, which on a worker's share of a core is the
difference between the teacher's pace and ours. The few OpenAI endpoints used (chat
completions, files, batches) are plain JSON over HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import certifi
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult

from distillery.security import teacher_urls


class TeacherHTTPError(Exception):
    """A request that got no usable answer."""


class StatusError(TeacherHTTPError):
    """The teacher answered with a status other than 2xx (redirects are not followed: a
    teacher cannot send our key and prompts to a host nobody vetted)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.headers = headers


class ConnectionFailed(TeacherHTTPError):
    """No answer: the connection failed or broke. `refused` is the SSRF guard's reason when
    it, not the network, stopped the request."""

    def __init__(self, detail: str, refused: str | None = None) -> None:
        super().__init__(detail)
        self.refused = refused


class TimedOut(TeacherHTTPError):
    """No answer within the teacher's timeout."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)


class AddressRefused(OSError):
    """The teacher's host resolved to an address the SSRF guard refuses: no connection made."""


class GuardedResolver(AbstractResolver):
    """Resolves names for aiohttp and hands back only addresses the SSRF guard allows
    (distillery/security/teacher_urls.py): the connection goes to a checked address, never to
    a second resolution an attacker's DNS could answer differently. TLS still verifies, and
    sends SNI for, the host name. (IP literals never reach a resolver: TeacherHTTP checks
    them itself.)"""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        allowed = teacher_urls.rules()
        try:
            addresses = await asyncio.to_thread(teacher_urls.resolve, host, port)
        except (OSError, UnicodeError) as exc:
            raise OSError(f"could not resolve host '{host}'") from exc
        if not teacher_urls.name_allowed(host, port, allowed):
            for address in addresses:
                refused = teacher_urls.address_refusal(host, address, port, allowed)
                if refused:
                    raise AddressRefused(refused)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


@lru_cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds; once per process is enough.
    return ssl.create_default_context(cafile=certifi.where())


def _literal_refusal(base_url: str) -> str | None:
    """The guard's verdict on a teacher URL whose host is an IP address (aiohttp connects
    to those without asking a resolver); None for a name, which the resolver checks on
    every connection."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    port = parts.port or teacher_urls.DEFAULT_PORTS.get(parts.scheme, 443)
    allowed = teacher_urls.rules()
    if teacher_urls.name_allowed(host, port, allowed):
        return None
    return teacher_urls.address_refusal(host, address, port, allowed)


def _message(content: bytes) -> str:
    """A provider's error message: OpenAI's {"error": {"message": ...}}, else the body."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace").strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return content.decode("utf-8", "replace").strip()


class TeacherHTTP:
    """A teacher's OpenAI-compatible API. Made on the event loop it is used on."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._refused = _literal_refusal(base_url)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=GuardedResolver(), ssl=_tls(), limit=1000),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            # Proxies from the environment are not used: a proxy would resolve the host
            # itself, past the guard.
            trust_env=False,
        )

    async def post_json(self, path: str, body: bytes) -> Reply:
        return await self.request("POST", path, data=body, headers={"Content-Type": "application/json"})

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """The teacher's 2xx reply; raises StatusError, ConnectionFailed or TimedOut."""
        if self._refused:
            raise ConnectionFailed(self._refused, refused=self._refused)
        try:
            async with self._session.request(method, self._base + path, allow_redirects=False, **kwargs) as response:
                content = await response.read()
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut("the teacher did not answer in time") from None
        except aiohttp.InvalidURL as exc:  # e.g. 127.1, which the guard takes for an address
            raise ConnectionFailed(type(exc).__name__, refused=f"the teacher URL is not valid: {exc}") from None
        except aiohttp.ClientError as exc:
            refused = _refused_cause(exc)
            raise ConnectionFailed(type(exc).__name__, refused=refused) from None
        if not 200 <= response.status < 300:
            raise StatusError(response.status, _message(content), response.headers)
        return Reply(response.status, response.headers, content)

    async def close(self) -> None:
        await self._session.close()


def _refused_cause(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, AddressRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None
