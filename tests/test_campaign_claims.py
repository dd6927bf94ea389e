"""Never twice: two ticks racing, a stale claim, a worker that stops between the claim and ``calls.create`` (the
row is called again), one that stops after the request may have reached Plivo (the row is never placed again
blindly), redelivered dials, an unreachable or refusing Plivo, a cancel before the dial, a hang-up that never
comes. ``calls.create`` requests are counted per number on the Plivo REST fake."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from calls import dialing
from calls.campaign_models import Campaign, CampaignRow
from calls.campaigns import control, dial, outcome, reconcile
from calls.campaigns import tick as ticks
from calls.models import Call
from tests import campaign_support
from tests.campaign_support import calling, make_campaign, numbers, per_number, run_tick

plivo_api, plivo, no_finalize = campaign_support.plivo_api, campaign_support.plivo, campaign_support.no_finalize
NOW = datetime(2030, 1, 8, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))  # a Tuesday, in the window


def started(phones: list[str], **fields) -> Campaign:
    campaign = make_campaign(phones, **fields)
    control.apply(campaign.pk, "start")
    return campaign


@pytest.mark.django_db(transaction=True)
def test_two_ticks_racing_place_each_row_once(plivo_api, no_finalize):
    phones = numbers(10)
    campaign = started(phones, max_concurrent=10)
    barrier, results = threading.Barrier(2), []
    serial = threading.Lock() if connection.vendor == "sqlite" else None  # SQLite: one writer at a time

    def worker() -> None:
        try:
            barrier.wait()
            if serial is None:
                results.append(ticks.tick(NOW))
            else:
                with serial:
                    results.append(ticks.tick(NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r[campaign.pk] for r in results) == [0, 10]
    assert per_number(plivo_api) == dict.fromkeys(phones, 1)
    assert Call.objects.count() == 10 and len(calling()) == 10


@pytest.mark.django_db
def test_a_stale_claim_loses_to_the_tick_that_claimed_first(
    plivo_api, no_finalize, monkeypatch, django_capture_on_commit_callbacks
):
    phones = numbers(4)
    campaign = started(phones, max_concurrent=4)
    real, raced = ticks.candidates, []

    def racing(*args):
        seen = real(*args)  # this tick has read the rows as pending …
        if not raced:
            raced.append(None)
            raced[0] = ticks.place_for(campaign.pk, NOW)  # … and another tick claims and places them first
        return seen

    monkeypatch.setattr(ticks, "candidates", racing)
    assert run_tick(django_capture_on_commit_callbacks, NOW) == {campaign.pk: 0}  # the conditional UPDATE lost
    assert raced == [4]
    assert per_number(plivo_api) == dict.fromkeys(phones, 1)
    assert list(CampaignRow.objects.values_list("attempts", flat=True)) == [1, 1, 1, 1]


@pytest.mark.django_db
def test_a_worker_stopping_between_claim_and_create_gets_the_row_called_again_once(
    plivo_api, no_finalize, django_capture_on_commit_callbacks
):
    phones = numbers(3)
    campaign = started(phones, max_concurrent=3)
    with django_capture_on_commit_callbacks(execute=False):  # claimed and committed; the dials are lost
        assert ticks.tick(NOW) == {campaign.pk: 3}
    lost = [row.last_call_id for row in calling()]
    assert plivo_api.created() == [] and len(lost) == 3
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(seconds=119)) == {campaign.pk: 0}  # grace
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(seconds=121)) == {campaign.pk: 3}
    assert per_number(plivo_api) == dict.fromkeys(phones, 1)
    for call in Call.objects.filter(pk__in=lost):
        assert (call.status, call.hangup_cause, call.request_uuid) == ("cancelled", "never-dialled", "")
        assert "never dialled" in call.error_notes
    assert [dial.dial(call_id) for call_id in lost] == ["skipped"] * 3  # the lost tasks, redelivered late
    assert per_number(plivo_api) == dict.fromkeys(phones, 1)
    assert list(CampaignRow.objects.values_list("status", "attempts")) == [("calling", 1)] * 3
    assert not set(lost) & set(CampaignRow.objects.values_list("last_call_id", flat=True))


class WorkerLost(Exception):
    pass


@pytest.mark.django_db
def test_a_worker_stopping_after_the_request_may_have_reached_plivo_never_places_it_again(
    plivo_api, no_finalize, monkeypatch, django_capture_on_commit_callbacks
):
    phone = numbers(1)[0]
    started([phone])
    real = dialing.rest.place_call

    def sent_then_crash(params):
        real(params)
        raise WorkerLost  # the process died before the request uuid was stored

    monkeypatch.setattr(dialing.rest, "place_call", sent_then_crash)
    run_tick(django_capture_on_commit_callbacks, NOW)
    monkeypatch.setattr(dialing.rest, "place_call", real)
    (row,) = calling()
    assert row.last_call.request_uuid.startswith("dialling-")
    assert dial.dial(row.last_call_id) == "skipped"  # the task redelivered (acks_late): no second create
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(minutes=3)) == {}  # completed at once
    row.refresh_from_db()
    assert (row.status, row.outcome, row.error) == ("failed", "failed", outcome.UNCERTAIN_ERROR)
    assert (row.last_call.status, row.last_call.hangup_cause) == ("failed", "dial-uncertain")
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(hours=1)) == {}
    assert per_number(plivo_api) == {phone: 1}
    assert Campaign.objects.get().status == "completed"


@pytest.mark.django_db
def test_a_dialled_call_is_never_dialled_again(plivo_api, no_finalize, django_capture_on_commit_callbacks):
    phone = numbers(1)[0]
    started([phone])
    run_tick(django_capture_on_commit_callbacks, NOW)
    (row,) = calling()
    assert dial.dial(row.last_call_id) == "skipped"
    assert per_number(plivo_api) == {phone: 1}


@pytest.mark.django_db
def test_plivo_unreachable_retries_the_row_a_minute_later_without_using_an_attempt(
    plivo_api, no_finalize, settings, django_capture_on_commit_callbacks
):
    phone = numbers(1)[0]
    campaign = started([phone], max_attempts=1)
    fake_url, settings.PLIVO_API_URL = settings.PLIVO_API_URL, "http://127.0.0.1:9"  # nothing listens there
    run_tick(django_capture_on_commit_callbacks, NOW)
    row = CampaignRow.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at, row.last_call) == (
        "retry",
        0,
        NOW + timedelta(minutes=1),
        None,
    )
    settings.PLIVO_API_URL = fake_url
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(seconds=59)) == {campaign.pk: 0}
    assert run_tick(django_capture_on_commit_callbacks, NOW + timedelta(minutes=1)) == {campaign.pk: 1}
    assert per_number(plivo_api) == {phone: 1}


@pytest.mark.django_db
def test_plivo_refusing_fails_the_row_with_plivos_reason(plivo_api, no_finalize, django_capture_on_commit_callbacks):
    plivo_api.create_status, plivo_api.create_error = 400, "invalid to number format"
    started(numbers(1))
    run_tick(django_capture_on_commit_callbacks, NOW)
    row = CampaignRow.objects.get()
    assert (row.status, row.outcome, row.attempts) == ("failed", "failed", 1)
    assert row.error == "Plivo refused the call: invalid to number format"
    assert Campaign.objects.get().status == "completed"


@pytest.mark.django_db
def test_cancel_stops_calls_not_yet_dialled(plivo_api, no_finalize, django_capture_on_commit_callbacks):
    phones = numbers(3)
    campaign = started(phones, max_concurrent=2)
    with django_capture_on_commit_callbacks(execute=False):
        ticks.tick(NOW)
    queued = [row.last_call_id for row in calling()]
    control.apply(campaign.pk, "cancel")
    assert [dial.dial(call_id) for call_id in queued] == ["cancelled", "cancelled"]
    assert plivo_api.created() == []
    assert sorted(CampaignRow.objects.values_list("status", flat=True)) == ["cancelled"] * 3
    assert set(Call.objects.values_list("status", "hangup_cause")) == {("cancelled", "campaign-cancelled")}
    with pytest.raises(control.CampaignError) as refused:
        control.apply(campaign.pk, "resume")
    assert (refused.value.code, refused.value.message) == (
        "invalid_state",
        "Campaign “Reminders” is cancelled: it cannot be resumed.",
    )


@pytest.mark.django_db
def test_a_hangup_that_never_comes_frees_the_slot_after_the_time_limit(
    plivo_api, plivo, no_finalize, django_capture_on_commit_callbacks
):
    phones = numbers(2)
    campaign = started(phones, max_concurrent=1)
    campaign.agent.max_call_seconds, campaign.agent.ring_timeout_seconds = 600, 30
    campaign.agent.save()
    run_tick(django_capture_on_commit_callbacks, NOW)
    (row,) = calling()
    plivo.post("/plivo/answer/", plivo.params(row.last_call, CallStatus="in-progress"))  # then silence
    limit = timedelta(seconds=630) + reconcile.STUCK_MARGIN
    assert run_tick(django_capture_on_commit_callbacks, NOW + limit) == {campaign.pk: 0}
    assert run_tick(django_capture_on_commit_callbacks, NOW + limit + timedelta(seconds=1)) == {campaign.pk: 1}
    row.refresh_from_db()
    assert (row.status, row.outcome, row.error) == ("failed", "failed", reconcile.NO_HANGUP)
    assert per_number(plivo_api) == dict.fromkeys(phones, 1)
