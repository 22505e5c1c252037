"""Finding what a teacher meant in what it wrote: the final answer, a JSON value, a task list.

The one extraction path of every method. Teachers do not keep to a format: GPT-4-class
models write "**Final answer:** 42" or "The answer is 42.", Qwen/DeepSeek-class models
put it in `\\boxed{42}` under a "### Final Answer" heading, GSM8K-trained ones end with
"#### 42", and JSON arrives in ```json fences, after a preamble or before a sentence.
What is found is normalised (markdown, LaTeX delimiters, `\\text{}`, trailing punctuation,
thousands separators); units stay in the text and are ignored only when comparing
(distillery/prompts/matching.py).

Order (the first that finds something wins):
1. explicit markers, the last in the reply: an `Answer:` line (any emphasis, "Final"),
   `\\boxed{...}`, `#### X`, a "Final Answer" heading with the value on the lines below;
2. a sentence "the (final) answer is X", the last one;
3. the last line of the reply when it is a bare value (a few words at most).
`Found.start` is where the answer's block begins, so the text before it is the rationale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# "Answer: 42", "**Final answer:** 42", "**Answer: 42**", "- Final Answer: 42", "Answer - 42" is not one.
_ANSWER_LINE = re.compile(
    r"^[ \t>*_#-]*(?:the\s+)?(?:final|correct)?\s*answer[ \t*_]*:[ \t*_]*(?P<value>[^\n]*?)[ \t]*$", re.I | re.M
)
# A line that only announces the answer below it: "### Final Answer", "**Final Answer:**", "Answer:".
_ANSWER_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?[*_]*[ \t]*(?:the\s+)?(?:final\s+answer|final\s+result|answer|result|solution)"
    r"[ \t*_]*:?[ \t*_]*$",
    re.I | re.M,
)
_HASHES = re.compile(r"^[ \t]*####[ \t]+(?P<value>[^\n#]+?)[ \t]*$", re.M)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "The final answer is 42.", "so the answer is: **42**", "Thus the correct answer is (B)."
_PHRASE = re.compile(
    r"\b(?:the\s+)?(?:final\s+|correct\s+)?answer\s+(?:is|would\s+be|=)\s*:?\s*(?P<value>[^\n]+)", re.I
)
# The end of a sentence: a period not inside a number ("3.5"), or ! ?
_SENTENCE_END = re.compile(r"(?<!\d)\.(?=\s|$)|\.(?=\s+[A-Z])|[!?](?=\s|$)")
# A bare value on the last line: a number with a unit, a word or two; no sentence.
_BARE_WORDS = 4
_MARKUP = re.compile(r"(?<!\\)(?:\*\*|__|\*|`+|~~)")
_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname|mbox)\s*\{([^{}]*)\}")
# One level of nested braces: \frac{\sqrt{2}}{2}.
_GROUP = r"\{((?:[^{}]|\{[^{}]*\})*)\}"
_FRAC = re.compile(rf"\\[dt]?frac\s*{_GROUP}\s*{_GROUP}")
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,]|\.\d*,)")
_TRAILING = ".,;:!"
_FENCE = re.compile(r"```[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)```", re.S)
_JSON_OPEN = re.compile(r"[\[{]")
_JSON_LABEL = re.compile(r"^[ \t]*(?:json|javascript)\s*", re.I)


@dataclass(frozen=True)
class Found:
    answer: str  # normalised: markup and LaTeX delimiters gone, units kept
    start: int  # where the answer's block begins: the text before it is the rationale
    how: str  # "answer_line", "boxed", "hashes", "heading", "phrase", "last_line"
    raw: str  # the value as written, before normalising (what JSON is read from)


def final_answer(text: str) -> Found | None:
    """The reply's final answer, or None when it names none."""
    explicit = [f for f in (*_answer_lines(text), *_boxed(text), *_hashes(text), *_headings(text)) if f.answer]
    if explicit:
        # The last one written wins; a heading's own line counts from the value below it.
        found = max(explicit, key=lambda f: (_value_end(text, f), f.how == "boxed"))
        return Found(found.answer, _block_start(text, found.start), found.how, found.raw)
    phrases = [f for f in _phrases(text) if f.answer]
    if phrases:
        found = phrases[-1]
        return Found(found.answer, _block_start(text, found.start), found.how, found.raw)
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    if lines:
        start, line = lines[-1]
        value = clean_answer(line)
        if value and len(value.split()) <= _BARE_WORDS and not _SENTENCE_END.search(line.strip()[:-1] or " "):
            return Found(value, _block_start(text, start), "last_line", line.strip())
    return None


def stated_answer(text: str) -> str:
    """The reply's final answer, else the whole reply: what a gold answer is compared with."""
    found = final_answer(text)
    return found.answer if found else text.strip()


def clean_answer(value: str) -> str:
    """An answer as written → as meant: "**$\\boxed{1,000}$.**" → "1000"."""
    value = value.strip()
    boxed = _last_boxed(value)
    if boxed is not None:
        value = boxed
    else:
        phrase = _PHRASE.match(value)
        if phrase:  # "Final Answer: The final answer is $42$. I hope it is correct."
            value = _first_sentence(phrase.group("value"))
    value = _MARKUP.sub("", value).strip()
    value = _unlatex(value)
    value = _MARKUP.sub("", value).strip()
    value = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), value)
    for _ in range(3):
        value = value.rstrip(_TRAILING).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" and value[0] not in value[1:-1]:
            value = value[1:-1].strip()
    return value


def _unlatex(value: str) -> str:
    value = re.sub(r"^\\\[|\\\]$|^\\\(|\\\)$", "", value.strip()).strip()
    value = value.replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    # $...$ and $$...$$ are math; a lone "$5" is money and stays.
    value = re.sub(r"\$\$(.+?)\$\$", r"\1", value)
    value = re.sub(r"(?<!\\)\$(?=\S)([^$]*?\S)(?<!\\)\$", r"\1", value)
    for _ in range(3):
        value = _LATEX_WRAPPERS.sub(r"\1", value)
        value = _FRAC.sub(r"\1/\2", value)
    value = value.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%").replace("\\!", "")
    value = re.sub(r"\\[,;: ]|~", " ", value)
    value = re.sub(r"\^\{?\\circ\}?", "°", value)
    value = re.sub(r"\\(?:left|right)\b", "", value)
    value = value.replace("\\times", "×").replace("\\cdot", "·").replace("\\pi", "π")
    if value.startswith("{") and value.endswith("}") and "\\" not in value and ":" not in value:
        value = value[1:-1]
    return re.sub(r"[ \t]+", " ", value).strip()


def _first_sentence(value: str) -> str:
    end = _SENTENCE_END.search(value)
    return value[: end.start()] if end else value


def _answer_lines(text: str) -> Iterator[Found]:
    for match in _ANSWER_LINE.finditer(text):
        raw = match.group("value")
        yield Found(clean_answer(raw), match.start(), "answer_line", raw)


def _boxed(text: str) -> Iterator[Found]:
    for match in _BOXED.finditer(text):
        inner = _balanced(text, match.end() - 1)
        if inner is not None:
            yield Found(clean_answer(inner), match.start(), "boxed", inner)


def _last_boxed(value: str) -> str | None:
    found = list(_boxed(value))
    return found[-1].raw if found else None


def _balanced(text: str, open_at: int) -> str | None:
    """The text inside the braces that open at `open_at`, nested braces included."""
    depth = 0
    for index in range(open_at, len(text)):
        char = text[index]
        if char == "{" and text[index - 1] != "\\":
            depth += 1
        elif char == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index]
    return None


def _hashes(text: str) -> Iterator[Found]:
    for match in _HASHES.finditer(text):
        raw = match.group("value")
        value = clean_answer(raw)
        # "#### Step 2: add" is a markdown heading; GSM8K's "#### 42" is a short value.
        short = len(value.split()) <= _BARE_WORDS and not value.endswith(":") and _ANSWER_HEADING.match(raw) is None
        if short and (re.search(r"\d", value) or match.end() >= len(text.rstrip())):
            yield Found(value, match.start(), "hashes", raw)


def _headings(text: str) -> Iterator[Found]:
    for match in _ANSWER_HEADING.finditer(text):
        below = text[match.end() :].lstrip("\n")
        block = below.split("\n\n", 1)[0] if below.strip() else ""
        if not block.strip():
            continue
        boxed = _last_boxed(block)
        lines = [ln for ln in block.splitlines() if ln.strip() and ln.strip() not in ("\\[", "\\]", "$$")]
        raw = boxed if boxed is not None else (lines[0] if lines else "")
        yield Found(clean_answer(raw), match.start(), "heading", raw)


def _phrases(text: str) -> Iterator[Found]:
    for match in _PHRASE.finditer(text):
        raw = _first_sentence(match.group("value"))
        yield Found(clean_answer(raw), match.start(), "phrase", raw)


def _value_end(text: str, found: Found) -> int:
    """Where a found answer's value sits: a heading's value is on the lines below it."""
    if found.how == "heading":
        return text.find(found.raw, found.start) if found.raw else found.start
    return found.start


def _block_start(text: str, position: int) -> int:
    """Where the answer's block starts: its sentence, or its line, and any label lines above
    it ("### Final Answer", "\\[", "**Answer:**")."""
    line_start = text.rfind("\n", 0, position) + 1
    within = _SENTENCE_END.finditer(text, line_start, min(len(text), position + 1))
    ends = [m.end() for m in within if m.end() <= position]
    if ends and text[line_start : ends[-1]].strip():
        return ends[-1]
    start = line_start
    while start > 0:
        previous_start = text.rfind("\n", 0, start - 1) + 1
        previous = text[previous_start : start - 1].strip()
        if previous and not (_ANSWER_HEADING.fullmatch(previous) or previous in ("\\[", "$$", "---", "***")):
            break
        start = previous_start
    return start


def json_candidates(text: str) -> list[tuple[int, Any]]:
    """JSON values the reply holds, each with where its block starts, most likely meant
    first: fenced blocks (the last first), the final answer's value, the whole reply, then
    every top-level object or array in the text (the last first)."""
    found: list[tuple[int, Any]] = []

    def add(start: int, source: str) -> None:
        source = source.strip()
        if source.lower().startswith(("json", "javascript")):
            source = _JSON_LABEL.sub("", source)
        for variant in dict.fromkeys((source, source.strip("`").strip().rstrip(".;").strip())):
            try:
                found.append((start, json.loads(variant)))
                return
            except ValueError:
                continue

    for fence in reversed(list(_FENCE.finditer(text))):
        add(fence.start(), fence.group("body"))
    answer = final_answer(text)
    if answer is not None:
        add(answer.start, answer.raw)
    add(0, text)
    decoder = json.JSONDecoder()
    spans: list[tuple[int, Any]] = []
    index = 0
    while (match := _JSON_OPEN.search(text, index)) is not None:
        try:
            value, end = decoder.raw_decode(text, match.start())
        except ValueError:
            index = match.start() + 1
            continue
        spans.append((_block_start(text, match.start()), value))
        index = end
    return found + spans[::-1]


def find_json(text: str, kind: type | None = None) -> Any:
    """The most likely JSON value in the reply (of `kind` when given), else None."""
    for _, value in json_candidates(text):
        if kind is None or isinstance(value, kind):
            return value
    return None


def strip_markup(line: str) -> str:
    """A line without markdown emphasis, heading marks or enclosing quotes and punctuation:
    what a one-word verdict is read from ("**Not Equal.**" → "Not Equal")."""
    line = _MARKUP.sub("", line).strip().lstrip("#>").strip()
    return line.strip(" .:;!\"'")


def verdict_line(text: str, label: str = r"verdict|answer|judg(?:e)?ment|decision") -> str:
    """The line a verdict is on: the first non-empty one, less a "Verdict:" label."""
    for line in text.splitlines():
        cleaned = strip_markup(line)
        if cleaned:
            return strip_markup(re.sub(rf"^(?:final\s+)?(?:{label})\s*[:\-]\s*", "", cleaned, flags=re.I))
    return ""


# "Instruction: ...", "1. **Instruction:** ...", "Task 2 - Instruction: ..."
_LIST_MARK = r"[ \t]*(?:(?:\d+[.):]|[-*•+])[ \t]+)?[*_#>\t ]*"
_INSTRUCTION = re.compile(
    rf"^{_LIST_MARK}(?:task\s*\d*\s*[:.\-]?\s*)?[*_]*\s*(?:instruction|task|prompt)[*_ \t]*:[*_ \t]*(?P<value>.*)$",
    re.I | re.M,
)
_INPUT = re.compile(rf"^{_LIST_MARK}[*_]*\s*(?:input|context)[*_ \t]*:[*_ \t]*(?P<value>.*)$", re.I | re.M)
_OTHER_LABEL = re.compile(rf"^{_LIST_MARK}[*_]*\s*(?:output|answer|response)[*_ \t]*:", re.I | re.M)
_ITEM = re.compile(r"^[ ]{0,3}(?:\d+[.)]|[-*•+])[ \t]+(?P<value>\S.*)$", re.M)
# "**Task 3:** Explain..." / "Task 3 - Explain" inside an item: the label is not the task.
_ITEM_LABEL = re.compile(r"^(?:task|prompt|question)\s*\d*\s*[:.\-]\s*", re.I)
# What a task with no input says in its Input line (Alpaca writes "<noinput>").
_NONE = frozenset({"", "none", "n/a", "na", "empty", "-", "no input", "noinput"})
# Lines between tasks that are not part of one: "### Task 2", "**Task 2:**", "---".
_NOISE = re.compile(r"^\s*(?:#{1,6}\s.*|[-*_]{3,}|[*_]*\s*(?:task|example)\s*\d*\s*[:.]?\s*[*_]*:?)\s*$", re.I)


def task_list(text: str) -> list[dict[str, str]]:
    """Tasks ({"instruction", "input"}) from a JSON list (fenced or not, of objects or
    strings, or an object holding one), "Instruction:/Input:" blocks, or a numbered or
    bulleted markdown list. [] when the reply holds none."""
    value = find_json(text, list)
    if value is None:
        holder = find_json(text, dict)
        lists = [v for v in holder.values() if isinstance(v, list)] if isinstance(holder, dict) else []
        value = lists[0] if lists else None
    if isinstance(value, list):
        return [t for t in (_json_task(entry) for entry in value) if t is not None]
    blocks = _labelled_tasks(text)
    if blocks:
        return blocks
    tasks = []
    for match in _ITEM.finditer(text):
        instruction = _ITEM_LABEL.sub("", _MARKUP.sub("", match.group("value")).strip()).strip()
        if instruction:
            tasks.append({"instruction": instruction, "input": ""})
    return tasks


def _json_task(entry: Any) -> dict[str, str] | None:
    if isinstance(entry, str):
        return {"instruction": entry.strip(), "input": ""} if entry.strip() else None
    if not isinstance(entry, dict):
        return None
    instruction = next((entry[k] for k in ("instruction", "task", "prompt") if isinstance(entry.get(k), str)), None)
    if instruction is None or not instruction.strip():
        return None
    given = entry.get("input")
    return {"instruction": instruction.strip(), "input": given.strip() if isinstance(given, str) else ""}


def _labelled_tasks(text: str) -> list[dict[str, str]]:
    starts = list(_INSTRUCTION.finditer(text))
    tasks = []
    for number, match in enumerate(starts):
        end = starts[number + 1].start() if number + 1 < len(starts) else len(text)
        block = text[match.start() : end]
        stop = [m.start() for m in (*_INPUT.finditer(block), *_OTHER_LABEL.finditer(block))]
        head_end = min(stop) if stop else len(block)
        head = block[match.end() - match.start() : head_end]
        instruction = " ".join([match.group("value"), *_content_lines(head)]).strip()
        instruction = _MARKUP.sub("", instruction).strip()
        given = ""
        found = _INPUT.search(block)
        if found is not None:
            rest = block[found.end() :]
            others = [m.start() for m in _OTHER_LABEL.finditer(rest)]
            rest = rest[: min(others)] if others else rest
            given = _MARKUP.sub("", " ".join([found.group("value"), *_content_lines(rest)])).strip()
            given = "" if given.lower().strip(" .()<>\"'") in _NONE else given
        if instruction:
            tasks.append({"instruction": instruction, "input": given})
    return tasks


def _content_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
