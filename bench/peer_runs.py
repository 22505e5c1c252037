"""Other distillation tools, run against the same simulator for comparison. Each lives in a
virtualenv of its own under .bench-peers/ (git-ignored; their pins conflict with each other
and with ours), made on first use with pip, and is driven by a small script in
bench/peers/ that prints one JSON line: {"items", "seconds", "note"}. The seconds are the
tool's own generation call, without its interpreter and import time."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / ".bench-peers"
TIMEOUT_S = 600


@dataclass(frozen=True)
class Peer:
    requirement: str
    driver: str  # under bench/peers/
    rate_limited: bool  # takes a requests-per-minute limit; else only a concurrency limit


PEERS = {
    "curator": Peer("bespokelabs-curator==0.1.31", "curator_driver.py", rate_limited=True),
    "data-designer": Peer("data-designer==0.9.7", "data_designer_driver.py", rate_limited=False),
}


@dataclass(frozen=True)
class PeerRun:
    items: int
    seconds: float
    note: str


def python(name: str) -> Path:
    return PEERS_DIR / name / "bin" / "python"


def ensure(name: str, logs: Path) -> None:
    """The peer's virtualenv, made and installed if missing."""
    if python(name).exists() and (PEERS_DIR / name / ".installed").exists():
        return
    print(f"installing {PEERS[name].requirement} into {PEERS_DIR / name} (first use)", flush=True)
    venv.create(PEERS_DIR / name, with_pip=True, clear=True)
    with open(logs / f"pip-{name}.log", "wb") as out:
        subprocess.run(
            [str(python(name)), "-m", "pip", "install", PEERS[name].requirement],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    (PEERS_DIR / name / ".installed").write_text(PEERS[name].requirement + "\n")


def _environment(name: str) -> dict[str, str]:
    env = dict(os.environ)
    # tiktoken would download its encodings; litellm ships them inside its package.
    for encodings in (PEERS_DIR / name).glob("lib/python*/site-packages/litellm/litellm_core_utils/tokenizers"):
        env["TIKTOKEN_CACHE_DIR"] = str(encodings)
    return env


def limits(name: str, rpm: int | None, concurrency: int, latency_s: float) -> tuple[int, int]:
    """The peer's (rpm, concurrency) for a scenario. A tool without a rate limit gets the
    concurrency that the limit allows at the teacher's latency (rate × latency, Little's law)."""
    if rpm is None:
        return 1_000_000, concurrency
    if PEERS[name].rate_limited:
        return rpm, concurrency
    return rpm, max(1, min(concurrency, math.ceil(rpm / 60 * latency_s)))


def run(
    name: str, base_url: str, prompts: list[str], rpm: int | None, concurrency: int, latency_s: float, logs: Path
) -> PeerRun | str:
    """The peer's run, or why it did not finish."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=logs))
    prompts_file = workdir / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"instruction": p}) + "\n" for p in prompts))
    peer_rpm, peer_concurrency = limits(name, rpm, concurrency, latency_s)
    args = [base_url, str(prompts_file)]
    args += [str(peer_rpm)] if PEERS[name].rate_limited else []
    args += [str(peer_concurrency), str(workdir / "out")]
    driver = ROOT / "bench" / "peers" / PEERS[name].driver
    with open(logs / f"peer-{name}.log", "ab") as log:
        try:
            done = subprocess.run(
                [str(python(name)), str(driver), *args],
                stdout=subprocess.PIPE,
                stderr=log,
                env=_environment(name),
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"did not finish within {TIMEOUT_S}s"
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0 or not lines:
        return f"exit code {done.returncode}; see {logs / f'peer-{name}.log'}"
    result = json.loads(lines[-1])
    return PeerRun(int(result["items"]), float(result["seconds"]), str(result["note"]))


if __name__ == "__main__":  # make the virtualenvs ahead of a run: python bench/peer_runs.py
    for peer in sys.argv[1:] or PEERS:
        ensure(peer, Path(tempfile.mkdtemp()))
