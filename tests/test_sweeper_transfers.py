"""A transferred call's stream ends while the caller talks to a person: the sweeper leaves it to Plivo's hang-up
callback (up to a bound), and closes it as usual once the transfer ended or came back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call, CallEvent
from calls.tasks import ORPHAN_CAUSE, sweep_orphaned_calls
from calls.transfers import WITH_A_PERSON_FOR
from tests.call_factories import dental_agent, make_call

pytestmark = pytest.mark.django_db


def stream_ended(agent, uuid: str, ago: timedelta, *transfer_statuses: str) -> Call:
    ended = timezone.now() - ago
    call = make_call(
        agent,
        call_uuid=uuid,
        status=Call.Status.IN_PROGRESS,
        stream_started_at=ended - timedelta(minutes=2),
        stream_ended_at=ended,
        ended_at=None,
        duration_seconds=None,
        hangup_cause="",
    )
    for status in transfer_statuses:
        CallEvent.objects.create(call=call, kind="transfer", data={"destination": "sales", "status": status})
    return call


def test_a_call_put_through_to_a_person_is_not_an_orphan(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("calls.tasks.finalize_call.delay", lambda call_id: None)
    agent = dental_agent()
    talking = stream_ended(agent, "CA-person", timedelta(minutes=30), "transferred", "dialing")
    came_back = stream_ended(agent, "CA-back", timedelta(minutes=30), "transferred", "dialing", "no-answer")
    too_long = stream_ended(agent, "CA-forever", WITH_A_PERSON_FOR + timedelta(minutes=1), "transferred", "dialing")
    plain = stream_ended(agent, "CA-plain", timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        sweep_orphaned_calls()
    closed = {c.call_uuid: (c.ended_at is not None, c.hangup_cause) for c in Call.objects.all()}
    assert closed == {
        talking.call_uuid: (False, ""),
        came_back.call_uuid: (True, ORPHAN_CAUSE),
        too_long.call_uuid: (True, ORPHAN_CAUSE),
        plain.call_uuid: (True, ORPHAN_CAUSE),
    }
