"""What `distillery demo` reads beside the server's settings: a real teacher to label with.
Without DISTILLERY_TEACHER_BASE_URL the demo starts the teacher simulator instead."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISTILLERY_", extra="ignore")

    teacher_base_url: str = ""
    teacher_api_key: SecretStr | None = None
    teacher_model: str = ""
