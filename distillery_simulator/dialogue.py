"""Multi-turn dialogues (UltraChat, Baize): the user's next turn, and the assistant's prose
answer to a follow-up.

The user turn refers to what the assistant last said: its expression and result after an
arithmetic reply, else its content words. A follow-up without arithmetic gets an answer
that builds on the previous reply instead of the single-turn prose, which would read the
question's small talk ("explain", "detail") as its subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from distillery_simulator.arithmetic import find_expression, format_number
from distillery_simulator.common import FILLER, WORD, Chat, Dice, Rates, Reply, keywords, message_text
from distillery_simulator.tasks import arithmetic_expression

_TURN = re.compile(r"^(User|Assistant): ", re.M)
_ANSWER_LINE = re.compile(r"^\W*(?:final\s+)?answer\W*:\s*(.+?)\s*$", re.I | re.M)
_ARITHMETIC_FOLLOW_UPS = (
    "Thanks! Could you check {expr} another way, for example by regrouping the numbers?",
    "Great. Now what is {new}?",
    "Why does {expr} come out to {result}? Please go through it once more.",
    "How would the result change if we computed {new} instead?",
    "Why does the order of operations matter in that calculation?",
    "Could you give me a similar problem to practise on, and solve it too? Try {new}.",
)
_PROSE_FOLLOW_UPS = (
    "Could you explain {a} in more detail?",
    "How does {a} relate to {b}?",
    "Can you give me a concrete example involving {a}?",
    "Why is {a} so important here?",
    "What would change if {a} were different?",
    "Is there a simpler way to think about {a} and {b}?",
    "Interesting. What are the main risks or downsides of {a}?",
    "Could you suggest a small exercise to practise {a}?",
)
_FOLLOW_UP_ANSWERS = (
    "Building on my last answer ({prev}): {a} matters because it decides how the result comes out.",
    "Good question. {A} ties back to {prev}: change {a} and the conclusion changes with it.",
    "To expand on {prev}: think of {a} as the part that makes it work, and check it first.",
)
_WRONG_FOLLOW_UP = "To expand on {prev}: {a} has nothing to do with it."
_REASONING = (
    "This is a follow-up to my previous reply, which concluded: {prev}.",
    "The new question is about {words}.",
    "I relate {a} to that conclusion and keep it in view.",
)
# How a follow-up refers to a previous answer too long to quote.
_PREVIOUS = ("what I said about {a}", "what I said before", "what we discussed", "that reply")
# The simulator's own phrasing is never what a conversation is about: without this, a third
# turn would ask about "conclusion" or "expand", words of the second turn's template.
_OWN_TEXTS = (
    *_ARITHMETIC_FOLLOW_UPS,
    *_PROSE_FOLLOW_UPS,
    *_FOLLOW_UP_ANSWERS,
    _WRONG_FOLLOW_UP,
    *_REASONING,
    *_PREVIOUS,
)
_SKIP = FILLER | frozenset(word.lower() for text in _OWN_TEXTS for word in WORD.findall(text))


def _turns(user: str) -> list[tuple[str, str]]:
    """(role, text) for each "User:" / "Assistant:" turn of a transcript; text may span lines."""
    transcript = user.rsplit("Write the user's next message", 1)[0]
    starts = list(_TURN.finditer(transcript))
    return [
        (match.group(1), transcript[match.end() : starts[n + 1].start() if n + 1 < len(starts) else None].strip())
        for n, match in enumerate(starts)
    ]


def user_turn(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    if dice.draw("malformed") < rates.malformed:
        return Reply("", False, True)
    turns = _turns(chat.user)
    last = next((text for role, text in reversed(turns) if role == "Assistant"), "")
    asked = {text for role, text in turns if role == "User"}
    # The arithmetic under discussion: the last reply's, else the latest turn's that has some.
    evaluation = next((e for _, text in reversed(turns) if (e := find_expression(text)) is not None), None)
    if evaluation is not None:
        result = "undefined" if evaluation.value is None else format_number(evaluation.value)
        new = arithmetic_expression(dice, 0, "follow-up")
        options = [f.format(expr=evaluation.expression, result=result, new=new) for f in _ARITHMETIC_FOLLOW_UPS]
    else:
        words = keywords(last, skip=_SKIP) or keywords(" ".join(text for _, text in turns), skip=_SKIP)
        if not words:
            return Reply("Could you tell me more about that, with an example?", False, False)
        a = dice.choice("topic", words)
        others = [w for w in words if w != a]
        # With a single subject, only the follow-ups that name one.
        forms = _PROSE_FOLLOW_UPS if others else [f for f in _PROSE_FOLLOW_UPS if "{b}" not in f]
        options = [f.format(a=a, b=dice.choice("topic2", others) if others else "") for f in forms]
    # A user does not ask the same thing twice in one conversation.
    fresh = [option for option in options if option not in asked] or options
    return Reply(dice.choice("follow-up", fresh), False, False)


def user_turn_count(messages: Sequence[Any]) -> int:
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")


def previous_answer(messages: Sequence[Any]) -> str:
    """The last assistant turn's final answer (its Answer line, else its first sentence), short."""
    text = next(
        (message_text(m) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "assistant"), ""
    )
    lines = _ANSWER_LINE.findall(text)
    answer = (lines[-1] if lines else re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]).rstrip(".!?")
    if len(answer.split()) > 6:
        # A long answer (say, an earlier follow-up's) is referred to, not quoted.
        words = keywords(answer, skip=_SKIP)
        return _PREVIOUS[0].format(a=words[0]) if words else _PREVIOUS[1]
    return answer or _PREVIOUS[2]


def follow_up_prose(
    chat: Chat, question: str, wrong: bool, pick: Callable[[str, int], int]
) -> tuple[list[str], str, str]:
    """(reasoning lines, answer, paragraph) for a follow-up question without arithmetic."""
    prev = previous_answer(chat.messages)
    # The user may ask about anything ("the order of operations"); the assistant's own
    # phrasing in earlier turns is not a subject.
    words = keywords(question, skip=FILLER)
    turns = [message_text(m) for m in chat.messages[:-1] if isinstance(m, dict) and m.get("role") != "system"]
    earlier = keywords(" ".join(turns), limit=24, skip=_SKIP)
    # The question's subject is the word it shares with the conversation so far, if any.
    shared = [w for w in words if w in earlier]
    a = (shared or words or earlier or ["this"])[0]
    lines = [
        _REASONING[0].format(prev=prev),
        _REASONING[1].format(words=", ".join(words[:3]) or _PREVIOUS[3]),
        _REASONING[2].format(a=a),
    ]
    form = _WRONG_FOLLOW_UP if wrong else _FOLLOW_UP_ANSWERS[pick("follow-up", len(_FOLLOW_UP_ANSWERS))]
    answer = form.format(prev=prev, a=a, A=a.capitalize())
    return lines, answer, answer
