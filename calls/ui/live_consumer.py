"""The live call page's socket: session-authenticated, joins the call's watch group, forwards its events.

While open it counts as a watcher of the call (``calls.live.Watching``): the engine publishes live-only events
(partial transcripts) only while a page watches.

The page's events come through the channel layer (Redis in production). When the layer fails (Redis stopped or
restarted) the socket is closed with 1013 "try again later" instead of an unexplained 1011, and the page
(static/calls/live.js) reconnects with backoff; a reconnecting page passes ``?after=<last turn>`` and is sent the
turns stored since, and "ended" if the call ended meanwhile. The page also passes ``state=1`` and
``events_after=<last event id it rendered>``: it is then sent the shown events stored since (a barge-in between the
page's render and its socket) and, last, a ``state`` message: the call's state from the server (calls.ui.live_state).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

from calls.live import Watching, join, watch_group
from calls.models import Call, Turn
from calls.ui.access import can_view_calls
from calls.ui.live_state import events_since, state_message

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN_CALL = 4404
CLOSE_TRY_AGAIN = 1013  # the channel layer failed: the page reconnects
MISSED_TURN_FIELDS = ("sequence", "role", "text", "heard_text", "interrupted", "resumed", "start_ms", "tool_calls")


@database_sync_to_async
def check_access(user, call_uuid: str) -> int | None:
    """None when the user may watch the call, else the close code."""
    if not can_view_calls(user):
        return CLOSE_FORBIDDEN
    if not Call.objects.filter(call_uuid=call_uuid).exists():
        return CLOSE_UNKNOWN_CALL
    return None


@database_sync_to_async
def missed_events(call_uuid: str, after: int) -> list[dict]:
    """What a page that saw turns up to ``after`` missed: the later turns, then "ended" if the call is over."""
    call = Call.objects.only("status", "stream_ended_at").get(call_uuid=call_uuid)
    turns = Turn.objects.filter(call__call_uuid=call_uuid, sequence__gt=after).order_by("sequence")
    events = [{"kind": "turn", "data": turn} for turn in turns.values(*MISSED_TURN_FIELDS)]
    if not call.is_live:
        events.append({"kind": "ended", "data": {}})
    return events


class LiveCallConsumer(AsyncJsonWebsocketConsumer):
    """Server → browser only: ``{"kind": ..., "data": ...}`` for every live event of one call."""

    group: str | None = None
    watching: Watching | None = None

    async def __call__(self, scope, receive, send) -> None:
        """Channels' ``AsyncConsumer.__call__`` with ``_layer_receive`` for the layer's ``receive``."""
        self.scope, self.base_send = scope, send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        try:
            await await_many_dispatch([receive, self._layer_receive], self.dispatch)
        except StopConsumer:
            pass
        except Exception as exc:  # the layer failed twice in a row: Redis is down
            log.warning("Live page socket closed, channel layer failed: %s: %s", type(exc).__name__, exc)
            try:
                await self.close(code=CLOSE_TRY_AGAIN)
            except Exception:
                log.info("Live page socket already gone", exc_info=True)
        finally:  # however the socket ended (left, layer failed, server shutting down): stop counting it
            if self.watching is not None:
                await self.watching.stop()

    async def connect(self) -> None:
        call_uuid = self.scope["url_route"]["kwargs"]["call_uuid"]
        refusal = await check_access(self.scope.get("user"), call_uuid)
        if refusal is not None:
            await self.close(code=refusal)  # before accept: the handshake is refused
            return
        self.group = watch_group(call_uuid)
        await join(self.group, self.channel_name)
        self.watching = await Watching.start(call_uuid, self.channel_name)
        await self.accept()
        if (after := self._after()) is not None:
            for event in await missed_events(call_uuid, after):
                await self.send_json(event)
        if self._query("state") == "1":
            events_after = self._query("events_after")
            if events_after.isdigit():
                for event in await database_sync_to_async(events_since)(call_uuid, int(events_after)):
                    await self.send_json(event)
            await self.send_json(await database_sync_to_async(state_message)(call_uuid))

    async def _layer_receive(self) -> dict:
        """The layer's next event. One failure (Redis restarted: a stale connection, the group forgotten) is
        retried after joining the group again; a second one ends the socket with 1013 and the page reconnects."""
        try:
            return await self.channel_layer.receive(self.channel_name)
        except Exception:
            if self.group:
                await join(self.group, self.channel_name)
            return await self.channel_layer.receive(self.channel_name)

    def _after(self) -> int | None:
        value = self._query("after")
        return int(value) if value.lstrip("-").isdigit() else None

    def _query(self, name: str) -> str:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name, [])
        return values[0][:32] if values else ""

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The page sends nothing we act on; hang-up goes through the CSRF-protected form."""

    async def live_event(self, message: dict) -> None:
        await self.send_json({"kind": message.get("kind", ""), "data": message.get("data", {})})
