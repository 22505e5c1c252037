"""`label`: the teacher answers each seed (see distillery/methods/label.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from distillery.schemas.job_specs.base import CommonParams, SeededJob


class LabelParams(CommonParams):
    # One request per seed, independent of the others: the only method a provider batch fits.
    supports_batch: ClassVar[bool] = True


class LabelJob(SeededJob):
    key: ClassVar[str] = "label"
    method: Literal["label"]
    params: LabelParams = LabelParams()

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.source_dataset is None and (self.target_count or 0) > len(self.seeds):
            raise ValueError("target_count: a label job makes at most one record per seed")
