"""Outgoing customer webhook: POST a finished call to the agent's URL as JSON, signed with HMAC-SHA256 of
``"<timestamp>.<body>"`` (``X-Signature``, ``X-Signature-Timestamp``: receivers refuse old timestamps, so a captured
delivery cannot be replayed later), only to public addresses unless WEBHOOK_ALLOW_PRIVATE_TARGETS is set."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
from django.core.serializers.json import DjangoJSONEncoder

from agents.webhook_targets import UnresolvableTarget, WebhookTargetError, checked_addresses, pinned
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


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Signature`` header value: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


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


def post(url: str, secret: str, body: bytes, call_uuid: str, timestamp: int | None = None) -> int:
    """One delivery attempt; returns the 2xx status or raises a Transient/Permanent error (a refused target is
    permanent, an unresolvable host transient)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    try:
        target, host, extensions = pinned(url, checked_addresses(url))
    except UnresolvableTarget as exc:
        raise TransientWebhookError(str(exc)) from exc
    except WebhookTargetError as exc:
        raise PermanentWebhookError(str(exc)) from exc
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": signature(body, secret, timestamp),
        "X-Signature-Timestamp": str(timestamp),
        "X-Call-UUID": call_uuid,
        **host,
    }
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            response = client.post(target, content=body, headers=headers, extensions=extensions)
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
