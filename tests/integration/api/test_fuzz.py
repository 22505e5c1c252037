"""Fuzzing the served OpenAPI document: no input, valid or not, gets a 5xx or an answer the
document does not describe.

schemathesis runs all its phases: per operation, the documented examples, the coverage
cases (each constraint's edges and violations) and fuzzed requests, schema-valid and
schema-violating; then stateful sequences (create a teacher, then a job naming it, then
read, cancel, retry it, ...), linking operations by what their answers contain. All go, as
a fresh tenant, to the app in process. (tests/integration/api/test_nasty_inputs.py sends
hand-made nasty inputs to a real server.)
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from distillery.main import create_app
from tests.support.settings import overridden

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A fixed budget, so a run takes the same time: examples per operation (about 30
# operations), and stateful scenarios of at most STEPS calls. All phases together take
# about 3 minutes on 2 cores.
EXAMPLES = 100
SCENARIOS = 150
STEPS = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = "http://testserver"

# The document is built at collection (building it touches no database); requests go to
# the app the `served` fixture starts on the test stack, and the test checks that app
# serves this very document.
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=list(GenerationMode), max_examples=EXAMPLES)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])
HYPOTHESIS = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def served(stack_env):
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key

    with unit_of_work() as session:
        key = create_key(session, "fuzzer")
    # The fuzzer sends as fast as it can: without its request-rate limit, every request
    # reaches the code under test instead of most being a 429.
    with overridden(tenant_rps=0), get_client(create_app()) as client:
        assert client.get(f"{BASE_URL}/openapi.json").json() == DOCUMENT
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


@schema.parametrize()
@HYPOTHESIS
def test_no_input_gets_a_server_error_or_an_undocumented_answer(case, served):
    case.call_and_validate(session=served, base_url=BASE_URL, checks=CHECKS)


def test_no_sequence_of_calls_gets_a_server_error_or_an_undocumented_answer(served):
    class Scenarios(schema.as_state_machine()):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case):
            return {"session": served, "base_url": BASE_URL}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Scenarios.run(settings=settings(HYPOTHESIS, max_examples=SCENARIOS, stateful_step_count=STEPS))


def test_a_nul_byte_in_any_id_or_search_text_is_a_422(served):
    """Postgres cannot hold NUL; unguarded, it was a 500 on every route with an id (the
    fuzzer rarely puts one in a path, so every such route is tried here)."""
    for path, operations in DOCUMENT["paths"].items():
        if "{" not in path:
            continue
        url = BASE_URL + re.sub(r"{\w+}", "job_a%00b", path)
        for method in operations:
            response = served.request(method.upper(), url)
            assert response.status_code == 422, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["type"] == "invalid_request"
    for query in ("q", "reason"):
        response = served.get(f"{BASE_URL}/v1/jobs/job_a/records?{query}=a%00b")
        assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == f"query.{query}"
