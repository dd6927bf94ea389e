"""The answer URL: XML per number, idempotent Call rows, polite refusals, clear 400s."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from agents.models import Agent
from calls.models import Call
from calls.plivo.tokens import read_stream_token
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

ANSWER = "/plivo/answer/"


def answer_params(**overrides: str) -> dict[str, str]:
    params = {
        "CallUUID": "uuid-1",
        "From": "14155550111",
        "To": "14155550100",
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    params.update(overrides)
    return params


def parse_stream(content: bytes) -> ET.Element:
    root = ET.fromstring(content)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Stream"]
    return root[0]


def test_inbound_call_streams_to_our_websocket(client):
    agent = make_agent()
    response = client.post(ANSWER, answer_params())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    stream = parse_stream(response.content)
    assert stream.attrib == {
        "bidirectional": "true",
        "keepCallAlive": "true",
        "contentType": "audio/x-mulaw;rate=8000",
        "statusCallbackUrl": "http://testserver/plivo/stream-status/",
        "statusCallbackMethod": "POST",
    }
    prefix = "ws://testserver/ws/plivo/"
    assert stream.text.startswith(prefix) and stream.text.endswith("/")
    assert read_stream_token(stream.text[len(prefix) : -1]) == "uuid-1"
    call = Call.objects.get()
    assert (call.call_uuid, call.agent, call.status, call.direction) == ("uuid-1", agent, "in-progress", "inbound")
    assert (call.from_number, call.to_number, call.agent_version) == ("+14155550111", "+14155550100", 1)
    assert call.agent_snapshot["greeting"] == "Hello, how can I help?"
    assert call.answered_at is not None


def test_public_url_gives_wss_stream_and_https_callback(client, settings):
    make_agent()
    settings.PUBLIC_URL = "https://voice.example.com"
    stream = parse_stream(client.post(ANSWER, answer_params()).content)
    assert stream.text.startswith("wss://voice.example.com/ws/plivo/")
    assert stream.attrib["statusCallbackUrl"] == "https://voice.example.com/plivo/stream-status/"


def test_outbound_call_routes_by_from_number(client):
    agent = make_agent(number="+14155550199")
    response = client.post(ANSWER, answer_params(From="+14155550199", To="14155550123", Direction="outbound"))
    parse_stream(response.content)
    call = Call.objects.get()
    assert (call.agent, call.direction, call.to_number) == (agent, "outbound", "+14155550123")


def test_get_answer_is_supported(client):
    make_agent()
    response = client.get(ANSWER, answer_params())
    assert response.status_code == 200
    parse_stream(response.content)


DECLINE = b"<Response>\n  <Speak>Sorry, this number is not in service. Goodbye.</Speak>\n  <Hangup/>\n</Response>\n"


def test_unknown_number_is_declined_politely(client):
    response = client.post(ANSWER, answer_params(To="19999999999"))
    assert response.status_code == 200
    assert response.content == DECLINE
    call = Call.objects.get()
    assert (call.status, call.agent, call.to_number) == ("no-agent", None, "+19999999999")
    assert call.error_notes == "No phone number configured for 19999999999."


def test_disabled_agent_is_declined(client):
    make_agent(enabled=False)
    assert client.post(ANSWER, answer_params()).content == DECLINE
    call = Call.objects.get()
    assert call.status == "no-agent"
    assert call.error_notes == "Agent Test agent is disabled."


def test_disabled_number_is_declined(client):
    agent = make_agent()
    agent.phone_numbers.update(enabled=False)
    assert client.post(ANSWER, answer_params()).content == DECLINE
    assert Call.objects.get().error_notes == "Phone number +14155550100 is disabled."


def test_repeated_answer_keeps_one_call_and_its_snapshot(client):
    agent = make_agent()
    client.post(ANSWER, answer_params())
    agent.greeting = "Changed greeting"
    agent.save()
    second = client.post(ANSWER, answer_params())
    parse_stream(second.content)
    call = Call.objects.get()
    assert call.agent_version == 1
    assert call.agent_snapshot["greeting"] == "Hello, how can I help?"
    assert Agent.objects.get().version == 2


def test_answer_for_a_finished_call_is_declined(client):
    make_agent()
    client.post(ANSWER, answer_params())
    client.post("/plivo/hangup/", {"CallUUID": "uuid-1", "Duration": "3", "HangupCause": "NORMAL_CLEARING"})
    assert client.post(ANSWER, answer_params()).content == DECLINE


@pytest.mark.parametrize("missing", ["CallUUID", "From", "To"])
def test_missing_params_give_a_clear_400(client, missing):
    params = answer_params()
    del params[missing]
    response = client.post(ANSWER, params)
    assert response.status_code == 400
    assert response.content.decode() == f"Missing required parameter(s): {missing}"
    assert Call.objects.count() == 0


def test_other_methods_are_refused(client):
    assert client.put(ANSWER).status_code == 405
