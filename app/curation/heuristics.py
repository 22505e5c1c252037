"""Cheap per-record checks: refusals and answers with no content."""

from __future__ import annotations

import re

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


def is_refusal(text: str) -> bool:
    return len(_WORD.findall(text)) < REFUSAL_MAX_WORDS and _REFUSAL.search(text) is not None


def is_contentless(text: str) -> bool:
    """Only punctuation and stop words."""
    return all(word.lower() in _STOPWORDS for word in _WORD.findall(text))
