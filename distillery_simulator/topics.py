"""Meta-information prompts: subtopics and questions (UltraChat), and question-answer pairs
grounded in a passage (Genstruct, Bonito).

Lists are distinct by construction (a permutation of stock phrasings, fixed by the dice).
A grounded answer is a sentence of the passage, verbatim; with the `wrong` draw, per pair,
it is a fabricated claim whose words the passage lacks, so the judge's check rejects it.
"""

from __future__ import annotations

import json
import re

from distillery_simulator.common import WORD, Chat, Dice, Rates, Reply, broken_list, count_in, keywords

# fmt: off
_FACETS = (
    "History of {t}", "Core ideas of {t}", "Common mistakes in {t}", "Practical uses of {t}",
    "Key terms in {t}", "Tools used in {t}", "Famous examples of {t}", "Open questions in {t}",
    "Ethics of {t}", "Measuring progress in {t}", "Teaching {t} to beginners", "Careers in {t}",
    "The future of {t}", "Myths about {t}", "Safety in {t}", "Advanced techniques in {t}",
)
_QUESTIONS = (
    "What are the most common misconceptions about {b}?",
    "How would you explain {b} to a complete beginner in {a}?",
    "Why does {b} matter for anyone studying {a}?",
    "What is a good first exercise for practising {b}?",
    "How has thinking about {b} changed over the last century?",
    "Which mistakes should I avoid when learning {b}?",
    "Can you compare {b} with another area of {a}?",
    "What everyday situations involve {b}?",
    "How do experts decide what counts as good work in {b}?",
    "What would a one-week study plan for {b} look like?",
    "Which questions about {b} are still debated?",
    "How can I tell whether I really understand {b}?",
    "What are the first three things to learn about {b}?",
    "How does {b} connect to the rest of {a}?",
)
_GROUNDED_QUESTIONS = (
    "What does the passage say about {k}?",
    "According to the passage, what is true of {k}?",
    "Which detail does the passage give about {k}?",
    "What fact about {k} does the passage state?",
    "How does the passage describe {k}?",
    "What is stated about {k} in the passage?",
)
# Claims no passage of ours makes: their words are what the grounding check finds missing.
_FABRICATIONS = (
    "{K} was first recorded by travelling monks in the twelfth century.",
    "{K} was named after a famous admiral who later became a poet.",
    "Historians believe {k} was briefly banned during a royal dispute.",
    "{K} once appeared on a national stamp celebrating inventors.",
)
# fmt: on
# Where a list longer than its stock phrasings goes next: the same ideas in another setting.
_CONTEXTS = (
    "daily life",
    "schools",
    "industry",
    "history",
    "research",
    "the arts",
    "sport",
    "health care",
    "cities",
    "the countryside",
    "small businesses",
    "families",
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _topic(user: str) -> str:
    found = re.search(r"^Topic:\s*(.+)$", user, re.M)
    return found.group(1).strip() if found else "the topic"


def _lower_first(text: str) -> str:
    # "History of astronomy" reads "history of astronomy" mid-sentence; "NASA" stays.
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _distinct(dice: Dice, salt: str, forms: tuple[str, ...], count: int, frame: str, **slots: str) -> list[str]:
    """`count` distinct phrasings: a permutation of `forms`, then again in other contexts."""
    order = [form.format(**slots) for form in dice.shuffled(salt, forms)]
    items = []
    for n in range(count):
        round_, item = divmod(n, len(order))
        text = order[item]
        if round_:
            context = _CONTEXTS[(round_ - 1) % len(_CONTEXTS)]
            text = frame.format(c=context, text=text, lower=_lower_first(text))
            if round_ > len(_CONTEXTS):
                text += f" (part {round_})"
        items.append(text)
    return items


def _json_or_prose(items: list[object], dice: Dice, rates: Rates, intro: str, wrong: bool = False) -> Reply:
    if dice.draw("malformed") < rates.malformed:
        return Reply(broken_list(items, intro), False, True)
    return Reply(json.dumps(items, ensure_ascii=False), wrong, False)


def subtopics(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    topic = _topic(chat.user)
    count = count_in(chat.user, r"List (\d+) distinct subtopics")
    items: list[object] = list(_distinct(dice, "subtopics", _FACETS, count, "{text} in {c}", t=topic))
    return _json_or_prose(items, dice, rates, f"Some subtopics of {topic}:")


def questions(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    path = [part.strip() for part in _topic(chat.user).split(">")]
    area, leaf = path[0], _lower_first(path[-1])
    count = count_in(chat.user, r"Write (\d+) diverse questions")
    items: list[object] = list(
        _distinct(dice, "questions", _QUESTIONS, count, "In the context of {c}, {lower}", a=area, b=leaf)
    )
    return _json_or_prose(items, dice, rates, f"Questions about {' > '.join(path)}:")


def _passage(user: str) -> str:
    found = re.search(r"^Passage[^\n]*:\n(?P<passage>.*?)\n\nWrite \d+ question-answer pairs", user, re.S | re.M)
    return found.group("passage").strip() if found else user


def _subject(sentence: str) -> str:
    """The first two content words of a sentence, in its own case: what a question asks about."""
    wanted = keywords(sentence, limit=2)
    words = [w for w in WORD.findall(sentence) if w.lower().strip("'-") in wanted]
    return " ".join(dict.fromkeys(words)) or "this topic"


def grounded_pairs(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    passage = _passage(chat.user)
    sentences = [s.strip() for s in _SENTENCE.split(passage) if len(s.split()) >= 3] or [passage]
    count = count_in(chat.user, r"Write (\d+) question-answer pairs")
    start = dice.pick("sentence", len(sentences))
    opening = dice.pick("question", len(_GROUNDED_QUESTIONS))
    pairs: list[object] = []
    fabricated = False
    for index in range(count):
        sentence = sentences[(start + index) % len(sentences)]
        subject = _subject(sentence)
        form = _GROUNDED_QUESTIONS[(opening + index) % len(_GROUNDED_QUESTIONS)]
        answer = sentence
        if dice.draw("wrong", index) < rates.wrong:
            claim = dice.choice("fabrication", _FABRICATIONS, index)
            answer = claim.format(k=subject, K=subject[0].upper() + subject[1:])
            fabricated = True
        pairs.append({"question": form.format(k=subject), "answer": answer})
    return _json_or_prose(pairs, dice, rates, "Question-answer pairs:", wrong=fabricated)
