"""The live call page's socket: session-authenticated, joins the call's watch group, forwards its events."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from calls.live import watch_group
from calls.models import Call
from calls.ui.access import can_view_calls

CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN_CALL = 4404


@database_sync_to_async
def check_access(user, call_uuid: str) -> int | None:
    """None when the user may watch the call, else the close code."""
    if not can_view_calls(user):
        return CLOSE_FORBIDDEN
    if not Call.objects.filter(call_uuid=call_uuid).exists():
        return CLOSE_UNKNOWN_CALL
    return None


class LiveCallConsumer(AsyncJsonWebsocketConsumer):
    """Server → browser only: ``{"kind": ..., "data": ...}`` for every live event of one call."""

    group: str | None = None

    async def connect(self) -> None:
        call_uuid = self.scope["url_route"]["kwargs"]["call_uuid"]
        refusal = await check_access(self.scope.get("user"), call_uuid)
        if refusal is not None:
            await self.close(code=refusal)  # before accept: the handshake is refused
            return
        self.group = watch_group(call_uuid)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The page sends nothing we act on; hang-up goes through the CSRF-protected form."""

    async def live_event(self, message: dict) -> None:
        await self.send_json({"kind": message.get("kind", ""), "data": message.get("data", {})})
