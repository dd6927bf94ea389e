"""A campaign call ended → its row's outcome: reached, voicemail, no-answer, busy or failed; a retry when the
campaign retries that outcome and attempts are left; the campaign completes when no row is left to call.

``call_ended`` is called where every call's end passes (the hang-up webhook's after-commit, ``finalize_call``,
the dial's own failures) and by the reconciler; it is idempotent (only a row still ``calling`` that call changes)
and never raises.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from calls.campaign_models import Campaign, CampaignRow
from calls.campaigns.control import complete_if_done
from calls.campaigns.dial import DIALLING, REFUSED, UNREACHABLE
from calls.models import Call

log = logging.getLogger(__name__)

RowStatus, Outcome = CampaignRow.Status, CampaignRow.Outcome
UNREACHABLE_RETRY = timedelta(seconds=60)
UNCERTAIN_ERROR = (
    "Plivo's answer to placing the call was lost: the call may have been placed, so it is not retried "
    "automatically (check the number's call log before calling it again)."
)
BY_STATUS = {
    Call.Status.NO_ANSWER: Outcome.NO_ANSWER,
    Call.Status.BUSY: Outcome.BUSY,
}


def call_ended(call_id: int) -> None:
    """Record the end of ``call_id`` on its campaign row, if it has one still calling. Never raises."""
    try:
        campaign_id = settle_call(call_id)
        if campaign_id is not None:
            complete_if_done(campaign_id)
    except Exception:
        log.exception("Campaign outcome of call %s could not be recorded; the reconciler will retry", call_id)


def settle_call(call_id: int, now: datetime | None = None) -> int | None:
    """The campaign id of the row settled, or None when there was nothing to do."""
    with transaction.atomic():
        row = (
            CampaignRow.objects.select_for_update()
            .filter(last_call_id=call_id, status=RowStatus.CALLING)
            .select_related("campaign")
            .first()
        )
        call = Call.objects.filter(pk=call_id).first()
        if row is None or call is None or not call.is_finished:
            return None
        settle(row, call, now or timezone.now())
        return row.campaign_id


def outcome_of(call: Call) -> str:
    if call.status == Call.Status.COMPLETED:
        return Outcome.VOICEMAIL if call.answered_by == Call.AnsweredBy.VOICEMAIL else Outcome.REACHED
    return BY_STATUS.get(call.status, Outcome.FAILED)


def retries(campaign: Campaign, outcome: str) -> bool:
    return {
        Outcome.NO_ANSWER: campaign.retry_no_answer,
        Outcome.BUSY: campaign.retry_busy,
        Outcome.VOICEMAIL: campaign.retry_voicemail,
    }.get(outcome, False)


def settle(row: CampaignRow, call: Call, now: datetime) -> None:
    """Inside a transaction, ``row`` locked and calling, ``call`` finished: the row's next state."""
    campaign = row.campaign
    if call.hangup_cause == REFUSED:
        finish(row, RowStatus.FAILED, Outcome.FAILED, (call.error_notes.splitlines() or [""])[-1][:300])
        return
    if not call.request_uuid or call.hangup_cause == UNREACHABLE:  # calls.create certainly never ran
        requeue(row, UNREACHABLE_RETRY if call.hangup_cause == UNREACHABLE else timedelta(0), campaign)
        return
    if call.request_uuid.startswith(DIALLING):  # calls.create may have run: never placed again blindly
        finish(row, RowStatus.FAILED, Outcome.FAILED, UNCERTAIN_ERROR)
        return
    outcome = outcome_of(call)
    if (
        retries(campaign, outcome)
        and row.attempts < campaign.max_attempts
        and campaign.status != Campaign.Status.CANCELLED
    ):
        row.status, row.outcome, row.error = RowStatus.RETRY, outcome, ""
        row.next_attempt_at = (call.ended_at or now) + timedelta(minutes=campaign.retry_delay_minutes)
        row.save(update_fields=["status", "outcome", "error", "next_attempt_at", "updated_at"])
        return
    failed = outcome == Outcome.FAILED
    finish(row, RowStatus.FAILED if failed else RowStatus.DONE, outcome, failure_reason(call) if failed else "")


def failure_reason(call: Call) -> str:
    cause = call.hangup_cause or call.status
    return f"The call failed ({cause})."[:300]


def finish(row: CampaignRow, status: str, outcome: str, error: str) -> None:
    row.status, row.outcome, row.error, row.next_attempt_at = status, outcome, error, None
    row.save(update_fields=["status", "outcome", "error", "next_attempt_at", "updated_at"])


def requeue(row: CampaignRow, delay: timedelta, campaign: Campaign) -> None:
    """The call was certainly never placed: the attempt does not count and the row is called again, when it was
    due (its claim time) plus ``delay``."""
    row.attempts = max(row.attempts - 1, 0)
    row.last_call = None
    if campaign.status == Campaign.Status.CANCELLED:
        row.status, row.next_attempt_at = RowStatus.CANCELLED, None
    elif row.attempts == 0 and not delay:
        row.status, row.next_attempt_at = RowStatus.PENDING, None
    else:
        row.status, row.next_attempt_at = RowStatus.RETRY, (row.claimed_at or timezone.now()) + delay
    row.save(update_fields=["attempts", "last_call", "status", "next_attempt_at", "updated_at"])
