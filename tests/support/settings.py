"""Settings of the in-process API changed for one test, then restored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def overridden(**values: Any) -> Iterator[None]:
    """overridden(tenant_rps=2): DISTILLERY_TENANT_RPS=2 while the block runs. The app reads
    settings per request, so clearing the cached Settings is enough."""
    from distillery.settings import get_settings

    with pytest.MonkeyPatch.context() as env:
        for name, value in values.items():
            env.setenv(f"DISTILLERY_{name.upper()}", str(value))
        get_settings.cache_clear()
        try:
            yield
        finally:
            env.undo()
            get_settings.cache_clear()
