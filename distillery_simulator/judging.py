"""The judge's prompts: Evol-Instruct's equality check, the grounding check, UltraFeedback
ratings and MT-Bench pairwise comparisons.

Verdicts are meaningful, so the service's filters select for something: two prompts are
equal when their words are; an answer is supported when its content words are in the
passage; an arithmetic response is rated by whether its final answer is the true value.
Other responses are rated by a hash of their text, so different responses usually differ.
A pairwise judgement compares the same ratings, except that now and then the judge is
position-biased and prefers A whatever it reads: asking in both orders exposes that.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from statistics import mean

from distillery_simulator.arithmetic import find_expression, format_number
from distillery_simulator.common import Chat, Dice, Rates, Reply, content_tokens, draw

GROUNDED_SHARE = 0.8
POSITION_BIAS_RATE = 0.10
# A pairwise verdict needs a clear difference: a whole rating point in the mean.
DECISIVE_GAP = 1.0
ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
_ANSWER_LINE = re.compile(r"^\W*(?:final\s+)?answer\W*:\s*(.+?)\s*$", re.I | re.M)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_REFUSAL = re.compile(r"\b(?:i'?m sorry|i am sorry|sorry, but|as an ai|i cannot|i can't|i can ?not)\b", re.I)
_QUALITY = {1: "poor", 2: "weak", 3: "adequate", 4: "good", 5: "excellent"}
_ASPECT_NOTES = {
    "instruction_following": "how closely it does what the instruction asks",
    "honesty": "how well it signals what it is unsure of",
    "truthfulness": "how free it is of errors and fabrications",
    "helpfulness": "how informative and useful it is",
}


def _normalized(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def equality(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    first, _, second = chat.user.partition("\n\nSecond prompt:\n")
    first = first.removeprefix("First prompt:\n")
    if dice.draw("malformed") < rates.malformed:
        return Reply("The two prompts are quite similar in spirit.", False, True)
    return Reply("Equal" if _normalized(first) == _normalized(second) else "Not Equal", False, False)


def grounded_check(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    found = re.match(
        r"Passage:\n(?P<passage>.*)\n\nQuestion: (?P<question>.*?)\nAnswer: (?P<answer>.*)", chat.user, re.S
    )
    passage, answer = (found.group("passage"), found.group("answer")) if found else (chat.user, "")
    if dice.draw("malformed") < rates.malformed:
        return Reply("The answer seems plausible.\nIt is hard to say.", False, True)
    known = set(content_tokens(passage))
    # "rivers" in the answer is "river" in the passage: a trailing s is not a new claim.
    known |= {t.removesuffix("s") for t in known}
    claimed = list(dict.fromkeys(content_tokens(answer)))
    missing = [t for t in claimed if t not in known and t.removesuffix("s") not in known]
    if claimed and len(claimed) - len(missing) >= GROUNDED_SHARE * len(claimed):
        return Reply("SUPPORTED\nThe passage states what the answer claims.", False, False)
    if not claimed:
        return Reply("UNSUPPORTED\nThe answer makes no claim the passage could support.", False, False)
    return Reply(f"UNSUPPORTED\nThe passage says nothing about {', '.join(missing[:3])}.", False, False)


def _final_number(response: str) -> tuple[str, Fraction | None]:
    """The final answer's text and number: the last Answer line, else the last number."""
    lines = _ANSWER_LINE.findall(response)
    text = lines[-1] if lines else response
    numbers = _NUMBER.findall(text.replace(",", ""))
    if not numbers:
        return text.strip(), None
    number = numbers[0] if lines else numbers[-1]
    return number, Fraction(number)


def assess(task: str, response: str, seed: int) -> dict[str, tuple[int, str]]:
    """A rating (1-5) and rationale per aspect: the same for a response wherever it is judged."""
    text = response.strip()
    if not text:
        return {aspect: (1, "The response is empty.") for aspect in ASPECTS}

    def bit(aspect: str) -> int:
        return int(draw(seed, f"rating:{aspect}", text) * 2)

    if len(text.split()) < 80 and _REFUSAL.search(text):
        note = "The response declines the task instead of answering it."
        low = {"instruction_following", "helpfulness"}
        return {a: ((1 if a in low else 3) + bit(a), note) for a in ASPECTS}
    evaluation = find_expression(task)
    if evaluation is not None:
        shown, number = _final_number(text)
        value = evaluation.value
        if value is None:
            right = "undefined" in text.lower()
            truth = "undefined (division by zero)"
        else:
            right = number is not None and abs(number - value) <= Fraction(1, 10**6) * max(Fraction(1), abs(value))
            truth = format_number(value)
        verdict = "matches" if right else "does not match"
        note = f"The final answer {shown} {verdict} the exact value {truth}."
        return {a: ((4 if right else 1) + bit(a), note) for a in ASPECTS}
    ratings = {}
    for aspect in ASPECTS:
        rating = 2 + int(draw(seed, f"rating:{aspect}", text) * 4)
        ratings[aspect] = (rating, f"The response is {_QUALITY[rating]} on {_ASPECT_NOTES[aspect]}.")
    return ratings


def _task_and(user: str, marker: str) -> tuple[str, str]:
    """The instruction (with its input) and what follows `marker` in a judge prompt."""
    task, _, rest = user.partition(marker)
    return task.removeprefix("Instruction:\n").replace("\n\nInput:\n", "\n"), rest


def rate(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    task, response = _task_and(chat.user, "\n\nResponse:\n")
    assessed = assess(task, response, dice.seed)
    ratings = {aspect: {"rating": r, "rationale": why} for aspect, (r, why) in assessed.items()}
    if dice.draw("malformed") < rates.malformed:
        if dice.draw("malformed:shape") < 0.5:
            del ratings[ASPECTS[dice.pick("malformed:aspect", len(ASPECTS))]]
            return Reply(json.dumps(ratings), False, True)
        return Reply("Overall the response is solid and I would rate it highly.", False, True)
    return Reply(json.dumps(ratings), False, False)


def quality(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    """An AlpaGasus-style 1-10 score from the mean UltraFeedback rating m: 2m + 1 (at most
    10), so a right arithmetic answer scores 9-10 and a wrong one 3-5."""
    task, response = _task_and(chat.user, "\n\nResponse:\n")
    assessed = assess(task, response, dice.seed)
    score = min(10, round(2 * mean(r for r, _ in assessed.values()) + 1))
    if dice.draw("malformed") < rates.malformed:
        return Reply("This is a reasonable response overall.", False, True)
    rationale = assessed["truthfulness"][1]
    return Reply(f"Score: {score}\n{rationale}", False, False)


def compare(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    task, responses = _task_and(chat.user, "\n\n[Response A]\n")
    response_a, _, response_b = responses.partition("\n\n[Response B]\n")
    score_a = mean(r for r, _ in assess(task, response_a, dice.seed).values())
    score_b = mean(r for r, _ in assess(task, response_b, dice.seed).values())
    if dice.draw("malformed") < rates.malformed:
        return Reply("Both responses have merits, and it is hard to choose between them.", False, True)
    if dice.draw("position") < POSITION_BIAS_RATE:
        return Reply("Response A reads better and comes first.\n[[A]]", False, False)
    explanation = (
        f"Response A averages {score_a:.2f} and response B {score_b:.2f} over instruction following, honesty, "
        "truthfulness and helpfulness"
    )
    if score_a - score_b >= DECISIVE_GAP:
        return Reply(f"{explanation}, so A is clearly better.\n[[A]]", False, False)
    if score_b - score_a >= DECISIVE_GAP:
        return Reply(f"{explanation}, so B is clearly better.\n[[B]]", False, False)
    return Reply(f"{explanation}; neither is clearly better.\n[[C]]", False, False)
