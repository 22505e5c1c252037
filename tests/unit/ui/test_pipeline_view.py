"""The pipeline page's gold-set chart: a student bar beside a teacher bar for every stage
with an evaluation, placed on a 0-100 % scale, numbers rounded once."""

from __future__ import annotations

from typing import Any

import pytest

from distillery.schemas.pipeline_reports import GoldComparison, GoldScore, PipelineReport, StageReport
from distillery.ui.pipeline_view import BAR_SPAN, LEGEND_HEIGHT, gold_chart, percent, percent_label


def _stage(name: str, kind: str, evaluation: GoldComparison | None = None) -> StageReport:
    empty: dict[str, Any] = dict.fromkeys(("records", "teacher", "gold", "samples", "training"))
    return StageReport(
        name=name,
        kind=kind,
        status="succeeded",
        job_id=None,
        training_job_id=None,
        evaluation=evaluation,
        **empty,
    )


def _report(*stages: StageReport) -> PipelineReport:
    return PipelineReport(id="pipe_1", name="run", status="succeeded", cost_usd=0.0, stages=list(stages))


def _evaluation(student: float | None, teacher: float | None) -> GoldComparison:
    score = GoldScore(job_id="job_1", scored=8, matched=7, accuracy=teacher) if teacher is not None else None
    return GoldComparison(dataset_id="ds_gold", prompts=8, student_exact_match=student, teacher=score)


def test_each_evaluated_stage_gets_a_student_and_a_teacher_bar_in_stage_order():
    chart = gold_chart(
        _report(
            _stage("label", "job"),
            _stage("sft", "sft", _evaluation(0.3333, None)),
            _stage("evaluate", "evaluate", _evaluation(0.625, 0.875)),
        )
    )
    assert [g.stage for g in chart.groups] == ["sft", "evaluate"]
    first, second = chart.groups
    assert (second.student.percent, second.teacher.percent) == (62.5, 87.5)
    assert second.student.width == pytest.approx(0.625 * BAR_SPAN)
    assert (second.student.label, second.teacher.label) == ("62.5%", "87.5%")
    # No job stage over the same gold set: the teacher's bar is absent, not zero.
    assert first.student.percent == 33.3 and first.teacher.percent is None and first.teacher.width == 0
    assert first.y == LEGEND_HEIGHT and second.y > first.teacher.y > first.student.y
    assert chart.axis_y > second.teacher.y and chart.height > chart.axis_y


def test_no_evaluation_no_groups():
    assert gold_chart(_report(_stage("label", "job"))).groups == []


def test_shares_are_printed_as_percentages_with_one_decimal():
    assert percent(1.0) == 100.0 and percent(None) is None
    assert percent_label(0.8751) == "87.5%" and percent_label(None) == "—"
