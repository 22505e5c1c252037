"""Teacher API keys at rest: Fernet under a key derived from DISTILLERY_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet

from app.security.scrub import remember
from app.settings import get_settings


@lru_cache
def _fernet() -> Fernet:
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
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


# A key this process handles is remembered by the scrubber: a teacher that echoes it back
# gets it masked in every error, event, record and log line written here.


def encrypt(plain: str) -> str:
    remember(plain)
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    plain = _fernet().decrypt(token.encode()).decode()
    remember(plain)
    return plain
