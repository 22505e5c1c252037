"""The demo's real teacher, read from the DISTILLERY_TEACHER_* variables."""

from __future__ import annotations

import pytest

from distillery.settings import DemoSettings


def test_without_a_teacher_url_the_demo_has_no_real_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTILLERY_TEACHER_BASE_URL", raising=False)
    assert DemoSettings().teacher_base_url == ""


def test_the_demo_reads_its_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_TEACHER_BASE_URL", "https://api.example/v1")
    monkeypatch.setenv("DISTILLERY_TEACHER_MODEL", "gpt-x")
    monkeypatch.setenv("DISTILLERY_TEACHER_API_KEY", "sk-demo")
    demo = DemoSettings()
    assert (demo.teacher_base_url, demo.teacher_model) == ("https://api.example/v1", "gpt-x")
    assert demo.teacher_api_key is not None and demo.teacher_api_key.get_secret_value() == "sk-demo"
