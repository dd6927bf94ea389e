"""Hangup and stream-status callbacks: idempotent, raw data kept, after-call work scheduled once."""

from __future__ import annotations

import pytest

from calls.models import Call, CallEvent
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

HANGUP = {
    "CallUUID": "uuid-1",
    "From": "14155550111",
    "To": "14155550100",
    "Direction": "inbound",
    "CallStatus": "completed",
    "Duration": "42",
    "BillDuration": "60",
    "HangupCause": "NORMAL_CLEARING",
    "HangupSource": "Callee",
}


@pytest.fixture
def finalize_calls(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("calls.tasks.finalize_call.run", lambda call_id: calls.append(call_id))
    return calls


def answered(client) -> Call:
    make_agent()
    client.post("/plivo/answer/", {"CallUUID": "uuid-1", "From": "14155550111", "To": "14155550100"})
    return Call.objects.get()


def test_hangup_is_recorded_once(client, finalize_calls):
    call = answered(client)
    first = client.post("/plivo/hangup/", HANGUP)
    second = client.post("/plivo/hangup/", {**HANGUP, "Duration": "99"})
    assert (first.status_code, first.json()) == (200, {"status": "recorded"})
    assert (second.status_code, second.json()) == (200, {"status": "already recorded"})
    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.hangup_cause) == ("completed", 42, "NORMAL_CLEARING")
    assert call.hangup_data == HANGUP
    assert call.ended_at is not None
    assert finalize_calls == [call.pk]


def test_failed_outbound_call_is_marked_failed(client, finalize_calls):
    answered(client)
    client.post("/plivo/hangup/", {**HANGUP, "CallStatus": "busy", "Duration": "0"})
    assert Call.objects.get().status == "failed"


def test_hangup_for_unknown_call_keeps_the_data(client, finalize_calls):
    client.post("/plivo/hangup/", HANGUP)
    call = Call.objects.get()
    assert (call.call_uuid, call.status, call.hangup_data) == ("uuid-1", "completed", HANGUP)


def test_hangup_without_call_uuid_is_a_400(client, finalize_calls):
    response = client.post("/plivo/hangup/", {"Duration": "3"})
    assert (response.status_code, response.content) == (400, b"Missing required parameter(s): CallUUID")
    assert finalize_calls == []


def test_stream_status_is_stored(client):
    call = answered(client)
    form = {"CallUUID": "uuid-1", "Event": "StartStream", "StreamID": "s-1"}
    response = client.post("/plivo/stream-status/", form)
    assert response.status_code == 200
    event = CallEvent.objects.get()
    assert (event.call, event.kind, event.data) == (call, "stream-status", form)


def test_stream_status_for_unknown_call_is_404_and_writes_nothing(client):
    response = client.post("/plivo/stream-status/", {"CallUUID": "nope", "Event": "StartStream"})
    assert response.status_code == 404
    assert CallEvent.objects.count() == 0


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok")


def test_transfer_url_dials_the_agents_transfer_number(client):
    make_agent(transfer_number="+14155550999")
    client.post("/plivo/answer/", {"CallUUID": "uuid-1", "From": "14155550111", "To": "14155550100"})
    response = client.post("/plivo/transfer/", {"CallUUID": "uuid-1"})
    assert response.content == (  # the legacy number: destination "default", cold, back to the agent if unanswered
        b'<Response>\n  <Dial action="http://testserver/plivo/transfer/dial-action/?to=default" method="POST" '
        b'timeout="30" callerId="+14155550111">\n    <Number>+14155550999</Number>\n  </Dial>\n</Response>\n'
    )
    assert list(CallEvent.objects.values_list("kind", "data")) == [
        ("transfer", {"destination": "default", "number": "+14155550999", "status": "dialing", "warm": False})
    ]


def test_transfer_without_a_number_declines(client):
    make_agent()
    client.post("/plivo/answer/", {"CallUUID": "uuid-1", "From": "14155550111", "To": "14155550100"})
    response = client.post("/plivo/transfer/", {"CallUUID": "uuid-1"})
    assert b"<Speak>Sorry, nobody is available to take your call. Goodbye.</Speak>" in response.content


def test_a_broker_outage_does_not_fail_the_hangup(client, monkeypatch, caplog):
    """Celery's broker (Redis) is down: the hang-up is still recorded and answered; the sweeper finalizes later."""
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("calls.tasks.finalize_call.delay", broker_down)
    call = answered(client)
    response = client.post("/plivo/hangup/", HANGUP)
    assert (response.status_code, response.json()) == (200, {"status": "recorded"})
    call.refresh_from_db()
    assert (call.status, call.hangup_cause, call.finalized_at) == ("completed", "NORMAL_CLEARING", None)
    assert "the sweeper will finalize it" in caplog.text
