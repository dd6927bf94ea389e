"""Live call events over the channel layer: an optional side channel, never a condition for a call to go on.

Two groups per call: the *watch* group (live pages listen; the engine publishes turns, partial transcripts,
barge-ins, the end) and the *control* group (the engine's socket listens; live pages send "hang up").
Messages are ``{"type": "live.event", "kind": str, "data": dict}`` and ``{"type": "live.control", "action": str}``.

Nothing here raises or blocks for long: with the layer's Redis down, sends give up after ``SEND_TIMEOUT`` and the
control listener retries with backoff; each outage is logged once (and its end once).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
SEND_TIMEOUT = 1.0  # seconds a publish or control message may take before it is given up
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)  # the control listener's backoff; the last one repeats


def _safe(call_uuid: str) -> str:
    return _UNSAFE.sub("_", call_uuid)[:80]


def watch_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.watch"


def control_group(call_uuid: str) -> str:
    return f"call.{_safe(call_uuid)}.control"


class _Outage:
    """Logs the first failure of an outage and its end, not every failure in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning("Channel layer unavailable (%s): %s: %s; retrying", self.what, type(exc).__name__, exc)

    def worked(self) -> None:
        if self.down:
            self.down = False
            log.warning("Channel layer available again (%s)", self.what)


_sends = _Outage("live events and control")


async def _twice(command: Callable[[], Awaitable[None]]) -> None:
    """Run ``command``, again at once if it fails: after a Redis restart the first command on each pooled
    connection fails (the connection went stale); the second gets a fresh one."""
    try:
        await command()
    except Exception:
        await command()


async def join(group: str, channel: str) -> None:
    """Add ``channel`` to ``group`` (bounded by SEND_TIMEOUT; one retry, see ``_twice``). Raises when it fails."""
    layer = get_channel_layer()
    await asyncio.wait_for(_twice(lambda: layer.group_add(group, channel)), SEND_TIMEOUT)


async def _group_send(group: str, message: dict) -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        await asyncio.wait_for(_twice(lambda: layer.group_send(group, message)), SEND_TIMEOUT)
    except Exception as exc:  # TimeoutError, redis ConnectionError, ...: a live page is not worth a call
        _sends.failed(exc)
        return False
    _sends.worked()
    return True


async def publish(call_uuid: str, kind: str, data: dict) -> bool:
    """Tell live pages something happened. Never raises; False when the layer could not take it."""
    return await _group_send(watch_group(call_uuid), {"type": "live.event", "kind": kind, "data": data})


async def send_control(call_uuid: str, action: str, sender: str = "") -> bool:
    """Ask the server process holding the call's socket to act (``"hangup"``; ``"replace"`` from a new socket).
    Never raises; False when the layer could not take it."""
    message = {"type": "live.control", "action": action, "sender": sender}
    return await _group_send(control_group(call_uuid), message)


async def listen_control(call_uuid: str, handle: Callable[[dict], Awaitable[None]]) -> None:
    """Join the call's control group and hand every message to ``handle``, until cancelled.

    A failed join or receive (the layer's Redis is down or restarted) is retried with backoff on a fresh
    channel; it never ends the listener. Cancel the task to stop; the group entry is then discarded (bounded).
    """
    layer = get_channel_layer()
    if layer is None:
        return
    outage, failures = _Outage(f"control of {call_uuid}"), 0
    while True:
        channel = await layer.new_channel()
        try:
            await join(control_group(call_uuid), channel)
            outage.worked()
            failures = 0
            while True:
                message = await layer.receive(channel)
                try:
                    await handle(message)
                except Exception:
                    log.exception("Control message %r for %s failed", message.get("action"), call_uuid)
        except asyncio.CancelledError:
            await _discard(layer, call_uuid, channel)
            raise
        except Exception as exc:
            outage.failed(exc)
            await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
            failures += 1


async def _discard(layer, call_uuid: str, channel: str) -> None:
    try:
        await asyncio.wait_for(layer.group_discard(control_group(call_uuid), channel), SEND_TIMEOUT)
    except Exception as exc:
        log.info("Could not leave the control group of %s: %s", call_uuid, exc)
