from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.schemas.jobs import JobCreate
from app.schemas.teachers import TeacherCreate

JOB = {
    "name": "j",
    "teacher": "t",
    "method": "label",
    "skill": {"name": "s"},
    "seeds": [{"instruction": "q"}],
}


def _fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in exc.errors()]


def test_defaults_are_cot_text_and_dedup():
    job = JobCreate.model_validate(JOB)
    assert job.skill.reasoning == "cot" and job.skill.output_format == "text"
    assert job.curation.dedup is True and job.params.temperature == 0.0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"seeds": [{"instruction": "nul\x00"}]}, "seeds.0.instruction"),
        ({"skill": {"name": "s", "output_schema": {"k": "v\x00"}}}, "skill.output_schema"),
        ({"target_count": 5}, ""),
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
