"""Teacher API keys at rest: Fernet under a key derived from DISTILLERY_SECRET_KEY; and
tags (HMAC-SHA256 under another key derived from it) that the dashboard's CSRF tokens are."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet

from distillery.security.scrub import remember
from distillery.settings import get_settings


@lru_cache
def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_secret().encode()).digest()))


def _mac_key() -> bytes:
    # Not the Fernet key: a tag must reveal nothing about the key that encrypts secrets.
    # Not cached: a test that changes the secret clears only `_fernet`.
    return hashlib.sha256(b"distillery-mac\x00" + _secret().encode()).digest()


def _secret() -> str:
    settings = get_settings()
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    else:
        # Embedded mode: a per-installation secret, created once, readable only by us.
        path = settings.data_dir / "secret.key"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
        secret = path.read_text().strip()
    return secret


def encrypt(plain: str) -> str:
    # Every key this process handles is known to the scrubber: a teacher that echoes one
    # back gets it masked in every error, event, record and log line written here.
    remember(plain)
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    plain = _fernet().decrypt(token.encode()).decode()
    remember(plain)
    return plain


def tag(purpose: str, value: str) -> str:
    """An unforgeable token for `value` in `purpose`: only this server can make it."""
    message = purpose.encode() + b"\x00" + value.encode()
    return hmac.new(_mac_key(), message, hashlib.sha256).hexdigest()


def tag_matches(purpose: str, value: str, claimed: str) -> bool:
    return hmac.compare_digest(tag(purpose, value).encode(), claimed.encode())
