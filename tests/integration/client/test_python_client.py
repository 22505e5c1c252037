"""The Python client (sync and async) against a real API server and the live stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from distillery.cli.stack import free_port
from distillery.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    LocalSpecError,
    NotFoundError,
    ServerUnreachable,
    WaitTimeout,
)
from distillery.schemas.previews import JobPreview
from tests.support.server import api_server
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_url(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    with api_server(stack_env, logs) as url:
        yield url


def _teacher(sim: Any, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "base_url": sim.base_url,
        "model": "sim-teacher-1",
        "api_key": "sk-client-test-secret",
        "input_price_per_mtok": 1.0,
        "output_price_per_mtok": 2.0,
    }


def _label_spec(teacher: str, count: int) -> dict[str, Any]:
    return {
        "name": "client-arith",
        "teacher": teacher,
        "method": "label",
        "skill": {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"},
        "seeds": arithmetic_seeds(count),
    }


def test_sync_client_submits_waits_pages_and_downloads(api, start_simulator, server_url, tmp_path):
    sim = start_simulator(latency_ms=20)
    seen: list[str] = []
    with Client(server_url, api.key) as client:
        teacher = client.create_teacher(_teacher(sim, "sync-sim"))
        assert teacher.has_api_key and "sk-client-test-secret" not in teacher.model_dump_json()
        assert [t.name for t in client.list_teachers()] == ["sync-sim"]

        job = client.submit_job(_label_spec("sync-sim", 12))
        assert job.status == "queued"
        job = client.wait(job.id, timeout_s=90, on_update=lambda j: seen.append(j.status))

        assert job.status == "succeeded" and seen[-1] == "succeeded"
        assert job.progress.accepted == 12 and job.usage.requests == 12 and job.usage.cost_usd > 0
        # Five per page: the iterator follows next_offset across three pages.
        records = list(client.iter_job_records(job.id, page_size=5))
        assert len({r.id for r in records}) == 12 and all(r.status == "accepted" for r in records)
        assert client.job_records(job.id, limit=5).next_offset == 5
        assert [e.type for e in client.iter_job_events(job.id, page_size=2)][-1] == "succeeded"
        assert job.id in [j.id for j in client.iter_jobs(page_size=1)]

        dataset = client.get_dataset(job.dataset_id)
        assert dataset.record_count == 12 and dataset.id in [d.id for d in client.iter_datasets()]
        path = client.download_dataset(dataset.id, tmp_path / "out" / "train.jsonl", format="alpaca")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(rows) == 12 and set(rows[0]) == {"instruction", "input", "output"}


def test_async_client_does_the_same_with_awaits(api, start_simulator, server_url, tmp_path):
    sim = start_simulator(latency_ms=20)

    async def scenario() -> tuple[Any, list[Any], Path]:
        async with AsyncClient(server_url, api.key) as client:
            await client.create_teacher(_teacher(sim, "async-sim"))
            job = await client.submit_job(_label_spec("async-sim", 8))
            job = await client.wait(job.id, timeout_s=90)
            records = [r async for r in client.iter_job_records(job.id, page_size=3)]
            path = await client.download_dataset(job.dataset_id, tmp_path / "chat.jsonl")
            return job, records, path

    job, records, path = asyncio.run(scenario())
    assert job.status == "succeeded" and job.progress.accepted == 8
    assert len({r.id for r in records}) == 8
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 8 and [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]


def test_a_dry_run_returns_the_typed_preview_from_both_clients(api, start_simulator, server_url):
    sim = start_simulator()
    spec = _label_spec("client-dry", 4)

    async def preview_async() -> JobPreview:
        async with AsyncClient(server_url, api.key) as client:
            return await client.submit_job(spec, dry_run=True)

    with Client(server_url, api.key) as client:
        client.create_teacher(_teacher(sim, "client-dry"))
        preview = client.submit_job(spec, dry_run=True)
        assert asyncio.run(preview_async()) == preview
        assert client.list_jobs().data == []
    assert isinstance(preview, JobPreview)
    assert preview.items == 4 and preview.requests == 4 and preview.requests_bound == "exact"
    assert preview.cost_usd is not None and preview.cost_usd > 0
    assert "What is 3 * 7 + 0?" in preview.prompts[0].messages[-1]["content"]
    assert sim.stats()["requests"] == 0


def test_errors_carry_the_servers_type_message_and_details(api, start_simulator, server_url):
    with Client(server_url, api.key) as client:
        with pytest.raises(NotFoundError) as missing:
            client.get_job("job_nope")
        assert missing.value.status == 404 and missing.value.type == "not_found" and "job_nope" in missing.value.message

        # Checked locally with the server's own schema: nothing is sent, and the error is
        # the one the server gives for the same body.
        bad = {**_label_spec("any", 1), "colour": "red", "budget": {"max_requests": 0}}
        with pytest.raises(LocalSpecError) as local:
            client.submit_job(bad)
        assert client.list_jobs().data == []
        server = httpx.post(f"{server_url}/v1/jobs", json=bad, headers={"Authorization": f"Bearer {api.key}"})
        assert server.status_code == local.value.status == 422
        assert server.json()["error"] == {
            "type": local.value.type,
            "message": local.value.message,
            "details": local.value.details,
        }
        assert {d["field"] for d in local.value.details} == {"colour", "budget.max_requests"}

        # Valid in shape, wrong in context: the server's 422 names the field.
        with pytest.raises(InvalidRequestError) as invalid:
            client.submit_job(_label_spec("no-such-teacher", 1))
        assert invalid.value.details == [
            {"field": "teacher", "problem": "no teacher with id or name 'no-such-teacher'"}
        ]

    with Client(server_url, "dk_wrong") as stranger, pytest.raises(AuthenticationError) as denied:
        stranger.list_jobs()
    assert denied.value.type == "unauthenticated" and "dk_wrong" not in str(denied.value)

    with Client(f"http://127.0.0.1:{free_port()}", api.key) as nowhere, pytest.raises(ServerUnreachable):
        nowhere.list_jobs()


def test_wait_gives_up_at_its_deadline_with_the_last_state(api, start_simulator, server_url):
    sim = start_simulator(latency_ms=3000)
    with Client(server_url, api.key) as client:
        client.create_teacher({**_teacher(sim, "slow-sim"), "max_concurrency": 1})
        job = client.submit_job(_label_spec("slow-sim", 20))
        with pytest.raises(WaitTimeout) as waited:
            client.wait(job.id, timeout_s=0.5)
        assert waited.value.last.id == job.id and waited.value.last.status in ("queued", "running")
        assert client.cancel_job(job.id).status == "cancelled"


def test_url_and_key_come_from_the_environment_then_the_config_file(api, server_url, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server_url}"\napi_key = "{api.key}"\n')
    monkeypatch.setenv("DISTILLERY_CONFIG_FILE", str(config))
    monkeypatch.delenv("DISTILLERY_URL", raising=False)
    monkeypatch.delenv("DISTILLERY_API_KEY", raising=False)
    with Client() as client:
        assert client.list_jobs().data == []
        assert api.key not in repr(client.connection)

    # The environment wins over the file, and arguments over both.
    monkeypatch.setenv("DISTILLERY_API_KEY", "dk_from_env")
    with Client() as client, pytest.raises(AuthenticationError):
        client.list_jobs()
    with Client(api_key=api.key) as client:
        assert client.list_jobs().data == []


def test_a_notebook_loads_a_version_as_rows_or_a_hugging_face_dataset_and_curates_it(
    api, start_simulator, server_url, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sim = start_simulator(latency_ms=5)
    with Client(server_url, api.key) as client:
        client.create_teacher(_teacher(sim, "nb-sim"))
        job = client.wait(client.submit_job(_label_spec("nb-sim", 10)).id, timeout_s=90, progress=True)
        assert job.dataset_id is not None
        bar = " ".join(capsys.readouterr().out.split())
        assert "succeeded" in bar and "10/10" in bar and "accepted 10" in bar

        rows = list(client.iter_export_rows(job.dataset_id, format="alpaca"))
        assert len(rows) == 10 and {r["instruction"] for r in rows} == {s["instruction"] for s in arithmetic_seeds(10)}

        data = client.load_dataset(job.dataset_id)
        assert data.num_rows == 10 and data.column_names == ["messages"]
        assert data[0]["messages"][0]["role"] == "user"
        cached = list((tmp_path / "cache" / "distillery" / "datasets").glob("*.parquet"))
        assert len(cached) == 1
        assert client.load_dataset(job.dataset_id).num_rows == 10  # from the cache

        card = client.dataset_card(job.dataset_id)
        assert card.startswith("---") and "10" in card
        merged = client.merge_datasets({"name": "merged", "sources": [{"job": job.id}]})
        again = client.curate_dataset(merged.id, {"curation": {"dedup": True}})
        assert again.record_count == merged.record_count == 10 and again.id != merged.id
        assert list(client.iter_dataset_rejections(again.id)) == []
        with pytest.raises(LocalSpecError) as bad:
            client.curate_dataset(merged.id, {"curation": {"dedupe": True}})
        assert bad.value.details[0]["field"] == "curation.dedupe"

    async def rows_async() -> list[Any]:
        async with AsyncClient(server_url, api.key) as client:
            return [row async for row in client.iter_export_rows(job.dataset_id)]

    assert len(asyncio.run(rows_async())) == 10


def test_async_client_uploads_a_file_as_a_dataset_named_after_it(api, server_url, tmp_path):
    import gzip

    rows = [{"instruction": "What is 2 + 2?", "output": "4"}, {"instruction": "What is 3 + 3?", "output": "6"}]
    path = tmp_path / "gold-set.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))

    async def scenario() -> tuple[Any, Any]:
        async with AsyncClient(server_url, api.key) as client:
            return await client.upload_dataset(path), await client.upload_dataset(path, "gold", purpose="eval")

    default, named = asyncio.run(scenario())
    assert (default.name, default.kind, default.record_count) == ("gold-set", "sft", 2)
    assert (named.name, named.kind, named.record_count) == ("gold", "eval", 2)
