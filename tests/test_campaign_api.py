"""Campaigns over the REST API: create from JSON rows or a CSV upload (with the import report), progress,
start/pause/resume/cancel (409 when not allowed), rows in cursor pages, results as CSV, and scopes."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from calls.api_keys import ApiKey
from calls.campaign_models import Campaign
from tests import campaign_support
from tests.api_client import Api, error, new_key
from tests.campaign_support import campaign_agent

pytestmark = pytest.mark.django_db
plivo_api = campaign_support.plivo_api


@pytest.fixture
def caller() -> Api:
    return Api(new_key(ApiKey.Scope.CALL))


def test_create_from_json_rows_start_pause_resume_cancel(caller, plivo_api):
    agent = campaign_agent()
    body = {
        "name": "Reminders",
        "agent": agent.slug,
        "rows": [{"phone": "+14155550150", "name": "Ana"}, {"phone": "555", "name": "Bo"}],
        "window_days": [0, 1, 2],
        "window_start": "10:00",
        "max_concurrent": 2,
    }
    created = caller.post("/api/v1/campaigns", body)
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["status"], data["window_days"], data["window_start"], data["max_concurrent"]) == (
        "draft",
        [0, 1, 2],
        "10:00:00",
        2,
    )
    assert data["import"] == {
        "lines": 2,
        "to_call": 1,
        "skipped": 1,
        "duplicates": 0,
        "problems": [
            {
                "line": 2,
                "phone": "555",
                "error": "“555” has no country code: start with + and the country code, e.g. +1 415 555 0100.",
                "stored": "skipped",
            }
        ],
    }
    assert data["progress"] | {} == {
        "pending": 1,
        "retry_scheduled": 0,
        "in_progress": 0,
        "reached": 0,
        "voicemail": 0,
        "no_answer": 0,
        "failed": 0,
        "skipped": 1,
        "cancelled": 0,
        "total": 2,
    }
    url = f"/api/v1/campaigns/{data['id']}"
    assert created["Location"].endswith(url)
    assert caller.post(url + "/pause").json() == error(
        "invalid_state", "Campaign “Reminders” is draft: it cannot be paused."
    )
    assert caller.post(url + "/pause").status_code == 409
    assert [caller.post(f"{url}/{a}").json()["status"] for a in ("start", "pause", "resume", "cancel")] == [
        "running",
        "paused",
        "running",
        "cancelled",
    ]
    assert caller.get(url).json()["progress"]["cancelled"] == 1
    rows = caller.get(url + "/rows", {"limit": 1})
    page = rows.json()
    assert [r["line"] for r in page["results"]] == [1] and page["next"]
    assert page["results"][0] | {"updated_at": None} == {
        "id": page["results"][0]["id"],
        "line": 1,
        "phone": "+14155550150",
        "variables": {"name": "Ana"},
        "timezone": "America/Los_Angeles",
        "status": "cancelled",
        "outcome": "",
        "attempts": 0,
        "next_attempt_at": None,
        "error": "",
        "call": None,
        "extracted": {},
        "updated_at": None,
    }
    assert caller.get(url + "/rows", {"status": "skipped"}).json()["results"][0]["phone"] == "555"
    assert caller.get(url + "/rows", {"status": "nope"}).status_code == 400


def test_create_from_a_csv_upload_and_download_results(caller, plivo_api):
    agent = campaign_agent()
    upload = io.BytesIO(b"phone,name\n+14155550150,Ana\n+14155550151,Bo\n")
    upload.name = "list.csv"
    response = Client().post(
        "/api/v1/campaigns",
        {"name": "Upload", "agent": str(agent.pk), "file": upload, "window_days": "0,1,2,3,4,5", "start": "true"},
        headers={"Authorization": f"Bearer {caller.key}"},
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["status"], data["window_days"], data["import"]["to_call"]) == ("running", [0, 1, 2, 3, 4, 5], 2)
    results = caller.get(f"/api/v1/campaigns/{data['id']}/results")
    assert (results.status_code, results["Content-Type"]) == (200, "text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert lines[0][:4] == ["line", "phone", "status", "outcome"] and lines[0][-1] == "var_name"
    assert [line[:3] + line[-1:] for line in lines[1:]] == [
        ["2", "+14155550150", "pending", "Ana"],  # the file's line numbers (1 is the header)
        ["3", "+14155550151", "pending", "Bo"],
    ]
    assert [c["name"] for c in caller.get("/api/v1/campaigns").json()["results"]] == ["Upload"]


def test_bad_input_is_refused_with_nothing_stored(caller, plivo_api):
    agent = campaign_agent()
    cases = [
        ({"name": "x", "agent": agent.slug}, "invalid_request"),
        ({"name": "x", "agent": agent.slug, "rows": []}, "invalid_list"),
        (
            {"name": "x", "agent": agent.slug, "rows": [{"phone": "+14155550150"}], "timezone": "Mars/Base"},
            "invalid_request",
        ),
        ({"name": "x", "agent": "nobody", "rows": [{"phone": "+14155550150"}]}, "unknown_agent"),
        (
            {
                "name": "x",
                "agent": agent.slug,
                "rows": [{"phone": "+1"}],
                "window_start": "18:00",
                "window_end": "09:00",
            },
            "invalid_request",
        ),
    ]
    for body, code in cases:
        response = caller.post("/api/v1/campaigns", body)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code), body
    assert not Campaign.objects.exists()
    reader = Api(new_key(ApiKey.Scope.READ))
    assert reader.post("/api/v1/campaigns", {"name": "x"}).status_code == 403
    assert reader.get("/api/v1/campaigns/999").json() == error("not_found", "No campaign with this id.")


def test_a_list_added_to_a_running_campaign_is_called_after_its_rows(caller, plivo_api):
    agent = campaign_agent()
    created = caller.post(
        "/api/v1/campaigns",
        {"name": "Grow", "agent": agent.slug, "rows": [{"phone": "+14155550150", "name": "Ana"}], "start": True},
    ).json()
    rows_url = f"/api/v1/campaigns/{created['id']}/rows"
    added = caller.post(rows_url, {"rows": [{"phone": "+14155550160", "name": "Cy"}, {"phone": "+14155550150"}]})
    assert added.status_code == 201, added.json()
    data = added.json()
    assert (data["id"], data["status"], data["progress"]["total"]) == (created["id"], "running", 2)
    assert data["import"] == {
        "lines": 2,
        "to_call": 1,
        "skipped": 0,
        "duplicates": 1,
        "problems": [
            {
                "line": 2,  # JSON rows count from 1
                "phone": "+14155550150",
                "error": "Already in the campaign (an earlier list): the number is called once.",
                "stored": "duplicate",
            }
        ],
    }
    upload = io.BytesIO(b"phone,name\n+14155550170,Di\n")
    upload.name = "more.csv"
    response = Client().post(rows_url, {"file": upload}, headers={"Authorization": f"Bearer {caller.key}"})
    assert (response.status_code, response.json()["import"]["to_call"]) == (201, 1)
    listed = caller.get(rows_url).json()["results"]
    # each list's lines go on after the rows already there: 1 | 1 + 1 | 2 + 2 (the CSV's header is its line 1)
    assert [(r["line"], r["phone"]) for r in listed] == [(1, "+14155550150"), (2, "+14155550160"), (4, "+14155550170")]


def test_adding_a_list_is_refused_clearly(caller, plivo_api):
    agent = campaign_agent()
    created = caller.post(
        "/api/v1/campaigns", {"name": "Done", "agent": agent.slug, "rows": [{"phone": "+14155550150", "name": "A"}]}
    ).json()
    rows_url = f"/api/v1/campaigns/{created['id']}/rows"
    reader = Api(new_key(ApiKey.Scope.READ))
    assert reader.post(rows_url, {"rows": [{"phone": "+14155550160"}]}).status_code == 403
    refused = caller.post(rows_url, {})
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"rows": "Give the list either as `rows` (JSON) or as `file` (CSV)."}
    empty = caller.post(rows_url, {"rows": []})
    assert empty.status_code == 400
    message = 'Give the rows as a non-empty list of objects, e.g. [{"phone": "+14155550199"}].'
    assert empty.json() == error("invalid_list", message, {"rows": message})
    assert caller.post("/api/v1/campaigns/999999/rows", {"rows": [{"phone": "+14155550160"}]}).status_code == 404
    assert caller.post(f"/api/v1/campaigns/{created['id']}/cancel").status_code == 200
    closed = caller.post(rows_url, {"rows": [{"phone": "+14155550160", "name": "Cy"}]})
    assert closed.status_code == 409
    assert closed.json() == error(
        "invalid_state", "This campaign is cancelled: it takes no more rows. Create a new campaign."
    )
    assert Campaign.objects.get().rows.count() == 1
