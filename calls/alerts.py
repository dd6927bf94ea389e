"""Listen-mode alerts to the agent's webhook: one signed POST per alert, as it happens (``event: "call.alert"``).

The live engine stores the alert (a CallEvent "alert") and hands it to ``queue_alert``, which queues the Celery
task ``deliver_alert`` off the event loop; the task posts it with the same signature as the after-call webhook
(``calls.customer_webhook``), retries a few times quickly (an alert is worth little an hour later), and records
the outcome as a CallEvent "alert-webhook" or "alert-webhook-failed".
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from celery import shared_task
from django.core.serializers.json import DjangoJSONEncoder

from calls import customer_webhook as hooks
from calls.models import Call, CallEvent

log = logging.getLogger(__name__)

KIND = "alert"
DELIVERED = "alert-webhook"
FAILED = "alert-webhook-failed"
RETRY_SECONDS = (5, 15, 45)
QUEUE_TIMEOUT_S = 5.0


def alert_body(call: Call, alert: dict[str, Any]) -> bytes:
    payload = {
        "event": "call.alert",
        "call_uuid": call.call_uuid,
        "agent": call.agent.name if call.agent else None,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "alert": alert,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


@shared_task(
    bind=True, ignore_result=True, acks_late=True, max_retries=len(RETRY_SECONDS), time_limit=60, soft_time_limit=45
)
def deliver_alert(self, call_id: int, alert: dict[str, Any]) -> None:
    """POST one alert of a call to its agent's webhook (nothing when the agent has none)."""
    call = Call.objects.select_related("agent").filter(pk=call_id).first()
    target = hooks.webhook_target(call) if call else None
    if call is None or target is None:
        return
    url, secret = target
    attempt = self.request.retries + 1
    record = {"phrase": alert.get("phrase"), "speaker": alert.get("speaker"), "url": url, "attempt": attempt}
    try:
        status = hooks.post(url, secret, alert_body(call, alert), call.call_uuid)
    except hooks.TransientWebhookError as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=RETRY_SECONDS[self.request.retries]) from exc
        CallEvent.objects.create(call=call, kind=FAILED, data={**record, "error": str(exc)})
        return
    except hooks.PermanentWebhookError as exc:
        CallEvent.objects.create(call=call, kind=FAILED, data={**record, "error": str(exc)})
        return
    CallEvent.objects.create(call=call, kind=DELIVERED, data={**record, "status": status})


async def queue_alert(call_id: int, alert: dict[str, Any]) -> None:
    """Queue the alert's delivery from the live engine: in a thread, bounded, never raises (the broker may be
    down: the alert stays on the call and on the live page)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(deliver_alert.delay, call_id, alert), QUEUE_TIMEOUT_S)
    except Exception as exc:
        log.warning("Call %s: could not queue the alert's webhook (%s: %s)", call_id, type(exc).__name__, exc)
