"""Which hosts teachers may live at: the SSRF guard.

A teacher's base_url is a URL the workers will POST to with the tenant's prompts, from
inside the network. With DISTILLERY_TEACHER_URL_ALLOWLIST set, only its hosts are
accepted: checked when a teacher is created (a 422 naming `base_url`) and again each time
a worker is about to call one, so a teacher created before the list changed is refused too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.settings import get_settings


def patterns(allowlist: str) -> list[str]:
    """`api.openai.com, *.example.com` → its lower-cased host patterns."""
    return [p.strip().lower().rstrip(".") for p in allowlist.split(",") if p.strip()]


def host_allowed(host: str, allowed: list[str]) -> bool:
    """An exact host, or `*.example.com`: any subdomain of example.com (not itself)."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def refusal(base_url: str) -> str | None:
    """Why `base_url` may not be called under the configured allowlist; None if it may."""
    allowed = patterns(get_settings().teacher_url_allowlist)
    if not allowed:
        return None
    host = urlsplit(base_url).hostname or ""
    if host_allowed(host, allowed):
        return None
    return f"host '{host}' is not on this server's teacher URL allowlist"
