"""The command line on the embedded default (SQLite + SQLAlchemy-transport broker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _run(args: list[str], data_dir: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    # Only the data dir: everything else must default to the embedded stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")}
    env.update({"DISTILLERY_DATA_DIR": str(data_dir), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "distillery.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_demo_runs_the_embedded_stack_end_to_end(tmp_path):
    result = _run(["demo", "--items", "12"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.strip().splitlines()
    path = Path(out[-1])
    assert path.exists() and path.is_relative_to(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    summary = next(line for line in out if line.startswith("job succeeded"))
    accepted = int(summary.split(":")[1].split()[0])
    assert len(rows) == accepted > 0
    assert all([m["role"] for m in row["messages"]] == ["user", "assistant"] for row in rows)
    assert (tmp_path / "distillery.db").exists() and (tmp_path / "broker.db").exists()


def test_keys_create_prints_the_key_alone_on_the_last_line_and_revoke_uses_its_prefix(tmp_path):
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    created = _run(["keys", "create", "--tenant", "acme"], tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("dk_") and " " not in key and len(key) > 40
    revoked = _run(["keys", "revoke", key[:8]], tmp_path)
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert _run(["keys", "revoke", key[:8]], tmp_path).returncode == 1
