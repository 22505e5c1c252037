"""Where teachers may live: the SSRF guard.

A teacher's base_url is a URL the workers will POST to with the tenant's prompts, from
inside the network, so an unchecked one reaches the cloud metadata service, the database
or Redis. The rules:

- http(s) only, and no credentials in the URL (they would be shown and logged; the key
  goes in `api_key`).
- Without DISTILLERY_TEACHER_URL_ALLOWLIST, closed by default: a host that resolves to a
  loopback, private (RFC 1918, fc00::/7), shared (100.64/10), link-local, multicast,
  reserved or unspecified address is refused — every address it resolves to must be public.
- With it, only what it lists: host names (`api.example.com`, `*.example.com` for its
  subdomains), IPs and CIDRs (`10.0.0.0/8`, which the resolved addresses must fall in),
  each optionally with a port (`127.0.0.1:9100`, `[::1]:9100`, `vllm.internal:8000`).
  A listed name is trusted whatever it resolves to.

Checked when a teacher is created (a 422 naming `base_url`), when a worker loads a job's
teachers (the job fails, saying why), and on every connection, on the address actually
connected to (distillery/teachers/clients.py), so a name that re-resolves to an internal address
after the check (DNS rebinding) is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from distillery.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Rule:
    """One allowlist entry: a host name pattern or a network, and perhaps a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def allows_name(self, host: str, port: int) -> bool:
        if self.host is None or self.port not in (None, port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def allows_address(self, address: IPAddress, port: int) -> bool:
        return self.network is not None and self.port in (None, port) and address in self.network


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return None


def _rule(entry: str) -> Rule:
    network = _network(entry)  # `10.0.0.0/8`, `127.0.0.1`, `::1`
    if network is not None:
        return Rule(network=network)
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and host:
        network = _network(host)  # `127.0.0.1:9100`, `[::1]:9100`
        return Rule(network=network, port=int(port)) if network else Rule(host=host, port=int(port))
    return Rule(host=entry)


def parse_allowlist(allowlist: str) -> list[Rule]:
    """`api.openai.com, 10.0.0.0/8, 127.0.0.1:9100` → its rules (host names lower-cased)."""
    return [_rule(e.strip().lower().rstrip(".")) for e in allowlist.split(",") if e.strip()]


def rules() -> list[Rule]:
    return parse_allowlist(get_settings().teacher_url_allowlist)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def internal_kind(address: IPAddress) -> str | None:
    """What makes `address` off limits by default (None: a public address)."""
    address = _unmapped(address)
    for kind, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return kind
    # Anything else not globally routable: 100.64/10 (carrier-grade NAT), documentation ranges.
    return None if address.is_global else "non-public"


def name_allowed(host: str, port: int, allowed: list[Rule]) -> bool:
    host = host.lower().rstrip(".")
    return any(rule.allows_name(host, port) for rule in allowed)


def address_refusal(host: str, address: IPAddress, port: int, allowed: list[Rule]) -> str | None:
    """Why `host` may not be reached at `address`; None if it may."""
    if allowed:
        if any(rule.allows_address(_unmapped(address), port) for rule in allowed):
            return None
        return f"host '{host}' ({address}, port {port}) is not on this server's teacher URL allowlist"
    kind = internal_kind(address)
    if kind is None:
        return None
    shown = f"host '{host}' resolves to {address}" if _network(host) is None else host
    return (
        f"{shown}, {'an' if kind[0] in 'aeiou' else 'a'} {kind} address: teachers must be on the public internet "
        "unless DISTILLERY_TEACHER_URL_ALLOWLIST lists them"
    )


def url_refusal(base_url: str) -> tuple[str, int] | str:
    """The URL's (host, port) if its form is acceptable; else why it is not."""
    parts = urlsplit(base_url)
    if parts.scheme not in DEFAULT_PORTS:
        return "must be an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (user:password@); give the teacher's key as `api_key`"
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return "has an invalid port"
    if not parts.hostname:
        return "has no host"
    return parts.hostname.lower().rstrip("."), port


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to; an IP literal is itself. Raises OSError."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def refusal(base_url: str) -> str | None:
    """Why `base_url` may not be a teacher's; None if it may (as far as its host resolves
    now: an unresolvable host is left to the connection's own check)."""
    checked = url_refusal(base_url)
    if isinstance(checked, str):
        return checked
    host, port = checked
    allowed = rules()
    if name_allowed(host, port, allowed):
        return None
    if allowed and not any(rule.network is not None for rule in allowed):
        return f"host '{host}' is not on this server's teacher URL allowlist"
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return f"host '{host}' is not on this server's teacher URL allowlist" if allowed else None
    for address in addresses:
        refused = address_refusal(host, address, port, allowed)
        if refused:
            return refused
    return None
