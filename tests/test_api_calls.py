"""The REST API's calls: who may call it, placing a call, validation errors, the list's filters and cursor pages,
one call in full."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from agents.phone import normalize_phone
from calls.api_keys import ApiKey
from calls.models import Call
from calls.outbound import placed_token
from tests.api_client import Api, error, new_key
from tests.call_factories import T0, dental_agent, make_call, store_recording, three_calls, wav_bytes
from tests.factories import make_agent
from tests.fakes.plivo_api import FakePlivoApi

pytestmark = pytest.mark.django_db
NEED_KEY = "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."


@pytest.fixture
def dialling(settings):
    settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = "MAFAKEFAKEFAKEFAKE01", "fake-token"
    settings.PUBLIC_URL = "https://voice.example.com"


@pytest.fixture
def caller() -> Api:
    return Api(new_key(ApiKey.Scope.CALL))


@pytest.fixture
def reader() -> Api:
    return Api(new_key(ApiKey.Scope.READ))


# --- who may call the API ---


@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/calls/1", "/api/v1/agents", "/api/v1/agents/1"])
def test_no_key_is_refused_with_401(path: str) -> None:
    response = Api(None).get(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == error("not_authenticated", NEED_KEY)


def test_a_wrong_or_malformed_key_is_refused_with_401() -> None:
    real = new_key()
    assert Api(real[:-2] + "zz").get("/api/v1/calls").json() == error("invalid_key", "Invalid API key.")
    malformed = Api(None).get("/api/v1/calls", Authorization=f"Basic {real}")
    assert malformed.status_code == 401
    assert malformed.json() == error(
        "invalid_key", "Malformed Authorization header: use 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
    )


def test_the_x_api_key_header_works_too() -> None:
    response = Api(None).get("/api/v1/calls", **{"X-API-Key": new_key()})
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_a_read_key_cannot_place_calls(reader: Api, dialling) -> None:
    make_agent()
    response = reader.post("/api/v1/calls", {"agent": "test-agent", "to": "+14155550199"})
    assert response.status_code == 403
    assert response.json() == error(
        "insufficient_scope", "This API key may only read; placing calls needs a key with the 'call' scope."
    )
    assert not Call.objects.exists()


# --- placing a call ---


def test_post_places_a_queued_call(caller: Api, dialling) -> None:
    agent = make_agent(greeting="Hi {{first_name}}, this is Acme.")
    response = caller.post(
        "/api/v1/calls/", {"agent": "test-agent", "to": "+1 (415) 555-0199", "variables": {"first_name": "Ana"}}
    )
    assert response.status_code == 201, response.json()
    call = Call.objects.get()
    assert (call.status, call.direction, call.agent, call.to_number, call.from_number, call.variables) == (
        "queued",
        "outbound",
        agent,
        "+14155550199",
        "+14155550100",
        {"first_name": "Ana"},
    )
    body = response.json()
    assert response["Location"] == body["url"] == f"https://voice.example.com/api/v1/calls/{call.pk}"
    assert {k: body[k] for k in ("id", "status", "direction", "from", "to", "variables", "transcript")} == {
        "id": call.pk,
        "status": "queued",
        "direction": "outbound",
        "from": "+14155550100",
        "to": "+14155550199",
        "variables": {"first_name": "Ana"},
        "transcript": [],
    }
    assert body["agent"] == {"id": agent.pk, "name": "Test agent", "slug": "test-agent", "version": agent.version}


def test_post_dials_through_plivo(caller: Api, dialling, settings, django_capture_on_commit_callbacks) -> None:
    make_agent(greeting="Hi {{first_name}}.", ring_timeout_seconds=20)
    with FakePlivoApi() as plivo:
        settings.PLIVO_API_URL = plivo.url
        with django_capture_on_commit_callbacks(execute=True):
            response = caller.post(
                "/api/v1/calls", {"agent": "test-agent", "to": "+14155550199", "variables": {"first_name": "Ana"}}
            )
        assert response.status_code == 201, response.json()
        (created,) = plivo.created()
    assert (created["from"], created["to"], created["ring_timeout"]) == ("14155550100", "14155550199", 20)
    call = Call.objects.get()
    assert created["answer_url"] == f"https://voice.example.com/plivo/answer/?placed={placed_token(call.pk)}"
    assert (call.status, call.request_uuid) == ("queued", plivo.request_uuids[0])
    body = caller.get(f"/api/v1/calls/{call.pk}").json()
    assert (body["status"], body["request_uuid"]) == ("queued", plivo.request_uuids[0])


def test_post_takes_the_agent_by_id_and_a_caller_id(caller: Api, dialling) -> None:
    agent = make_agent(number="+14155550100")
    agent.phone_numbers.create(number="+14155550101", label="second")
    response = caller.post("/api/v1/calls", {"agent": agent.pk, "to": "+14155550199", "from": "+1 415 555 0101"})
    assert response.status_code == 201, response.json()
    assert Call.objects.get().from_number == "+14155550101"


def phone_message(raw: str) -> str:
    with pytest.raises(ValidationError) as caught:
        normalize_phone(raw)
    return caught.value.messages[0]


def test_validation_errors_are_exact_json(caller: Api, dialling) -> None:
    make_agent(greeting="Hi {{first_name}}.")
    cases = [
        (
            {"agent": "nobody", "to": "+14155550199"},
            error(
                "unknown_agent",
                "No agent with the id or slug “nobody”.",
                {"agent": "No agent with the id or slug “nobody”."},
            ),
        ),
        (
            {"agent": "test-agent", "to": "4155550100", "variables": {"first_name": "Ana"}},
            error("invalid_number", phone_message("4155550100"), {"to": phone_message("4155550100")}),
        ),
        (
            {"to": "+14155550199", "variables": "Ana"},
            error("invalid_request", "The request has invalid fields.", {"agent": "This field is required."}),
        ),
        (
            {"agent": True, "to": "", "varables": {}},
            error(
                "invalid_request",
                "The request has invalid fields.",
                {
                    "agent": "Give the agent's id (a number) or its slug (text).",
                    "to": "This field may not be blank.",
                },
            ),
        ),
        (
            {"agent": "test-agent", "to": "+14155550199", "varables": {}},
            error("invalid_request", "The request has invalid fields.", {"varables": "Unknown field."}),
        ),
        (
            {"agent": "test-agent", "to": "+14155550199", "variables": ["Ana"]},
            error(
                "invalid_variables",
                "Variables must be name/value pairs.",
                {"variables": "Variables must be name/value pairs."},
            ),
        ),
    ]
    for body, expected in cases:
        response = caller.post("/api/v1/calls", body)
        assert (response.status_code, response.json()) == (400, expected), body
    assert not Call.objects.exists()


def test_a_missing_variable_names_it(caller: Api, dialling) -> None:
    make_agent(greeting="Hi {{first_name}}, about order {{order}}.")
    response = caller.post("/api/v1/calls", {"agent": "test-agent", "to": "+14155550199", "variables": {"order": 7}})
    assert response.status_code == 400
    body = response.json()["error"]
    assert (body["code"], list(body["fields"])) == ("missing_variables", ["variables"])
    assert "{{first_name}}" in body["message"] and "{{order}}" not in body["message"]
    assert not Call.objects.exists()


def test_a_disabled_agent_and_an_unconfigured_plivo(caller: Api, settings) -> None:
    make_agent(enabled=False)
    make_agent("Live", number="+14155550200")
    settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN, settings.PUBLIC_URL = "MA", "t", "https://voice.example.com"
    disabled = caller.post("/api/v1/calls", {"agent": "test-agent", "to": "+14155550199"})
    assert (disabled.status_code, disabled.json()["error"]["code"]) == (400, "agent_disabled")
    settings.PUBLIC_URL = ""
    unconfigured = caller.post("/api/v1/calls", {"agent": "live", "to": "+14155550199"})
    assert (unconfigured.status_code, unconfigured.json()["error"]["code"]) == (503, "not_configured")


def test_malformed_json_and_other_content_types(caller: Api) -> None:
    broken = caller.post("/api/v1/calls", raw='{"agent": ')
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_json"
    form = caller.client.post(
        "/api/v1/calls", {"agent": "x"}, headers={"Authorization": f"Bearer {caller.key}"}
    )  # multipart
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"


# --- the list ---


def test_cursor_pages_cover_every_call_once_newest_first(reader: Api) -> None:
    agent = make_agent()
    for n in range(25):  # five calls share each timestamp: the cursor must still neither skip nor repeat
        make_call(agent, turns=[], call_uuid=f"CA-{n}", created_at=T0 + timedelta(minutes=n // 5))
    seen, url, pages = [], "/api/v1/calls?limit=10", 0
    while url:
        response = reader.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [item["call_uuid"] for item in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(f"CA-{n}" for n in range(25)) and len(seen) == 25
    created = [Call.objects.get(call_uuid=uuid).created_at for uuid in seen]
    assert created == sorted(created, reverse=True)
    back = reader.get(reader.get(reader.get("/api/v1/calls?limit=10").json()["next"]).json()["previous"]).json()
    assert [item["call_uuid"] for item in back["results"]] == seen[:10]


def test_a_bad_cursor_is_a_400(reader: Api) -> None:
    response = reader.get("/api/v1/calls", {"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request",
        "The request has invalid fields.",
        {"cursor": "Invalid cursor: use the `next` or `previous` link as given."},
    )


def uuids(api: Api, **params: str) -> list[str]:
    response = api.get("/api/v1/calls", params)
    assert response.status_code == 200, response.json()
    return [item["call_uuid"] for item in response.json()["results"]]


def test_filters_are_the_staff_uis(reader: Api) -> None:
    three_calls()
    assert uuids(reader) == ["CA-hours-3", "CA-pizza-2", "CA-known-1"]
    assert uuids(reader, status="failed") == ["CA-pizza-2"]
    assert uuids(reader, direction="outbound") == ["CA-pizza-2"]
    assert uuids(reader, agent="dental-desk") == ["CA-hours-3", "CA-known-1"]
    assert uuids(reader, agent=str(Call.objects.get(call_uuid="CA-pizza-2").agent_id)) == ["CA-pizza-2"]
    assert uuids(reader, date_from="2025-03-05", date_to="2025-03-07") == ["CA-pizza-2"]
    assert uuids(reader, q="pepperoni") == ["CA-pizza-2"]
    assert uuids(reader, sentiment="neutral", number="555 0333") == ["CA-hours-3"]
    assert uuids(reader, interrupted="yes") == ["CA-known-1"]


def test_invalid_filters_are_refused(reader: Api) -> None:
    response = reader.get("/api/v1/calls", {"status": "lost", "date_from": "yesterday"})
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request",
        "The request has invalid fields.",
        {
            "status": "Select a valid choice. lost is not one of the available choices.",
            "date_from": "Enter a valid date.",
        },
    )
    unknown = reader.get("/api/v1/calls", {"agent": "nobody"})
    assert unknown.json() == error(
        "unknown_agent", "No agent with the id or slug “nobody”.", {"agent": "No agent with the id or slug “nobody”."}
    )


# --- one call ---


def test_one_call_in_full(reader: Api, settings) -> None:
    agent = dental_agent()
    call = make_call(
        agent,
        summary="Booked a cleaning.",
        sentiment="positive",
        sentiment_reason="Thanked the agent.",
        extracted_data={"email": "jane@example.com"},
        analysis_status="done",
        metrics={"v2v_p50_ms": 850.0, "greeting_ms": 640},
        answered_by="human",
        variables={"first_name": "Jane"},
    )
    store_recording(call, wav_bytes(0.1))
    response = reader.get(f"/api/v1/calls/{call.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == f"http://testserver/api/v1/calls/{call.pk}"
    assert body["recording_url"] == f"http://testserver/api/v1/calls/{call.pk}/recording"
    assert body["staff_recording_url"] == f"http://testserver/calls/{call.pk}/recording.wav"
    assert {k: body[k] for k in ("status", "direction", "from", "to", "duration_seconds", "hangup_cause")} == {
        "status": "completed",
        "direction": "inbound",
        "from": "+14155550111",
        "to": "+14155550100",
        "duration_seconds": 42,
        "hangup_cause": "NORMAL_CLEARING",
    }
    assert body["agent"] == {"id": agent.pk, "name": "Dental desk", "slug": "dental-desk", "version": agent.version}
    assert (body["answered_by"], body["variables"], body["summary"], body["sentiment"]) == (
        "human",
        {"first_name": "Jane"},
        "Booked a cleaning.",
        "positive",
    )
    assert (body["sentiment_reason"], body["extracted_data"], body["analysis_status"]) == (
        "Thanked the agent.",
        {"email": "jane@example.com"},
        "done",
    )
    assert body["metrics"] == {"v2v_p50_ms": 850.0, "greeting_ms": 640}
    assert body["created_at"] == "2025-03-04T10:00:00Z"
    assert len(body["transcript"]) == 7
    assert body["transcript"][2] == {
        "sequence": 3,
        "role": "agent",
        "text": "Sure, we have Tuesday at 10 or Thursday at 2.",
        "heard_text": "Sure, we have Tuesday at 10",
        "interrupted": True,
        "resumed": False,
        "start_ms": 7300,
        "end_ms": 9000,
        "latency": {"stt_ms": 150, "llm_ms": 420, "tts_ms": 160, "send_ms": 20, "voice_to_voice_ms": 800},
        "tool_calls": [],
    }
    assert body["transcript"][0]["heard_text"] == body["transcript"][0]["text"]
    settings.PUBLIC_URL = "https://voice.example.com"
    assert reader.get(f"/api/v1/calls/{call.pk}").json()["staff_recording_url"] == (
        f"https://voice.example.com/calls/{call.pk}/recording.wav"
    )


def test_a_call_without_recording_and_unknown_calls(reader: Api) -> None:
    call = make_call(None, turns=[])
    body = reader.get(f"/api/v1/calls/{call.pk}").json()
    assert (body["recording_url"], body["staff_recording_url"], body["agent"], body["transcript"]) == (
        None,
        None,
        None,
        [],
    )
    for missing in (call.pk + 1, 10**30):
        response = reader.get(f"/api/v1/calls/{missing}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_an_idempotency_key_places_one_call(caller: Api, dialling) -> None:
    make_agent(greeting="Hi {{first_name}}.")
    refused = caller.post("/api/v1/calls", {"agent": "test-agent", "to": "+14155550199"}, **{"Idempotency-Key": "k1"})
    assert refused.json()["error"]["code"] == "missing_variables"
    body = {"agent": "test-agent", "to": "+14155550199", "variables": {"first_name": "Ana"}}
    first = caller.post("/api/v1/calls", body, **{"Idempotency-Key": "k1"})  # a refusal does not use the key up
    again = caller.post("/api/v1/calls", body, **{"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] == Call.objects.get().pk
    other_key = Api(new_key(ApiKey.Scope.CALL)).post("/api/v1/calls", body, **{"Idempotency-Key": "k1"})
    assert other_key.status_code == 201  # idempotency keys belong to one API key
    assert Call.objects.count() == 2
    too_long = caller.post("/api/v1/calls", body, **{"Idempotency-Key": "x" * 256})
    assert too_long.json() == error("invalid_idempotency_key", "Idempotency-Key must be 1–255 characters.")
