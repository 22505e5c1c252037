"""The pacing schedule of one teacher, as one small record stepped by three events: a call
reserving its slot, a 429, a success. `Schedule` is the record and its steps in Python (the
embedded mode keeps it in SQLite); distillery/teachers/limiter.py runs the same steps as
Lua scripts in Redis, and tests/integration/ratelimit/test_pacing_parity.py holds the two
to the same numbers.

A call reserves the next free slot and sleeps until it (GCRA used as a scheduler,
`distillery.ratelimit.gcra.reserve`), so N workers together send at the teacher's rate,
with at most BURST_S worth of calls at once after a pause. Requests and tokens are
scheduled separately; a call takes the later slot.

The rate is the configured `rpm`/`tpm`, lowered to what the provider's
`x-ratelimit-limit-*` headers say, times an AIMD factor: a 429 cuts it by a quarter (once
per burst of 429s: a burst lasts until the calls already given slots at the old pace have
gone out, and at least a second) and pushes every caller's next slot past `Retry-After`;
each success adds a little back.

A teacher with no known request limit (none configured, no headers) is not paced until it
answers 429; without a guess every Retry-After would end in the same burst of 429s. So a
limit is guessed: 90% of the rate it accepted since the last cut (at the first 429, the
calls sent less those refused; once guessing, the successes), never above the last guess,
or a quarter below the last guess when nothing was accepted. Each success raises the
guess a little (2% a second at any rate): the pace probes back up towards the provider's
real limit until the next 429.
"""

from __future__ import annotations

from dataclasses import dataclass

from distillery.ratelimit import gcra

DECREASE = 0.75  # AIMD multiplicative decrease on a 429
INCREASE = 0.005  # additive increase per success: 50 successes undo one cut
MIN_FACTOR = 0.05
# One cut per burst of 429s: a burst lasts a second past the cut, or until the calls given
# slots before the cut have gone out, at the old pace (at most CUT_HOLD_MAX_S).
CUT_WINDOW_S = 1.0
CUT_HOLD_MAX_S = 5.0
# A rested schedule may send this many seconds' worth of calls at once, as a provider's
# bucket allows, less two calls' worth kept as headroom for network jitter (at a low rate
# a late first call and an on-time second one would otherwise overfill the bucket);
# never while recovering from a 429.
BURST_S = 0.75
HEADROOM_CALLS = 2
# Guessing an unknown limit: calls are counted over windows of WINDOW_S; a measure over
# less than MIN_SPAN_S would be noise, so the previous window's is used.
WINDOW_S = 5.0
MIN_SPAN_S = 0.5
MIN_GUESS_RPM = 6.0
GUESS_MARGIN = 0.9  # a guess is this much of the rate that was accepted
GUESS_GROWTH = 0.02  # a second, at any rate: each success adds 60 * GUESS_GROWTH rpm


@dataclass(frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True)
class Cut:
    """The pace after a 429 cut it: `factor` of a known limit, or a guessed `rpm`."""

    factor: float
    guessed_rpm: float | None = None


@dataclass
class Schedule:
    tat_req: float = 0.0
    tat_tok: float = 0.0
    factor: float = 1.0
    cooldown: float = 0.0
    last_cut: float = -CUT_WINDOW_S
    learned_rpm: float | None = None
    learned_tpm: float | None = None
    guess_rpm: float | None = None
    # The window of calls counted for a guess; 0: none yet.
    win_start: float = 0.0
    win_sent: float = 0.0
    win_refused: float = 0.0
    win_ok: float = 0.0
    prev_rate: float = 0.0

    def rates(self, limits: Limits) -> tuple[float, float]:
        def lower(configured: float | None, learned: float | None) -> float:
            values = [v for v in (configured, learned) if v]
            return float(min(values)) if values else 0.0

        return lower(limits.rpm, self.learned_rpm), lower(limits.tpm, self.learned_tpm)

    def reserve(self, limits: Limits, tokens: int, now: float) -> float:
        """The time of this call's slot (the Lua _RESERVE, in Python)."""
        rpm, tpm = self.rates(limits)
        guess = 0.0 if rpm else self.guess_rpm or 0.0
        burst = BURST_S if self.factor >= 1 and not guess else 0.0
        at = max(now, self.cooldown)

        def slot(tat: float, cost: float) -> gcra.Slot:
            return gcra.reserve(tat, now, cost, max(0.0, burst - HEADROOM_CALLS * cost), at)

        if rpm:
            at, self.tat_req = slot(self.tat_req, 60 / (rpm * self.factor))
        elif guess:
            at, self.tat_req = slot(self.tat_req, 60 / guess)
        if tpm:
            start, self.tat_tok = slot(self.tat_tok, tokens * 60 / (tpm * self.factor))
            at = max(at, start)
        if not rpm and not guess:
            self._window_roll(now, guessing=False)
            self.win_sent += 1
        return at

    def rate_limited(self, limits: Limits, retry_after_s: float | None, now: float) -> Cut | None:
        self.cooldown = max(self.cooldown, now + (retry_after_s or 1.0))
        known = bool(limits.rpm or self.learned_rpm)
        guessing = bool(self.guess_rpm)
        if not known:
            self._window_roll(now, guessing)
            self.win_refused += 1
        if now - self.last_cut < CUT_WINDOW_S:
            return None
        scheduled = max(now, self.tat_req, self.tat_tok)
        self.factor, self.last_cut = max(MIN_FACTOR, self.factor * DECREASE), min(scheduled, now + CUT_HOLD_MAX_S)
        if known:
            return Cut(self.factor)
        accepted = self._window_accepted_per_s(now, guessing)
        # What comes after this cut is measured apart: the rate accepted from a burst that
        # drained the provider's bucket is no guide to the rate it refills at.
        self._window_restart(now, accepted)
        last = self.guess_rpm or 0.0
        if accepted > 0:
            guess = accepted * 60 * GUESS_MARGIN
            guess = min(guess, last) if last else guess
        else:
            guess = last * DECREASE
        if guess:
            self.guess_rpm = max(guess, MIN_GUESS_RPM)
            if not guessing:
                # Calls sent are only an upper bound on what was accepted: the successes
                # that follow may correct a first guess sooner.
                self.last_cut = now - CUT_WINDOW_S + MIN_SPAN_S
        return Cut(self.factor, self.guess_rpm if guess else None)

    def succeeded(self, limits: Limits, token_correction: int, learned: Limits, now: float) -> None:
        self.factor = min(1.0, self.factor + INCREASE)
        self.learned_rpm = learned.rpm or self.learned_rpm
        self.learned_tpm = learned.tpm or self.learned_tpm
        rpm, tpm = self.rates(limits)
        if token_correction and tpm:
            self.tat_tok -= token_correction * 60 / (tpm * self.factor)
        if self.guess_rpm and not rpm:
            self.guess_rpm += 60 * GUESS_GROWTH
            self._window_roll(now, guessing=True)
            self.win_ok += 1

    def _window_accepted(self, guessing: bool) -> float:
        return self.win_ok if guessing else self.win_sent - self.win_refused

    def _window_roll(self, now: float, guessing: bool) -> None:
        if not self.win_start:
            self.win_start = now
        if now - self.win_start >= WINDOW_S:
            self._window_restart(now, self._window_accepted(guessing) / (now - self.win_start))

    def _window_restart(self, now: float, prev_rate: float) -> None:
        self.prev_rate, self.win_start, self.win_sent, self.win_refused, self.win_ok = prev_rate, now, 0.0, 0.0, 0.0

    def _window_accepted_per_s(self, now: float, guessing: bool) -> float:
        span = now - self.win_start
        if span < MIN_SPAN_S and self.prev_rate > 0:
            return self.prev_rate
        return self._window_accepted(guessing) / max(span, MIN_SPAN_S)
