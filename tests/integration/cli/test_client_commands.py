"""The CLI client commands through typer's runner against a real API server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from distillery.cli.main import app
from distillery.client import Client
from tests.support.server import api_server
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_url(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    with api_server(stack_env, logs) as url:
        yield url


@pytest.fixture
def cli(api, server_url, monkeypatch):
    """`distillery ARGS` as this test's tenant, with the server and key from the environment."""
    from distillery.cli import terminal

    # The consoles read COLUMNS once, when first imported (perhaps by another test module):
    # wide, so a table's cells are not folded across lines.
    for console in (terminal.console, terminal.errors):
        monkeypatch.setattr(console, "width", 250)
    runner = CliRunner()

    def run(*args: str) -> Any:
        env = {"DISTILLERY_URL": server_url, "DISTILLERY_API_KEY": api.key, "COLUMNS": "250"}
        return runner.invoke(app, list(args), env=env)

    return run


def _spec(teacher: str, count: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "cli-arith",
        "teacher": teacher,
        "method": "label",
        "skill": {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"},
        "seeds": arithmetic_seeds(count),
        **extra,
    }


def test_teachers_add_list_and_rm_by_name_never_show_the_key(cli, start_simulator):
    sim = start_simulator()
    added = cli(
        "teachers", "add", "cli-sim", "--base-url", sim.base_url, "--model", "sim-teacher-1",
        "--teacher-api-key", "sk-very-secret", "--rpm", "600", "--input-price-per-mtok", "0.15",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "cli-sim" in added.output and "sk-very-secret" not in added.output

    listed = cli("teachers", "list", "--json")
    teachers = json.loads(listed.stdout)
    assert [(t["name"], t["rpm"], t["has_api_key"]) for t in teachers] == [("cli-sim", 600, True)]
    assert "sk-very-secret" not in listed.output

    assert cli("teachers", "rm", "cli-sim").exit_code == 0
    assert json.loads(cli("teachers", "list", "--json").stdout) == []
    gone = cli("teachers", "rm", "cli-sim")
    assert gone.exit_code == 1 and "404 not_found" in gone.stderr


def test_submit_yaml_with_wait_then_list_show_events_and_download(cli, api, start_simulator, tmp_path):
    sim = start_simulator(latency_ms=20)
    teacher = api.add_teacher(sim)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(teacher["name"], 10)))

    submitted = cli("jobs", "submit", str(spec), "--wait", "--timeout-s", "90")
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.split("submitted job ")[1].split()[0]
    assert "succeeded" in submitted.stdout and "accepted 10" in submitted.stdout

    jobs = json.loads(cli("jobs", "list", "--json").stdout)
    assert [(j["id"], j["status"]) for j in jobs] == [(job_id, "succeeded")]
    shown = cli("jobs", "show", job_id)
    assert shown.exit_code == 0 and "10/10" in shown.stdout and "cost_usd" in shown.stdout
    events = cli("jobs", "events", job_id)
    assert events.exit_code == 0 and "planned" in events.stdout and "succeeded" in events.stdout

    dataset_id = jobs[0]["dataset_id"]
    assert [d["id"] for d in json.loads(cli("datasets", "list", "--json").stdout)] == [dataset_id]
    assert "reject_reasons" in cli("datasets", "show", dataset_id).stdout
    out = tmp_path / "alpaca.jsonl"
    downloaded = cli("datasets", "download", dataset_id, "--format", "alpaca", "--no-rationale", "-o", str(out))
    assert downloaded.exit_code == 0 and downloaded.stdout.strip() == str(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    gold = {s["instruction"]: s["answer"] for s in arithmetic_seeds(10)}
    assert {r["instruction"]: r["output"] for r in rows} == gold


def test_submit_dry_run_prints_the_prompts_and_the_estimate_and_creates_nothing(cli, api, start_simulator, tmp_path):
    sim = start_simulator()
    teacher = api.add_teacher(sim, rpm=60)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(teacher["name"], 5)))

    shown = cli("jobs", "submit", "--dry-run", str(spec))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "prompt 1 of 5 (label)" in out and "What is 3 * 7 + 0?" in out and "prompt 4" not in out
    assert "nothing created or sent" in out and "chars/4 (fallback)" in out
    assert "│ requests " in out and "│ 5 " in out and "5 s" in out  # 5 requests at 60 a minute
    assert teacher["name"] in out and "teacher" in out

    as_json = json.loads(cli("jobs", "submit", "--dry-run", "--json", str(spec)).stdout)
    assert as_json["requests"] == 5 and len(as_json["prompts"]) == 3
    assert cli("jobs", "submit", "--dry-run", "--wait", str(spec)).exit_code == 2
    assert json.loads(cli("jobs", "list", "--json").stdout) == []
    assert sim.stats()["requests"] == 0


def test_json_specs_are_checked_locally_and_nothing_is_sent_when_invalid(cli, api, server_url, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_spec("any", 2, params={"temperature": 9})))
    rejected = cli("jobs", "submit", str(spec))
    assert rejected.exit_code == 1
    assert "invalid spec" in rejected.stderr and "params.temperature" in rejected.stderr
    spec.write_text("{not json")
    assert "not valid JSON" in cli("jobs", "submit", str(spec)).stderr
    with Client(server_url, api.key) as client:
        assert client.list_jobs().data == []


def test_cancel_stops_a_running_job_and_a_second_cancel_is_a_conflict(cli, api, start_simulator, tmp_path):
    teacher = api.add_teacher(start_simulator(latency_ms=2000), max_concurrency=1)
    spec = tmp_path / "slow.yaml"
    spec.write_text(yaml.safe_dump(_spec(teacher["name"], 20)))
    job_id = json.loads(cli("jobs", "submit", str(spec), "--json").stdout)["id"]

    cancelled = cli("jobs", "cancel", job_id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    again = cli("jobs", "cancel", job_id)
    assert again.exit_code == 1 and "409 conflict" in again.stderr


def test_ids_stay_whole_in_an_80_column_terminal(cli, api, start_simulator, monkeypatch):
    from distillery.cli import terminal

    sim = start_simulator()
    teacher = api.add_teacher(sim, name="a-teacher-with-a-rather-long-name")
    job = api.submit_label_job(teacher, arithmetic_seeds(2), name="a-job-name-long-enough-to-fold-in-80-columns")
    monkeypatch.setattr(terminal.console, "width", 80)
    for command, shown in ((("jobs", "list"), job["id"]), (("teachers", "list"), teacher["id"])):
        listed = cli(*command)
        assert listed.exit_code == 0, listed.output
        assert any(shown in line for line in listed.stdout.splitlines()), listed.stdout
        assert max(map(len, listed.stdout.splitlines())) <= 80


def test_server_and_key_from_a_config_file_and_flags_and_errors_are_readable(api, server_url, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server_url}"\napi_key = "{api.key}"\n')
    runner = CliRunner()
    from_file = runner.invoke(app, ["jobs", "list", "--json"], env={"DISTILLERY_CONFIG_FILE": str(config)})
    assert from_file.exit_code == 0 and json.loads(from_file.stdout) == []

    wrong = runner.invoke(app, ["jobs", "list", "--url", server_url, "--api-key", "dk_wrong"])
    assert wrong.exit_code == 1 and "401 unauthenticated" in wrong.stderr

    missing = runner.invoke(app, ["train", "show", "tj_nope", "--url", server_url, "--api-key", api.key])
    assert missing.exit_code == 1 and "404 not_found" in missing.stderr


def test_training_specs_are_checked_locally_too(cli, tmp_path):
    spec = tmp_path / "train.yaml"
    spec.write_text(yaml.safe_dump({"dataset_id": "ds_x", "method": "ppo", "base_model": "tiny"}))
    rejected = cli("train", "submit", str(spec))
    assert rejected.exit_code == 1 and "invalid spec" in rejected.stderr and "method" in rejected.stderr


def _pipeline(teacher: str, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Label the seeds, then label again what the first stage kept."""
    label = {k: v for k, v in _spec(teacher, 0).items() if k != "name"}
    return {
        "name": "cli-pipeline",
        "stages": [
            {"name": "label", "kind": "job", "spec": {**label, "seeds": seeds}},
            {"name": "relabel", "kind": "job", "spec": {**label, "seeds": [], "source_dataset": "@label"}},
        ],
    }


def test_run_follows_a_pipeline_stage_by_stage_and_exits_with_its_outcome(cli, api, start_simulator, tmp_path):
    teacher = api.add_teacher(start_simulator(latency_ms=20))
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(yaml.safe_dump(_pipeline(teacher["name"], arithmetic_seeds(4))))

    ran = cli("run", str(spec), "--timeout-s", "120")
    assert ran.exit_code == 0, ran.output
    pipeline_id = ran.stdout.split("submitted pipeline ")[1].split()[0]
    assert f"pipeline {pipeline_id} succeeded" in ran.stdout
    assert "relabel" in ran.stdout and "4/4 items" in ran.stdout and "2/2 stages" in ran.stdout

    listed = json.loads(cli("pipelines", "list", "--json").stdout)
    assert [(p["id"], p["status"]) for p in listed] == [(pipeline_id, "succeeded")]
    report = cli("pipelines", "report", pipeline_id)
    assert report.exit_code == 0 and "4 kept, 0 rejected" in report.stdout and "100.0% on gold" in report.stdout
    events = cli("pipelines", "events", pipeline_id)
    assert events.exit_code == 0 and "stage_started" in events.stdout

    # Nothing the teacher answers matches these gold answers: the second stage has nothing to read.
    spec.write_text(yaml.safe_dump(_pipeline(teacher["name"], [{**s, "answer": "never"} for s in arithmetic_seeds(2)])))
    failed = cli("run", str(spec), "--timeout-s", "120")
    assert failed.exit_code == 1
    assert "failed" in failed.stderr and "stage 'relabel' could not start" in failed.stderr


def test_run_checks_the_pipeline_locally_and_sends_nothing_when_invalid(cli, api, server_url, tmp_path):
    spec = tmp_path / "pipeline.yaml"
    body = _pipeline("any", arithmetic_seeds(1))
    body["stages"][1]["spec"]["source_dataset"] = "@later"
    spec.write_text(yaml.safe_dump(body))
    rejected = cli("run", str(spec))
    assert rejected.exit_code == 1
    assert "invalid spec" in rejected.stderr and "stages.1.spec.source_dataset: '@later'" in rejected.stderr
    with Client(server_url, api.key) as client:
        assert client.list_pipelines().data == []


def test_datasets_upload_prints_the_new_datasets_id_kind_and_rows(cli, api, server_url, tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": f"What is {n} + {n}?", "chosen": str(2 * n), "rejected": str(2 * n + 1)} for n in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    uploaded = cli("datasets", "upload", str(path))
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id, kind, count = uploaded.stdout.split()[:3]
    assert (kind, count) == ("preference", "3")
    with Client(server_url, api.key) as client:
        assert client.get_dataset(dataset_id).name == "pairs"

    path.write_text(json.dumps({"prompt": "What is 1 + 1?", "chosen": "2", "rejected": "3"}) + "\n" + "not json\n")
    bad = cli("datasets", "upload", str(path), "--name", "broken")
    assert bad.exit_code == 1 and "422 invalid_upload" in bad.stderr and "row 2" in bad.stderr
