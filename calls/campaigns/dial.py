"""The one ``calls.create`` of a campaign call, and how its failures are told apart.

Before the REST request the call's ``request_uuid`` is set to ``dialling-…`` by a conditional UPDATE (only from
""): a second dial of the same call (a redelivered task, a reconciler, a race) finds it taken and does nothing.
Afterwards it holds Plivo's request uuid. So a call's state says what happened:

- ``request_uuid`` "" → ``calls.create`` certainly never ran: its row may be called again;
- ``dialling-…`` → it may have run (a crash or a lost answer): the row is never placed again blindly (failed,
  with that reason, for a person to decide);
- Plivo's uuid → placed; the hang-up callback says how it ended.
"""

from __future__ import annotations

import logging
import uuid

import requests
from django.db import transaction
from django.utils import timezone
from urllib3.exceptions import NewConnectionError

from calls.campaign_models import Campaign, CampaignRow
from calls.models import Call
from calls.outbound import dial_parameters, fail_queued
from calls.plivo import rest

log = logging.getLogger(__name__)

DIALLING = "dialling-"
REFUSED, UNREACHABLE, UNCERTAIN = "plivo-refused", "plivo-unreachable", "dial-uncertain"
NEVER_DIALLED, CAMPAIGN_CANCELLED = "never-dialled", "campaign-cancelled"


def dial(call_id: int) -> str:
    """Place a queued campaign call once: "dialled", "refused", "unreachable", "uncertain", "cancelled" or
    "skipped" (not queued, or already being dialled)."""
    if cancelled_before_dialling(call_id):
        return "cancelled"
    marker = f"{DIALLING}{uuid.uuid4().hex}"
    if not Call.objects.filter(pk=call_id, status=Call.Status.QUEUED, request_uuid="").update(request_uuid=marker):
        return "skipped"
    call = Call.objects.get(pk=call_id)
    try:
        request_uuid = rest.place_call(dial_parameters(call))
    except rest.PlivoRejected as exc:
        return ended(call_id, REFUSED, str(exc), "refused")
    except rest.PlivoApiError as exc:
        if certainly_not_sent(exc):
            return ended(call_id, UNREACHABLE, f"Plivo could not be reached: {exc}", "unreachable")
        note = f"Plivo's answer to calls.create was lost ({exc}): the call may have been placed."
        return ended(call_id, UNCERTAIN, note, "uncertain")
    Call.objects.filter(pk=call_id, request_uuid=marker).update(request_uuid=request_uuid[:128])
    log.info("Campaign call %s dialled: request_uuid %s", call_id, request_uuid)
    return "dialled"


def certainly_not_sent(exc: Exception) -> bool:
    """The request never reached Plivo: no connection could be made (refused, or a connect timeout)."""
    cause = exc.__cause__
    if isinstance(cause, requests.ConnectTimeout):
        return True
    reason = (
        getattr(cause.args[0], "reason", None) if isinstance(cause, requests.ConnectionError) and cause.args else None
    )
    return isinstance(reason, NewConnectionError)


def ended(call_id: int, cause: str, note: str, result: str) -> str:
    from calls.campaigns.outcome import call_ended

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
