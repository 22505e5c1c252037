"""What the simulator has served: the figures tests and benchmarks check the service by.

`duplicate_requests` counts request hashes answered 200 more than once: a request the
client paid for twice, online or in a batch. Sampling (temperature > 0) may repeat a
request on purpose, so this is a count to compare against expectations, not an error by itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from typing import Any

# The fields that decide a reply; anything else in the body does not make it a new request.
_GENERATION_FIELDS = (
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
)


def request_hash(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the generation fields present in the request."""
    present = {name: body[name] for name in _GENERATION_FIELDS if name in body}
    canonical = json.dumps(present, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Counters:
    """Thread-safe tallies. No method awaits, so they are safe on the event loop as well."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._statuses: Counter[int] = Counter()
            self._completions = 0
            self._prompt_tokens = 0
            self._completion_tokens = 0
            self._malformed = 0
            self._wrong = 0
            self._truncated = 0
            self._served: Counter[str] = Counter()
            self._batches = 0
            self._batch_lines = 0
            self._hung = 0

    @property
    def requests(self) -> int:
        return self._requests

    def record_request(self) -> None:
        with self._lock:
            self._requests += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def record_hang(self) -> None:
        with self._lock:
            self._hung += 1

    def record_batch(self) -> None:
        with self._lock:
            self._batches += 1

    def record_completion(
        self,
        key: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        malformed: int = 0,
        wrong: int = 0,
        truncated: int = 0,
        batch: bool = False,
    ) -> None:
        """One 200 reply, online or a batch line; malformed, wrong and truncated count its choices."""
        with self._lock:
            self._completions += 1
            self._batch_lines += batch
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
            self._malformed += malformed
            self._wrong += wrong
            self._truncated += truncated
            self._served[key] += 1

    def served(self, key: str) -> int:
        with self._lock:
            return self._served[key]

    @property
    def duplicates(self) -> int:
        with self._lock:
            return sum(1 for times in self._served.values() if times > 1)

    def snapshot(self) -> dict[str, Any]:
        # `requests` and `status_counts` count online chat calls; `completions`, the token
        # totals and the duplicate counts take in batch lines too (`batch_lines` of them).
        with self._lock:
            return {
                "requests": self._requests,
                "status_counts": {str(code): n for code, n in sorted(self._statuses.items())},
                "completions": self._completions,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "malformed": self._malformed,
                "wrong": self._wrong,
                "truncated": self._truncated,
                "distinct_requests": len(self._served),
                "duplicate_requests": sum(1 for times in self._served.values() if times > 1),
                # Replies beyond the first per request hash: how many were paid for again.
                "repeated_replies": sum(times - 1 for times in self._served.values()),
                "batches": self._batches,
                "batch_lines": self._batch_lines,
                # Requests held by an injected hang; those whose client gave up are 499s.
                "hung": self._hung,
            }
