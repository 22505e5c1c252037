"""What every reply path shares: the Reply, the parsed conversation, hash-based draws and
content words.

Draws are uniform numbers fixed by (seed, salt, key): the key is the canonical text of all
messages plus the sample name, so a repeated request rolls the same dice byte for byte,
while each decision (wrong, malformed, a task's kind...) has its own salt and stays
independent of the others.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
# Words too common to say what a task is about.
# fmt: off
STOPWORDS = frozenset({
    "a", "about", "above", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "but", "by", "can", "could", "did", "do", "does", "each", "for", "from",
    "give", "given", "has", "have", "here", "how", "if", "in", "input", "into", "is", "it", "its",
    "just", "more", "most", "not", "of", "on", "one", "only", "or", "other", "over", "please",
    "reply", "return", "should", "so", "some", "such", "task", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "under", "very", "was", "were", "what", "when",
    "where", "whether", "which", "who", "whom", "whose", "why", "will", "with", "would", "you", "your",
})
# The simulator's own stock phrases and a follow-up's small talk: words that say nothing about
# the subject of a conversation, so a follow-up never asks about "step" or "detail".
FILLER = STOPWORDS | frozenset({
    "again", "against", "answer", "answers", "asks", "best", "building", "centres", "clearer",
    "concrete", "considering", "detail", "earlier", "evaluate", "example", "explain", "first",
    "fits", "full", "good", "great", "identify", "ideas", "important", "interesting", "involving",
    "key", "last", "let", "makes", "matters", "mentions", "need", "once", "operation", "possible",
    "question", "read", "relate", "request", "restate", "result", "short", "simpler", "slowly",
    "start", "step", "tell", "terms", "thanks", "think", "time", "together", "turns", "walk",
    "way", "weigh", "work", "yes", "i'm", "we", "our", "me", "my", "rest", "same",
    # An instruction's own verbs say what to do, not what it is about.
    "calculate", "classify", "compare", "compute", "create", "define", "describe", "determine",
    "discuss", "find", "generate", "list", "name", "outline", "provide", "rewrite",
    "suggest", "summarise", "summarize", "translate", "write", "two", "three", "four", "five", "tips",
})
# fmt: on


@dataclass(frozen=True)
class Reply:
    content: str
    wrong: bool  # the reply shows a deliberately wrong final answer (or a fabricated claim)
    malformed: bool  # the reply breaks the protocol (no Answer line, empty, not JSON)
    refused: bool = False  # the reply is a short refusal instead of an answer


@dataclass(frozen=True)
class Rates:
    wrong: float = 0.0
    malformed: float = 0.0
    refusal: float = 0.0
    # Not a rate: whether well-formed replies take the real styles of styles.py ("mixed").
    mixed_styles: bool = False


@dataclass(frozen=True)
class Chat:
    """One request's messages, read once: what every reply path dispatches and draws on."""

    messages: tuple[Any, ...]
    system: str
    users: tuple[str, ...]
    key: str  # canonical text of every message: what the hash-based draws depend on

    @property
    def user(self) -> str:
        return self.users[-1] if self.users else ""


def message_text(message: Any) -> str:
    """The text of one chat message; content may be a string, a list of parts or None."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def read_chat(messages: Sequence[Any]) -> Chat:
    system = "\n".join(message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "system")
    users = tuple(message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "user")
    key = json.dumps(
        [[m.get("role"), message_text(m)] if isinstance(m, dict) else None for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return Chat(tuple(messages), system, users, key)


def draw(seed: int, salt: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, salt, key)."""
    digest = hashlib.sha256(f"{seed}\x00{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Dice:
    """The draws of one request (seed and key fixed); `index` gives each item of a list its own."""

    seed: int
    key: str

    def draw(self, salt: str, index: int | None = None) -> float:
        return draw(self.seed, salt, self.key if index is None else f"{self.key}\x00{index}")

    def pick(self, salt: str, n: int, index: int | None = None) -> int:
        return int(self.draw(salt, index) * n)

    def choice(self, salt: str, options: Sequence[T], index: int | None = None) -> T:
        return options[self.pick(salt, len(options), index)]

    def shuffled(self, salt: str, options: Sequence[T]) -> list[T]:
        """A permutation of `options` fixed by the dice: distinct picks without repeats."""
        order = sorted(range(len(options)), key=lambda i: self.draw(salt, i))
        return [options[i] for i in order]


def keywords(text: str, limit: int = 6, *, skip: frozenset[str] = STOPWORDS) -> list[str]:
    """Distinct content words (lowercased) in order of first appearance, at most `limit`."""
    words: list[str] = []
    for word in WORD.findall(text):
        lowered = word.lower().strip("'-")
        if lowered not in skip and lowered not in words:
            words.append(lowered)
            if len(words) == limit:
                break
    return words


def content_tokens(text: str) -> list[str]:
    """Lowercase \\w+ tokens that carry content: what grounding and overlap checks compare."""
    return [t for t in re.findall(r"\w+", text.lower()) if t not in STOPWORDS and t not in {"s", "t"}]


def count_in(text: str, pattern: str, default: int = 3, most: int = 100) -> int:
    """The number a prompt asks for ("Write 5 new tasks"), within 1..most."""
    found = re.search(pattern, text, re.I)
    return min(most, max(1, int(found.group(1)))) if found else default


def broken_list(items: Sequence[object], intro: str) -> str:
    """A JSON list cut off in its first item, after an intro: what a malformed "JSON list"
    reply looks like (a reply stopped mid-stream). Nothing in it is a usable list."""
    text = json.dumps(list(items), ensure_ascii=False)
    return f"{intro}\n{text[: len(text) // 2]}"
