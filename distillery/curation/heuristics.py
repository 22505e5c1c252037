"""Cheap per-record checks: refusals, answers with no content, length bounds, loops, cuts."""

from __future__ import annotations

import re

from distillery.curation.candidates import Candidate
from distillery.schemas.curation import Heuristics

_WORD = re.compile(r"\w+")
# Openers of a refusal, as Evol-Instruct's and UltraChat's filters look for them.
_REFUSAL = re.compile(
    r"\b(?:i'?m sorry|i am sorry|sorry, but|i apologi[sz]e|as an ai(?: language model)?|i cannot|i can't|i can ?not)\b",
    re.I,
)
# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for",
    "with", "is", "are", "was", "were", "be", "been", "it", "this", "that", "these", "those", "i", "you",
})
# fmt: on
# Evol-Instruct: a refusal counts when the answer is short; a long answer that apologises
# once is still an answer.
REFUSAL_MAX_WORDS = 80
# Below this many 3-grams a repeat is a turn of phrase, not a loop.
_MIN_NGRAMS_FOR_LOOPS = 20


def is_refusal(text: str) -> bool:
    return len(_WORD.findall(text)) < REFUSAL_MAX_WORDS and _REFUSAL.search(text) is not None


def is_contentless(text: str) -> bool:
    """Only punctuation and stop words."""
    return all(word.lower() in _STOPWORDS for word in _WORD.findall(text))


def repeated_ngram_share(words: list[str], n: int = 3) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def problem(candidate: Candidate, rules: Heuristics) -> tuple[str, str] | None:
    """(reason, detail) for the first rule the record breaks, or None."""
    if candidate.finish_reason == "length":
        return "truncated", "the teacher's reply was cut at max_tokens"
    if not candidate.response.strip():
        return "empty_response", "the response is empty"
    words = [w.lower() for w in _WORD.findall(candidate.response)]
    if len(words) < rules.min_response_words:
        return "too_short", f"{len(words)} words; min_response_words is {rules.min_response_words}"
    if len(words) > rules.max_response_words:
        return "too_long", f"{len(words)} words; max_response_words is {rules.max_response_words}"
    prompt_words = len(_WORD.findall(candidate.prompt))
    if prompt_words > rules.max_prompt_words:
        return "prompt_too_long", f"{prompt_words} words; max_prompt_words is {rules.max_prompt_words}"
    if rules.refusals and is_refusal(candidate.response):
        return "refusal", "the response declines the task"
    share = repeated_ngram_share(words)
    if len(words) >= _MIN_NGRAMS_FOR_LOOPS and share > rules.max_repeated_ngram_share:
        return (
            "repetitive",
            f"{share:.0%} of its word 3-grams repeat; max_repeated_ngram_share is {rules.max_repeated_ngram_share}",
        )
    return None
