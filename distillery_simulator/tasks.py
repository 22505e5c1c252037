"""New tasks: Self-Instruct's "expand" lists and Evol-Instruct's rewrites.

A novel task is composed from independent parts (a phrasing, operands or topic words, a
tail), so two novel tasks rarely share more than a few words: ROUGE-L well below the 0.7
at which the service calls them near duplicates. The service's other filters each get
their share of bad tasks, drawn per task index: near copies of an example, tasks for
another modality, tasks too short to use.
"""

from __future__ import annotations

import json
import re

from distillery_simulator import styles
from distillery_simulator.arithmetic import find_expression
from distillery_simulator.common import FILLER, Chat, Dice, Rates, Reply, broken_list, count_in, keywords

NEAR_COPY_RATE, MODALITY_RATE, SHORT_RATE = 0.10, 0.05, 0.05
UNCHANGED_RATE, LEAK_RATE = 0.10, 0.05

# Words the service rejects as another modality (Self-Instruct's list); a novel task built
# from an example's words must not pick one up by accident.
_MODALITY = re.compile(
    r"^(?:images?|pictures?|graphs?|files?|maps?|draw|plot|video|audio|music|flowchart|diagram)$", re.I
)
_ARITHMETIC_FORMS = (
    "What is {e}?",
    "Compute {e}.",
    "Evaluate {e}.",
    "Calculate the value of {e}.",
    "Find {e}.",
    "Work out {e}.",
    "Determine {e}.",
    "What does {e} equal?",
    "Simplify {e}.",
    "How much is {e}?",
)
_OPERATORS = ("+", "-", "*", "/")
# fmt: off
_VOCABULARY = (
    "gardening", "volcanoes", "budgeting", "chess", "recycling", "sleep", "teamwork", "bicycles",
    "bread", "tides", "vaccines", "libraries", "rainforests", "negotiation", "coffee", "glaciers",
    "friendship", "electricity", "taxes", "beekeeping", "poetry", "bridges", "memory", "deserts",
    "composting", "languages", "elections", "satellites", "pottery", "habits", "marathons",
    "insurance", "fungi", "lighthouses", "kindness", "robots", "umbrellas", "vitamins", "owls",
    "trains", "saving", "tea", "earthquakes", "courage", "podcasts", "sculpture", "weather",
)
# An action names the topic where "{t}" stands; a tail (always one) sets audience or form. Two
# novel tasks share both with odds of about 1 in 1600, and either alone keeps ROUGE-L near 0.4.
_ACTIONS = (
    "Explain the basics of {t}", "Write a short poem about {t}", "List surprising facts about {t}",
    "Summarize the debate around {t}", "Give practical tips on {t}", "Describe a typical day involving {t}",
    "Compare two approaches to {t}", "Outline a lesson on {t}", "Suggest a weekend project on {t}",
    "Argue for {t}", "Identify common mistakes with {t}", "Propose a slogan about {t}",
    "Create a quiz question on {t}", "Draft an email asking about {t}", "Recommend ways to learn {t}",
    "Predict the future of {t}", "Tell an anecdote about {t}", "Define {t} plainly",
    "Name the key stages of {t}", "Weigh the pros and cons of {t}", "Invent a riddle about {t}",
    "Brainstorm interview questions on {t}", "Critique a popular belief about {t}", "Plan a budget for {t}",
    "Design a checklist for {t}", "Rank three myths about {t}", "Write a dialogue between two friends about {t}",
    "Explain why {t} matters", "Give a historical overview of {t}", "Describe how {t} affects daily life",
    "Propose an experiment about {t}", "Write a product review involving {t}", "Debunk a misconception about {t}",
    "Create a mnemonic for {t}", "Draft a short speech on {t}", "Estimate the yearly cost of {t}",
    "Offer advice on {t}", "Write a limerick about {t}", "Contrast {t} with its alternatives",
    "Teach a newcomer about {t}",
)
_LINKS = ("and", "for", "versus", "without", "through", "alongside")
_TAILS = (
    " for a complete beginner", " in under fifty words", " using simple language", " for a busy parent",
    " with one concrete example", " as if speaking to a child", " in a formal tone", " for small business owners",
    " from a historical perspective", " for a high school class", " with a memorable analogy",
    " in the style of a news report", " for someone who just moved abroad", " while staying neutral",
    " in exactly two sentences", " using three numbered points", " aimed at retired engineers",
    " without any jargon", " in a cheerful voice", " suitable for a podcast intro", " keeping it under five sentences",
    " for curious teenagers", " with a surprising twist", " citing everyday situations", " in the second person",
    " as a short FAQ", " from an economist's viewpoint", " for nurses on night shifts", " that a tourist could use",
    " ending with a question", " in plain English", " with a clear takeaway", " for a community newsletter",
    " using a sports metaphor", " in a persuasive style", " for volunteers at a shelter", " for an online forum",
    " in the voice of a tour guide", " for a job interview", " with a short summary at the end",
)
_SHORT: tuple[str, ...] = ("Explain {a}.", "Summarize.", "{A} facts.", "Describe {a} briefly.", "Continue.")
_SHORT_ARITHMETIC: tuple[str, ...] = ("Compute this.", "Add {n}.", "Solve.", "Simplify it.")
_MODALITY_TASKS: tuple[str, ...] = (
    "Draw a diagram of {a} with labelled parts.",
    "Plot how {a} changed over the last decade.",
    "Describe this image of {a} in detail.",
)
_MODALITY_ARITHMETIC: tuple[str, ...] = (
    "Plot the graph of y = {e} as x varies.",
    "Draw a diagram that shows how to compute {e}.",
    "Describe this image of the sum {e} written on a board.",
)
# The word a near copy adds to its example: one word changed, the rest kept.
_COPY_WORDS = ("exactly", "briefly", "now", "carefully", "again")
# Evol-Instruct's in-depth operations, told apart by their system text.
_OPERATION_MARKERS = (
    ("adding one more constraint", "add_constraints"),
    ("increasing the depth", "deepen"),
    ("replacing general concepts", "concretize"),
    ("multiple-step reasoning", "increase_reasoning"),
    ("more complex input", "complicate_input"),
    ("brand new prompt", "breadth"),
)
# What an evolution appends: the given prompt stays intact, so its arithmetic stays answerable.
_ARITHMETIC_ADDITIONS = {
    "add_constraints": ("Show each intermediate result.", "Give the result as an exact decimal.",
                        "Do the work without a calculator.", "State the result in a full sentence."),
    "deepen": ("Explain why the order of operations matters here.",
               "Also say which operation must come first and why."),
    "concretize": ("Treat each number as a price in dollars.", "Imagine each number counts apples in a crate."),
    "increase_reasoning": ("Work it out in separate steps and check each one.",
                           "Explain the reasoning behind every step."),
    "complicate_input": ("Write the intermediate values in a small table, one row per operation.",
                         "Also list every operand and operator before evaluating."),
}
_PROSE_ADDITIONS = {
    "add_constraints": ("Keep the answer under one hundred words.", "Use exactly three bullet points.",
                        "Avoid technical jargon throughout.", "Include one concrete example."),
    "deepen": ("Also discuss the underlying causes and the long-term consequences.",
               "Go beyond the basics and address common objections."),
    "concretize": ("Focus specifically on {a} in a small coastal town.",
                   "Use the case of a first-year university student dealing with {a}."),
    "increase_reasoning": ("Reason through it in explicit steps before giving a conclusion.",
                           "Justify each claim with a short chain of reasoning."),
    "complicate_input": ("Base the answer on this data: a survey of three towns found interest in {a} rising "
                         "each year.", "Work from this note: the budget is small and the deadline is close."),
}
# fmt: on
_LEAK = "#Rewritten Prompt#: "


def arithmetic_expression(dice: Dice, index: int, salt: str, least: int = 2) -> str:
    """2-4 operands from 2..99 joined by + - * /, the first two sometimes grouped."""
    count = max(least, 2 + dice.pick(f"{salt}:operands", 3, index))
    operands = [str(2 + dice.pick(f"{salt}:operand{n}", 98, index)) for n in range(count)]
    expression = operands[0]
    for n, operand in enumerate(operands[1:], 1):
        expression += f" {dice.choice(f'{salt}:operator{n}', _OPERATORS, index)} {operand}"
        if n == 1 and count > 2 and dice.draw(f"{salt}:group", index) < 0.3:
            expression = f"({expression})"
    return expression


def arithmetic_task(dice: Dice, index: int, salt: str = "novel") -> str:
    """A new arithmetic question in one of several phrasings."""
    form = dice.choice(f"{salt}:form", _ARITHMETIC_FORMS, index)
    # Longer phrasings get more operands, so the numbers outweigh the shared words.
    return form.format(e=arithmetic_expression(dice, index, salt, 3 if len(form.split()) > 3 else 2))


def prose_task(dice: Dice, index: int, topics: list[str], salt: str = "novel") -> str:
    """A new prose task: an action, one or two topic words, a tail."""
    pool = [t for t in topics if not _MODALITY.match(t)] + list(_VOCABULARY)
    first = dice.choice(f"{salt}:topic", pool, index)
    topic = first
    if dice.draw(f"{salt}:pair", index) < 0.5:
        second = dice.choice(f"{salt}:topic2", [t for t in pool if t != first], index)
        topic = f"{first} {dice.choice(f'{salt}:link', _LINKS, index)} {second}"
    action = dice.choice(f"{salt}:action", _ACTIONS, index)
    return f"{action.format(t=topic)}{dice.choice(f'{salt}:tail', _TAILS, index)}."


def _subject_part(instruction: str) -> str:
    """The instruction less its first word, usually the verb: "Describe how..." is not about describing."""
    return instruction.split(None, 1)[-1] if len(instruction.split()) > 1 else instruction


def _examples(user: str) -> list[dict[str, str]]:
    examples = []
    for block in re.split(r"^Task \d+:\s*$", user, flags=re.M)[1:]:
        block = re.sub(r"\n\s*Write \d+ new tasks\.?\s*$", "", block.strip())
        instruction, _, given = block.removeprefix("Instruction:").partition("\nInput:")
        examples.append({"instruction": instruction.strip(), "input": given.strip()})
    return examples


def _near_copy(example: dict[str, str], dice: Dice, index: int) -> dict[str, str]:
    """The example with one word added before its final punctuation: ROUGE-L of at least 0.8."""
    text = example["instruction"]
    stem = text.rstrip(".?!")
    word = dice.choice("copy:word", _COPY_WORDS, index)
    return {"instruction": f"{stem} {word}{text[len(stem) :]}", "input": example["input"]}


def expand(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    count = count_in(chat.user, r"Write (\d+) new tasks")
    examples = _examples(chat.user) or [{"instruction": chat.user, "input": ""}]
    arithmetic = any(find_expression(f"{e['instruction']}\n{e['input']}") for e in examples)
    topics = keywords(" ".join(_subject_part(e["instruction"]) for e in examples), limit=12, skip=FILLER)
    tasks = []
    for index in range(count):
        kind = dice.draw("task", index)
        topic = dice.choice("topic", topics or list(_VOCABULARY), index)
        task = {"instruction": "", "input": ""}
        if kind < NEAR_COPY_RATE:
            task = _near_copy(dice.choice("copy", examples, index), dice, index)
        elif kind < NEAR_COPY_RATE + MODALITY_RATE:
            forms = _MODALITY_ARITHMETIC if arithmetic else _MODALITY_TASKS
            expression = arithmetic_expression(dice, index, "modality")
            task["instruction"] = dice.choice("modality", forms, index).format(a=topic, e=expression)
        elif kind < NEAR_COPY_RATE + MODALITY_RATE + SHORT_RATE:
            forms = _SHORT_ARITHMETIC if arithmetic else _SHORT
            short = dice.choice("short", forms, index)
            task["instruction"] = short.format(a=topic, A=topic.capitalize(), n=2 + dice.pick("n", 98, index))
        elif arithmetic:
            task["instruction"] = arithmetic_task(dice, index)
        else:
            task["instruction"] = prose_task(dice, index, topics)
        tasks.append(task)
    if dice.draw("malformed") < rates.malformed:
        return Reply(broken_list(tasks, "Here are some new tasks:"), False, True)
    if rates.mixed_styles:
        return Reply(styles.task_list(tasks, dice), False, False)
    return Reply(json.dumps(tasks, ensure_ascii=False), False, False)


def _operation(system: str) -> str:
    lowered = system.lower()
    return next((op for marker, op in _OPERATION_MARKERS if marker in lowered), "add_constraints")


def _given(user: str) -> str:
    text = user.split("#Given Prompt#:", 1)[-1]
    return text.rsplit("#Rewritten Prompt#:", 1)[0].strip()


def evolve(chat: Chat, dice: Dice, rates: Rates) -> Reply:
    given = _given(chat.user)
    if dice.draw("malformed") < rates.malformed:
        return Reply("", False, True)
    operation = _operation(chat.system)
    arithmetic = find_expression(given) is not None
    topics = keywords(_subject_part(given), skip=FILLER) or ["the topic"]
    if operation == "breadth":
        # A brand new task of the same domain: a new expression, or new prose on the same words.
        evolved = arithmetic_task(dice, 0, "breadth") if arithmetic else prose_task(dice, 0, topics, "breadth")
    else:
        additions = (_ARITHMETIC_ADDITIONS if arithmetic else _PROSE_ADDITIONS)[operation]
        fresh = [a.format(a=topics[0]) for a in additions if a.format(a=topics[0]) not in given]
        addition = dice.choice("addition", fresh) if fresh else "Also explain how to check the answer."
        evolved = f"{given.rstrip()} {addition}"
    fate = dice.draw("evol")
    if fate < UNCHANGED_RATE:
        # The service's equality check must eliminate a rewrite that changed nothing.
        return Reply(given, False, False)
    if fate < UNCHANGED_RATE + LEAK_RATE:
        return Reply(_LEAK + evolved, False, False)
    return Reply(evolved, False, False)
