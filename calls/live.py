"""Live call events over the channel layer.

Two groups per call: the *watch* group (live pages listen; the engine publishes turns, partial transcripts,
barge-ins, the end) and the *control* group (the engine's socket listens; live pages send "hang up").
Messages are ``{"type": "live.event", "kind": str, "data": dict}`` and ``{"type": "live.control", "action": str}``.
"""

from __future__ import annotations

import logging
import re

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _safe(call_uuid: str) -> str:
    return _UNSAFE.sub("_", call_uuid)[:80]


def watch_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.watch"


def control_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.control"


async def publish(call_uuid: str, kind: str, data: dict) -> None:
    """Tell live pages something happened. Never raises: a live page is not worth a call."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(watch_group(call_uuid), {"type": "live.event", "kind": kind, "data": data})
    except Exception:
        log.warning("Could not publish live event %s for %s", kind, call_uuid, exc_info=True)


async def send_control(call_uuid: str, action: str, sender: str = "") -> None:
    """Ask the server process holding the call's socket to act (``"hangup"``; ``"replace"`` from a new socket)."""
    layer = get_channel_layer()
    await layer.group_send(control_group(call_uuid), {"type": "live.control", "action": action, "sender": sender})
