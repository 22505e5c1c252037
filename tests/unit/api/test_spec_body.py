"""Bodies in JSON or YAML: a syntax error names its line, YAML's extras that JSON lacks are
refused, and aliases cannot blow a small body up."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from distillery.api.spec_body import Body, parse
from distillery.errors import InvalidSpec
from distillery.schemas.pipelines import PipelineCreate

YAML = """
name: twice
stages:
  - name: label
    kind: job
    spec: &label
      teacher: gpt
      method: label
      skill: {name: arithmetic}
      seeds: [{instruction: "What is 1 + 1?", answer: "2"}]
  - name: relabel
    kind: job
    spec:
      <<: *label
      seeds: []
      source_dataset: "@label"
"""


def yaml_body(text: str, media_type: str = "application/yaml") -> Body:
    return Body(media_type, text.encode())


def test_yaml_with_anchors_and_merge_keys_reads_as_the_json_body_would():
    spec = parse(yaml_body(YAML), PipelineCreate)
    assert [s.name for s in spec.stages] == ["label", "relabel"]
    assert spec.stages[1].spec["source_dataset"] == "@label" and spec.stages[1].spec["teacher"] == "gpt"
    assert parse(Body("application/json", spec.model_dump_json().encode()), PipelineCreate) == spec


@pytest.mark.parametrize(
    ("text", "media_type", "words"),
    [
        ("name: x\nstages:\n  - {name: a\n", "application/yaml", "not valid YAML: line 4"),
        ("a: !!binary aGVsbG8=\n", "text/yaml", "no JSON form"),
        ("a: .nan\n", "application/x-yaml", "no JSON form"),
        ("a: &a [*a]\n", "application/yaml", "nested deeper than 32"),
        ("a: !!python/object/apply:os.system [ls]\n", "application/yaml", "could not determine a constructor"),
        ("- a\n- b\n", "application/yaml", "a mapping"),
        ("", "application/yaml", "empty"),
        ('{"a": NaN}', "application/json", "NaN"),
        ('{"a": 1,', "application/json", "line 1"),
        ("name: x", "text/plain", "application/yaml"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_422_on_body_saying_why(text, media_type, words):
    with pytest.raises(InvalidSpec) as caught:
        parse(yaml_body(text, media_type), PipelineCreate)
    assert caught.value.details[0]["field"] == "body" and words in caught.value.message, caught.value.message


def test_aliases_that_would_expand_past_the_limit_are_refused_before_anything_walks_them():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for n, name in enumerate("bcdefgh"):
        previous = "abcdefgh"[n]
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    with pytest.raises(InvalidSpec, match="expands to more than"):
        parse(yaml_body("\n".join(lines)), PipelineCreate)


def test_a_body_that_is_no_pipeline_names_the_fields_under_body():
    with pytest.raises(RequestValidationError) as caught:
        parse(yaml_body("name: x\nstages: []\nextra: 1\n"), PipelineCreate)
    assert {e["loc"] for e in caught.value.errors()} == {("body", "stages"), ("body", "extra")}
