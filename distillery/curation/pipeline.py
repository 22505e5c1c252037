"""The set-level passes, in order: exact duplicates, near duplicates, similarity to seeds,
heuristics, judge score, decontamination, selection. Each pass sees only what the passes
before it kept; each rejection names its pass and reason, and a duplicate the record kept
in its place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from distillery.curation import heuristics
from distillery.curation.candidates import Candidate, Rejection
from distillery.curation.decontaminate import EvalIndex, contaminated
from distillery.curation.dedup import exact_duplicates
from distillery.curation.near_dedup import Shingling, near_duplicates
from distillery.curation.select import select
from distillery.curation.similarity import SimilarityIndex
from distillery.schemas.curation import Curation, Heuristics, Judge, NearDedup

Pass = Callable[[Sequence[Candidate]], list[Rejection]]


@dataclass(frozen=True)
class Context:
    # (seed id, seed task) of the jobs the records came from.
    seeds: list[tuple[str, str]] = field(default_factory=list)
    # (eval item id, question, answer) of the eval sets to decontaminate against.
    eval_items: list[tuple[str, str, str]] = field(default_factory=list)


def run(candidates: Sequence[Candidate], curation: Curation, context: Context) -> list[Rejection]:
    remaining = list(candidates)
    rejected: list[Rejection] = []
    for apply in _passes(curation, context):
        found = apply(remaining)
        if found:
            gone = {r.record_id for r in found}
            remaining = [c for c in remaining if c.id not in gone]
            rejected += found
    return rejected


def _passes(curation: Curation, context: Context) -> list[Pass]:
    passes: list[Pass] = []
    if curation.dedup:
        passes.append(exact_duplicates)
    if curation.near_dedup is not None:
        passes.append(partial(_near, settings=curation.near_dedup))
    if curation.max_seed_similarity is not None and context.seeds:
        passes.append(partial(_like_seeds, seeds=context.seeds, threshold=curation.max_seed_similarity))
    if curation.heuristics is not None:
        passes.append(partial(_heuristics, rules=curation.heuristics))
    if curation.judge is not None:
        passes.append(partial(_judged, judge=curation.judge))
    if curation.decontaminate is not None and context.eval_items:
        passes.append(partial(contaminated, index=EvalIndex(context.eval_items, curation.decontaminate.n)))
    if curation.max_records is not None:
        passes.append(partial(select, max_records=curation.max_records, diversity=curation.diversity))
    return passes


def _heuristics(candidates: Sequence[Candidate], rules: Heuristics) -> list[Rejection]:
    return [
        Rejection(c.id, "heuristics", *found) for c in candidates if (found := heuristics.problem(c, rules)) is not None
    ]


def _near(candidates: Sequence[Candidate], settings: NearDedup) -> list[Rejection]:
    found = near_duplicates(
        [c.prompt for c in candidates],
        threshold=settings.threshold,
        num_perm=settings.num_perm,
        shingling=Shingling(settings.shingle, settings.n),
        same_particulars=settings.same_particulars,
    )
    return [
        Rejection(
            candidates[d.index].id,
            "near_dedup",
            "near_duplicate",
            f"Jaccard {d.jaccard:.2f} with record {candidates[d.kept].id}",
            candidates[d.kept].id,
        )
        for d in found
    ]


def _like_seeds(candidates: Sequence[Candidate], seeds: list[tuple[str, str]], threshold: float) -> list[Rejection]:
    index = SimilarityIndex(threshold)
    for seed_id, text in seeds:
        index.add(text, seed_id)
    rejected = []
    for c in candidates:
        match = index.closest(c.prompt)
        if match is not None:
            detail = f"ROUGE-L {match.score:.2f} with seed {match.key}"
            rejected.append(Rejection(c.id, "seed_similarity", "similar_to_seed", detail))
    return rejected


def _judged(candidates: Sequence[Candidate], judge: Judge) -> list[Rejection]:
    rejected = []
    for c in candidates:
        quality = c.scores.get("quality")
        if not isinstance(quality, int | float):
            rejected.append(Rejection(c.id, "judge", "unscored", "the judge gave no usable quality score"))
        elif quality < judge.min_score:
            detail = f"quality {quality:g} below min_score {judge.min_score:g}"
            rejected.append(Rejection(c.id, "judge", "low_quality", detail))
    return rejected
