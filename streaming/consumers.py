"""The Plivo audio-stream WebSocket: authenticate, decode, hand off to the call runner. Nothing slow here."""

from __future__ import annotations

import logging

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls import live, records
from calls.plivo.tokens import BadStreamToken, read_stream_token
from streaming import plivo
from streaming.providers.registry import provider_factory
from streaming.runner import CallRunner

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4403
CLOSE_NOT_LIVE = 4404
CLOSE_PROTOCOL = 4400
CLOSE_REPLACED = 4409
CLOSE_ERROR = 4500


class PlivoStreamConsumer(AsyncWebsocketConsumer):
    call_uuid = ""
    runner: CallRunner | None = None

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch without its per-message ``close_old_connections`` hop to the sync thread.

        That hop cost a thread round trip for every 20 ms frame of every call (the largest per-frame cost in
        the profile). Handlers here touch the database only through ``calls.records``, whose functions clean
        up connections themselves.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        try:
            self.call_uuid = read_stream_token(self.scope["url_route"]["kwargs"]["token"])
            await records.check_live(self.call_uuid)
        except BadStreamToken as exc:
            log.warning("Refused a Plivo stream: %s", exc)
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        except records.CallNotLive as exc:
            log.warning("Refused a Plivo stream: %s", exc)
            await self.close(code=CLOSE_NOT_LIVE)
            return
        await self.accept()
        await live.send_control(self.call_uuid, "replace", sender=self.channel_name)
        await self.channel_layer.group_add(live.control_group(self.call_uuid), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = text_data if text_data is not None else bytes_data or b""
            event = plivo.parse(frame, started=self.runner is not None)
        except plivo.CodecError as exc:
            await self._bad_frame(exc)
            return
        if isinstance(event, plivo.Start):
            await self._start(event)
        elif isinstance(event, plivo.Stop):
            await self.close()
        elif self.runner:
            self.runner.handle(event)

    async def _bad_frame(self, exc: plivo.CodecError) -> None:
        if exc.fatal:
            log.warning("Call %s: %s; closing", self.call_uuid, exc)
            await self.close(code=CLOSE_PROTOCOL, reason=str(exc)[:120])
        elif self.runner:
            self.runner.note_bad_frame(exc)

    async def _start(self, start: plivo.Start) -> None:
        if self.runner is not None:
            return  # a repeated start changes nothing
        if start.call_id != self.call_uuid:
            await self.close(code=CLOSE_PROTOCOL, reason="start.callId does not match the stream token")
            return
        if start.encoding != plivo.MULAW or start.sample_rate != plivo.SAMPLE_RATE:
            await self.close(code=CLOSE_PROTOCOL, reason=f"unsupported media format {start.encoding}")
            return
        try:
            call = await records.start_stream(self.call_uuid, start.stream_id)
        except records.CallNotLive as exc:
            await self.close(code=CLOSE_NOT_LIVE, reason=str(exc)[:120])
            return
        self.runner = CallRunner(
            call,
            start.stream_id,
            self.send,
            self.close,
            provider_factory(),
            site_url=self._site_url(),
            greet=not call.reconnect,
        )
        await self.runner.start()

    def _site_url(self) -> str:
        if settings.PUBLIC_URL:
            return settings.PUBLIC_URL
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"localhost").decode("latin-1")
        return f"{'https' if self.scope.get('scheme') == 'wss' else 'http'}://{host}"

    async def live_control(self, message: dict) -> None:
        """From the channel layer: an operator's hang-up, or a newer socket for this call."""
        if message.get("sender") == self.channel_name:
            return
        if message["action"] == "hangup" and self.runner:
            self.runner.operator_hangup()
        elif message["action"] == "replace":
            await self.close(code=CLOSE_REPLACED)

    async def disconnect(self, code: int) -> None:
        if self.call_uuid:
            await self.channel_layer.group_discard(live.control_group(self.call_uuid), self.channel_name)
        if self.runner:
            await self.runner.stop()
