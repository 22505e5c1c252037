"""The client's settings come from its own variables and make nothing on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillery.settings import ClientSettings


def test_the_client_reads_url_key_and_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISTILLERY_URL", "http://api.example:8000")
    monkeypatch.setenv("DISTILLERY_API_KEY", "dk_secret")
    monkeypatch.setenv("DISTILLERY_CONFIG_FILE", str(tmp_path / "client.toml"))
    monkeypatch.setenv("DISTILLERY_DATABASE_URL", "postgresql://server-only")  # another role's: ignored
    settings = ClientSettings()
    assert settings.url == "http://api.example:8000"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "dk_secret"
    assert "dk_secret" not in repr(settings)
    assert settings.config_file == tmp_path / "client.toml"
    assert list(tmp_path.iterdir()) == []  # no data dir, unlike the server's get_settings()
