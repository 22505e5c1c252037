"""Text normalisation for exact-duplicate detection: case, punctuation and spacing ignored."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def text_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(normalize(p) for p in parts).encode()).hexdigest()
