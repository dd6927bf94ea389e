"""Placing outbound calls: validation, the real plivo SDK's calls.create against the local Plivo REST fake, and
the webhooks of a placed call (ring, answer, no-answer, busy, cancel, failed, machine detection)."""

from __future__ import annotations

import pytest

from calls.models import Call, CallEvent
from calls.outbound import PlaceCallError, place_call, placed_token
from tests.factories import make_agent
from tests.fakes.plivo_api import FakePlivoApi
from tests.plivo_signing import plivo_signature

PUBLIC = "https://voice.example.com"
CALLEE = "+14155550199"


@pytest.fixture
def plivo_api(settings):
    with FakePlivoApi() as api:
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = api.auth_id, api.auth_token
        settings.PLIVO_API_URL, settings.PUBLIC_URL = api.url, PUBLIC
        settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS = True
        yield api


@pytest.fixture
def agent(db):
    return make_agent(
        greeting="Hi {{name}}, this is Example Co.",
        goodbye_message="Bye {{name}}.",
        voicemail_message="Hi {{name}}, please call us back.",
        max_call_seconds=600,
        ring_timeout_seconds=25,
    )


def placed(agent, django_capture_on_commit_callbacks, **variables) -> Call:
    with django_capture_on_commit_callbacks(execute=True):
        call = place_call(agent, "+1 (415) 555-0199", variables or {"name": "Ana"})
    call.refresh_from_db()
    return call


@pytest.mark.django_db
def test_calls_create_gets_the_exact_parameters(agent, plivo_api, django_capture_on_commit_callbacks):
    call = placed(agent, django_capture_on_commit_callbacks)
    signed = f"?placed={placed_token(call.pk)}"  # every callback finds the call, even before its request uuid is stored
    assert plivo_api.created() == [
        {
            "from": "14155550100",
            "to": "14155550199",
            "answer_url": f"{PUBLIC}/plivo/answer/{signed}",
            "answer_method": "POST",
            "hangup_url": f"{PUBLIC}/plivo/hangup/{signed}",
            "hangup_method": "POST",
            "ring_url": f"{PUBLIC}/plivo/ring/{signed}",
            "ring_method": "POST",
            "fallback_method": "POST",
            "time_limit": 660,
            "ring_timeout": 25,
            "machine_detection": "true",
            "machine_detection_time": 5000,
            "machine_detection_url": f"{PUBLIC}/plivo/machine-detection/{signed}",
            "machine_detection_method": "POST",
            "error_if_parent_not_found": False,
        }
    ]
    request = plivo_api.requests[0]
    assert (request["method"], request["path"]) == ("POST", f"/v1/Account/{plivo_api.auth_id}/Call/")
    assert call.status == "queued" and call.direction == "outbound"
    assert call.request_uuid == plivo_api.request_uuids[0]
    assert call.call_uuid.startswith("queued-")
    assert (call.from_number, call.to_number, call.variables) == ("+14155550100", CALLEE, {"name": "Ana"})
    assert (call.agent, call.agent_version, call.phone_number.number) == (agent, agent.version, "+14155550100")
    assert call.agent_snapshot["greeting"] == "Hi {{name}}, this is Example Co."


@pytest.mark.django_db
def test_machine_detection_off_is_not_asked_for(agent, plivo_api, django_capture_on_commit_callbacks):
    agent.machine_detection = False
    agent.save()
    placed(agent, django_capture_on_commit_callbacks)
    assert not {"machine_detection", "machine_detection_url"} & set(plivo_api.created()[0])


@pytest.mark.django_db
def test_plivo_refusing_the_call_fails_it_with_the_reason(agent, plivo_api, django_capture_on_commit_callbacks):
    plivo_api.create_status, plivo_api.create_error = 400, "invalid to number format"
    call = placed(agent, django_capture_on_commit_callbacks)
    assert (call.status, call.hangup_cause, call.request_uuid) == ("failed", "plivo-refused", "")
    assert call.error_notes == "Plivo refused the call: invalid to number format"
    assert call.ended_at is not None


@pytest.mark.parametrize(
    ("to", "variables", "code", "field", "message"),
    [
        ("4155550100", {"name": "Ana"}, "invalid_number", "to",
         "“4155550100” has no country code: start with + and the country code, e.g. +1 415 555 0100."),
        ("+1 415 555 01", {"name": "Ana"}, "invalid_number", "to",
         "“+1 415 555 01” is not a valid phone number for its country code (+1). Check the digits, e.g. +1 415 555 0100."),  # noqa: E501
        (CALLEE, {}, "missing_variables", "variables",
         "The agent's lines use {{name}}: give it a value (e.g. --var name=…)."),
        (CALLEE, {"name": "Ana", "bad name": "x"}, "invalid_variables", "variables",
         "“bad name” is not a variable name: letters, digits and _ . -, starting with a letter or _ (at most 64 characters)."),  # noqa: E501
        (CALLEE, {"name": ["Ana"]}, "invalid_variables", "variables", "The value of “name” must be text."),
        (CALLEE, {"name": "x" * 501}, "invalid_variables", "variables",
         "The value of “name” is too long (at most 500 characters) or has a NUL."),
    ],
)  # fmt: skip
@pytest.mark.django_db
def test_bad_input_is_refused_and_nothing_is_stored(agent, plivo_api, to, variables, code, field, message):
    with pytest.raises(PlaceCallError) as caught:
        place_call(agent, to, variables)
    assert caught.value.as_dict() == {"code": code, "message": message, "field": field}
    assert not Call.objects.exists() and plivo_api.requests == []


@pytest.mark.django_db
def test_missing_variables_are_all_named(plivo_api):
    agent = make_agent(greeting="Hi {{name}}", system_prompt="Order {{ order_id }}")
    with pytest.raises(PlaceCallError) as caught:
        place_call(agent, CALLEE)
    assert caught.value.message == (
        "The agent's lines use {{name}}, {{order_id}}: give each a value (e.g. --var name=…)."
    )


@pytest.mark.django_db
def test_disabled_agent_and_missing_caller_id_are_refused(plivo_api):
    disabled = make_agent(enabled=False)
    with pytest.raises(PlaceCallError) as caught:
        place_call(disabled, CALLEE)
    assert (caught.value.code, caught.value.field) == ("agent_disabled", "agent")
    numberless = make_agent(name="No number", number=None)
    with pytest.raises(PlaceCallError) as caught:
        place_call(numberless, CALLEE)
    assert caught.value.as_dict() == {
        "code": "no_caller_id",
        "message": "Agent “No number” has no enabled phone number to call from: add one to the agent first.",
        "field": "agent",
    }
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_caller_id_is_the_chosen_number_when_it_is_the_agents(agent, plivo_api, django_capture_on_commit_callbacks):
    agent.phone_numbers.create(number="+14155550155", label="second")
    with django_capture_on_commit_callbacks(execute=True):
        call = place_call(agent, CALLEE, {"name": "Ana"}, from_number="+1 415 555 0155")
    assert call.from_number == "+14155550155"
    assert plivo_api.created()[0]["from"] == "14155550155"


@pytest.mark.django_db
def test_without_plivo_settings_the_call_is_refused(agent, settings):
    settings.PUBLIC_URL = ""
    with pytest.raises(PlaceCallError) as caught:
        place_call(agent, CALLEE, {"name": "Ana"})
    assert caught.value.code == "not_configured"


# ---- the webhooks of a placed call ----
class Signed:
    """A test client posting as Plivo: signed with the fake's auth token against PUBLIC_URL."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token, self.nonce = client, token, 0

    def post(self, path: str, params: dict[str, str]):
        self.nonce += 1
        headers = plivo_signature("POST", PUBLIC + path, params, self.token, nonce=f"n{self.nonce}")
        return self.client.post(path, params, headers=headers)


@pytest.fixture
def plivo(client, plivo_api) -> Signed:
    return Signed(client, plivo_api.auth_token)


def outbound_params(call: Call, **extra: str) -> dict[str, str]:
    return {
        "CallUUID": "plivo-call-1",
        "From": "14155550100",
        "To": "14155550199",
        "Direction": "outbound",
        "RequestUUID": call.request_uuid,
        "ALegRequestUUID": call.request_uuid,
        "ALegUUID": "plivo-call-1",
        **extra,
    }


@pytest.mark.django_db
def test_ring_answer_and_hangup_follow_the_placed_call(
    agent, plivo_api, plivo, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("calls.plivo.webhooks.schedule_finalize", lambda call_id: None)
    call = placed(agent, django_capture_on_commit_callbacks)
    assert plivo.post("/plivo/ring/", outbound_params(call, CallStatus="ringing")).json() == {"status": "recorded"}
    call.refresh_from_db()
    assert (call.call_uuid, call.status) == ("plivo-call-1", "ringing")
    answer = plivo.post("/plivo/answer/", outbound_params(call, CallStatus="in-progress"))
    assert answer.status_code == 200 and b"<Stream" in answer.content
    call.refresh_from_db()
    assert (call.status, Call.objects.count()) == ("in-progress", 1)
    assert call.variables["name"] == "Ana" and call.variables["customer_number"] == CALLEE
    detection = plivo.post("/plivo/machine-detection/", outbound_params(call, Machine="false"))
    assert detection.json() == {"status": "recorded", "answered_by": "human"}
    plivo.post("/plivo/hangup/", outbound_params(call, CallStatus="completed", HangupCause="NORMAL_CLEARING"))
    call.refresh_from_db()
    assert (call.status, call.hangup_cause, call.answered_by) == ("completed", "NORMAL_CLEARING", "human")
    assert list(CallEvent.objects.filter(call=call).values_list("kind", flat=True)) == [
        "ringing",
        "machine-detection",
    ]


@pytest.mark.parametrize(
    ("status", "cause", "expected"),
    [
        ("no-answer", "NO_ANSWER", "no-answer"),
        ("timeout", "NO_ANSWER", "no-answer"),
        ("busy", "USER_BUSY", "busy"),
        ("cancel", "ORIGINATOR_CANCEL", "cancelled"),
        ("failed", "UNALLOCATED_NUMBER", "failed"),
    ],
)
@pytest.mark.django_db
def test_unanswered_calls_end_with_their_status_and_cause(
    agent, plivo_api, plivo, django_capture_on_commit_callbacks, monkeypatch, status, cause, expected
):
    finalized = []
    monkeypatch.setattr("calls.plivo.webhooks.schedule_finalize", finalized.append)
    call = placed(agent, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = plivo.post("/plivo/hangup/", outbound_params(call, CallStatus=status, HangupCause=cause))
    assert response.json() == {"status": "recorded"}
    call.refresh_from_db()
    assert (call.call_uuid, call.status, call.hangup_cause, call.answered_by) == ("plivo-call-1", expected, cause, "")
    assert call.ended_at is not None and finalized == [call.pk]


@pytest.mark.django_db
def test_machine_answering_is_recorded_as_voicemail(agent, plivo_api, plivo, django_capture_on_commit_callbacks):
    call = placed(agent, django_capture_on_commit_callbacks)
    plivo.post("/plivo/answer/", outbound_params(call, CallStatus="in-progress"))
    response = plivo.post("/plivo/machine-detection/", outbound_params(call, Machine="true"))
    assert response.json() == {"status": "recorded", "answered_by": "voicemail"}
    assert Call.objects.get().answered_by == "voicemail"


@pytest.mark.django_db
def test_answered_without_a_verdict_is_unknown(agent, plivo_api, plivo, django_capture_on_commit_callbacks):
    call = placed(agent, django_capture_on_commit_callbacks)
    plivo.post("/plivo/answer/", outbound_params(call, CallStatus="in-progress"))
    plivo.post("/plivo/hangup/", outbound_params(call, CallStatus="completed", HangupCause="NORMAL_CLEARING"))
    assert Call.objects.get().answered_by == "unknown"


@pytest.mark.django_db
def test_machine_detection_for_an_unknown_call_is_a_404(plivo):
    response = plivo.post("/plivo/machine-detection/", {"CallUUID": "nope", "Machine": "true"})
    assert (response.status_code, response.json()) == (404, {"status": "unknown call"})
