"""A campaign of 50 rows against the Plivo REST fake (the real plivo SDK): never more than the cap in flight,
nothing outside the window (frozen time), retries at their time and not beyond the maximum, a do-not-call number
skipped, pause and resume, and the campaign completes with every row's outcome."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.campaigns import control
from tests import campaign_support
from tests.campaign_support import calling, make_campaign, numbers, per_number, run_tick

pytestmark = pytest.mark.django_db
plivo_api, plivo, no_finalize = campaign_support.plivo_api, campaign_support.plivo, campaign_support.no_finalize
LA = ZoneInfo("America/Los_Angeles")
MONDAY_0859 = datetime(2030, 1, 7, 8, 59, tzinfo=LA)


def how_it_ends(phone: str, attempt: int) -> str:
    last = int(phone[-2:])
    if last % 10 == 1:
        return "no-answer"  # never answers: tried max_attempts times
    if last % 10 == 2 and attempt == 1:
        return "busy"  # busy first, reached on the retry
    if last % 10 == 3:
        return "voicemail"  # not retried (retry_voicemail off)
    if last % 10 == 4:
        return "failed"
    return "reached"


def test_fifty_rows_cap_window_retries_do_not_call_pause_resume(
    plivo_api, plivo, no_finalize, django_capture_on_commit_callbacks
):
    tick = lambda now: run_tick(django_capture_on_commit_callbacks, now)  # noqa: E731
    phones = numbers(50)
    DoNotCall.objects.create(number=phones[7], reason="asked not to be called")
    campaign = make_campaign(phones, max_concurrent=5, max_attempts=2, retry_delay_minutes=30)
    assert campaign.window_days == [0, 1, 2, 3, 4] and (campaign.window_start.hour, campaign.window_end.hour) == (9, 18)
    assert CampaignRow.objects.get(phone=phones[7]).status == "skipped"
    control.apply(campaign.pk, "start")

    with time_machine.travel(MONDAY_0859, tick=False) as clock:
        assert tick(MONDAY_0859) == {campaign.pk: 0} and plivo_api.created() == []  # 08:59 in Los Angeles
        now, attempts, peak, paused_once = MONDAY_0859 + timedelta(minutes=1), {}, 0, False
        for _ in range(400):
            clock.move_to(now)
            placed = tick(now)[campaign.pk] if Campaign.objects.get().status == "running" else 0
            in_flight = calling()
            peak = max(peak, len(in_flight))
            assert len(in_flight) <= 5
            local = now.astimezone(LA)
            if placed:
                assert local.weekday() < 5 and 9 <= local.hour < 18, local  # nothing outside the window
            if len(plivo_api.created()) >= 20 and not paused_once:  # pause: no new call, the calls in flight end
                control.apply(campaign.pk, "pause")
                paused_once = True
                before = len(plivo_api.created())
                for row in in_flight:
                    attempts[row.phone] = attempts.get(row.phone, 0) + 1
                    plivo.end(row.last_call, how_it_ends(row.phone, attempts[row.phone]))
                assert tick(now + timedelta(minutes=1)) == {}  # a paused campaign is not ticked
                assert len(plivo_api.created()) == before and calling() == []
                control.apply(campaign.pk, "resume")
                continue
            for row in in_flight:
                attempts[row.phone] = attempts.get(row.phone, 0) + 1
                plivo.end(row.last_call, how_it_ends(row.phone, attempts[row.phone]))
            if Campaign.objects.get().status == "completed":
                break
            now += timedelta(minutes=2) if local.hour < 18 else timedelta(hours=1)
    assert peak == 5 and paused_once

    created = per_number(plivo_api)
    assert phones[7] not in created  # do-not-call
    for phone in phones:
        if phone == phones[7]:
            continue
        expected = 2 if phone[-1] in "12" else 1
        assert created[phone] == expected, phone
    assert sum(created.values()) == len(plivo_api.created())

    rows = {r.phone: r for r in CampaignRow.objects.all()}
    assert (rows[phones[7]].status, rows[phones[7]].outcome, rows[phones[7]].error) == (
        "skipped",
        "do-not-call",
        "On the do-not-call list.",
    )
    for phone, row in rows.items():
        if phone == phones[7]:
            continue
        expected = {"1": ("done", "no-answer", 2), "2": ("done", "reached", 2), "3": ("done", "voicemail", 1)}.get(
            phone[-1], ("failed", "failed", 1) if phone[-1] == "4" else ("done", "reached", 1)
        )
        assert (row.status, row.outcome, row.attempts) == expected, phone
        assert row.last_call.to_number == phone
    campaign.refresh_from_db()
    assert campaign.status == "completed" and campaign.finished_at is not None
    assert control.progress(campaign) == {
        "pending": 0,
        "retry_scheduled": 0,
        "in_progress": 0,
        "reached": 34,  # x0, x5…x9 (30, minus the do-not-call …157) and x2 after being busy (5)
        "voicemail": 5,
        "no_answer": 5,
        "failed": 5,
        "skipped": 1,
        "cancelled": 0,
        "total": 50,
    }


def test_retries_wait_their_delay_and_stop_at_the_maximum(
    plivo_api, plivo, no_finalize, django_capture_on_commit_callbacks
):
    tick = lambda now: run_tick(django_capture_on_commit_callbacks, now)  # noqa: E731
    phone = numbers(1)[0]
    campaign = make_campaign([phone], max_attempts=3, retry_delay_minutes=45)
    control.apply(campaign.pk, "start")
    start = datetime(2030, 1, 8, 10, 0, tzinfo=LA)
    with time_machine.travel(start, tick=False) as clock:
        for attempt in (1, 2, 3):
            clock_now = datetime.now(LA)
            assert tick(clock_now) == {campaign.pk: 1}
            (row,) = calling()
            assert row.attempts == attempt
            plivo.end(row.last_call, "no-answer")
            row.refresh_from_db()
            if attempt < 3:
                assert (row.status, row.outcome) == ("retry", "no-answer")
                assert row.next_attempt_at == clock_now + timedelta(minutes=45)
                clock.move_to(clock_now + timedelta(minutes=44, seconds=59))
                assert tick(datetime.now(LA)) == {campaign.pk: 0}  # not a second early
                clock.move_to(clock_now + timedelta(minutes=45))
        row.refresh_from_db()
        assert (row.status, row.outcome, row.attempts, row.next_attempt_at) == ("done", "no-answer", 3, None)
        assert tick(datetime.now(LA) + timedelta(days=1)) == {}
    assert per_number(plivo_api) == {phone: 3}
    assert Campaign.objects.get().status == "completed"


def test_a_fixed_time_zone_replaces_the_numbers_and_a_window_holds_in_all_zones(
    plivo_api, no_finalize, django_capture_on_commit_callbacks
):
    # +1 907: Alaska (America/Anchorage and America/Adak, an hour apart): called only when both are in the window
    alaska = "+19075550123"
    campaign = make_campaign([alaska], window_start=datetime(2030, 1, 1, 9).time())
    assert CampaignRow.objects.get().timezone == "America/Adak,America/Anchorage"
    control.apply(campaign.pk, "start")
    anchorage_9 = datetime(2030, 1, 7, 9, 0, tzinfo=ZoneInfo("America/Anchorage"))  # 08:00 in Adak
    assert run_tick(django_capture_on_commit_callbacks, anchorage_9) == {campaign.pk: 0}
    assert run_tick(django_capture_on_commit_callbacks, anchorage_9 + timedelta(hours=1)) == {campaign.pk: 1}
    fixed = make_campaign(numbers(1, first=160), timezone="Asia/Tokyo", agent=campaign.agent)
    control.apply(fixed.pk, "start")
    tokyo_8 = datetime(2030, 1, 7, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert run_tick(django_capture_on_commit_callbacks, tokyo_8)[fixed.pk] == 0
    assert run_tick(django_capture_on_commit_callbacks, tokyo_8 + timedelta(hours=1))[fixed.pk] == 1
    assert per_number(plivo_api) == {alaska: 1, "+14155550160": 1}
