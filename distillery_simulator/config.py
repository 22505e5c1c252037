"""How a simulated teacher behaves: its speed, its limits and how often it misbehaves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatorConfig:
    latency_ms: float = 0
    rpm: int | None = None  # requests per minute; None: unlimited
    tpm: int | None = None  # prompt tokens per minute; None: unlimited
    error_rate: float = 0.0  # share of requests answered 500/503, drawn from the app's RNG
    # Share of requests answered 400 as a content filter does ("the prompt was flagged"):
    # not retried, a failed item; drawn at random, so a later retry may pass.
    flagged_rate: float = 0.0
    wrong_rate: float = 0.0  # share of prompts whose final answer is wrong, fixed per prompt
    malformed_rate: float = 0.0  # share of prompts whose reply cannot be parsed, fixed per prompt
    refusal_rate: float = 0.0  # share of answers (label prompts) that are a short refusal, fixed per prompt
    # Send the x-ratelimit-* headers, as OpenAI does; off, a client learns limits from 429s.
    limit_headers: bool = True
    # A 429 storm: after this many requests, every request for `storm_s` seconds is
    # refused with a Retry-After pointing at the storm's end.
    storm_after: int | None = None
    storm_s: float = 2.0
    # A share of requests answered 429 at random, a provider's momentary overload beside
    # its rpm/tpm limits, asking for a retry after `throttle_retry_after_s`.
    throttle_rate: float = 0.0
    throttle_retry_after_s: float = 0.2
    # A share of requests held `hang_s` seconds before anything is done with them: a
    # teacher that hangs. A client that gave up meanwhile gets nothing and is charged
    # nothing, as by a provider that never started generating; one still waiting is answered.
    hang_rate: float = 0.0
    hang_s: float = 30.0
    # How long a batch sits in_progress before its lines are answered: a real batch's queue time.
    batch_delay_s: float = 1.0
    # "project": replies keep to the project's protocol ("Answer: X", bare JSON); "mixed":
    # each in one of the real styles teachers use (distillery_simulator/styles.py).
    reply_styles: str = "project"
    # The one key the teacher accepts (None: any). Another gets a 401 whose message
    # quotes the key it was given, as some providers' do.
    api_key: str | None = None
    seed: int = 0
    model: str = "sim-teacher-1"

    def __post_init__(self) -> None:
        rates = ("error_rate", "flagged_rate", "wrong_rate", "malformed_rate", "refusal_rate", "throttle_rate")
        for name in (*rates, "hang_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        for name in ("rpm", "tpm"):
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise ValueError(f"{name} must be positive or None, got {limit}")
        if self.storm_after is not None and (self.storm_after < 0 or self.storm_s <= 0):
            raise ValueError("storm_after must not be negative and storm_s must be positive")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        if self.hang_s < 0 or self.throttle_retry_after_s < 0:
            raise ValueError("hang_s and throttle_retry_after_s must not be negative")
        if self.reply_styles not in ("project", "mixed"):
            raise ValueError(f"reply_styles must be 'project' or 'mixed', got {self.reply_styles!r}")
        if self.batch_delay_s < 0:
            raise ValueError(f"batch_delay_s must not be negative, got {self.batch_delay_s}")
