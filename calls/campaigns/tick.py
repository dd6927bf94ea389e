"""The beat tick (every ~10 s): for each running campaign, place what its windows and caps allow.

Never twice: a campaign's claim runs in one transaction that holds the campaign's row (``SELECT … FOR UPDATE SKIP
LOCKED``: a second worker skips a campaign another is claiming), counts its calls in flight, selects due rows with
``FOR UPDATE SKIP LOCKED`` and claims each with a conditional ``UPDATE … WHERE status = <as read> AND attempts =
<as read>`` (the guard that also holds on SQLite, where row locks do not exist). In the same transaction each
claimed row gets its queued Call (``last_call``), so a crash after the commit leaves a row that says which call it
was placing; the dial (dial.py) runs after the commit. On PostgreSQL a transaction-scoped advisory lock serializes
claims across campaigns so CAMPAIGN_MAX_CALLS (all live outbound calls) holds too.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from agents import templating
from agents.models import PhoneNumber
from agents.versioning import call_snapshot
from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.campaigns import windows
from calls.campaigns.control import CampaignError, complete_if_done, ready_to_call
from calls.campaigns.csv_import import NO_ZONE, ON_DNC
from calls.models import Call
from calls.outbound import PLACEHOLDER_PREFIX, caller_id, missing_variables

log = logging.getLogger(__name__)

RowStatus = CampaignRow.Status
CLAIM_LOCK = 0x16CA11  # pg_advisory_xact_lock key of the claim section
LIVE = (Call.Status.QUEUED, Call.Status.RINGING, Call.Status.IN_PROGRESS)


def tick(now: datetime | None = None) -> dict[int, int]:
    """Reconcile stuck rows, then place calls for every running campaign; {campaign id: calls placed}."""
    from calls.campaigns.reconcile import reconcile

    now = now or timezone.now()
    reconcile(now)
    placed: dict[int, int] = {}
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("pk", flat=True):
        try:
            placed[campaign_id] = place_for(campaign_id, now)
            complete_if_done(campaign_id)
        except Exception:  # one campaign's trouble never stops the others
            log.exception("Campaign %s: the tick failed", campaign_id)
    return placed


def due_rows(campaign: Campaign, now: datetime) -> QuerySet[CampaignRow]:
    due = Q(status=RowStatus.PENDING) | Q(status=RowStatus.RETRY, next_attempt_at__lte=now)
    return campaign.rows.filter(due)


def skip_unreachable(campaign: Campaign, now: datetime) -> None:
    """Rows whose number went on the do-not-call list, or that have no zone to check a window in: skipped."""
    due = due_rows(campaign, now)
    blocked = due.filter(Exists(DoNotCall.objects.filter(number=OuterRef("phone"))))
    blocked.update(status=RowStatus.SKIPPED, outcome=CampaignRow.Outcome.DO_NOT_CALL, error=ON_DNC, updated_at=now)
    if not campaign.timezone:
        due.filter(timezone="").update(status=RowStatus.SKIPPED, error=NO_ZONE, updated_at=now)


def open_zone_keys(campaign: Campaign, now: datetime) -> list[str] | None:
    """The rows' zone keys whose window is open now; None: every row's (the campaign's fixed zone is open)."""
    args = (campaign.window_days, campaign.window_start, campaign.window_end)
    if campaign.timezone:
        return None if windows.is_open(*args, [campaign.timezone], now) else []
    keys = due_rows(campaign, now).order_by().values_list("timezone", flat=True).distinct()
    return [key for key in keys if windows.is_open(*args, windows.key_zones(key), now)]


def free_slots(campaign: Campaign) -> int:
    in_flight = campaign.rows.filter(status=RowStatus.CALLING).count()
    slots = campaign.max_concurrent - in_flight
    limit = settings.CAMPAIGN_MAX_CALLS
    if limit:
        live = Call.objects.filter(direction=Call.Direction.OUTBOUND, status__in=LIVE, ended_at__isnull=True)
        slots = min(slots, limit - live.count())
    return slots


def candidates(campaign: Campaign, now: datetime, keys: list[str] | None, limit: int) -> list[dict]:
    """Due rows in list order, locked (rows another transaction holds are skipped), as read now."""
    rows = due_rows(campaign, now).exclude(Exists(DoNotCall.objects.filter(number=OuterRef("phone"))))
    if keys is not None:
        rows = rows.filter(timezone__in=keys)
    rows = rows.order_by("position", "pk").select_for_update(skip_locked=True)
    return list(rows.values("pk", "status", "attempts")[:limit])


def claim(campaign: Campaign, now: datetime, keys: list[str] | None, limit: int) -> list[int]:
    """Claim up to ``limit`` rows: each only if it is still as it was read (the second guard)."""
    claimed = []
    for row in candidates(campaign, now, keys, limit):
        won = CampaignRow.objects.filter(pk=row["pk"], status=row["status"], attempts=row["attempts"]).update(
            status=RowStatus.CALLING, attempts=F("attempts") + 1, claimed_at=now, next_attempt_at=None, updated_at=now
        )
        if won:
            claimed.append(row["pk"])
    return claimed


@dataclass(frozen=True)
class Plan:
    """What every call of one campaign tick is created with."""

    campaign: Campaign
    number: PhoneNumber
    snapshot: dict
    version: int

    @classmethod
    def of(cls, campaign: Campaign) -> Plan:
        """The published version (the draft when calling from a test number), as any call would run it."""
        ready_to_call(campaign)
        number = caller_id(campaign.agent, campaign.from_number)
        snapshot, version = call_snapshot(campaign.agent, draft=number.takes_draft)
        return cls(campaign, number, snapshot, version)

    def create_call(self, row: CampaignRow) -> Call | None:
        """The row's queued call, or None (the row failed: the agent's lines now need a variable it lacks)."""
        filled = templating.call_variables(row.phone, self.number.number, timezone.localtime()) | row.variables
        if absent := missing_variables(self.snapshot, filled):
            row.status, row.outcome = RowStatus.FAILED, CampaignRow.Outcome.FAILED
            row.error = f"No value for {', '.join('{{' + n + '}}' for n in absent)} (the agent's lines changed)."
            row.save(update_fields=["status", "outcome", "error", "updated_at"])
            return None
        agent = self.campaign.agent
        call = Call.objects.create(
            call_uuid=f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}",
            direction=Call.Direction.OUTBOUND,
            status=Call.Status.QUEUED,
            agent=agent,
            agent_snapshot=self.snapshot,
            agent_version=self.version,
            phone_number=self.number,
            from_number=self.number.number,
            to_number=row.phone,
            variables=row.variables,
        )
        CampaignRow.objects.filter(pk=row.pk).update(last_call=call, error="")
        return call


def place_for(campaign_id: int, now: datetime) -> int:
    """One campaign's claim and calls (one transaction); the dials are queued once it commits."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("agent")
            .filter(pk=campaign_id, status=Campaign.Status.RUNNING)
            .first()
        )
        if campaign is None:
            return 0  # another worker is on it, or it stopped running
        skip_unreachable(campaign, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
        slots = free_slots(campaign)
        keys = open_zone_keys(campaign, now) if slots > 0 else []
        if keys == []:
            return 0
        try:
            plan = Plan.of(campaign)
        except CampaignError as exc:
            log.warning("Campaign %s cannot place calls: %s", campaign_id, exc.message)
            return 0
        rows = CampaignRow.objects.filter(pk__in=claim(campaign, now, keys, slots)).order_by("position")
        calls = [call for row in rows if (call := plan.create_call(row)) is not None]
        ids = [call.pk for call in calls]
        transaction.on_commit(lambda: queue_dials(ids))
    return len(ids)


def queue_dials(call_ids: list[int]) -> None:
    """Queue each dial; a broker that is down leaves the call queued for the reconciler (never lost, never twice)."""
    from calls.campaigns.tasks import dial_campaign_call

    for call_id in call_ids:
        try:
            dial_campaign_call.delay(call_id)
        except Exception as exc:
            log.warning("Could not queue the dial of campaign call %s: %s", call_id, type(exc).__name__)
