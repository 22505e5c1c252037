"""Reviewing a dataset version through the API and the Python client: its rows paged,
searched and filtered by score, reject reason and flag; rows flagged and unflagged; a new
version without the flagged rows; and another tenant's dataset as "not found"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distillery.client import Client, ConflictError, NotFoundError, RowFilters
from tests.support.server import api_server
from tests.support.stack import Api, arithmetic_seeds

pytestmark = pytest.mark.integration

MIN_QUALITY = 9


@pytest.fixture(scope="module")
def server_url(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    with api_server(stack_env, logs) as url:
        yield url


@pytest.fixture
def judged(api: Api, start_simulator: Any) -> dict[str, Any]:
    """A 20-item labeling job whose records the judge scored, the low ones kept out."""
    teacher = api.add_teacher(start_simulator(wrong_rate=0.4))
    # gold "keep": wrong answers reach the judge instead of being rejected as gold mismatches.
    curation = {"judge": {"min_score": MIN_QUALITY}, "gold": "keep", "near_dedup": None}
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(20), curation=curation)["id"])
    assert job["status"] == "succeeded", job
    return api.get(f"/v1/datasets/{job['dataset_id']}").json()


def _rows(api: Api, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every row the filters let through, a page of 7 at a time."""
    out: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = api.get(f"/v1/datasets/{dataset_id}/rows", params={**params, "limit": 7, "offset": offset})
        assert response.status_code == 200, response.text
        out += response.json()["data"]
        offset = response.json()["next_offset"]
    return out


def _field(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["details"][0]["field"])


def test_rows_page_in_order_with_the_judges_scores_and_search_finds_text_in_any_case(api, judged):
    rows = _rows(api, judged["id"])
    assert [r["position"] for r in rows] == list(range(judged["record_count"]))
    assert all(r["score"] >= MIN_QUALITY and r["judge_rationale"] and not r["flagged"] for r in rows)
    assert all(r["prompt"].startswith("What is") and r["response"] for r in rows)
    wanted = rows[3]
    found = _rows(api, judged["id"], q=wanted["prompt"].upper())
    assert [r["record_id"] for r in found] == [wanted["record_id"]]
    # The response is searched too: every row's answer is its final number.
    answer = wanted["response"].splitlines()[-1]
    assert wanted["record_id"] in [r["record_id"] for r in _rows(api, judged["id"], q=answer)]
    assert _rows(api, judged["id"], q="no row says this") == []


def test_score_and_reason_filters_show_kept_and_rejected_rows(api, judged):
    rows = _rows(api, judged["id"])
    top = max(r["score"] for r in rows)
    best = _rows(api, judged["id"], min_score=top)
    assert best and all(r["score"] == top for r in best)
    assert len(_rows(api, judged["id"], max_score=top - 0.01)) == len(rows) - len(best)

    rejected = _rows(api, judged["id"], view="rejected")
    low = _rows(api, judged["id"], view="rejected", reason="low_quality")
    assert low and low == [r for r in rejected if r["rejection"]["reason"] == "low_quality"]
    assert all(r["position"] is None and r["score"] < MIN_QUALITY for r in low)
    assert all(r["rejection"]["pass_name"] == "judge" and r["judge_rationale"] for r in low)
    assert _rows(api, judged["id"], view="rejected", reason="no_such_reason") == []
    # Coherent filters: a reason only names rejected records; a range must be one.
    assert _field(api.get(f"/v1/datasets/{judged['id']}/rows", params={"reason": "low_quality"}), 422) == "reason"
    assert _field(api.get(f"/v1/datasets/{judged['id']}/rows", params={"min_score": 9, "max_score": 2}), 422) == (
        "min_score"
    )
    assert _field(api.get(f"/v1/datasets/{judged['id']}/rows", params={"min_score": "nan"}), 422) == "query.min_score"
    assert _field(api.get(f"/v1/datasets/{judged['id']}/rows", params={"view": "all"}), 422) == "query.view"


def test_flags_mark_rows_and_a_new_version_leaves_them_out(api, judged):
    dataset_id = judged["id"]
    rows = _rows(api, dataset_id)
    bad, worse, fine = rows[1], rows[4], rows[6]
    flag = f"/v1/datasets/{dataset_id}/flags"
    assert api.request("PUT", f"{flag}/{bad['record_id']}", json={"note": "wrong sum"}).json()["note"] == "wrong sum"
    assert api.request("PUT", f"{flag}/{fine['record_id']}").status_code == 200
    # Flagging again replaces the note.
    again = api.request("PUT", f"{flag}/{bad['record_id']}", json={"note": "the sum is wrong"})
    assert again.status_code == 200 and again.json()["note"] == "the sum is wrong"
    assert api.request("PUT", f"{flag}/{worse['record_id']}", json={}).status_code == 200
    assert api.request("DELETE", f"{flag}/{fine['record_id']}").status_code == 204
    assert api.request("DELETE", f"{flag}/{fine['record_id']}").status_code == 204  # idempotent

    flagged = _rows(api, dataset_id, flagged="true")
    assert [(r["record_id"], r["note"]) for r in flagged] == [
        (bad["record_id"], "the sum is wrong"),
        (worse["record_id"], None),
    ]
    assert len(_rows(api, dataset_id, flagged="false")) == judged["record_count"] - 2

    # A record that is not a row of this version (one curation kept out, or none at all).
    outside = _rows(api, dataset_id, view="rejected")[0]["record_id"]
    for record_id in (outside, 2**62):
        response = api.request("PUT", f"{flag}/{record_id}", json={"note": "x"})
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
        assert api.request("DELETE", f"{flag}/{record_id}").status_code == 404
    assert _field(api.request("PUT", f"{flag}/0"), 422) == "path.record_id"
    assert _field(api.request("PUT", f"{flag}/{bad['record_id']}", json={"note": "a\x00b"}), 422) == "note"

    response = api.post(f"/v1/datasets/{dataset_id}/versions")
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["record_count"] == judged["record_count"] - 2
    assert version["parent_id"] == dataset_id and version["name"] == judged["name"] and version["version"] == 2
    assert version["sources"] == [
        {"type": "dataset", "id": dataset_id, "name": judged["name"], "version": 1, "dropped_flagged": 2}
    ]
    assert version["stats"]["curation"] == {"review": {"flagged": 2}}
    download = api.get(f"/v1/datasets/{version['id']}/download", params={"format": "alpaca"})
    prompts = [json.loads(line)["instruction"] for line in download.text.splitlines()]
    assert prompts == [r["prompt"] for r in rows if r["record_id"] not in (bad["record_id"], worse["record_id"])]
    dropped = _rows(api, version["id"], view="rejected", reason="flagged")
    assert [(r["record_id"], r["rejection"]["detail"]) for r in dropped] == [
        (bad["record_id"], "the sum is wrong"),
        (worse["record_id"], f"flagged in review of {judged['name']} v1"),
    ]
    # The parent is unchanged, its flags kept; the new version has none, so no further one.
    assert api.get(f"/v1/datasets/{dataset_id}").json()["record_count"] == judged["record_count"]
    assert len(_rows(api, dataset_id, flagged="true")) == 2
    response = api.post(f"/v1/datasets/{version['id']}/versions", json={"name": "again"})
    assert response.status_code == 409 and "no flagged rows" in response.json()["error"]["message"]
    named = api.post(f"/v1/datasets/{dataset_id}/versions", json={"name": "reviewed"}).json()
    assert (named["name"], named["version"], named["record_count"]) == ("reviewed", 1, version["record_count"])


def test_another_tenant_can_neither_read_nor_flag_a_dataset(api, other_api, judged):
    dataset_id = judged["id"]
    record_id = _rows(api, dataset_id)[0]["record_id"]
    assert api.request("PUT", f"/v1/datasets/{dataset_id}/flags/{record_id}").status_code == 200
    for method, path in (
        ("GET", f"/v1/datasets/{dataset_id}/rows"),
        ("GET", f"/v1/datasets/{dataset_id}/rows?view=rejected"),
        ("PUT", f"/v1/datasets/{dataset_id}/flags/{record_id}"),
        ("DELETE", f"/v1/datasets/{dataset_id}/flags/{record_id}"),
        ("POST", f"/v1/datasets/{dataset_id}/versions"),
    ):
        response = other_api.request(method, path)
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found", (method, path)
    # Its flag is still there, and no version was made.
    assert [r["record_id"] for r in _rows(api, dataset_id, flagged="true")] == [record_id]
    names = [d["name"] for d in api.get("/v1/datasets").json()["data"]]
    assert names.count(judged["name"]) == 1


def test_preference_rows_show_chosen_and_rejected_with_the_judges_ratings(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    # No gold answers (they would decide the pairs without the judge).
    seeds = [
        {"instruction": s["instruction"], "candidates": [f"Answer: {s['answer']}", f"Answer: {int(s['answer']) + 9}"]}
        for s in arithmetic_seeds(6)
    ]
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, method="feedback", curation={"near_dedup": None})["id"])
    assert job["status"] == "succeeded", job
    rows = _rows(api, job["dataset_id"])
    assert len(rows) == job["progress"]["accepted"] > 0
    for row in rows:
        pair = row["preference"]
        assert pair["judge_mode"] == "rating" and pair["chosen"]["response"] != pair["rejected"]["response"]
        assert row["response"] == pair["chosen"]["response"]
        assert pair["chosen"]["score"] - pair["rejected"]["score"] == pytest.approx(pair["margin"])
        assert row["score"] == pair["margin"]
        for side in (pair["chosen"], pair["rejected"]):
            assert side["source"].startswith("seed:")
            assert {r["aspect"] for r in side["ratings"]} == {
                "instruction_following",
                "honesty",
                "truthfulness",
                "helpfulness",
            }
            assert all(1 <= r["rating"] <= 5 and r["rationale"] for r in side["ratings"])


def test_the_python_client_reviews_flags_and_makes_the_new_version(api, judged, server_url):
    with Client(server_url, api.key) as client:
        page = client.dataset_rows(judged["id"], limit=5)
        assert len(page.data) == 5 and page.next_offset == 5
        rows = list(client.iter_dataset_rows(judged["id"], page_size=6))
        assert [r.position for r in rows] == list(range(judged["record_count"]))
        low = list(client.iter_dataset_rows(judged["id"], RowFilters(view="rejected", reason="low_quality")))
        assert low and all(r.rejection is not None and r.rejection.reason == "low_quality" for r in low)
        flag = client.flag_row(judged["id"], rows[2].record_id, note="off by one")
        assert (flag.record_id, flag.note) == (rows[2].record_id, "off by one")
        client.flag_row(judged["id"], rows[3].record_id)
        client.unflag_row(judged["id"], rows[3].record_id)
        flagged = client.dataset_rows(judged["id"], RowFilters(flagged=True)).data
        assert [(r.record_id, r.note) for r in flagged] == [(rows[2].record_id, "off by one")]
        version = client.version_without_flagged(judged["id"], name="reviewed")
        assert version.record_count == judged["record_count"] - 1 and version.parent_id == judged["id"]
        with pytest.raises(ConflictError):
            client.version_without_flagged(version.id)
        with pytest.raises(NotFoundError):
            client.flag_row(judged["id"], 2**62)
