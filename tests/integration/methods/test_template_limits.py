"""A job's own templates cannot tie up the API or a worker: attacks are refused at
submission while the API keeps answering, and a template that breaks on data the check did
not sample fails that item alone."""

from __future__ import annotations

import threading
from typing import Any

from distillery.schemas.jobs import JobCreate
from tests.support.stack import arithmetic_seeds
from tests.support.template_payloads import PAYLOADS


def _job(teacher: dict[str, Any], seeds: list[dict[str, Any]], text: str) -> dict[str, Any]:
    return {
        "name": "templated",
        "teacher": teacher["name"],
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": seeds,
        "templates": {"label": text},
    }


def test_every_attack_template_is_a_422_and_the_api_answers_meanwhile(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    refusals: dict[str, Any] = {}

    def submit_all() -> None:
        for name, text in PAYLOADS.items():
            response = api.post("/v1/jobs", json=_job(teacher, arithmetic_seeds(3), text))
            refusals[name] = (response.status_code, response.json()["error"]["details"][0]["field"])

    attacker = threading.Thread(target=submit_all)
    attacker.start()
    while attacker.is_alive():
        assert api.get("/healthz").status_code == 200
        attacker.join(0.05)
    assert refusals == {name: (422, "templates.label") for name in PAYLOADS}
    assert api.get("/healthz").status_code == 200


def test_a_template_that_breaks_on_an_unsampled_seed_fails_that_item_only(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(30)
    sampled = {c["instruction"] for c in JobCreate.model_validate(_job(teacher, seeds, "x")).template_contexts()}
    victim = next(s for s in seeds if s["instruction"] not in sampled)
    victim["input"] = "boom"
    text = "{% if 'boom' in input %}{{ (10 ** 64) ** 64 }}{% endif %}{{ instruction }}"

    job = api.submit_label_job(teacher, seeds, templates={"label": text})
    job = api.wait_for_job(job["id"], timeout_s=120)

    assert job["status"] == "succeeded", job
    records = api.records(job["id"])
    broken = [r for r in records if r["reject_reason"] == "template_error"]
    assert [r["instruction"] for r in broken] == [victim["instruction"]]
    assert "4096 bits" in broken[0]["reject_detail"]
    assert sum(r["status"] == "accepted" for r in records) == 29
