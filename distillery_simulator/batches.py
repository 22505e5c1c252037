"""The Batch API: uploaded files, and batches of chat requests answered in the background.

A batch goes validating → in_progress → (batch_delay_s) → finalizing → completed. An input
file with any invalid line fails the whole batch and runs nothing, as OpenAI does; a cancel
stops it before the next line and it ends "cancelled" with the lines it finished. Each line
is answered by the simulator's own reply path (same text, counters and injected errors) but
not through the online RPM/TPM limiter or storm: a batch has its own queue. Everything lives
in memory on the app's event loop, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillery_simulator.counters import Counters

log = logging.getLogger(__name__)

# Answers one request body: (HTTP status, JSON body), as the chat endpoint would.
Reply = Callable[[Any], tuple[int, dict[str, Any]]]

# The purposes an upload may name (the SDK's FilePurpose).
FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
ENDPOINTS = frozenset({"/v1/chat/completions"})
COMPLETION_WINDOW = "24h"
_WINDOW_S = 24 * 3600
_TERMINAL = frozenset({"failed", "completed", "expired", "cancelled"})
# An invalid file of 50,000 lines would otherwise put 50,000 errors in every poll's answer.
_MAX_ERRORS = 100
_MAX_METADATA_KEYS = 16


class BatchApiError(Exception):
    """A refusal the HTTP layer answers in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


@dataclass
class StoredFile:
    info: dict[str, Any]  # the FileObject
    content: bytes


@dataclass(frozen=True)
class BatchLine:
    number: int  # 1-based line in the input file
    custom_id: str
    body: dict[str, Any]


@dataclass
class _Batch:
    info: dict[str, Any]  # the Batch object, updated in place as the batch runs
    content: bytes  # the input, kept so deleting the file cannot break a running batch
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def _now() -> int:
    return int(time.time())


def _line_error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def parse_input(content: bytes, endpoint: str) -> tuple[list[BatchLine], list[dict[str, Any]]]:
    """The requests of a JSONL input file, and the errors (BatchError shapes) of its invalid lines."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [], [_line_error("invalid_file", "The input file is not UTF-8 text.", None)]
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError:
            errors.append(_line_error("invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        if not isinstance(item, dict):
            errors.append(_line_error("invalid_json_line", "This line is not a JSON object.", number))
            continue
        problem = _line_problem(item, endpoint, seen)
        if problem is not None:
            errors.append(_line_error(*problem[:2], number, problem[2]))
            continue
        seen.add(item["custom_id"])
        lines.append(BatchLine(number, item["custom_id"], item["body"]))
    if not lines and not errors:
        errors.append(_line_error("empty_file", "The input file has no requests.", None))
    return lines, errors


def _line_problem(item: dict[str, Any], endpoint: str, seen: set[str]) -> tuple[str, str, str] | None:
    """(code, message, param) of what makes a request line invalid, or None."""
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter", "'custom_id' is required and must be a non-empty string.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id '{custom_id}' is not unique within the batch.", "custom_id"
    if item.get("method") != "POST":
        return "invalid_method", "'method' must be 'POST'.", "method"
    if item.get("url") != endpoint:
        return "invalid_url", f"'url' must be the batch's endpoint, '{endpoint}'.", "url"
    if not isinstance(item.get("body"), dict):
        return "missing_required_parameter", "'body' is required and must be a JSON object.", "body"
    return None


def _result_line(custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    # A request the endpoint answered, 200 or not, is a `response`; `error` is left for
    # failures that never reached it, which the simulator does not produce.
    response = {"status_code": status, "request_id": f"req_{uuid.uuid4().hex}", "body": body}
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response, "error": None}


class BatchStore:
    """Files and batches of one simulator; batches run as tasks on the running event loop."""

    def __init__(self, reply: Reply, counters: Counters, delay_s: float) -> None:
        self._reply, self._counters, self._delay_s = reply, counters, delay_s
        self._files: dict[str, StoredFile] = {}
        self._batches: dict[str, _Batch] = {}

    def reset(self) -> None:
        for batch in self._batches.values():
            if batch.task is not None:
                batch.task.cancel()
        self._files.clear()
        self._batches.clear()

    # -- files --

    def upload(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        if purpose not in FILE_PURPOSES:
            raise BatchApiError(400, f"'{purpose}' is not a supported purpose", param="purpose")
        return self._store(content, filename, purpose)

    def _store(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex}"
        info: dict[str, Any] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": _now(),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        self._files[file_id] = StoredFile(info, content)
        return info

    def file(self, file_id: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise BatchApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.file(file_id)
        del self._files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    # -- batches --

    def create(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise BatchApiError(400, "the request body must be a JSON object")
        file_id, endpoint = params.get("input_file_id"), params.get("endpoint")
        if not isinstance(file_id, str):
            raise BatchApiError(400, "'input_file_id' is required", param="input_file_id")
        if endpoint not in ENDPOINTS:
            supported = ", ".join(sorted(ENDPOINTS))
            raise BatchApiError(400, f"'endpoint' must be one of: {supported}", param="endpoint")
        if params.get("completion_window") != COMPLETION_WINDOW:
            raise BatchApiError(400, f"'completion_window' must be '{COMPLETION_WINDOW}'", param="completion_window")
        metadata = params.get("metadata")
        if metadata is not None and not _valid_metadata(metadata):
            message = f"'metadata' must be an object of at most {_MAX_METADATA_KEYS} string values"
            raise BatchApiError(400, message, param="metadata")
        stored = self._files.get(file_id)
        if stored is None:
            raise BatchApiError(404, f"No such File object: {file_id}", param="input_file_id")
        if stored.info["purpose"] != "batch":
            raise BatchApiError(400, "the input file must be uploaded with purpose 'batch'", param="input_file_id")
        created = _now()
        info: dict[str, Any] = {
            "id": f"batch_{uuid.uuid4().hex}",
            "object": "batch",
            "endpoint": endpoint,
            "model": None,
            "errors": None,
            "input_file_id": file_id,
            "completion_window": COMPLETION_WINDOW,
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": created,
            "in_progress_at": None,
            "expires_at": created + _WINDOW_S,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "usage": {
                "input_tokens": 0,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 0,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 0,
            },
            "metadata": metadata,
        }
        batch = _Batch(info, stored.content)
        self._batches[info["id"]] = batch
        self._counters.record_batch()
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))
        return info

    def get(self, batch_id: str) -> dict[str, Any]:
        return self._batch(batch_id).info

    def page(self, limit: int, after: str | None) -> dict[str, Any]:
        """Newest first, as OpenAI lists them; `after` is the last id of the previous page."""
        if not 1 <= limit <= 100:
            raise BatchApiError(400, "'limit' must be between 1 and 100", param="limit")
        ids = list(reversed(self._batches))
        start = ids.index(after) + 1 if after in self._batches else 0
        data = [self._batches[batch_id].info for batch_id in ids[start : start + limit]]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start + limit < len(ids),
        }

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._batch(batch_id)
        status = batch.info["status"]
        if status in ("cancelling", "cancelled"):
            return batch.info  # a retried cancel is no error
        if status in _TERMINAL:
            raise BatchApiError(409, f"Cannot cancel a batch with status '{status}'.")
        batch.info.update(status="cancelling", cancelling_at=_now())
        batch.cancel.set()
        return batch.info

    def _batch(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise BatchApiError(404, f"No such Batch object: {batch_id}", param="batch_id")
        return batch

    async def _run(self, batch: _Batch) -> None:
        try:
            await self._process(batch)
        except Exception:
            # A bug here must not leave clients polling a batch that never ends.
            log.exception("simulated batch %s crashed", batch.info["id"])
            error = _line_error("server_error", "The simulated batch failed unexpectedly.", None)
            batch.info.update(status="failed", failed_at=_now(), errors={"object": "list", "data": [error]})

    async def _process(self, batch: _Batch) -> None:
        info = batch.info
        lines: list[BatchLine] = []
        # A batch cancelled while still validating has nothing to validate or run.
        if not batch.cancel.is_set():
            lines, errors = parse_input(batch.content, info["endpoint"])
            if errors:
                info.update(status="failed", failed_at=_now(), errors={"object": "list", "data": errors[:_MAX_ERRORS]})
                return
            info["request_counts"]["total"] = len(lines)
            if isinstance(lines[0].body.get("model"), str):
                info["model"] = lines[0].body["model"]
            info.update(status="in_progress", in_progress_at=_now())
            # The queue time of a real batch; a cancel cuts it short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.cancel.wait(), self._delay_s)
        outputs: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for line in lines:
            if batch.cancel.is_set():
                break
            status, body = self._reply(line.body)
            if status == 200:
                outputs.append(_result_line(line.custom_id, status, body))
                info["request_counts"]["completed"] += 1
                self._add_usage(info["usage"], body["usage"])
            else:
                failures.append(_result_line(line.custom_id, status, body))
                info["request_counts"]["failed"] += 1
            # Let polls and cancels in between lines, and online traffic share the loop.
            await asyncio.sleep(0)
        if not batch.cancel.is_set():
            info.update(status="finalizing", finalizing_at=_now())
        info["output_file_id"] = self._result_file(info["id"], "output", outputs)
        info["error_file_id"] = self._result_file(info["id"], "error", failures)
        if batch.cancel.is_set():
            info.update(status="cancelled", cancelled_at=_now())
        else:
            info.update(status="completed", completed_at=_now())

    @staticmethod
    def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
        total["input_tokens"] += usage["prompt_tokens"]
        total["output_tokens"] += usage["completion_tokens"]
        total["total_tokens"] += usage["total_tokens"]

    def _result_file(self, batch_id: str, kind: str, records: list[dict[str, Any]]) -> str | None:
        if not records:
            return None
        content = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()
        return self._store(content, f"{batch_id}_{kind}.jsonl", "batch_output")["id"]


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and len(metadata) <= _MAX_METADATA_KEYS
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    )
