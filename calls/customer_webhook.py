"""Outgoing customer webhook: POST a finished call to the agent's URL as JSON signed with HMAC-SHA256 of the body."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from django.core.serializers.json import DjangoJSONEncoder

from calls.export import call_as_dict
from calls.models import Call, CallEvent

DELIVERED = "webhook"
FAILED = "webhook-failed"
TIMEOUT_SECONDS = 10.0
USER_AGENT = "voice-agents-webhook/1"
RETRYABLE_STATUSES = {408, 425, 429}


class TransientWebhookError(Exception):
    """The receiver could not take the delivery now (5xx, 429, timeout, connection refused): retry later."""


class PermanentWebhookError(Exception):
    """The receiver rejected the delivery (4xx): retrying will not help."""


def signature(body: bytes, secret: str) -> str:
    """The ``X-Signature`` header value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload_body(call: Call) -> bytes:
    payload = {"event": "call.finalized", **call_as_dict(call)}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def already_delivered(call: Call) -> bool:
    return call.events.filter(kind=DELIVERED).exists()


def webhook_target(call: Call) -> tuple[str, str] | None:
    """(url, secret) of the call's agent, or None when it has no webhook."""
    if call.agent is None or not call.agent.webhook_url:
        return None
    return call.agent.webhook_url, call.agent.webhook_secret


def post(url: str, secret: str, body: bytes, call_uuid: str) -> int:
    """One delivery attempt; returns the 2xx status or raises a Transient/Permanent error."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": signature(body, secret),
        "X-Call-UUID": call_uuid,
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise TransientWebhookError(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= response.status_code < 300:
        return response.status_code
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise TransientWebhookError(f"HTTP {response.status_code}")
    raise PermanentWebhookError(f"HTTP {response.status_code}")


def record_delivery(call: Call, url: str, status: int, attempt: int) -> None:
    CallEvent.objects.create(call=call, kind=DELIVERED, data={"url": url, "status": status, "attempt": attempt})


def record_failure(call: Call, url: str, error: str, attempt: int) -> None:
    CallEvent.objects.create(call=call, kind=FAILED, data={"url": url, "error": error, "attempt": attempt})
    note = f"Webhook to {url} failed after {attempt} attempt(s): {error}"
    call.add_error_note(note)
    call.save(update_fields=["error_notes"])
