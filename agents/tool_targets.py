"""Where an agent's HTTP tool may send its requests: https:// URLs of hosts that resolve only to public addresses.

The same address rule as the call webhook (``agents.webhook_targets``), plus https only: a tool carries the
caller's data and its own Authorization headers mid-call. ``TOOLS_ALLOW_PRIVATE_TARGETS`` allows private/loopback
targets, and plain http:// to them (on-premise systems, tests' local receivers); plain http:// to a public address
is refused even then.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from agents.webhook_targets import (
    REFUSED_KINDS,
    UnresolvableTarget,
    WebhookTargetError,
    host_and_port,
    is_refused,
    resolve,
)

__all__ = ["UnresolvableTarget", "WebhookTargetError", "checked_tool_addresses", "validate_tool_url"]


def private_tool_targets_allowed() -> bool:
    return bool(getattr(settings, "TOOLS_ALLOW_PRIVATE_TARGETS", False))


def _name(host: str, address: str) -> str:
    bare = host.strip("[]")
    return bare if bare == address else f"{host} ({address})"


def checked_tool_addresses(url: str) -> list[str]:
    """The addresses to send to (the request is pinned to the first); [] means "use the URL as is" (https with
    private targets allowed). Raises WebhookTargetError with a reason for the operator, or UnresolvableTarget."""
    host, port = host_and_port(url)
    scheme = urlsplit(url).scheme
    allowed = private_tool_targets_allowed()
    if scheme != "https" and not allowed:
        raise WebhookTargetError(
            f"{url!r} is not an https:// URL: tools call https:// only (TOOLS_ALLOW_PRIVATE_TARGETS=1 allows "
            "http:// to private addresses)."
        )
    if scheme == "https" and allowed:
        return []
    addresses = resolve(host, port)
    for address in addresses:
        refused = is_refused(address)
        if refused and not allowed:
            raise WebhookTargetError(
                f"{_name(host, address)} is {REFUSED_KINDS}: tools call public addresses only "
                "(TOOLS_ALLOW_PRIVATE_TARGETS=1 allows private ones)."
            )
        if not refused and scheme != "https":
            raise WebhookTargetError(
                f"{_name(host, address)} is a public address: plain http:// is allowed to private addresses only; "
                "use https://."
            )
    return addresses


def validate_tool_url(value: str) -> None:
    """Admin-side check of a tool's URL (ValidationError with the reason); checked again before every request."""
    try:
        checked_tool_addresses(value)
    except WebhookTargetError as exc:
        raise ValidationError(str(exc), code="unsafe_tool_url") from None
