"""The simulator's HTTP surface: an OpenAI-compatible chat endpoint, the Files and Batches
APIs (see batches.py) plus /sim controls.

Per chat request: count it → validate → simulated latency → an injected hang (a client
that gave up meanwhile gets nothing: 499) → rate limit or injected 429 → injected server
error (500/503) → a 200 ChatCompletion. A batch line takes the same path less the
latency and rate limits. Bodies are read as plain dicts, not pydantic models: at thousands
of requests a minute parsing cost is what the loop spends.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from distillery_simulator.answers import compose_reply, estimate_tokens, prompt_tokens, truncate_to_tokens
from distillery_simulator.batches import BatchApiError, BatchStore
from distillery_simulator.config import SimulatorConfig
from distillery_simulator.counters import Counters, request_hash
from distillery_simulator.limiter import RateLimiter, Storm, refusal_headers

# OpenAI caps n at 128; a larger n would only let one request hog the loop.
_MAX_CHOICES = 128
# OpenAI's default when a request names no temperature.
_DEFAULT_TEMPERATURE = 1.0


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class _ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    n: int
    max_tokens: int | None
    temperature: float
    seed: int | None


def _error_body(message: str, kind: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _optional_int(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _BadRequest(f"'{name}' must be an integer of at least {minimum}", name)
    return value


def _bad_request_body(exc: _BadRequest) -> dict[str, Any]:
    return _error_body(exc.message, "invalid_request_error", code="invalid_request", param=exc.param)


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _BadRequest("the request body is not valid JSON", None) from None


def _parse_chat(body: Any, default_model: str) -> _ChatRequest:
    if not isinstance(body, dict):
        raise _BadRequest("the request body must be a JSON object", None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' is required and must be a non-empty array", "messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise _BadRequest("each message must be an object with a string 'role'", "messages")
    if body.get("stream"):
        raise _BadRequest("the simulator does not support 'stream'", "stream")
    model = body.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise _BadRequest("'model' must be a non-empty string", "model")
    temperature = body.get("temperature")
    if temperature is None:
        temperature = _DEFAULT_TEMPERATURE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise _BadRequest("'temperature' must be a number between 0 and 2", "temperature")
    n = _optional_int(body, "n", 1) or 1
    if n > _MAX_CHOICES:
        raise _BadRequest(f"'n' must be at most {_MAX_CHOICES}", "n")
    max_completion = _optional_int(body, "max_completion_tokens", 1)
    max_tokens = max_completion if max_completion is not None else _optional_int(body, "max_tokens", 1)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _BadRequest("'seed' must be an integer", "seed")
    return _ChatRequest(body, model, messages, n, max_tokens, float(temperature), seed)


class _Simulator:
    """The state one app owns: its counters, its limiter, the RNG for injected errors, its batches."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.counters = Counters()
        self.limiter = RateLimiter(config.rpm, config.tpm)
        self.storm = Storm(config.storm_after, config.storm_s)
        self.rng = random.Random(config.seed)
        self.batches = BatchStore(self.reply, self.counters, config.batch_delay_s)

    def reset(self) -> None:
        # A fresh simulator in all but identity: tests after a reset see the same sequence.
        self.counters.reset()
        self.limiter = RateLimiter(self.config.rpm, self.config.tpm)
        self.storm = Storm(self.config.storm_after, self.config.storm_s)
        self.rng = random.Random(self.config.seed)
        self.batches.reset()

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        self.counters.record_status(status)
        return JSONResponse(body, status_code=status, headers=headers)

    async def chat(self, request: Request) -> Response:
        self.counters.record_request()
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.config.api_key is not None and given != self.config.api_key:
            message = f"Incorrect API key provided: {given}. You can find your API key in your account settings."
            return self.answer(401, _error_body(message, "invalid_request_error", code="invalid_api_key"))
        try:
            chat = _parse_chat(_decode_json(await request.body()), self.config.model)
        except _BadRequest as exc:
            return self.answer(400, _bad_request_body(exc))
        if self.config.latency_ms > 0:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if self._drawn(self.config.hang_rate):
            self.counters.record_hang()
            await asyncio.sleep(self.config.hang_s)
            if await request.is_disconnected():
                # Nginx's "client closed request": nothing was generated, nothing is owed.
                return self.answer(499, _error_body("the client closed the request", "client_closed"))
        prompt_size = prompt_tokens(chat.messages)
        storm_left = self.storm.remaining(self.counters.requests)
        if storm_left > 0:
            message = f"Rate limit reached for {chat.model}: the service is overloaded. Please try again later."
            body = _error_body(message, "requests", code="rate_limit_exceeded")
            return self.answer(429, body, refusal_headers(storm_left))
        if self._drawn(self.config.throttle_rate):
            message = f"Rate limit reached for {chat.model}: the service is momentarily overloaded."
            body = _error_body(message, "requests", code="rate_limit_exceeded")
            return self.answer(429, body, refusal_headers(self.config.throttle_retry_after_s))
        admission = self.limiter.try_acquire(prompt_size)
        if not self.config.limit_headers:
            admission = replace(admission, headers={k: v for k, v in admission.headers.items() if "ratelimit" not in k})
        if not admission.allowed:
            message = (
                f"Rate limit reached for {chat.model} on {admission.limited_by}. "
                f"Please try again in {admission.retry_after_s:.3f}s."
            )
            body = _error_body(message, admission.limited_by or "requests", code="rate_limit_exceeded")
            return self.answer(429, body, admission.headers)
        injected = self._injected_error()
        if injected is not None:
            return self.answer(*injected, admission.headers)
        return self.answer(200, self._completion(chat, prompt_size), admission.headers)

    def reply(self, body: Any) -> tuple[int, dict[str, Any]]:
        """A batch line's answer: the online reply path less latency, storm and rate limits,
        which a batch does not go through; it has its own queue."""
        try:
            chat = _parse_chat(body, self.config.model)
        except _BadRequest as exc:
            return 400, _bad_request_body(exc)
        injected = self._injected_error()
        if injected is not None:
            return injected
        return 200, self._completion(chat, prompt_tokens(chat.messages), batch=True)

    def _drawn(self, rate: float) -> bool:
        # No draw at a zero rate: each fault's sequence stays what it was without the others.
        return rate > 0 and self.rng.random() < rate

    def _injected_error(self) -> tuple[int, dict[str, Any]] | None:
        if self._drawn(self.config.flagged_rate):
            message = "The prompt was flagged by the content filter. Please modify your prompt and retry."
            return 400, _error_body(message, "invalid_request_error", code="content_filter")
        if not self._drawn(self.config.error_rate):
            return None
        # Alternate the two statuses real providers send when they are overloaded.
        status = 500 if self.rng.random() < 0.5 else 503
        return status, _error_body("The simulated server had an error. Please retry.", "server_error")

    def _completion(self, chat: _ChatRequest, prompt_size: int, *, batch: bool = False) -> dict[str, Any]:
        choices: list[dict[str, Any]] = []
        completion_tokens = malformed = wrong = truncated = 0
        for index in range(chat.n):
            reply = compose_reply(
                chat.messages,
                seed=self.config.seed,
                wrong_rate=self.config.wrong_rate,
                malformed_rate=self.config.malformed_rate,
                refusal_rate=self.config.refusal_rate,
                sample=self._sample(chat, index),
                response_format=chat.body.get("response_format"),
                reply_styles=self.config.reply_styles,
            )
            content, finish_reason = reply.content, "stop"
            if chat.max_tokens is not None and estimate_tokens(content) > chat.max_tokens:
                content, finish_reason = truncate_to_tokens(content, chat.max_tokens), "length"
                truncated += 1
            completion_tokens += estimate_tokens(content)
            malformed += reply.malformed
            wrong += reply.wrong
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            )
        self.counters.record_completion(
            request_hash(chat.body),
            prompt_tokens=prompt_size,
            completion_tokens=completion_tokens,
            malformed=malformed,
            wrong=wrong,
            truncated=truncated,
            batch=batch,
        )
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
            "system_fingerprint": f"sim-{self.config.seed}",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_size,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_size + completion_tokens,
            },
        }

    @staticmethod
    def _sample(chat: _ChatRequest, index: int) -> str:
        # Greedy decoding gives one reply; sampling varies it by choice index and request
        # seed, while choice 0 of an unseeded request stays the greedy reply (reproducible).
        if chat.temperature == 0 or (index == 0 and chat.seed is None):
            return ""
        return f"{chat.seed}/{index}"


def create_app(config: SimulatorConfig) -> FastAPI:
    simulator = _Simulator(config)
    app = FastAPI(title="Distillery teacher simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.simulator = simulator

    async def chat_completions(request: Request) -> Response:
        return await simulator.chat(request)

    # Clients configured with a base URL lacking "/v1" still reach the endpoint.
    for path in ("/v1/chat/completions", "/chat/completions"):
        app.add_api_route(path, chat_completions, methods=["POST"])

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(config.model)]}

    @app.get("/v1/models/{model}")
    async def get_model(model: str) -> Response:
        if model != config.model:
            body = _error_body(f"The model '{model}' does not exist", "invalid_request_error", code="model_not_found")
            return JSONResponse(body, status_code=404)
        return JSONResponse(_model_card(model))

    _add_batch_routes(app, simulator.batches)

    @app.get("/sim/stats")
    async def stats() -> dict[str, Any]:
        return simulator.counters.snapshot()

    @app.post("/sim/reset")
    async def reset() -> dict[str, Any]:
        simulator.reset()
        return simulator.counters.snapshot()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "model": config.model}

    return app


def _add_batch_routes(app: FastAPI, batches: BatchStore) -> None:
    """The Files and Batches APIs, as far as a batch client uses them."""

    @app.exception_handler(BatchApiError)
    async def batch_api_error(request: Request, exc: BatchApiError) -> Response:
        body = _error_body(exc.message, exc.kind, code=exc.code, param=exc.param)
        return JSONResponse(body, status_code=exc.status)

    async def upload_file(request: Request) -> Response:
        try:
            async with request.form() as form:
                upload, purpose = form.get("file"), form.get("purpose")
                if not isinstance(upload, UploadFile):
                    raise BatchApiError(400, "'file' is required and must be a file part", param="file")
                content = await upload.read()
        except HTTPException as exc:  # a malformed multipart body
            raise BatchApiError(400, f"the request body is not valid multipart: {exc.detail}") from None
        if not isinstance(purpose, str):
            raise BatchApiError(400, "'purpose' is required", param="purpose")
        return JSONResponse(batches.upload(content, upload.filename or "upload", purpose))

    async def get_file(file_id: str) -> Response:
        return JSONResponse(batches.file(file_id).info)

    async def file_content(file_id: str) -> Response:
        return Response(batches.file(file_id).content, media_type="application/octet-stream")

    async def delete_file(file_id: str) -> Response:
        return JSONResponse(batches.delete_file(file_id))

    async def create_batch(request: Request) -> Response:
        try:
            params = _decode_json(await request.body())
        except _BadRequest as exc:
            raise BatchApiError(400, exc.message) from None
        return JSONResponse(batches.create(params))

    async def list_batches(limit: int = 20, after: str | None = None) -> Response:
        return JSONResponse(batches.page(limit, after))

    async def get_batch(batch_id: str) -> Response:
        return JSONResponse(batches.get(batch_id))

    async def cancel_batch(batch_id: str) -> Response:
        return JSONResponse(batches.cancel(batch_id))

    routes: list[tuple[str, Callable[..., Awaitable[Response]], str]] = [
        ("/files", upload_file, "POST"),
        ("/files/{file_id}", get_file, "GET"),
        ("/files/{file_id}", delete_file, "DELETE"),
        ("/files/{file_id}/content", file_content, "GET"),
        ("/batches", create_batch, "POST"),
        ("/batches", list_batches, "GET"),
        ("/batches/{batch_id}", get_batch, "GET"),
        ("/batches/{batch_id}/cancel", cancel_batch, "POST"),
    ]
    # As for chat: a base URL without "/v1" still reaches them.
    for path, endpoint, method in routes:
        for prefix in ("/v1", ""):
            app.add_api_route(prefix + path, endpoint, methods=[method])


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "distillery-simulator"}
