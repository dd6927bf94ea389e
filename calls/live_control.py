"""The control side of ``calls.live``: one receiver per server process for every live call's control group.

A live page (or a newer socket for the same call, or the machine-detection webhook) sends ``send_control``; the
process holding the call's socket hears it here. Every call's control group holds the process's one channel, and
one task receives from it and hands each message to the handlers registered for its call (``listen_control``).

Why one receiver: a receive per call meant ending a call cancelled a receive that could be the one blocked in Redis
(BRPOP) for the whole process, and a cancelled read closes its Redis connection: a new connection and handshake
per ended call, a hundred of them when a wave of calls ends together (BENCHMARKS.md).

Nothing here ends a call: a failed join or receive (Redis down or restarted, the pool exhausted) is retried with
backoff, and after a failed receive every call's group is joined again (a restarted Redis lost them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer

from calls.live import RETRY_DELAYS, SEND_TIMEOUT, _group_send, _Outage, control_group, join

log = logging.getLogger(__name__)
Handler = Callable[[dict], Awaitable[None]]


async def send_control(call_uuid: str, action: str, sender: str = "") -> bool:
    """Ask the server process holding the call's socket to act (``"hangup"``; ``"replace"`` from a new socket;
    ``"machine"``). Never raises; False when the layer could not take it."""
    message = {"type": "live.control", "call": call_uuid, "action": action, "sender": sender}
    return await _group_send(control_group(call_uuid), message)


def _backoff(failures: int) -> float:
    return RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]


class _Receiver:
    """The process's control channel (per event loop) and the handlers of the calls it holds."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.handlers: dict[str, list[Handler]] = {}
        self.task: asyncio.Task | None = None
        self._rejoin = False
        self._handling: set[asyncio.Task] = set()
        self._outage = _Outage("control of this process's calls")

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._receive(), name="live-control")

    async def _receive(self) -> None:
        failures = 0
        while True:
            try:
                if self._rejoin:
                    for call_uuid in list(self.handlers):
                        await asyncio.wait_for(join(control_group(call_uuid), self.channel), SEND_TIMEOUT)
                    self._rejoin = False
                message = await self.layer.receive(self.channel)
            except Exception as exc:
                self._outage.failed(exc)
                self._rejoin = True
                await asyncio.sleep(_backoff(failures))
                failures += 1
                continue
            self._outage.worked()
            failures = 0
            self._hand_over(message)

    def _hand_over(self, message: dict) -> None:
        """Each handler in a task of its own: one that takes long (a replaced socket's runner stopping) never
        holds up another call's message."""
        if "call" not in message:  # every sender here names the call; this one is from elsewhere
            log.warning("A control message without a call was ignored: %r", message.get("action"))
            return
        for handle in self.handlers.get(str(message["call"]), ()):
            task = asyncio.get_running_loop().create_task(self._handle(handle, message))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    @staticmethod
    async def _handle(handle: Handler, message: dict) -> None:
        try:
            await handle(message)
        except Exception:
            log.exception("Control message %r for %s failed", message.get("action"), message.get("call"))


_RECEIVERS: dict[asyncio.AbstractEventLoop, _Receiver] = {}


async def _receiver(layer: Any) -> _Receiver:
    loop = asyncio.get_running_loop()
    receiver = _RECEIVERS.get(loop)
    if receiver is None or receiver.layer is not layer:
        channel = await layer.new_channel()
        if (receiver := _RECEIVERS.get(loop)) is None or receiver.layer is not layer:  # nobody made one meanwhile
            receiver = _RECEIVERS[loop] = _Receiver(layer, channel)
    return receiver


async def listen_control(call_uuid: str, handle: Handler, joined: asyncio.Event | None = None) -> None:
    """Hand every control message for the call to ``handle``, until cancelled; ``joined`` is set once the call's
    group holds the process's channel (from then on no message for the call is missed).

    The call's group gets the process's channel (a failed join is retried with backoff, each outage logged once);
    cancelled, the handler is removed, and the group entry too when no other socket of this process holds the call
    (bounded). The process's receiver stops when it holds no call.
    """
    layer = get_channel_layer()
    if layer is None:  # no layer, no message to miss
        if joined is not None:
            joined.set()
        return
    receiver = await _receiver(layer)
    receiver.handlers.setdefault(call_uuid, []).append(handle)
    try:
        receiver.start()
        outage, failures = _Outage(f"control of {call_uuid}"), 0
        while True:
            try:
                await asyncio.wait_for(join(control_group(call_uuid), receiver.channel), SEND_TIMEOUT)
                break
            except Exception as exc:
                outage.failed(exc)
                await asyncio.sleep(_backoff(failures))
                failures += 1
        outage.worked()
        if joined is not None:
            joined.set()
        await asyncio.Event().wait()  # until cancelled
    finally:
        await _leave(receiver, call_uuid, handle)


async def _leave(receiver: _Receiver, call_uuid: str, handle: Handler) -> None:
    handlers = receiver.handlers.get(call_uuid, [])
    if handle in handlers:
        handlers.remove(handle)
    if handlers:
        return
    receiver.handlers.pop(call_uuid, None)
    if not receiver.handlers and receiver.task is not None:  # the process holds no call: nothing to receive
        receiver.task.cancel()
        receiver.task = None
        if _RECEIVERS.get(loop := asyncio.get_running_loop()) is receiver:
            del _RECEIVERS[loop]
    try:
        await asyncio.wait_for(receiver.layer.group_discard(control_group(call_uuid), receiver.channel), SEND_TIMEOUT)
    except Exception as exc:
        log.info("Could not leave the control group of %s: %s", call_uuid, exc)
