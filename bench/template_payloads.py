"""How long each attack template takes to be refused at submission, and the memory it
takes: each in its own process, capped at 2 GB and 10 s, so the old renderer's failures
show as a crash or a timeout instead of taking this machine down. Peak MB is the probe
process's own, Python and the app included.

    python bench/template_payloads.py              # this tree
    python bench/template_payloads.py --tree DIR   # another checkout (e.g. `git archive` of an older commit)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.template_payloads import PAYLOADS  # noqa: E402

PROBE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from distillery.prompts.render import check_override
text = sys.stdin.read()
started = time.perf_counter()
problem = check_override("label", text)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - started, "problem": problem, "peak_mb": peak_mb}))
"""


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{'payload':28} {'outcome':10} {'seconds':>8} {'peak MB':>8}  problem")
    for name, text in PAYLOADS.items():
        started, peak = time.perf_counter(), "-"
        try:
            done = subprocess.run(
                [sys.executable, "-c", PROBE, str(args.tree)],
                input=text,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                preexec_fn=_cap_memory,
            )
        except subprocess.TimeoutExpired:
            outcome, problem = "timeout", f"still running after {args.timeout:g}s"
        else:
            if done.returncode == 0:
                result = json.loads(done.stdout)
                outcome = "refused" if result["problem"] else "ACCEPTED"
                problem, peak = result["problem"] or "", f"{result['peak_mb']:.0f}"
            else:
                outcome, problem = "crashed", (done.stderr.strip().splitlines() or ["?"])[-1]
        seconds = time.perf_counter() - started
        print(f"{name:28} {outcome:10} {seconds:8.2f} {peak:>8}  {problem[:90]}")


if __name__ == "__main__":
    main()
