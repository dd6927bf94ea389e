"""Start, pause, resume, cancel; progress; a campaign completes once no row is left to call."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Exists, Q
from django.utils import timezone

from calls.campaign_models import Campaign, CampaignRow
from calls.outbound import PlaceCallError, caller_id, dialling_configured

Status, RowStatus, Outcome = Campaign.Status, CampaignRow.Status, CampaignRow.Outcome
OPEN_ROWS = (RowStatus.PENDING, RowStatus.RETRY, RowStatus.CALLING)
ALLOWED = {  # action → (statuses it applies to, the status it leads to)
    "start": ((Status.DRAFT,), Status.RUNNING),
    "pause": ((Status.RUNNING,), Status.PAUSED),
    "resume": ((Status.PAUSED,), Status.RUNNING),
    "cancel": ((Status.DRAFT, Status.RUNNING, Status.PAUSED), Status.CANCELLED),
}
ACTIONS = tuple(ALLOWED)


class CampaignError(Exception):
    """An action refused: ``code`` invalid_state, agent_disabled, no_caller_id, not_configured, nothing_to_call."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def ready_to_call(campaign: Campaign) -> None:
    """``CampaignError`` when the campaign's calls could not be placed (checked on start and resume)."""
    agent = campaign.agent
    if not agent.enabled:
        raise CampaignError("agent_disabled", f"Agent “{agent}” is disabled: enable it to run the campaign.")
    try:
        caller_id(agent, campaign.from_number)
    except PlaceCallError as exc:
        raise CampaignError(exc.code, exc.message) from None
    if not dialling_configured():
        raise CampaignError(
            "not_configured",
            "Outbound calls need PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and PUBLIC_URL (the address Plivo calls back).",
        )


def apply(campaign_id: int, action: str) -> Campaign:
    """Perform ``action`` ("start", "pause", "resume", "cancel"); the campaign after it, or ``CampaignError``."""
    if action not in ALLOWED:
        raise CampaignError("invalid_action", f"Unknown action “{action}”: use one of {', '.join(ACTIONS)}.")
    sources, target = ALLOWED[action]
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("agent").get(pk=campaign_id)
        if campaign.status not in sources:
            raise CampaignError(
                "invalid_state", f"Campaign “{campaign}” is {campaign.status}: it cannot be {past(action)}."
            )
        if action in ("start", "resume"):
            ready_to_call(campaign)
        if action == "start" and not campaign.rows.filter(status=RowStatus.PENDING).exists():
            raise CampaignError("nothing_to_call", f"Campaign “{campaign}” has no row to call.")
        now = timezone.now()
        campaign.status = target
        if action == "start":
            campaign.started_at = now
        if action == "cancel":
            campaign.finished_at = now
            campaign.rows.filter(status__in=(RowStatus.PENDING, RowStatus.RETRY)).update(
                status=RowStatus.CANCELLED, next_attempt_at=None, updated_at=now
            )
        campaign.save(update_fields=["status", "started_at", "finished_at"])
    return campaign


def past(action: str) -> str:
    return {"start": "started", "pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]


def complete_if_done(campaign_id: int) -> bool:
    """A running or paused campaign with no row left to call (pending, retry or calling) becomes completed."""
    left = CampaignRow.objects.filter(campaign_id=campaign_id, status__in=OPEN_ROWS)
    done = Campaign.objects.filter(pk=campaign_id, status__in=(Status.RUNNING, Status.PAUSED)).exclude(Exists(left))
    return done.update(status=Status.COMPLETED, finished_at=timezone.now()) == 1


PROGRESS = {  # progress key → the rows it counts
    "pending": Q(status=RowStatus.PENDING),
    "retry_scheduled": Q(status=RowStatus.RETRY),
    "in_progress": Q(status=RowStatus.CALLING),
    "reached": Q(outcome=Outcome.REACHED, status=RowStatus.DONE),
    "voicemail": Q(outcome=Outcome.VOICEMAIL, status=RowStatus.DONE),
    "no_answer": Q(outcome__in=(Outcome.NO_ANSWER, Outcome.BUSY), status=RowStatus.DONE),
    "failed": Q(status=RowStatus.FAILED),
    "skipped": Q(status=RowStatus.SKIPPED),
    "cancelled": Q(status=RowStatus.CANCELLED),
}


def progress_annotations() -> dict[str, Count]:
    """Per-campaign counts for a queryset of campaigns (``Campaign.objects.annotate(**progress_annotations())``)."""
    counts = {f"rows_{key}": Count("rows", filter=_prefixed(q)) for key, q in PROGRESS.items()}
    return counts | {"rows_total": Count("rows")}


def _prefixed(q: Q) -> Q:
    return Q(*[(f"rows__{name}", value) for name, value in q.children])


def progress(campaign: Campaign) -> dict[str, int]:
    """Rows by state: pending, retry_scheduled, in_progress, reached, voicemail, no_answer (incl. busy), failed,
    skipped (bad rows and do-not-call), cancelled; and total."""
    counts = campaign.rows.aggregate(**{key: Count("pk", filter=q) for key, q in PROGRESS.items()}, total=Count("pk"))
    return {key: int(value or 0) for key, value in counts.items()}
