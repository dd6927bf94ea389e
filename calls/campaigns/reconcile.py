"""Rows stuck in ``calling``: run by every tick and by the call sweeper; idempotent.

- its call ended but the row missed it (a lost after-commit hook) → the outcome, as the hook would have;
- its call is still queued and was never dialled (``request_uuid`` "": the worker stopped between the claim and
  ``calls.create``, or the broker lost the dial) after DIAL_GRACE → the call is cancelled ("never-dialled") and the
  row is called again (the attempt does not count);
- its call was being dialled (``dialling-…``) after DIAL_GRACE → ``calls.create`` may have run: the call and the
  row fail with that reason (never placed again blindly);
- its call was placed but no hang-up came within the agent's max_call_seconds + ring timeout + STUCK_MARGIN → the
  row fails ("no hang-up from Plivo"), so it no longer holds a slot; it is not retried (the person may have
  been reached).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from calls.campaign_models import CampaignRow
from calls.campaigns.control import complete_if_done
from calls.campaigns.dial import DIALLING, NEVER_DIALLED, UNCERTAIN
from calls.campaigns.outcome import call_ended, finish, settle_call
from calls.models import Call
from calls.outbound import fail_queued

log = logging.getLogger(__name__)

DIAL_GRACE = timedelta(seconds=120)
STUCK_MARGIN = timedelta(minutes=5)
NO_HANGUP = "No hang-up callback from Plivo within the call's time limit: the outcome is unknown (not retried)."


def time_limit(call: Call | None) -> timedelta:
    snapshot = (call.agent_snapshot if call else None) or {}
    seconds = int(snapshot.get("max_call_seconds") or 900) + int(snapshot.get("ring_timeout_seconds") or 30)
    return timedelta(seconds=seconds) + STUCK_MARGIN


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Settle stuck rows; counts by what was done."""
    now = now or timezone.now()
    done = {"settled": 0, "requeued": 0, "uncertain": 0, "no_hangup": 0}
    stuck = CampaignRow.objects.filter(status=CampaignRow.Status.CALLING, claimed_at__lt=now - DIAL_GRACE)
    for row in stuck.select_related("last_call").order_by("claimed_at")[:1000]:
        try:
            kind = reconcile_row(row, now)
        except Exception:
            log.exception("Campaign row %s could not be reconciled", row.pk)
            continue
        if kind:
            done[kind] += 1
            complete_if_done(row.campaign_id)
    if any(done.values()):
        log.info("Campaign reconciler: %s", done)
    return done


def reconcile_row(row: CampaignRow, now: datetime) -> str | None:
    call = row.last_call
    if call is None:  # its call is gone (deleted): it certainly is not ringing anyone we know of
        with transaction.atomic():
            locked = CampaignRow.objects.select_for_update().filter(pk=row.pk, status=CampaignRow.Status.CALLING)
            if locked.update(status=CampaignRow.Status.PENDING, attempts=max(row.attempts - 1, 0), updated_at=now):
                return "requeued"
        return None
    if call.is_finished:
        return "settled" if settle_call(call.pk, now) is not None else None
    if call.status == Call.Status.QUEUED and call.request_uuid == "":
        note = "The call was never dialled (the worker stopped before calling Plivo); its campaign row is called again."
        if cancel_undialled(call.pk, now, note):
            call_ended(call.pk)
            return "requeued"
        return None
    if call.status == Call.Status.QUEUED and call.request_uuid.startswith(DIALLING):
        note = "Placing the call was interrupted after the request to Plivo may have been sent: not retried."
        if fail_queued(call.pk, UNCERTAIN, note):
            call_ended(call.pk)
            return "uncertain"
        return None
    if row.claimed_at and now - row.claimed_at > time_limit(call):
        with transaction.atomic():
            locked = CampaignRow.objects.select_for_update().filter(pk=row.pk, status=CampaignRow.Status.CALLING)
            current = locked.first()
            if current is None:
                return None
            finish(current, CampaignRow.Status.FAILED, CampaignRow.Outcome.FAILED, NO_HANGUP)
        return "no_hangup"
    return None


def cancel_undialled(call_id: int, now: datetime, note: str) -> bool:
    """Cancel a queued call whose dial never started (False when it started or ended meanwhile)."""
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id, status=Call.Status.QUEUED, request_uuid="").first()
        if call is None:
            return False
        call.status, call.ended_at, call.hangup_cause = Call.Status.CANCELLED, now, NEVER_DIALLED
        call.add_error_note(note)
        call.save(update_fields=["status", "ended_at", "hangup_cause", "error_notes"])
    return True
