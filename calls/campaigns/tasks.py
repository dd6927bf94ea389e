"""Celery tasks of campaigns (registered through calls/tasks.py): the beat tick and one dial per call."""

from __future__ import annotations

from celery import shared_task

from calls.campaigns import dial, tick


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def campaign_tick() -> int:
    """Place what the campaigns' windows and caps allow (beat, every CAMPAIGN_TICK_SECONDS)."""
    return sum(tick.tick().values())


@shared_task(ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=45)
def dial_campaign_call(call_id: int) -> str:
    """``calls.create`` for one campaign call, at most once (see dial.py); a redelivery does nothing."""
    return dial.dial(call_id)
