"""A built wheel installs in a fresh virtualenv and migrates a database with what it ships.

The wheel is installed with --no-deps and the fresh environment borrows this one's
dependencies through a path file: what is under test is the wheel's own content (the
package, its migrations, templates and entry point), not the registry."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from distillery.db.migrate import alembic_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        out,
    )
    return next(out.glob("distillery-*.whl"))


def test_the_wheel_ships_the_migrations_and_only_the_distillery_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("distillery-")}
    assert tops == {"distillery", "distillery_simulator"}
    assert "distillery/migrations/env.py" in names
    assert any(name.startswith("distillery/migrations/versions/") for name in names)
    assert "distillery/prompts/templates/label.j2" in names


def test_a_fresh_virtualenv_installs_the_wheel_and_upgrades_a_database(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)
    fresh_site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip()
    )
    (fresh_site / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    # Outside the source tree, with nothing of it on the path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_") and k != "PYTHONPATH"}
    env["DISTILLERY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.db'}"
    where = _run([str(python), "-c", "import distillery; print(distillery.__file__)"], tmp_path, env)
    assert Path(where.strip()).is_relative_to(venv)

    _run([str(venv / "bin" / "distillery"), "db", "upgrade"], tmp_path, env)
    with sqlite3.connect(tmp_path / "fresh.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"jobs", "records", "datasets", "pipelines", "dataset_flags"} <= tables
    assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()
