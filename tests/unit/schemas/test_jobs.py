from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from distillery.schemas.base import invalid_request
from distillery.schemas.jobs import JobCreate
from distillery.schemas.teachers import TeacherCreate

JOB = {
    "name": "j",
    "teacher": "t",
    "method": "label",
    "skill": {"name": "s"},
    "seeds": [{"instruction": "q"}],
}


def _fields(exc: ValidationError) -> list[str]:
    """The fields the API's error details name."""
    return [d["field"] for d in invalid_request(exc.errors())[1]]


def test_defaults_are_cot_text_and_dedup():
    job = JobCreate.model_validate(JOB)
    assert job.skill.reasoning == "cot" and job.skill.output_format == "text"
    assert job.curation.dedup is True and job.params.temperature == 0.0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"seeds": [{"instruction": "nul\x00"}]}, "seeds.0.instruction"),
        ({"skill": {"name": "s", "output_schema": {"k": "v\x00"}}}, "skill.output_schema.k"),
        ({"target_count": 5}, "target_count"),
        ({"extra": True}, "extra"),
    ],
)
def test_invalid_jobs_name_the_field(patch, field):
    with pytest.raises(ValidationError) as exc:
        JobCreate.model_validate({**JOB, **patch})
    assert field in _fields(exc.value)


def test_teacher_key_is_secret_and_urls_must_be_http():
    teacher = TeacherCreate.model_validate({"name": "t", "base_url": "http://x/v1", "model": "m", "api_key": "sk-1"})
    assert "sk-1" not in repr(teacher)
    with pytest.raises(ValidationError) as exc:
        TeacherCreate.model_validate({"name": "t", "base_url": "file:///etc/passwd", "model": "m"})
    assert _fields(exc.value) == ["base_url"]


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"name": "t", "base_url": "http://x/v1", "model": "m", "api_key": "sk-\ud800"}, "api_key", "lone surrogate"),
        ({"name": "t\udfff", "base_url": "http://x/v1", "model": "m"}, "name", "lone surrogate"),
        ({"name": "t", "base_url": "http://x/v1", "model": "m\x00"}, "model", "NUL"),
        ({"name": "t", "base_url": "http://x/v1", "model": "m", "\ud800": 1}, "body", "lone surrogate"),
    ],
)
def test_strings_must_be_storable_unicode_and_the_error_names_the_field(body, field, problem):
    with pytest.raises(ValidationError) as exc:
        TeacherCreate.model_validate(body)
    detail = invalid_request(exc.value.errors())[1][0]
    assert detail["field"] == field and problem in detail["problem"]


def test_no_input_nests_deeper_than_32_levels():
    from distillery.schemas.base import MAX_DEPTH, InputProblem, check_raw

    check_raw(_nested(MAX_DEPTH))
    with pytest.raises(InputProblem) as exc:
        check_raw({"skill": {"output_schema": _nested(MAX_DEPTH)}})
    assert exc.value.field == "skill.output_schema.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"
    assert "nested deeper than 32 levels" in str(exc.value)
