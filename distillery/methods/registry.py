"""Which plug-in runs a job: one line per method, keyed by the model of its spec."""

from __future__ import annotations

from typing import Any

from distillery.methods import evol, feedback, from_sources, label, self_instruct
from distillery.methods.base import Method
from distillery.schemas.job_specs import JobCreate

_METHODS: dict[type[JobCreate], Method[Any]] = {
    m.spec: m
    for m in (
        label.METHOD,
        self_instruct.METHOD,
        evol.METHOD,
        from_sources.METHOD,
        feedback.METHOD,
    )
}


def method_for(spec: JobCreate) -> Method[Any]:
    return _METHODS[type(spec)]
