"""After-call work run by Celery. Tasks take ids, are idempotent, and retry with exponential backoff.

finalize_call: aggregates -> analysis (summary, sentiment, extracted data) -> finalized_at -> webhook.
deliver_webhook: one signed POST per call, recorded as a "webhook" CallEvent once delivered.
sweep_orphaned_calls (beat): calls whose stream ended but whose hang-up callback never came, calls whose server
process died mid-stream (no heartbeat), and answered calls whose stream never connected.
prepare_agent_lines: an agent was saved; its fixed lines are synthesized into the shared speech store.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent
from calls import customer_webhook as hooks
from calls import transfers
from calls.analysis import analyse, mark_failed, mark_finalized, needs_analysis, update_metrics
from calls.config import call_config
from calls.models import Call
from streaming.providers import line_prep
from streaming.providers.base import ProviderError

log = logging.getLogger(__name__)

ANALYSIS_BACKOFF_SECONDS = 15
WEBHOOK_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 600
STREAM_WAIT_RETRIES = 3
STREAM_WAIT_SECONDS = 5
ORPHAN_CAUSE = "stream-ended-without-hangup"
NEVER_STREAMED_CAUSE = "stream-never-connected"


def backoff(retries: int, base: int) -> int:
    """Exponential backoff: base, 2*base, 4*base, ... capped at MAX_BACKOFF_SECONDS."""
    return min(base * 2**retries, MAX_BACKOFF_SECONDS)


def awaiting_stream(call: Call) -> bool:
    """The engine is still flushing turns: its stream started but has not reported its end."""
    return call.stream_started_at is not None and call.stream_ended_at is None


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=5, time_limit=120, soft_time_limit=90)
def finalize_call(self, call_id: int) -> None:
    """Aggregates, analysis and webhook for a finished call. Safe to run any number of times."""
    from calls.campaigns.outcome import call_ended

    call_ended(call_id)  # a campaign call: its row's outcome (idempotent, never raises)
    call = Call.objects.select_related("agent").filter(pk=call_id).first()
    if call is None:
        log.warning("finalize_call: no call %s", call_id)
        return
    if awaiting_stream(call) and not self.request.is_eager and self.request.retries < STREAM_WAIT_RETRIES:
        raise self.retry(countdown=STREAM_WAIT_SECONDS)
    update_metrics(call)
    if needs_analysis(call):
        if not call.analysis_status:
            call.analysis_status = Call.Analysis.PENDING
            call.save(update_fields=["analysis_status"])
        try:
            analyse(call)
        except ProviderError as exc:
            if not exc.permanent and self.request.retries < self.max_retries:
                raise self.retry(exc=exc, countdown=backoff(self.request.retries, ANALYSIS_BACKOFF_SECONDS)) from exc
            mark_failed(call, f"Analysis failed ({exc.provider or 'provider'}): {exc}")
        except SoftTimeLimitExceeded:
            mark_failed(call, "Analysis failed: time limit exceeded.")
        except Exception as exc:
            log.exception("finalize_call: analysis of call %s crashed", call_id)
            mark_failed(call, f"Analysis failed: {type(exc).__name__}: {exc}")
    mark_finalized(call)
    if hooks.webhook_target(call) and not hooks.already_delivered(call):
        deliver_webhook.delay(call.pk)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=6, time_limit=60, soft_time_limit=45)
def deliver_webhook(self, call_id: int) -> None:
    """POST the call to its agent's webhook; retried on 5xx/timeouts; never sent twice once delivered.

    The call's row stays locked during the attempt, so two deliveries of one call (a hang-up and the sweeper
    at the same moment) cannot both post.
    """
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        target = hooks.webhook_target(call) if call else None
        if call is None or target is None or hooks.already_delivered(call):
            return
        _deliver(self, call, target)


def _deliver(task, call: Call, target: tuple[str, str]) -> None:
    url, secret = target
    attempt = task.request.retries + 1
    try:
        status = hooks.post(url, secret, hooks.payload_body(call), call.call_uuid)
    except hooks.TransientWebhookError as exc:
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=backoff(task.request.retries, WEBHOOK_BACKOFF_SECONDS)) from exc
        hooks.record_failure(call, url, str(exc), attempt)
        return
    except hooks.PermanentWebhookError as exc:
        hooks.record_failure(call, url, str(exc), attempt)
        return
    hooks.record_delivery(call, url, status, attempt)


def close_orphan(call: Call) -> bool:
    """Mark a call whose hang-up never came as completed; False when a hang-up arrived meanwhile."""
    started = call.answered_at or call.stream_started_at
    duration = round((call.stream_ended_at - started).total_seconds()) if started else None
    updated = Call.objects.filter(pk=call.pk, ended_at__isnull=True).update(
        status=Call.Status.COMPLETED,
        ended_at=call.stream_ended_at,
        hangup_cause=ORPHAN_CAUSE,
        duration_seconds=call.duration_seconds if call.duration_seconds is not None else duration,
    )
    return updated == 1


def note(call_id: int, text: str) -> None:
    call = Call.objects.only("error_notes").get(pk=call_id)
    call.add_error_note(text)
    call.save(update_fields=["error_notes"])


def end_dead_streams(stale_seconds: int) -> int:
    """Streams whose server process stopped beating (killed, crashed): they ended at their last sign of life."""
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    dead = Call.objects.filter(stream_started_at__isnull=False, stream_ended_at__isnull=True, ended_at__isnull=True)
    dead = dead.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, stream_started_at__lt=cutoff))
    ended = 0
    for call in dead.only("pk", "heartbeat_at", "stream_started_at"):
        last_seen = call.heartbeat_at or call.stream_started_at
        ended += Call.objects.filter(pk=call.pk, stream_ended_at__isnull=True).update(stream_ended_at=last_seen)
        note(call.pk, "The server process holding the call's audio stream stopped; the call was closed by the sweeper.")
    return ended


def fail_unstreamed(cutoff: datetime) -> list[int]:
    """Answered calls whose audio stream never connected: failed, with the reason on the call."""
    unstreamed = Call.objects.filter(
        status=Call.Status.IN_PROGRESS, answered_at__lt=cutoff, stream_started_at__isnull=True, ended_at__isnull=True
    )
    failed = []
    for call in unstreamed:
        if Call.objects.filter(pk=call.pk, ended_at__isnull=True).update(
            status=Call.Status.FAILED, ended_at=timezone.now(), hangup_cause=NEVER_STREAMED_CAUSE
        ):
            note(call.pk, "Plivo never opened the call's audio stream.")
            failed.append(call.pk)
    return failed


def fail_undialled(cutoff: datetime) -> int:
    """Outbound calls still queued since ``cutoff``: their dial task never ran (no request uuid), or Plivo's answer
    to the dial was lost (``dialling-…``) and no callback of the call ever came."""
    from calls.dialing import DIALLING, UNCERTAIN
    from calls.outbound import fail_queued

    queued = Call.objects.filter(status=Call.Status.QUEUED, created_at__lt=cutoff)
    never = "The call was never dialled (no Celery worker took it); place it again."
    lost = "Plivo's answer to the dial was lost and no callback of the call came; check Plivo before placing it again."
    undialled = queued.filter(request_uuid="").values_list("pk", flat=True)
    uncertain = queued.filter(request_uuid__startswith=DIALLING).values_list("pk", flat=True)
    failed = sum(fail_queued(pk, "never-dialled", never) for pk in undialled)
    return failed + sum(fail_queued(pk, UNCERTAIN, lost) for pk in uncertain)


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def sweep_orphaned_calls(minutes: int = 10) -> int:
    """Close and finalize calls whose stream ended ``minutes`` ago without a hang-up (or whose process died, or
    whose stream never connected); re-finalize stuck ones."""
    from calls.campaigns.reconcile import reconcile

    end_dead_streams(settings.CALL_STALE_SECONDS)
    reconcile()  # campaign rows stuck in "calling" (the campaign tick runs it too)
    cutoff = timezone.now() - timedelta(minutes=minutes)
    orphans = Call.objects.filter(ended_at__isnull=True, stream_ended_at__lt=cutoff).exclude(
        status__in=[Call.Status.NO_AGENT, Call.Status.REJECTED]
    )
    now = timezone.now()
    orphans = [call for call in orphans if not transfers.with_a_person(call, now)]
    ids = [call.pk for call in orphans if close_orphan(call)] + fail_unstreamed(cutoff)
    fail_undialled(cutoff)  # finalized on commit by fail_queued
    stuck = Call.objects.filter(ended_at__lt=cutoff, finalized_at__isnull=True).exclude(pk__in=ids)
    ids += list(stuck.values_list("pk", flat=True))
    for call_id in ids:
        transaction.on_commit(lambda call_id=call_id: finalize_call.delay(call_id))
    if ids:
        log.info("sweep_orphaned_calls: finalizing %s", ids)
    return len(ids)


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def prepare_agent_lines(agent_id: int) -> int:
    """Synthesize the agent's current version's fixed lines into the shared speech store (the ones it lacks), so the
    first call of that version anywhere starts without a TTS round trip. Disabled agents take no calls: skipped."""
    agent = Agent.objects.filter(pk=agent_id, enabled=True).first()
    if agent is None or not line_prep.enabled():
        return 0
    return line_prep.prepare_lines_sync(call_config(agent.snapshot()))


DIAL_BACKOFF_SECONDS = 5


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=3, time_limit=60, soft_time_limit=45)
def dial_call(self, call_id: int) -> None:
    """Ask Plivo to place a queued outbound call, at most once (``calls.dialing``: a redelivered task or a retry of a
    call whose request may have reached Plivo does nothing). Plivo unreachable → retried with backoff, then failed;
    a refusal (bad number, credentials) fails the call with why; a lost answer leaves it to Plivo's webhooks."""
    from calls.dialing import dial_once
    from calls.outbound import fail_queued

    result, why = dial_once(call_id)
    if result == "unreachable":
        if self.request.retries < self.max_retries:
            raise self.retry(countdown=backoff(self.request.retries, DIAL_BACKOFF_SECONDS))
        fail_queued(call_id, "plivo-unreachable", why)
    elif result == "uncertain":
        note(call_id, f"{why} Waiting for Plivo's callbacks; the sweeper fails the call if none come.")


from calls.alerts import deliver_alert  # noqa: E402, F401 - registers the listen-mode alert webhook
from calls.campaigns import tasks as campaign_tasks  # noqa: E402, F401 - registers the campaign tasks
