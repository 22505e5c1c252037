"""The simulator's Files and Batches APIs, driven through the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import openai
import pytest
from openai.types import Batch
from openai.types.chat import ChatCompletion

from distillery_simulator import SimulatorConfig, create_app
from distillery_simulator.batches import BatchStore
from distillery_simulator.counters import Counters

T = TypeVar("T")
Scenario = Callable[[openai.AsyncOpenAI, httpx.AsyncClient], Awaitable[T]]

SYSTEM = 'Think step by step. End your reply with one final line of the form "Answer: <final answer>".'
QUESTIONS = {"q-1": "What is 17 + 25?", "q-2": "What is 6 * 7?", "q-3": "Suggest a name for a sourdough bakery."}
TERMINAL = {"failed", "completed", "expired", "cancelled"}


def chat_body(question: str, **params: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    return {"model": "sim-teacher-1", "messages": messages, "temperature": 0, **params}


def request_line(custom_id: str, body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body, **overrides}


def jsonl(items: list[Any]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def simulate(scenario: Scenario[T], **config: Any) -> T:
    """Run `scenario` against a fresh simulator, with the SDK and a plain client on its app."""
    config.setdefault("batch_delay_s", 0.05)

    async def main() -> T:
        transport = httpx.ASGITransport(app=create_app(SimulatorConfig(**config)))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            sdk = openai.AsyncOpenAI(base_url="http://sim/v1", api_key="sk-test", http_client=http, max_retries=0)
            return await scenario(sdk, http)

    return asyncio.run(main())


async def submit(sdk: openai.AsyncOpenAI, content: bytes) -> Batch:
    upload = await sdk.files.create(file=("requests.jsonl", content), purpose="batch")
    return await sdk.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")


async def wait_done(sdk: openai.AsyncOpenAI, batch_id: str, timeout_s: float = 5.0) -> Batch:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = await sdk.batches.retrieve(batch_id)
        if batch.status in TERMINAL:
            return batch
        assert time.monotonic() < deadline, f"batch still {batch.status} after {timeout_s}s"
        await asyncio.sleep(0.01)


async def read_lines(sdk: openai.AsyncOpenAI, file_id: str) -> list[dict[str, Any]]:
    content = await sdk.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines()]


def test_a_batch_answers_every_line_as_the_online_endpoint_does() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        created = await submit(sdk, jsonl([request_line(cid, chat_body(q)) for cid, q in QUESTIONS.items()]))
        assert created.id.startswith("batch_") and created.object == "batch"
        assert created.status == "validating" and created.endpoint == "/v1/chat/completions"
        assert created.output_file_id is None and created.expires_at == created.created_at + 24 * 3600

        done = await wait_done(sdk, created.id)
        assert done.status == "completed"
        assert done.request_counts is not None
        assert done.request_counts.model_dump() == {"total": 3, "completed": 3, "failed": 0}
        assert done.error_file_id is None and done.output_file_id is not None
        assert done.in_progress_at is not None and done.completed_at is not None and done.finalizing_at is not None
        assert done.model == "sim-teacher-1"
        output_file = await sdk.files.retrieve(done.output_file_id)
        assert output_file.purpose == "batch_output" and output_file.filename == f"{done.id}_output.jsonl"

        lines = await read_lines(sdk, done.output_file_id)
        assert sorted(line["custom_id"] for line in lines) == sorted(QUESTIONS)
        usage_total = 0
        for line in lines:
            assert line["id"].startswith("batch_req_") and line["error"] is None
            assert line["response"]["status_code"] == 200 and line["response"]["request_id"]
            completion = ChatCompletion.model_validate(line["response"]["body"])
            online = await sdk.chat.completions.create(**chat_body(QUESTIONS[line["custom_id"]]))
            assert completion.choices[0].message.content == online.choices[0].message.content
            assert completion.usage == online.usage and completion.usage is not None
            usage_total += completion.usage.total_tokens
        assert done.usage is not None and done.usage.total_tokens == usage_total
        contents = {line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"] for line in lines}
        assert contents["q-1"].endswith("Answer: 42") and contents["q-2"].endswith("Answer: 42")

        stats = (await http.get("/sim/stats")).json()
        # Three batch lines, then the same three bodies paid for again online.
        assert stats["batches"] == 1 and stats["batch_lines"] == 3
        assert stats["completions"] == 6 and stats["requests"] == 3
        assert stats["duplicate_requests"] == 3 and stats["repeated_replies"] == 3

    simulate(scenario)


def test_a_request_paid_in_a_batch_and_again_online_is_a_duplicate() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> dict[str, Any]:
        first = await wait_done(sdk, (await submit(sdk, jsonl([request_line("only", chat_body("What is 2 + 2?"))]))).id)
        assert first.status == "completed"
        before = (await http.get("/sim/stats")).json()
        assert before["duplicate_requests"] == 0 and before["batch_lines"] == 1
        await sdk.chat.completions.create(**chat_body("What is 2 + 2?"))
        return (await http.get("/sim/stats")).json()

    stats = simulate(scenario)
    assert stats["duplicate_requests"] == 1 and stats["distinct_requests"] == 1
    assert stats["batch_lines"] == 1 and stats["completions"] == 2


def test_error_rate_one_puts_every_line_in_the_error_file() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        items = [request_line(cid, chat_body(q)) for cid, q in QUESTIONS.items()]
        done = await wait_done(sdk, (await submit(sdk, jsonl(items))).id)
        assert done.status == "completed"
        assert done.request_counts is not None
        assert done.request_counts.failed == done.request_counts.total == 3 and done.request_counts.completed == 0
        assert done.output_file_id is None and done.error_file_id is not None
        lines = await read_lines(sdk, done.error_file_id)
        assert sorted(line["custom_id"] for line in lines) == sorted(QUESTIONS)
        for line in lines:
            assert line["response"]["status_code"] in (500, 503) and line["error"] is None
            assert line["response"]["body"]["error"]["type"] == "server_error"
        stats = (await http.get("/sim/stats")).json()
        assert stats["batches"] == 1 and stats["batch_lines"] == 0 and stats["completions"] == 0

    simulate(scenario, error_rate=1.0)


def test_injected_errors_are_drawn_per_line() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> Batch:
        items = [request_line(f"r-{i}", chat_body(f"What is {i} + 1?")) for i in range(40)]
        return await wait_done(sdk, (await submit(sdk, jsonl(items))).id)

    done = simulate(scenario, error_rate=0.5, seed=1)
    assert done.request_counts is not None
    assert 5 < done.request_counts.completed < 35
    assert done.request_counts.completed + done.request_counts.failed == 40


def test_a_body_the_chat_endpoint_refuses_is_a_400_in_the_error_file() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        items = [
            request_line("ok", chat_body("What is 17 + 25?")),
            request_line("hot", chat_body("What is 17 + 25?", temperature=3)),
            request_line("empty", {"model": "sim-teacher-1", "messages": []}),
        ]
        done = await wait_done(sdk, (await submit(sdk, jsonl(items))).id)
        assert done.status == "completed" and done.request_counts is not None
        assert done.request_counts.model_dump() == {"total": 3, "completed": 1, "failed": 2}
        assert done.output_file_id is not None and done.error_file_id is not None
        assert [line["custom_id"] for line in await read_lines(sdk, done.output_file_id)] == ["ok"]
        errors = {line["custom_id"]: line["response"] for line in await read_lines(sdk, done.error_file_id)}
        assert {cid: r["status_code"] for cid, r in errors.items()} == {"hot": 400, "empty": 400}
        assert errors["hot"]["body"]["error"]["param"] == "temperature"
        assert errors["empty"]["body"]["error"]["type"] == "invalid_request_error"

    simulate(scenario)


def test_an_invalid_line_fails_the_batch_with_its_line_number_and_runs_nothing() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        good = request_line("a", chat_body("What is 17 + 25?"))
        content = b"\n".join(
            [
                json.dumps(good).encode(),
                b"{not json",
                json.dumps(request_line("a", chat_body("What is 6 * 7?"))).encode(),
                json.dumps(request_line("b", chat_body("What is 6 * 7?"), url="/v1/embeddings")).encode(),
                json.dumps(request_line("c", chat_body("What is 6 * 7?"), method="GET")).encode(),
                json.dumps({"custom_id": "d", "method": "POST", "url": "/v1/chat/completions"}).encode(),
            ]
        )
        done = await wait_done(sdk, (await submit(sdk, content)).id)
        assert done.status == "failed" and done.failed_at is not None
        assert done.errors is not None and done.errors.data is not None
        assert [(e.line, e.code) for e in done.errors.data] == [
            (2, "invalid_json_line"),
            (3, "duplicate_custom_id"),
            (4, "invalid_url"),
            (5, "invalid_method"),
            (6, "missing_required_parameter"),
        ]
        assert all(e.message for e in done.errors.data)
        assert done.in_progress_at is None and done.output_file_id is None and done.error_file_id is None
        stats = (await http.get("/sim/stats")).json()
        assert stats["completions"] == 0 and stats["batch_lines"] == 0 and stats["batches"] == 1

    simulate(scenario)


def test_an_empty_input_file_fails_the_batch() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> Batch:
        return await wait_done(sdk, (await submit(sdk, b"\n")).id)

    done = simulate(scenario)
    assert done.status == "failed" and done.errors is not None and done.errors.data is not None
    assert [e.code for e in done.errors.data] == ["empty_file"]


# "at_once" usually lands while the batch is still validating; "in_progress" waits past that.
@pytest.mark.parametrize("cancel_when", ["at_once", "in_progress"])
def test_cancel_before_the_delay_ends_runs_nothing(cancel_when: str) -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        created = await submit(sdk, jsonl([request_line(cid, chat_body(q)) for cid, q in QUESTIONS.items()]))
        assert created.status == "validating"
        if cancel_when == "in_progress":
            while (await sdk.batches.retrieve(created.id)).status != "in_progress":
                await asyncio.sleep(0.001)
        cancelling = await sdk.batches.cancel(created.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
        if cancel_when == "in_progress":
            assert cancelling.in_progress_at is not None
        # Well inside the 30 s delay: the cancel cuts the wait short.
        done = await wait_done(sdk, created.id, timeout_s=2.0)
        assert done.status == "cancelled" and done.cancelled_at is not None
        assert done.request_counts is not None and done.request_counts.completed == done.request_counts.failed == 0
        assert done.output_file_id is None and done.error_file_id is None
        again = await sdk.batches.cancel(created.id)
        assert again.status == "cancelled"
        stats = (await http.get("/sim/stats")).json()
        assert stats["completions"] == 0 and stats["batch_lines"] == 0 and stats["batches"] == 1

    simulate(scenario, batch_delay_s=30)


def test_a_finished_batch_cannot_be_cancelled() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        done = await wait_done(sdk, (await submit(sdk, jsonl([request_line("a", chat_body("What is 1 + 1?"))]))).id)
        assert done.status == "completed"
        with pytest.raises(openai.ConflictError) as refused:
            await sdk.batches.cancel(done.id)
        assert refused.value.status_code == 409

    simulate(scenario)


def test_a_batch_cancelled_mid_run_keeps_the_lines_it_finished() -> None:
    # Driven on the store itself, so the cancel lands after exactly two lines.
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        answered: list[str] = []

        def reply(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            answered.append(body["messages"][-1]["content"])
            if len(answered) == 2:
                store.cancel(batch_id)
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            return 200, {"object": "chat.completion", "usage": usage}

        store = BatchStore(reply, Counters(), delay_s=0)
        upload = store.upload(
            jsonl([request_line(f"r-{i}", chat_body(f"q{i}")) for i in range(5)]), "in.jsonl", "batch"
        )
        batch_id = store.create(
            {"input_file_id": upload["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        )["id"]
        for _ in range(200):
            if store.get(batch_id)["status"] in TERMINAL:
                break
            await asyncio.sleep(0.001)
        info = store.get(batch_id)
        content = store.file(info["output_file_id"]).content
        return info, [json.loads(line) for line in content.splitlines()], answered

    info, lines, answered = asyncio.run(scenario())
    assert info["status"] == "cancelled" and info["finalizing_at"] is None
    assert info["request_counts"] == {"total": 5, "completed": 2, "failed": 0}
    assert [line["custom_id"] for line in lines] == ["r-0", "r-1"]
    assert answered == ["q0", "q1"]


def test_unknown_file_and_batch_ids_are_openai_shaped_404s() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        calls: list[Awaitable[Any]] = [
            sdk.files.retrieve("file-nope"),
            sdk.files.content("file-nope"),
            sdk.files.delete("file-nope"),
            sdk.batches.retrieve("batch_nope"),
            sdk.batches.cancel("batch_nope"),
            sdk.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"),
        ]
        for call in calls:
            with pytest.raises(openai.NotFoundError) as missing:
                await call
            assert missing.value.status_code == 404
        for path in ("/v1/files/file-nope", "/v1/files/file-nope/content", "/v1/batches/batch_nope"):
            response = await http.get(path)
            assert response.status_code == 404
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and "nope" in error["message"]

    simulate(scenario)


def test_files_upload_retrieve_download_and_delete() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        content = jsonl([request_line("a", chat_body("What is 1 + 1?"))])
        created = await sdk.files.create(file=("mine.jsonl", content), purpose="batch")
        assert created.id.startswith("file-") and created.object == "file" and created.status == "processed"
        assert created.bytes == len(content) and created.filename == "mine.jsonl" and created.purpose == "batch"
        assert created.created_at > 0
        assert await sdk.files.retrieve(created.id) == created
        assert (await sdk.files.content(created.id)).content == content
        assert (await http.get(f"/files/{created.id}")).status_code == 200  # no "/v1" works too
        deleted = await sdk.files.delete(created.id)
        assert deleted.deleted and deleted.id == created.id
        with pytest.raises(openai.NotFoundError):
            await sdk.files.retrieve(created.id)

    simulate(scenario)


def test_uploads_and_batch_creation_are_validated() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        content = jsonl([request_line("a", chat_body("What is 1 + 1?"))])
        with pytest.raises(openai.BadRequestError) as bad_purpose:
            await sdk.files.create(file=("x.jsonl", content), purpose="nonsense")  # type: ignore[arg-type]
        assert bad_purpose.value.status_code == 400
        no_file = await http.post("/v1/files", data={"purpose": "batch"})
        assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"

        batch_file = await sdk.files.create(file=("x.jsonl", content), purpose="batch")
        tuning_file = await sdk.files.create(file=("x.jsonl", content), purpose="fine-tune")
        refusals = [
            ({"endpoint": "/v1/embeddings"}, "endpoint"),
            ({"completion_window": "1h"}, "completion_window"),
            ({"metadata": {"n": 1}}, "metadata"),
            ({"input_file_id": tuning_file.id}, "input_file_id"),
        ]
        for change, param in refusals:
            params = {"input_file_id": batch_file.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
            response = await http.post("/v1/batches", json=params | change)
            assert response.status_code == 400, change
            assert response.json()["error"]["param"] == param
        assert (await http.post("/v1/batches", content=b"{oops")).status_code == 400
        stats = (await http.get("/sim/stats")).json()
        assert stats["batches"] == 0

    simulate(scenario)


def test_metadata_and_listing() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        upload = await sdk.files.create(
            file=("x.jsonl", jsonl([request_line("a", chat_body("1 + 1?"))])), purpose="batch"
        )
        ids = []
        for run in ("first", "second"):
            batch = await sdk.batches.create(
                input_file_id=upload.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"run": run},
            )
            assert batch.metadata == {"run": run}
            ids.append(batch.id)
        page = await sdk.batches.list(limit=1)
        assert [b.id for b in page.data] == [ids[1]] and page.has_more
        listed = [b.id async for b in sdk.batches.list(limit=1)]
        assert listed == [ids[1], ids[0]]
        for batch_id in ids:
            await wait_done(sdk, batch_id)

    simulate(scenario)


def test_reset_forgets_batches_and_files() -> None:
    async def scenario(sdk: openai.AsyncOpenAI, http: httpx.AsyncClient) -> None:
        done = await wait_done(sdk, (await submit(sdk, jsonl([request_line("a", chat_body("What is 1 + 1?"))]))).id)
        running = await submit(sdk, jsonl([request_line("b", chat_body("What is 2 + 2?"))]))
        before = (await http.get("/sim/stats")).json()
        assert before["batches"] == 2 and before["batch_lines"] == 1
        after = (await http.post("/sim/reset")).json()
        assert after["batches"] == 0 and after["batch_lines"] == 0
        for batch_id in (done.id, running.id):
            with pytest.raises(openai.NotFoundError):
                await sdk.batches.retrieve(batch_id)
        assert done.output_file_id is not None
        for file_id in (done.input_file_id, done.output_file_id):
            with pytest.raises(openai.NotFoundError):
                await sdk.files.retrieve(file_id)
        await asyncio.sleep(0.1)  # past the delay: the reset batch must not have run
        assert (await http.get("/sim/stats")).json()["batch_lines"] == 0

    simulate(scenario)


def test_batch_delay_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="batch_delay_s"):
        SimulatorConfig(batch_delay_s=-1)
