"""How real teachers format what they were asked for: the `--reply-styles mixed` replies.

With `project` (the default) the simulator keeps to the project's own protocol ("Answer: X",
bare JSON, a JSON task list). With `mixed`, each reply picks one of the styles below from
its own draw, so a repeated request is formatted the same way: GPT-4-class bold "Final
answer" lines, Qwen/DeepSeek-class `\\boxed{}` under "### Final Answer", GSM8K "#### X",
Minerva's "Final Answer: The final answer is $X$. I hope it is correct.", JSON in fences or
between sentences, task lists as markdown.
"""

from __future__ import annotations

import json
import re
from typing import Any

from distillery_simulator.common import Dice

# (name, template): {r} the reasoning, {a} the answer as written, {t} with thousands
# separators, {l} in LaTeX (\text{} around words).
COT_STYLES: tuple[tuple[str, str], ...] = (
    ("answer_line", "{r}\nAnswer: {a}"),
    ("bold_final_answer", "{r}\n\n**Final answer:** {t}"),
    ("bold_answer_line", "{r}\n\n**Answer: {a}**"),
    ("the_final_answer_is", "{r}\n\nThe final answer is {t}."),
    ("boxed_inline", "{r}\n\nTherefore, the final answer is $\\boxed{{{l}}}$."),
    ("boxed_display", "{r}\n\nPutting it together:\n\\[\n\\boxed{{{l}}}\n\\]"),
    ("gsm8k_hashes", "{r}\n#### {a}"),
    ("final_answer_heading", "## Solution\n\n{r}\n\n### Final Answer\n{t}"),
    ("heading_boxed", "{r}\n\n## Final Answer\n\n\\[\n\\boxed{{{l}}}\n\\]"),
    ("answer_period", "{r}\nAnswer: {a}."),
    ("answer_latex", "{r}\nAnswer: \\({l}\\)"),
    ("answer_then_explanation", "{r}\n\nAnswer: {a}\n\nEach step above can be checked by hand, so this is reliable."),
    ("bare_bold_last_line", "{r}\n\n**{t}**"),
    ("minerva", "{r}\nFinal Answer: The final answer is ${l}$. I hope it is correct."),
)
# {r} the reasoning (may be empty), {j} one-line JSON, {p} pretty-printed JSON.
JSON_STYLES: tuple[tuple[str, str], ...] = (
    ("answer_line", "{r}Answer: {j}"),
    ("json_fence", "{r}```json\n{p}\n```"),
    ("plain_fence", "{r}```\n{j}\n```"),
    ("after_preamble", "{r}Here is the result as JSON:\n{j}"),
    ("before_a_sentence", "{r}{j}\n\nThis value follows the requested format."),
    ("answer_in_backticks", "{r}Answer: `{j}`"),
    ("bold_answer_fence", "{r}**Answer:**\n```json\n{p}\n```"),
    (
        "chatty_fence",
        "{r}Sure! Here's the JSON you asked for:\n\n```json\n{p}\n```\n\nAnything else?",
    ),
)
TASK_STYLES = (
    "json",
    "json_fence",
    "json_between_sentences",
    "numbered",
    "bulleted",
    "instruction_blocks",
    "task_headings",
    "numbered_bold_labels",
)
# Styles that can carry a task's input; the others are used only when no task has one.
_WITH_INPUT = ("json", "json_fence", "json_between_sentences", "instruction_blocks", "task_headings")


def _thousands(answer: str) -> str:
    return f"{int(answer):,}" if re.fullmatch(r"-?\d{4,}", answer) else answer


def _latex(answer: str) -> str:
    return answer if re.fullmatch(r"-?[\d.]+", answer) else f"\\text{{{answer}}}"


def cot(reasoning: list[str], answer: str, dice: Dice) -> str:
    """A reasoned reply ending in `answer`, in one of COT_STYLES."""
    _, template = dice.choice("style", COT_STYLES)
    joiner = "\n\n" if dice.draw("style:spacing") < 0.5 else "\n"
    return template.format(r=joiner.join(reasoning), a=answer, t=_thousands(answer), l=_latex(answer))


def json_value(reasoning: list[str] | None, one_line: str, dice: Dice) -> str:
    """A JSON answer (after reasoning, for CoT) in one of JSON_STYLES."""
    _, template = dice.choice("style", JSON_STYLES)
    pretty = json.dumps(json.loads(one_line), indent=2, ensure_ascii=False)
    lead = "\n".join(reasoning) + "\n\n" if reasoning else ""
    return template.format(r=lead, j=one_line, p=pretty)


def task_list(tasks: list[dict[str, Any]], dice: Dice) -> str:
    """A Self-Instruct task list in one of TASK_STYLES."""
    styles = _WITH_INPUT if any(t.get("input") for t in tasks) else TASK_STYLES
    style = dice.choice("style", styles)
    compact = json.dumps(tasks, ensure_ascii=False)
    if style == "json":
        return compact
    if style == "json_fence":
        return f"```json\n{json.dumps(tasks, indent=2, ensure_ascii=False)}\n```"
    if style == "json_between_sentences":
        return f"Here are {len(tasks)} new tasks:\n\n{compact}\n\nEach task differs from the examples."
    if style == "numbered":
        return "Here are some new tasks:\n\n" + "\n".join(f"{n}. {t['instruction']}" for n, t in enumerate(tasks, 1))
    if style == "bulleted":
        return "\n".join(f"- {t['instruction']}" for t in tasks)
    if style == "numbered_bold_labels":
        return "\n".join(f"{n}. **Task:** {t['instruction']}" for n, t in enumerate(tasks, 1))
    if style == "instruction_blocks":
        return "\n\n".join(f"Instruction: {t['instruction']}\nInput: {t.get('input') or '<noinput>'}" for t in tasks)
    return "\n\n".join(
        f"### Task {n}\n**Instruction:** {t['instruction']}\n**Input:** {t.get('input') or 'None'}"
        for n, t in enumerate(tasks, 1)
    )
