"""A call is dialled at most once: a lost answer to ``calls.create`` (Plivo 5xx) is never dialled again, and the
call's first Plivo callback still finds it by the signed id its callback URLs carry; the sweeper fails one that
never hears from Plivo. The real plivo SDK runs against the local Plivo REST fake."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call
from calls.outbound import placed_token
from calls.tasks import dial_call, sweep_orphaned_calls
from tests.test_outbound_place import PUBLIC, Signed, agent, placed, plivo_api  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
# One calls.create is 3 requests when Plivo answers 5xx: the SDK itself retries a voice request on its two fallback
# base URLs (plivo/rest/client.py, API_VOICE_BASE_URI_FALLBACK_1/2). We call it once; the SDK's retries are Plivo's.
SDK_ATTEMPTS = 3


@pytest.fixture
def plivo(client, plivo_api) -> Signed:  # noqa: F811
    return Signed(client, plivo_api.auth_token)


def answered(call: Call, request_uuid: str) -> dict[str, str]:
    return {
        "CallUUID": "plivo-call-7",
        "From": "14155550100",
        "To": "14155550199",
        "Direction": "outbound",
        "RequestUUID": request_uuid,
        "ALegRequestUUID": request_uuid,
        "CallStatus": "in-progress",
    }


def test_a_lost_answer_is_never_dialled_again_and_the_answer_webhook_still_finds_the_call(
    agent,  # noqa: F811
    plivo_api,  # noqa: F811
    plivo,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr("calls.plivo.webhooks.schedule_finalize", lambda call_id: None)
    plivo_api.create_status = 500  # Plivo received the request; its answer is an error: placed or not, unknown
    call = placed(agent, django_capture_on_commit_callbacks)
    assert len(plivo_api.created()) == SDK_ATTEMPTS
    assert call.status == "queued" and call.request_uuid.startswith("dialling-")
    assert "the call may have been placed" in call.error_notes

    plivo_api.create_status = 201
    dial_call.delay(call.pk)  # the task redelivered, or retried by hand
    assert len(plivo_api.created()) == SDK_ATTEMPTS

    response = plivo.post(f"/plivo/answer/?placed={placed_token(call.pk)}", answered(call, "req-from-plivo"))
    assert response.status_code == 200 and b"<Stream" in response.content
    call.refresh_from_db()
    assert (call.call_uuid, call.request_uuid, call.status) == ("plivo-call-7", "req-from-plivo", "in-progress")
    assert Call.objects.count() == 1


def test_a_forged_placed_id_adopts_nothing(agent, plivo_api, plivo, django_capture_on_commit_callbacks):  # noqa: F811
    plivo_api.create_status = 500
    call = placed(agent, django_capture_on_commit_callbacks)
    forged = placed_token(call.pk)[:-2] + "xx"
    plivo.post(f"/plivo/ring/?placed={forged}", answered(call, "req-other") | {"CallStatus": "ringing"})
    call.refresh_from_db()
    assert (call.status, call.call_uuid.startswith("queued-")) == ("queued", True)


def test_the_sweeper_fails_an_uncertain_dial_that_never_heard_from_plivo(
    agent,  # noqa: F811
    plivo_api,  # noqa: F811
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    monkeypatch.setattr("calls.tasks.finalize_call.delay", lambda call_id: None)
    plivo_api.create_status = 500
    call = placed(agent, django_capture_on_commit_callbacks)
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        sweep_orphaned_calls()
    call.refresh_from_db()
    assert (call.status, call.hangup_cause) == ("failed", "dial-uncertain")
    assert "no callback of the call came" in call.error_notes
    assert len(plivo_api.created()) == SDK_ATTEMPTS
