"""What Plivo sends fits the columns: long SIP URIs and CallUUIDs are stored whole, odd Directions are mapped, and
what cannot be stored is refused with a clear 400 (never a DataError 500). Run with DATABASE_URL=postgres://… the
column lengths are enforced by the database itself."""

from __future__ import annotations

import pytest

from calls.models import Call
from calls.plivo.tokens import read_stream_token
from tests.factories import make_agent
from tests.test_answer_webhook import ANSWER, answer_params, parse_stream

pytestmark = pytest.mark.django_db(transaction=True)

HANGUP = "/plivo/hangup/"
SIP_FROM = "sip:alice.longname-" + "x" * 40 + "@sip.customer-pbx.example.com;transport=tls"  # 102 characters
UUID_80 = "c" * 36 + "-" + "d" * 43


@pytest.fixture(autouse=True)
def no_finalize(monkeypatch):
    monkeypatch.setattr("calls.tasks.finalize_call.run", lambda call_id: None)


def call_row(call_uuid: str) -> tuple:
    return Call.objects.filter(call_uuid=call_uuid).values_list(
        "call_uuid", "from_number", "to_number", "direction", "status"
    )[0]


def test_long_sip_from_is_stored_whole(client):
    make_agent()
    response = client.post(ANSWER, answer_params(From=SIP_FROM))
    parse_stream(response.content)
    assert len(SIP_FROM) == 102
    assert call_row("uuid-1") == ("uuid-1", SIP_FROM, "+14155550100", "inbound", "in-progress")


def test_80_character_call_uuid_answers_streams_and_hangs_up(client):
    make_agent()
    stream = parse_stream(client.post(ANSWER, answer_params(CallUUID=UUID_80)).content)
    token = stream.text.removeprefix("ws://testserver/ws/plivo/").removesuffix("/")
    assert read_stream_token(token) == UUID_80
    assert call_row(UUID_80) == (UUID_80, "+14155550111", "+14155550100", "inbound", "in-progress")
    response = client.post(HANGUP, {"CallUUID": UUID_80, "Duration": "7", "HangupCause": "NORMAL_CLEARING"})
    assert response.json() == {"status": "recorded"}
    assert call_row(UUID_80)[-1] == "completed"
    assert Call.objects.values_list("duration_seconds", "hangup_cause").get() == (7, "NORMAL_CLEARING")


def test_outbound_api_direction_is_outbound_and_routes_by_from(client):
    agent = make_agent(number="+14155550199")
    params = answer_params(From="14155550199", To="14155550123", Direction="outbound-api")
    parse_stream(client.post(ANSWER, params).content)
    assert call_row("uuid-1") == ("uuid-1", "+14155550199", "+14155550123", "outbound", "in-progress")
    assert Call.objects.get().agent == agent


@pytest.mark.parametrize("direction", ["sideways", "", "INBOUND"])
def test_unknown_direction_is_inbound(client, direction):
    make_agent()
    parse_stream(client.post(ANSWER, answer_params(Direction=direction)).content)
    assert call_row("uuid-1") == ("uuid-1", "+14155550111", "+14155550100", "inbound", "in-progress")


def test_hangup_of_an_unknown_call_maps_direction_and_keeps_sip_numbers(client):
    params = {"CallUUID": UUID_80, "From": SIP_FROM, "To": "sip:agent@example.com", "Direction": "outbound-call"}
    assert client.post(HANGUP, params).json() == {"status": "recorded"}
    assert call_row(UUID_80) == (UUID_80, SIP_FROM, "sip:agent@example.com", "outbound", "completed")
    assert Call.objects.get().hangup_data == params


def test_long_hangup_cause_is_cut_to_the_column_and_kept_raw(client):
    cause = "NORMAL_CLEARING " + "z" * 150
    client.post(HANGUP, {"CallUUID": "uuid-1", "HangupCause": cause})
    call = Call.objects.get()
    assert (call.hangup_cause, call.hangup_data["HangupCause"]) == (cause[:100], cause)


@pytest.mark.parametrize("duration", ["²", "99999999999", "-3", "1.5", ""])
def test_odd_duration_is_ignored(client, duration):
    response = client.post(HANGUP, {"CallUUID": "uuid-1", "Duration": duration})
    assert response.json() == {"status": "recorded"}
    assert Call.objects.values_list("duration_seconds", "status").get() == (None, "completed")


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (ANSWER, answer_params(CallUUID="u" * 129), "CallUUID is 129 characters long; at most 128 are accepted."),
        (ANSWER, answer_params(From="sip:" + "f" * 252), "From is 256 characters long; at most 255 are accepted."),
        (ANSWER, answer_params(To="1" * 255), "To is 256 characters long; at most 255 are accepted."),
        (HANGUP, {"CallUUID": "u" * 200}, "CallUUID is 200 characters long; at most 128 are accepted."),
        (ANSWER, answer_params(From="1415\x00"), "Parameter(s) with a NUL character: 'From'."),
        (HANGUP, {"CallUUID": "uuid-1", "HangupCause": "x\x00"}, "Parameter(s) with a NUL character: 'HangupCause'."),
        (
            "/plivo/stream-status/",
            {"CallUUID": "uuid-1", "Event": "\x00"},
            "Parameter(s) with a NUL character: 'Event'.",
        ),
        ("/plivo/transfer/", {"CallUUID": "u\x00"}, "Parameter(s) with a NUL character: 'CallUUID'."),
    ],
)
def test_values_that_cannot_be_stored_are_a_clear_400(client, path, params, message):
    make_agent()
    response = client.post(path, params)
    assert (response.status_code, response["Content-Type"], response.content.decode()) == (
        400,
        "text/plain",
        message,
    )
    assert Call.objects.count() == 0
