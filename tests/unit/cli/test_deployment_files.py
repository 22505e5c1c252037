"""docker-compose.yml runs commands this code actually has, with settings it reads."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from distillery.cli.main import app
from distillery.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_every_compose_service_runs_a_real_distillery_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = {name: svc["command"] for name, svc in compose["services"].items() if "command" in svc}
    ours = {name: cmd for name, cmd in commands.items() if cmd[0] == "distillery"}
    assert {"migrate", "api", "synthesis-worker", "training-worker"} <= set(ours)
    runner = CliRunner()
    for name, command in ours.items():
        # Every option the service passes must parse: `--help` after them checks the names.
        result = runner.invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"


def test_compose_environment_names_real_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    fields = {f"DISTILLERY_{name.upper()}" for name in Settings.model_fields}
    for svc in compose["services"].values():
        for key in svc.get("environment", {}):
            if key.startswith("DISTILLERY_"):
                assert key in fields, key
