"""What the pipeline page reads: the run, its report and events, and the gold-set chart's
geometry (student exact match beside the teacher's accuracy, per evaluated stage).

The chart is drawn by the template as inline SVG; this module only places the bars, so
the numbers a reader sees are the report's, rounded once here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from distillery.pipelines import queries, report
from distillery.schemas.pipeline_reports import PipelineReport
from distillery.schemas.pipelines import PipelineEventOut, PipelineOut

# Pipelines log a few events per stage; a page shows them all up to this.
EVENTS_SHOWN = 500
# Top reject reasons shown per stage in the report table (the rest are summed).
REASONS_SHOWN = 3

# Chart geometry, in SVG user units (the SVG scales to its card's width).
CHART_WIDTH = 640
LABEL_WIDTH = 170  # stage names, right-aligned before the bars
BAR_SPAN = 400  # 100 %
BAR_HEIGHT = 16
BAR_GAP = 4
GROUP_GAP = 18
LEGEND_HEIGHT = 28
AXIS_HEIGHT = 22


def percent(share: float | None) -> float | None:
    """A share (0-1) as a percentage with one decimal, as the chart and table print it."""
    return None if share is None else round(share * 100, 1)


def percent_label(share: float | None) -> str:
    return _label(percent(share))


def _label(shown: float | None) -> str:
    return "—" if shown is None else f"{shown:.1f}%"


@dataclass(frozen=True)
class GoldBar:
    """One bar: a share of the gold set answered right, by the student or the teacher."""

    series: str  # "student" or "teacher"
    percent: float | None  # None: no score for this side
    y: int

    @property
    def label(self) -> str:
        return _label(self.percent)

    @property
    def width(self) -> float:
        shown = min(max(self.percent or 0.0, 0.0), 100.0)
        return round(shown / 100 * BAR_SPAN, 1)


@dataclass(frozen=True)
class GoldGroup:
    stage: str
    dataset_id: str
    prompts: int | None
    y: int  # top of the group
    student: GoldBar
    teacher: GoldBar


@dataclass(frozen=True)
class GoldChart:
    groups: list[GoldGroup]
    width: int = CHART_WIDTH
    left: int = LABEL_WIDTH
    span: int = BAR_SPAN
    bar_height: int = BAR_HEIGHT
    legend_height: int = LEGEND_HEIGHT

    @property
    def height(self) -> int:
        return LEGEND_HEIGHT + len(self.groups) * _group_height() + AXIS_HEIGHT

    @property
    def axis_y(self) -> int:
        return self.height - AXIS_HEIGHT

    @property
    def ticks(self) -> list[tuple[int, float]]:
        """(percent, x) of the axis' gridlines."""
        return [(p, LABEL_WIDTH + p / 100 * BAR_SPAN) for p in (0, 25, 50, 75, 100)]


def _group_height() -> int:
    return 2 * BAR_HEIGHT + BAR_GAP + GROUP_GAP


def gold_chart(pipeline_report: PipelineReport) -> GoldChart:
    """A group of two bars for every stage with an evaluation, in stage order."""
    groups: list[GoldGroup] = []
    for stage in pipeline_report.stages:
        evaluation = stage.evaluation
        if evaluation is None:
            continue
        y = LEGEND_HEIGHT + len(groups) * _group_height()
        teacher = evaluation.teacher.accuracy if evaluation.teacher else None
        groups.append(
            GoldGroup(
                stage=stage.name,
                dataset_id=evaluation.dataset_id,
                prompts=evaluation.prompts,
                y=y,
                student=GoldBar("student", percent(evaluation.student_exact_match), y),
                teacher=GoldBar("teacher", percent(teacher), y + BAR_HEIGHT + BAR_GAP),
            )
        )
    return GoldChart(groups)


@dataclass(frozen=True)
class PipelineView:
    pipeline: PipelineOut
    report: PipelineReport
    events: list[PipelineEventOut]
    chart: GoldChart

    @staticmethod
    def top_reasons(by_reason: dict[str, int]) -> tuple[list[tuple[str, int]], int]:
        """The most frequent reject reasons (the report sorts them), and how many records
        the others account for."""
        ranked = list(by_reason.items())
        return ranked[:REASONS_SHOWN], sum(n for _, n in ranked[REASONS_SHOWN:])


def pipeline_view(session: Session, tenant_id: str, pipeline_id: str) -> PipelineView:
    pipeline = queries.get(session, tenant_id, pipeline_id)
    found = report.report(session, tenant_id, pipeline_id)
    return PipelineView(
        pipeline=pipeline,
        report=found,
        events=queries.events(session, tenant_id, pipeline_id, EVENTS_SHOWN, 0),
        chart=gold_chart(found),
    )
