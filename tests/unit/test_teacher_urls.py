"""The teacher URL allowlist's host matching."""

from __future__ import annotations

import pytest

from app.security.teacher_urls import host_allowed, patterns

ALLOWED = patterns(" API.openai.com, *.example.com ,")


def test_the_allowlist_is_a_list_of_lower_cased_hosts():
    assert ALLOWED == ["api.openai.com", "*.example.com"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.openai.com", True),
        ("API.OpenAI.com.", True),
        ("eu.example.com", True),
        ("a.b.example.com", True),
        ("example.com", False),  # a wildcard names subdomains only
        ("evilexample.com", False),
        ("example.com.evil.net", False),
        ("api.openai.com.evil.net", False),
        ("127.0.0.1", False),
        ("", False),
    ],
)
def test_hosts_match_exactly_or_as_subdomains_of_a_wildcard(host, allowed):
    assert host_allowed(host, ALLOWED) is allowed
