"""What the CLI says before it talks to any server: its version, a bad config file, a bad
spec file."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

import distillery
from distillery.cli.main import app

# Nothing listens there: a command that got as far as sending would fail to connect.
NOWHERE = "http://127.0.0.1:9"


def test_version_prints_the_installed_packages_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"distillery {distillery.__version__}"
    assert distillery.__version__ != "0+unknown"  # the project is installed, so its metadata is found


def test_an_unknown_key_in_the_config_file_is_an_error_naming_it_and_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{NOWHERE}"\napi-key = "dk_x"\n')
    result = CliRunner().invoke(app, ["jobs", "list"], env={"DISTILLERY_CONFIG_FILE": str(config)})
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "unknown key 'api-key'" in message and "did you mean 'api_key'?" in message
    assert "the known keys are url, api_key" in message


def test_unknown_keys_in_job_and_pipeline_specs_are_refused_before_sending(tmp_path: Path) -> None:
    job = {
        "name": "x", "teacher": "t", "method": "label", "skill": {"name": "a", "description": "b"},
        "seeds": [{"instruction": "hi"}], "target_cont": 5,
    }  # fmt: skip
    pipeline = {"name": "p", "stages": [{"name": "label", "kind": "job", "spec": job}], "colour": "blue"}
    for command, spec, unknown in (("jobs submit", job, "target_cont"), ("run", pipeline, "colour")):
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        result = CliRunner().invoke(app, [*command.split(), str(path), "--url", NOWHERE, "--api-key", "dk_x"])
        assert result.exit_code == 1
        assert "checked locally; nothing was sent" in result.stderr and unknown in result.stderr
