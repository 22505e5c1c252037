"""Which server and key the client uses: arguments, then the environment
(DISTILLERY_URL, DISTILLERY_API_KEY, through ClientSettings), then the config file
(DISTILLERY_CONFIG_FILE, default ~/.config/distillery/config.toml).

An unknown key in the file is an error naming it and the known keys, as an unknown field
of a spec is: ignored, `api-key = ...` for `api_key` would leave the client keyless.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillery.client.errors import ClientError
from distillery.settings.client import ClientSettings

DEFAULT_URL = "http://127.0.0.1:8000"
CONFIG_KEYS = ("url", "api_key")


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str | None

    def __repr__(self) -> str:
        # The key never appears in reprs, tracebacks or logs.
        return f"Connection(url={self.url!r}, api_key={'set' if self.api_key else 'unset'})"


def resolve(url: str | None = None, api_key: str | None = None) -> Connection:
    settings = ClientSettings()
    file = _read(settings.config_file.expanduser())
    env_key = settings.api_key.get_secret_value() if settings.api_key else None
    return Connection(
        url=(url or settings.url or str(file.get("url") or "") or DEFAULT_URL).rstrip("/"),
        api_key=api_key or env_key or (str(file["api_key"]) if file.get("api_key") else None),
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ClientError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(config.keys() - set(CONFIG_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0].replace("-", "_").lower(), CONFIG_KEYS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ClientError(
            f"config file {path}: unknown key {unknown[0]!r} ({hint}the known keys are {', '.join(CONFIG_KEYS)})"
        )
    return config
