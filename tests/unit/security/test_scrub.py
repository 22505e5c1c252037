"""The secret scrubber: keys masked to their last 4 characters wherever they appear."""

from __future__ import annotations

import logging
import secrets

from distillery.security.scrub import SecretsFilter, mask, remember, scrub, scrub_excerpt, scrub_value


def test_key_shaped_tokens_keep_only_their_last_4_characters():
    tenant_key = "dk_" + secrets.token_urlsafe(32)
    text = f"got sk-proj-{'a' * 30}b1c2, Authorization: Bearer tok{'x' * 20}9z8y and {tenant_key}."
    assert scrub(text) == f"got sk-...b1c2, Authorization: Bearer ...9z8y and dk_...{tenant_key[-4:]}."


def test_a_remembered_secret_of_any_shape_is_masked():
    secret = "not-shaped-like-a-key-" + secrets.token_hex(8)
    remember(secret)
    assert scrub(f"Incorrect API key provided: {secret}!") == f"Incorrect API key provided: ...{secret[-4:]}!"
    assert secret not in scrub(secret * 3)


def test_short_secrets_are_masked_whole_and_short_words_are_not_remembered():
    assert mask("sk-abc") == "[redacted]"
    remember("no-key")
    assert scrub("no-key needed") == "no-key needed"
    assert scrub("x", "hunter2-long") == "x" and scrub("pw hunter2-long", "hunter2-long") == "pw [redacted]"


def test_url_credentials_are_dropped():
    assert scrub("POST https://bob:pa55@10.0.0.1:8080/v1/chat") == "POST https://***@10.0.0.1:8080/v1/chat"
    assert scrub("write to bob@example.com") == "write to bob@example.com"


def test_values_are_scrubbed_through_and_excerpts_are_short():
    key = "sk-" + "k" * 40
    assert scrub_value({"a": [key, 1, None], key: {"b": (key,)}}) == {
        "a": ["sk-...kkkk", 1, None],
        "sk-...kkkk": {"b": ["sk-...kkkk"]},
    }
    excerpt = scrub_excerpt("<html>\n" + "x" * 1000 + key)
    assert len(excerpt) == 200 and excerpt.endswith("...") and "\n" not in excerpt
    assert scrub_excerpt(f"bad key {key}", 12) == "bad key s..."


def test_log_records_are_scrubbed_with_their_arguments_and_traceback():
    key = "sk-" + secrets.token_hex(20)
    try:
        raise ValueError(f"refused {key}")
    except ValueError:
        import sys

        # As logger.exception makes it (the record factory may scrub it there already).
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "calling %s", (key,), sys.exc_info()
        )
    SecretsFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert key not in formatted and f"sk-...{key[-4:]}" in formatted and "ValueError" in formatted
