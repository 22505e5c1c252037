"""Which method a job runs: its first items, how an item runs, how a round ends."""

from __future__ import annotations

from typing import Any

from app.curation.normalize import text_hash
from app.methods import curate, expand
from app.methods.base import Method, NewItem
from app.methods.evol import evolve
from app.methods.feedback import feedback
from app.methods.label import label
from app.methods.rounds import end_self_instruct_round


def seed_items(job_id: str, spec: dict[str, Any], seeds: list[tuple[str, dict[str, Any]]]) -> list[NewItem]:
    """One item per distinct seed: identical seeds would buy the same answer twice."""
    seen: set[str] = set()
    items = []
    for external_id, data in seeds:
        key = text_hash(data["instruction"], data.get("input", ""))
        if key in seen:
            continue
        seen.add(key)
        if spec.get("target_count") and len(items) >= spec["target_count"]:
            break
        items.append(NewItem(data, [external_id]))
    return items


_LABEL = Method(run=label, plan=seed_items)
_SELF_INSTRUCT = Method(run=expand.expand, plan=expand.plan, advance=end_self_instruct_round)
_EVOL_INSTRUCT = Method(run=evolve, plan=seed_items)
_CURATE = Method(run=curate.curate, plan=curate.plan)
_FEEDBACK = Method(run=feedback, plan=seed_items, dataset_kind="preference")


def method_for(method: str, params: dict[str, Any]) -> Method:
    if method == "expand":
        return _EVOL_INSTRUCT if params.get("evol") else _SELF_INSTRUCT
    return {"label": _LABEL, "curate": _CURATE, "feedback": _FEEDBACK}[method]
