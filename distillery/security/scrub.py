"""The one secret scrubber: every stored error, event, record field and log line passes
through `scrub` before it is written.

It replaces, keeping at most the last 4 characters (`sk-...a1b2`):
- every secret this process has handled (teacher keys decrypted or encrypted here, see
  distillery/security/secrets.py), whatever their shape, since providers echo keys back ("Incorrect
  API key provided: ...");
- anything shaped like a key: tenant keys (`dk_` + 43 url-safe characters), `sk-...` keys
  (OpenAI's and most compatible providers'), the token after `Bearer`;
- credentials in a URL (`https://user:password@host` → `https://***@host`).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any

# Secrets seen by this process, most recent last; a worker calls a handful of teachers, so
# a bound this size never forgets a live one while keeping the per-text scan short.
_MAX_KNOWN = 256
_known: OrderedDict[str, None] = OrderedDict()
# Shorter "secrets" (a simulator's "no-key", test keys) would redact ordinary words.
_MIN_KNOWN_LENGTH = 8

_SHAPED = re.compile(
    r"(?P<prefix>\bdk_|\bsk-)(?P<body>[A-Za-z0-9_-]{16,})"
    r"|(?P<bearer>\b[Bb]earer\s+)(?P<token>[A-Za-z0-9._~+/=-]{8,})"
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@?#]+@")


def remember(secret: str | None) -> None:
    """Redact `secret` from everything this process scrubs from now on."""
    if not secret or len(secret) < _MIN_KNOWN_LENGTH:
        return
    _known[secret] = None
    _known.move_to_end(secret)
    while len(_known) > _MAX_KNOWN:
        _known.popitem(last=False)


def mask(secret: str) -> str:
    """`sk-abc...xyz1` → `sk-...xyz1`: enough to tell keys apart, too little to use one."""
    prefix = next((p for p in ("sk-", "dk_") if secret.startswith(p)), "")
    tail = secret[-4:] if len(secret) >= 16 else ""
    return f"{prefix}...{tail}" if tail else "[redacted]"


def _shaped(match: re.Match[str]) -> str:
    if match["bearer"]:
        return match["bearer"] + mask(match["token"])
    return mask(match["prefix"] + match["body"])


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with the given secrets, every remembered one and every key-shaped token masked."""
    for secret in (*[s for s in secrets if s and len(s) >= _MIN_KNOWN_LENGTH], *reversed(_known)):
        if secret in text:
            text = text.replace(secret, mask(secret))
    text = _SHAPED.sub(_shaped, text)
    if "@" in text:
        text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    return text


def scrub_value(value: Any) -> Any:
    """A JSON-like value with every string in it scrubbed (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value


def scrub_excerpt(text: str, limit: int = 200) -> str:
    """A short, scrubbed excerpt of a text from outside (a teacher's error body): scrubbed
    before it is cut, so a cut never leaves half a key behind."""
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scrubbed_arg(arg: Any) -> Any:
    if arg is None or isinstance(arg, (bool, int, float)):
        return arg
    try:
        text = str(arg)
    except Exception:  # noqa: BLE001 (a broken __str__ is the handler's to report)
        return arg
    scrubbed = scrub(text)
    return arg if scrubbed == text else scrubbed


class SecretsFilter(logging.Filter):
    """Scrubs a log record in place: its message (arguments applied) and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_scrubbed", False):
            return True
        # The arguments stay arguments (uvicorn's access formatter unpacks them); only one
        # that holds a secret is replaced, by its scrubbed text.
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_scrubbed_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _scrubbed_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        record._scrubbed = True
        return True


_FILTER = SecretsFilter()


def install_log_filter() -> None:
    """Scrub every log record of this process, whichever logger made it.

    A filter on the root logger alone misses records logged to other loggers (a logger's
    filters see only its own records, not its children's), and Celery and uvicorn give
    their loggers handlers of their own, installed after we start. So the filter also
    wraps the record factory: every record is scrubbed as it is made. Idempotent."""
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    make = logging.getLogRecordFactory()
    if getattr(make, "scrubs", False):
        return

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _FILTER.filter(record)
        return record

    scrubbed_record.scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(scrubbed_record)
