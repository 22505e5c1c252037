"""The simulator over HTTP, as an OpenAI client sees it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai.types.chat import ChatCompletion

from distillery_simulator import SimulatorConfig, create_app

SYSTEM = 'Think step by step. End your reply with one final line of the form "Answer: <final answer>".'


def chat_body(question: str = "What is 17 + 25?", **params: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    return {"model": "sim-teacher-1", "messages": messages, "temperature": 0, **params}


def client(**config: Any) -> TestClient:
    return TestClient(create_app(SimulatorConfig(**config)))


def post(http: TestClient, body: dict[str, Any]) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-anything"})


def test_a_completion_is_a_valid_openai_chat_completion() -> None:
    response = post(client(), chat_body(max_tokens=500))
    assert response.status_code == 200
    completion = ChatCompletion.model_validate(response.json())
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content is not None and choice.message.content.endswith("Answer: 42")
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_the_official_sdk_can_call_the_simulator_and_sees_rate_limits() -> None:
    async def scenario() -> tuple[str | None, int]:
        transport = httpx.ASGITransport(app=create_app(SimulatorConfig(rpm=60)))
        async with httpx.AsyncClient(transport=transport) as http:
            sdk = openai.AsyncOpenAI(base_url="http://sim/v1", api_key="sk-test", http_client=http, max_retries=0)
            first = await sdk.chat.completions.create(**chat_body())
            with pytest.raises(openai.RateLimitError) as refused:
                await sdk.chat.completions.create(**chat_body())
            return first.choices[0].message.content, refused.value.status_code

    content, status = asyncio.run(scenario())
    assert content is not None and content.endswith("Answer: 42")
    assert status == 429


def test_sixty_rpm_refuses_the_second_immediate_request_with_retry_after() -> None:
    http = client(rpm=60, tpm=60_000)
    first, second = post(http, chat_body()), post(http, chat_body())
    assert first.status_code == 200 and second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert 0 < int(second.headers["retry-after-ms"]) <= 1000
    for response in (first, second):
        assert response.headers["x-ratelimit-limit-requests"] == "60"
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
        assert response.headers["x-ratelimit-limit-tokens"] == "60000"
        assert "x-ratelimit-remaining-tokens" in response.headers
    error = second.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests" and error["message"]
    assert http.get("/sim/stats").json()["status_counts"] == {"200": 1, "429": 1}


def test_unlimited_simulator_sends_no_rate_limit_headers() -> None:
    response = post(client(), chat_body())
    assert not [name for name in response.headers if name.startswith("x-ratelimit")]


def test_error_rate_one_answers_every_request_with_a_server_error() -> None:
    http = client(error_rate=1.0)
    statuses = {post(http, chat_body()).status_code for _ in range(10)}
    assert statuses <= {500, 503} and statuses
    body = post(http, chat_body()).json()
    assert body["error"]["type"] == "server_error" and body["error"]["message"]
    stats = http.get("/sim/stats").json()
    assert stats["requests"] == 11 and stats["completions"] == 0


def test_injected_errors_are_random_per_request_so_a_retry_can_succeed() -> None:
    http = client(error_rate=0.5, seed=1)
    responses = [post(http, chat_body()) for _ in range(40)]
    ok = [r for r in responses if r.status_code == 200]
    assert 5 < len(ok) < 35
    assert len({r.json()["choices"][0]["message"]["content"] for r in ok}) == 1


def test_throttle_rate_one_refuses_every_request_with_a_short_retry_after() -> None:
    http = client(throttle_rate=1.0, throttle_retry_after_s=0.25)
    response = post(http, chat_body())
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert response.headers["retry-after-ms"] == "250"
    assert http.get("/sim/stats").json()["completions"] == 0


def test_a_hung_request_whose_client_waits_is_answered_and_counted() -> None:
    http = client(hang_rate=1.0, hang_s=0.05)
    assert post(http, chat_body()).status_code == 200
    stats = http.get("/sim/stats").json()
    assert stats["hung"] == stats["completions"] == 1


def test_stats_count_replies_served_twice_for_the_same_request() -> None:
    http = client()
    post(http, chat_body())
    post(http, chat_body())
    post(http, chat_body(temperature=0.7))
    stats = http.get("/sim/stats").json()
    assert stats["requests"] == 3 and stats["completions"] == 3
    assert stats["distinct_requests"] == 2
    assert stats["duplicate_requests"] == 1
    assert stats["repeated_replies"] == 1
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0

    assert http.post("/sim/reset").status_code == 200
    stats = http.get("/sim/stats").json()
    assert stats["requests"] == 0 and stats["duplicate_requests"] == 0 and stats["status_counts"] == {}


def test_wrong_and_malformed_replies_are_counted() -> None:
    http = client(wrong_rate=1.0)
    post(http, chat_body())
    assert http.get("/sim/stats").json()["wrong"] == 1
    http = client(malformed_rate=1.0)
    content = post(http, chat_body()).json()["choices"][0]["message"]["content"]
    assert "Answer:" not in content
    assert http.get("/sim/stats").json()["malformed"] == 1


@pytest.mark.parametrize("budget_field", ["max_tokens", "max_completion_tokens"])
def test_a_reply_over_the_token_budget_is_truncated_with_finish_reason_length(budget_field: str) -> None:
    http = client()
    full = post(http, chat_body())
    truncated = post(http, chat_body(**{budget_field: 5}))
    choice = truncated.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert truncated.json()["usage"]["completion_tokens"] <= 5
    assert full.json()["choices"][0]["message"]["content"].startswith(choice["message"]["content"])
    assert "Answer:" not in choice["message"]["content"]
    assert http.get("/sim/stats").json()["truncated"] == 1


def test_n_choices_are_identical_greedy_and_vary_when_sampling() -> None:
    http = client()
    greedy = post(http, chat_body("Suggest a name for a sourdough bakery.", n=3)).json()["choices"]
    assert [c["index"] for c in greedy] == [0, 1, 2]
    assert len({c["message"]["content"] for c in greedy}) == 1
    sampled = post(http, chat_body("Suggest a name for a sourdough bakery.", n=8, temperature=1.0)).json()
    assert len({c["message"]["content"] for c in sampled["choices"]}) > 1
    assert sampled["usage"]["completion_tokens"] > 8 * 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "sim-teacher-1"}, "messages"),
        ({"model": "sim-teacher-1", "messages": []}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages"),
        (chat_body(n=0), "n"),
        (chat_body(max_tokens="lots"), "max_tokens"),
        (chat_body(temperature=3), "temperature"),
    ],
)
def test_invalid_requests_get_an_openai_shaped_400(body: dict[str, Any], param: str) -> None:
    response = post(client(), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_a_body_that_is_not_json_gets_a_400() -> None:
    response = client().post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_unknown_fields_are_accepted_and_ignored() -> None:
    response = post(client(), chat_body(user="someone", logit_bias={}, response_format={"type": "text"}))
    assert response.status_code == 200


def test_models_and_health_endpoints() -> None:
    http = client(model="teacher-x")
    models = http.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["teacher-x"]
    assert http.get("/healthz").json()["status"] == "ok"
