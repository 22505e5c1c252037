"""The client's side (the Python client, the CLI's client commands): which server, with
which key. Unset here, they come from the client config file (TOML with `url` and
`api_key`); distillery/client/config.py puts arguments, these and the file in order."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISTILLERY_", extra="ignore")

    url: str = ""
    api_key: SecretStr | None = None
    config_file: Path = Path("~/.config/distillery/config.toml")
