"""The server's settings: the service's variables only, the data dir made on first read."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillery.settings import Settings, get_settings


def test_get_settings_reads_once_and_makes_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.data_dir == tmp_path / "data" and settings.data_dir.is_dir()
        assert get_settings() is settings
    finally:
        get_settings.cache_clear()


def test_the_demos_and_the_clients_variables_are_not_the_servers() -> None:
    assert not {"teacher_base_url", "teacher_api_key", "teacher_model", "url", "api_key", "config_file"} & set(
        Settings.model_fields
    )


@pytest.mark.parametrize(
    ("broker_url", "pacing"),
    [("redis://r:6379/0", "redis://r:6379/0"), ("rediss://r:6380/1", "rediss://r:6380/1"), ("", None)],
)
def test_pacing_lives_in_a_redis_broker_or_else_nowhere_shared(broker_url: str, pacing: str | None) -> None:
    assert Settings(broker_url=broker_url, data_dir=Path("unused")).pacing_redis_url == pacing
