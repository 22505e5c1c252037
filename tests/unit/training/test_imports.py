from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")


def test_the_api_and_the_synthesis_worker_never_load_the_trainer_libraries():
    # A fresh interpreter: this test process may have imported them for other tests.
    probe = (
        "import sys\n"
        "from distillery.main import create_app\n"
        "create_app().openapi()\n"
        "import distillery.workers.synthesis, distillery.cli.main\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
