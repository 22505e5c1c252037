"""`curate`: tasks written from topics or documents (see distillery/methods/from_sources.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from distillery.schemas.job_specs.base import CommonParams, JobCreate, spread


class CurateParams(CommonParams):
    subtopics_per_topic: int = Field(default=3, ge=1, le=100)
    questions_per_topic: int = Field(default=3, ge=1, le=100)
    chunk_chars: int = Field(default=1500, ge=200, le=50_000, description="documents are cut into chunks this long")
    questions_per_chunk: int = Field(default=3, ge=1, le=50)
    passage_in_input: bool = Field(default=True, description="documents: a record's input is its passage")


class CurateJob(JobCreate):
    key: ClassVar[str] = "curate"
    method: Literal["curate"]
    params: CurateParams = CurateParams()

    def check_inputs(self) -> None:
        if (self.topics is None) == (self.documents is None):
            raise ValueError("topics: a curate job needs either `topics` or `documents`")
        if self.seeds or self.source_dataset:
            raise ValueError("seeds: a curate job starts from topics or documents, not seeds")

    def template_contexts(self) -> list[dict[str, Any]]:
        contexts = super().template_contexts()
        if not self.documents:
            return contexts
        base, chunk = self._skill_variables(), self.params.chunk_chars
        return [base | {"title": d.title, "passage": d.text[:chunk]} for d in spread(self.documents)]
