"""JSON log lines (DISTILLERY_LOG_FORMAT=json): one object per line with `timestamp`,
`level`, `logger`, `message`, the bound context (`request_id`, `job_id`, ...: see
log_context.py), any `extra=` fields, and `exc_info` for a traceback.

Secrets: the record factory (distillery/security/scrub.py) scrubs a record's message,
arguments and traceback as it is made, but `extra=` fields are set after that, and this
formatter formats tracebacks afresh; so every string of the object is scrubbed again here,
as the last step before it is written.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from distillery.observability.log_context import ContextFilter
from distillery.security.scrub import scrub_value


class JsonFormatter(_JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            # uvicorn's copy of the message with terminal colours
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # The timestamp first, as a reader scanning lines expects it.
        scrubbed: dict[str, Any] = scrub_value(log_data)
        return {"timestamp": scrubbed.pop("timestamp"), **scrubbed}


def use_json(logger: logging.Logger) -> None:
    """Make every handler of `logger` write JSON lines with the bound context (for the
    handlers Celery gives the worker's loggers)."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())


def uvicorn_config() -> dict[str, Any]:
    """uvicorn's `log_config` for JSON lines: its own loggers (server, access) and the app's
    propagate to one stderr handler on the root logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {name: {"level": "INFO"} for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
