"""`feedback` → preference pairs (UltraFeedback ratings or MT-Bench pairwise, Zephyr pairs).

Each instruction's candidates are the user's own (`seeds[].candidates`, e.g. a student's
outputs) plus one per `params.generators` configuration (teacher, temperature). The judge
(at temperature 0) either rates every candidate 1-5 on the four UltraFeedback aspects (the
score is their mean) or compares every pair in both orders (an order-dependent verdict is
a tie; the score is wins plus half the ties). Pair: chosen = the best, rejected = a
candidate picked at random among those at least `params.min_margin` below it (in pairwise
mode: among those the best beat in both orders). No such candidate: dropped as a tie.

A seed's gold answer (`curation.gold` other than `keep`) is checked before any judging, as
a verifiable reward: when some candidates reach it and some do not, chosen is one that does
and rejected one that does not, with no judge call; when none does, the record is rejected
(`gold_mismatch`); when all do, the judge ranks them as above.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from statistics import mean
from typing import Any

from distillery.ledger.records import RecordDraft
from distillery.methods.answering import label_prompt
from distillery.methods.asking import Exchange, ask, note_template
from distillery.methods.base import (
    JUDGE,
    CallPlan,
    ItemOutput,
    JobContext,
    Method,
    NewItem,
    Teachers,
    WorkItemData,
    seed_items,
)
from distillery.prompts.extract import find_json, stated_answer
from distillery.prompts.matching import answers_match
from distillery.prompts.parse import ParseFailure
from distillery.schemas.job_specs import FeedbackJob, GeneratorRef

ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
RATINGS_FORMAT = (
    'Reply with only a JSON object: {"instruction_following": {"rating": 1-5, "rationale": "..."}, '
    '"honesty": {...}, "truthfulness": {...}, "helpfulness": {...}}.'
)


def parse_ratings(text: str) -> dict[str, dict[str, Any]]:
    value = find_json(text, dict)
    if not isinstance(value, dict):
        raise ParseFailure("invalid_json", "the reply holds no JSON object of ratings", RATINGS_FORMAT)
    ratings = {}
    for aspect in ASPECTS:
        entry = value.get(aspect)
        rating = entry.get("rating") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or isinstance(rating, bool) or not isinstance(rating, int | float):
            raise ParseFailure("schema_mismatch", f'"{aspect}" needs a "rating" from 1 to 5', RATINGS_FORMAT)
        if not 1 <= rating <= 5:
            raise ParseFailure("schema_mismatch", f'"{aspect}" needs a "rating" from 1 to 5', RATINGS_FORMAT)
        ratings[aspect] = {"rating": rating, "rationale": str(entry.get("rationale", ""))}
    return ratings


def parse_preference(text: str) -> str:
    """ "A", "B" or "C" (tie) from the last verdict in the reply."""
    verdicts = [v for v in ("[[A]]", "[[B]]", "[[C]]") if v in text]
    if not verdicts:
        raise ParseFailure(
            "unclear_verdict",
            "the comparison must end with [[A]], [[B]] or [[C]]",
            "Explain briefly, then end with a final line holding exactly one of [[A]], [[B]] or [[C]].",
        )
    return max(verdicts, key=text.rfind)[2]


async def feedback(item: WorkItemData, job: JobContext[FeedbackJob], teachers: Teachers) -> ItemOutput:
    instruction, input_ = item.payload["instruction"], item.payload.get("input", "")
    draft = RecordDraft(
        step="feedback", status="accepted", instruction=instruction, input=input_, seed_ids=item.seed_ids
    )
    candidates = [
        {"response": text, "source": f"seed:{n}"} for n, text in enumerate(item.payload.get("candidates") or [])
    ]
    generated = await asyncio.gather(
        *(_generate(job, teachers, g, n, instruction, input_) for n, g in enumerate(job.generators))
    )
    for generator, exchange in zip(job.generators, generated, strict=True):
        if exchange.ok and exchange.reply is not None:
            note_template(draft, exchange.prompt)
            source = f"{generator.name}@{generator.temperature}"
            candidates.append({"response": exchange.reply.content.strip(), "source": source})
    # Identical responses make no pair: keep the first of each.
    candidates = list({c["response"]: c for c in reversed(candidates)}.values())[::-1]
    draft.parsed["candidates"] = candidates
    if len(candidates) < 2:
        draft.status, draft.reject_reason = "rejected", "too_few_candidates"
        draft.reject_detail = f"{len(candidates)} distinct candidate(s); a pair needs two"
        return ItemOutput([draft])
    gold = item.payload.get("answer")
    pick = random.Random(f"{job.job_id}:{item.id}")
    judge_mode: str = job.spec.params.judge_mode
    beaten: tuple[int, list[int]] | None = None
    if gold is not None and job.curation.gold != "keep":
        right, wrong = _against_gold(candidates, gold)
        if not right:
            draft.status, draft.reject_reason = "rejected", "gold_mismatch"
            draft.reject_detail = f"none of {len(candidates)} candidates reaches the gold answer {gold!r}"[:1000]
            return ItemOutput([draft])
        if wrong:
            beaten, judge_mode = (pick.choice(right), wrong), "gold"
    if beaten is None:
        judge = _compare if judge_mode == "pairwise" else _rate
        beaten = await judge(job, teachers, draft, instruction, input_, candidates)
    if beaten is None:
        return ItemOutput([draft])
    best, losers = beaten
    rejected = candidates[pick.choice(losers)]
    chosen = candidates[best]
    draft.answer = chosen["response"]
    draft.parsed.update({"chosen": chosen["response"], "rejected": rejected["response"], "judge_mode": judge_mode})
    draft.scores.update(
        {
            "chosen": chosen["score"],
            "rejected": rejected["score"],
            "margin": round(chosen["score"] - rejected["score"], 4),
        }
    )
    return ItemOutput([draft])


def _against_gold(candidates: list[dict[str, Any]], gold: str) -> tuple[list[int], list[int]]:
    """Which candidates' final answers reach `gold` and which do not; each candidate is
    scored 1 or 0 (`matches_gold`), so a gold-decided pair's margin is 1."""
    right: list[int] = []
    wrong: list[int] = []
    for i, candidate in enumerate(candidates):
        matches = answers_match(gold, stated_answer(candidate["response"]))
        candidate["matches_gold"], candidate["score"] = matches, float(matches)
        (right if matches else wrong).append(i)
    return right, wrong


async def _generate(
    job: JobContext[FeedbackJob], teachers: Teachers, generator: GeneratorRef, n: int, instruction: str, input_: str
) -> Exchange[str]:
    # A seed per configuration: a sampled answer of its own, not the cached one a label job
    # of the same prompt already paid for, and still reproducible.
    return await ask(
        teachers.by_id[generator.id],
        job,
        label_prompt(job, instruction, input_),
        lambda text: text,
        temperature=generator.temperature,
        seed=n if generator.temperature > 0 else None,
    )


def _judged(draft: RecordDraft, exchanges: list[Exchange[Any]]) -> bool:
    for exchange in exchanges:
        note_template(draft, exchange.prompt)
    failed = next((e for e in exchanges if not e.ok), None)
    if failed is not None:
        draft.status, draft.reject_reason, draft.reject_detail = failed.failure  # type: ignore[assignment,misc]
        draft.reject_detail = f"judge: {draft.reject_detail}"
        return False
    return True


async def _rate(
    job: JobContext[FeedbackJob],
    teachers: Teachers,
    draft: RecordDraft,
    instruction: str,
    input_: str,
    candidates: list[dict[str, Any]],
) -> tuple[int, list[int]] | None:
    rated = await asyncio.gather(
        *(
            ask(
                teachers.judge,
                job,
                job.prompt("feedback_rate", instruction=instruction, input=input_, response=c["response"]),
                parse_ratings,
                temperature=0,
            )
            for c in candidates
        )
    )
    if not _judged(draft, list(rated)):
        return None
    for candidate, exchange in zip(candidates, rated, strict=True):
        candidate["ratings"] = exchange.value
        candidate["score"] = round(mean(a["rating"] for a in exchange.value.values()), 4)  # type: ignore[union-attr]
    best = max(range(len(candidates)), key=lambda i: candidates[i]["score"])
    top = candidates[best]["score"]
    # A pair needs some gap even at min_margin 0: equal scores are a tie.
    margin = max(job.spec.params.min_margin, 1e-9)
    losers = [i for i, c in enumerate(candidates) if top - c["score"] >= margin]
    if not losers:
        draft.status, draft.reject_reason = "rejected", "tie"
        draft.reject_detail = (
            f"no candidate scores at least min_margin={job.spec.params.min_margin} below the best ({top})"
        )
        return None
    return best, losers


async def _compare(
    job: JobContext[FeedbackJob],
    teachers: Teachers,
    draft: RecordDraft,
    instruction: str,
    input_: str,
    candidates: list[dict[str, Any]],
) -> tuple[int, list[int]] | None:
    pairs = list(itertools.combinations(range(len(candidates)), 2))

    def judge(a: int, b: int) -> Any:
        prompt = job.prompt(
            "feedback_compare",
            instruction=instruction,
            input=input_,
            response_a=candidates[a]["response"],
            response_b=candidates[b]["response"],
        )
        return ask(teachers.judge, job, prompt, parse_preference, temperature=0)

    verdicts = await asyncio.gather(*(judge(a, b) for a, b in pairs), *(judge(b, a) for a, b in pairs))
    if not _judged(draft, list(verdicts)):
        return None
    wins: dict[tuple[int, int], bool] = {}  # (winner, loser), only when both orders agree
    for (a, b), first, second in zip(pairs, verdicts[: len(pairs)], verdicts[len(pairs) :], strict=True):
        if first.value == "A" and second.value == "B":
            wins[(a, b)] = True
        elif first.value == "B" and second.value == "A":
            wins[(b, a)] = True
    for i, candidate in enumerate(candidates):
        won = sum(1 for w, _ in wins if w == i)
        lost = sum(1 for _, loser in wins if loser == i)
        candidate["score"] = won + (len(candidates) - 1 - won - lost) / 2
    best = max(range(len(candidates)), key=lambda i: candidates[i]["score"])
    losers = [loser for winner, loser in wins if winner == best]
    if not losers:
        draft.status, draft.reject_reason = "rejected", "tie"
        draft.reject_detail = "no candidate lost to the best in both orders"
        return None
    return best, losers


def feedback_calls(job: JobContext[FeedbackJob], items: list[NewItem]) -> CallPlan:
    """A response per generator, then the judge on every candidate (rating) or on every
    pair in both orders: identical candidates are judged once, so this is the most."""
    requests: dict[str, int] = {JUDGE: 0}
    prompts = []
    for item in items:
        instruction, input_ = item.payload["instruction"], item.payload.get("input", "")
        given = item.payload.get("candidates") or []
        if job.generators:
            prompts.append(label_prompt(job, instruction, input_))
        elif job.spec.params.judge_mode == "rating":  # the judge asks first
            prompts.append(job.prompt("feedback_rate", instruction=instruction, input=input_, response=given[0]))
        else:
            a, b = given[:2]
            context = {"instruction": instruction, "input": input_, "response_a": a, "response_b": b}
            prompts.append(job.prompt("feedback_compare", **context))
        for generator in job.generators:
            requests[generator.id] = requests.get(generator.id, 0) + 1
        n = len(set(given)) + len(job.generators)
        requests[JUDGE] += n if job.spec.params.judge_mode == "rating" else n * (n - 1)
    return CallPlan(prompts, requests, records=len(items), bound="upper_bound")


METHOD = Method(
    spec=FeedbackJob,
    run=feedback,
    plan=seed_items,
    calls=feedback_calls,
    dataset_kind="preference",
    quality_judged=False,
)
