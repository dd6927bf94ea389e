"""The agent's webhook: signed JSON POST against a local receiver, retried with backoff, delivered once."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator

import pytest

from calls.customer_webhook import signature
from calls.models import CallEvent
from calls.tasks import deliver_webhook, finalize_call
from tests.call_factories import dental_agent, make_call
from tests.fakes.webhook_receiver import Receiver
from tests.test_call_metrics import KNOWN_AGGREGATES

pytestmark = pytest.mark.django_db
SECRET = "s3cret-key"


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    """The receiver listens on 127.0.0.1, a private address: these tests allow it explicitly."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def receiver(request) -> Iterator[Receiver]:
    with Receiver(getattr(request, "param", [])) as server:
        yield server


def hooked_call(url: str):
    return make_call(dental_agent(webhook_url=url, webhook_secret=SECRET))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("receiver", [[500]], indirect=True)
def test_webhook_is_signed_and_retried_after_a_500(receiver):
    call = hooked_call(receiver.url)
    finalize_call.delay(call.pk)

    assert len(receiver.requests) == 2
    (path, headers, body), (_, _, retried_body) = receiver.requests
    assert (path, headers["content-type"], headers["x-call-uuid"]) == ("/hooks/calls", "application/json", "CA-known-1")
    timestamp = headers["x-signature-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["x-signature"] == expected == signature(body, SECRET, int(timestamp))
    assert retried_body == body
    payload = json.loads(body)
    assert sorted(payload) == [
        "analysis_status",
        "call",
        "data",
        "event",
        "metrics",
        "sentiment",
        "sentiment_reason",
        "summary",
        "transcript",
    ]
    assert payload["call"] == {
        "id": call.pk,
        "call_uuid": "CA-known-1",
        "agent": {"id": call.agent_id, "name": "Dental desk", "slug": "dental-desk"},
        "agent_version": call.agent_version,
        "from": "+14155550111",
        "to": "+14155550100",
        "direction": "inbound",
        "status": "completed",
        "created_at": "2025-03-04T10:00:00+00:00",
        "answered_at": "2025-03-04T10:00:01+00:00",
        "ended_at": "2025-03-04T10:00:43+00:00",
        "duration_seconds": 42,
        "hangup_cause": "NORMAL_CLEARING",
        "has_recording": False,
    }
    assert (payload["event"], payload["analysis_status"], payload["metrics"]) == (
        "call.finalized",
        "done",
        KNOWN_AGGREGATES,
    )
    assert payload["data"] == {"email": "jane@example.com", "visits": None, "appointment": None, "callback": None}
    assert payload["transcript"][2] == {
        "sequence": 3,
        "role": "agent",
        "text": "Sure, we have Tuesday at 10 or Thursday at 2.",
        "heard_text": "Sure, we have Tuesday at 10",
        "interrupted": True,
        "start_ms": 7300,
        "end_ms": 9000,
        "latency": {"stt_ms": 150, "llm_ms": 420, "tts_ms": 160, "send_ms": 20, "voice_to_voice_ms": 800},
    }
    event = CallEvent.objects.get(call=call, kind="webhook")
    assert event.data == {"url": receiver.url, "status": 200, "attempt": 2}


def test_delivered_webhook_is_never_sent_again(receiver):
    call = hooked_call(receiver.url)
    finalize_call.delay(call.pk)
    finalize_call.delay(call.pk)
    deliver_webhook.delay(call.pk)
    assert len(receiver.requests) == 1
    assert list(call.events.values_list("kind", flat=True)) == ["webhook"]


@pytest.mark.parametrize("receiver", [[410]], indirect=True)
def test_client_error_is_permanent_and_recorded(receiver):
    call = hooked_call(receiver.url)
    finalize_call.delay(call.pk)
    call.refresh_from_db()
    assert len(receiver.requests) == 1
    event = CallEvent.objects.get(call=call)
    assert (event.kind, event.data) == ("webhook-failed", {"url": receiver.url, "error": "HTTP 410", "attempt": 1})
    assert call.error_notes == f"Webhook to {receiver.url} failed after 1 attempt(s): HTTP 410"


@pytest.mark.parametrize("receiver", [[503] * 7], indirect=True)
def test_retries_are_bounded(receiver):
    call = hooked_call(receiver.url)
    finalize_call.delay(call.pk)
    assert len(receiver.requests) == 7  # first attempt and max_retries=6
    event = CallEvent.objects.get(call=call)
    assert (event.kind, event.data["error"], event.data["attempt"]) == ("webhook-failed", "HTTP 503", 7)


def test_unreachable_receiver_is_retried_then_recorded():
    url = f"http://127.0.0.1:{free_port()}/hook"
    call = hooked_call(url)
    finalize_call.delay(call.pk)
    event = CallEvent.objects.get(call=call)
    assert (event.kind, event.data["attempt"], event.data["error"].startswith("ConnectError")) == (
        "webhook-failed",
        7,
        True,
    )


def test_agent_without_webhook_sends_nothing(receiver):
    call = make_call(dental_agent())
    finalize_call.delay(call.pk)
    deliver_webhook.delay(call.pk)
    assert (receiver.requests, call.events.count()) == ([], 0)
