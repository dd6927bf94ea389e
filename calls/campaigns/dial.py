"""The one ``calls.create`` of a campaign call (``calls.dialing.dial_once``), and what its failures mean for the row.

``dial_once`` marks the call ``dialling-…`` before the REST request, so the call's state tells the row's fate:
``request_uuid`` "" → never sent, the row may be called again; ``dialling-…`` → it may have been placed, the row is
never placed again blindly (failed, with that reason, for a person to decide); Plivo's uuid → placed.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from calls.campaign_models import Campaign, CampaignRow
from calls.dialing import DIALLING, REFUSED, UNCERTAIN, UNREACHABLE, dial_once
from calls.models import Call
from calls.outbound import fail_queued

log = logging.getLogger(__name__)

__all__ = ["DIALLING", "REFUSED", "UNCERTAIN", "UNREACHABLE", "dial"]
NEVER_DIALLED, CAMPAIGN_CANCELLED = "never-dialled", "campaign-cancelled"


def dial(call_id: int) -> str:
    """Place a queued campaign call once: "dialled", "refused", "unreachable", "uncertain", "cancelled" or
    "skipped" (not queued, or already being dialled)."""
    if cancelled_before_dialling(call_id):
        return "cancelled"
    result, why = dial_once(call_id)
    if result == "refused":
        return ended(call_id, None, why, result)
    if result == "unreachable":
        return ended(call_id, UNREACHABLE, why, result)
    if result == "uncertain":
        return ended(call_id, UNCERTAIN, why, result)
    return result


def ended(call_id: int, cause: str | None, note: str, result: str) -> str:
    """The row learns the dial's failure at once (``cause`` None: the call was failed already)."""
    from calls.campaigns.outcome import call_ended

    if cause is not None:
        fail_queued(call_id, cause, note)
    call_ended(call_id)
    return result


def cancelled_before_dialling(call_id: int) -> bool:
    """A call whose campaign was cancelled before it was dialled is cancelled, and its row with it."""
    row = CampaignRow.objects.filter(last_call_id=call_id, campaign__status=Campaign.Status.CANCELLED).first()
    if row is None:
        return False
    with transaction.atomic():
        now = timezone.now()
        stopped = Call.objects.filter(pk=call_id, status=Call.Status.QUEUED, request_uuid="").update(
            status=Call.Status.CANCELLED, ended_at=now, hangup_cause=CAMPAIGN_CANCELLED
        )
        if stopped:
            CampaignRow.objects.filter(pk=row.pk, status=CampaignRow.Status.CALLING).update(
                status=CampaignRow.Status.CANCELLED, attempts=max(row.attempts - 1, 0), updated_at=now
            )
    return bool(stopped)
