"""The Plivo audio-stream WebSocket: authenticate, decode, hand off to the call runner. Nothing slow here.

The socket's life does not depend on the channel layer (Redis): Channels' consumer loop would also receive from
the layer and end the call when that fails, so this consumer runs the loop on the client socket only, and listens
to the call's control group (operator hang-up, a newer socket) through the process's one control receiver, in a
side task that retries (``calls.live_control``).

The call is read once, when the socket connects (``records.load_call``: one query); on ``start`` the runner starts
at once and records the stream's start beside the greeting. A caller who hangs up while we are sending is the end
of the stream, not an error: every message to the socket goes through ``base_send``, which drops what follows a
close and turns "the socket is gone" (as daphne and uvicorn each raise it) into the stream's end, with one INFO line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import time
import uuid

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.utils import await_many_dispatch
from django.conf import settings

from calls import live_control, records
from calls.plivo.tokens import BadStreamToken, read_stream_token
from streaming import cancelled_tasks, plivo
from streaming.listen.runner import ListenRunner
from streaming.plivo import CLOSE_BAD_TOKEN, CLOSE_ERROR, CLOSE_NOT_LIVE, CLOSE_PROTOCOL, CLOSE_REPLACED
from streaming.providers.registry import provider_factory
from streaming.runner import CallRunner

log = logging.getLogger(__name__)

__all__ = ["CLOSE_BAD_TOKEN", "CLOSE_ERROR", "CLOSE_NOT_LIVE", "CLOSE_PROTOCOL", "CLOSE_REPLACED"]

# call_uuid → the socket that runs the call in this process (a newer one with a valid start replaces it)
_RUNNING: dict[str, PlivoStreamConsumer] = {}


def _gone_errors() -> tuple[type[BaseException], ...]:
    """What a send raises when the client socket is gone: uvicorn's ClientDisconnected (an OSError), autobahn's
    Disconnected under daphne (from the peer's close until the connection is lost), websockets' ConnectionClosed."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("autobahn.exception", "Disconnected"), ("websockets.exceptions", "ConnectionClosed")):
        with contextlib.suppress(ImportError, AttributeError):
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


GONE_ERRORS = _gone_errors()


def socket_gone(exc: BaseException) -> bool:
    """``exc`` (raised by an ASGI send) says the client socket is gone; uvicorn raises a RuntimeError for a send
    after it saw the socket close."""
    return isinstance(exc, GONE_ERRORS) or (
        isinstance(exc, RuntimeError) and "after sending 'websocket.close'" in str(exc)
    )


class PlivoStreamConsumer(AsyncWebsocketConsumer):
    call_uuid = ""
    live_call: records.LiveCall | None = None
    runner: CallRunner | ListenRunner | None = None
    _control: asyncio.Task | None = None
    _verdict: asyncio.Task | None = None  # an outbound call's late read of the machine-detection verdict
    _telling: asyncio.Task | None = None  # the "replace" message to other processes (kept until sent)
    _stopping: asyncio.Task | None = None  # the runner's stop, started when the socket went away under it
    _replaced = False
    _socket_done = False  # closed by us or gone: nothing more is sent
    _ended_logged = False

    async def __call__(self, scope, receive, send) -> None:
        """Channels' ``AsyncConsumer.__call__`` with the client socket as the only source of messages.

        Any error ends the call cleanly: the socket closed with 4500, and the teardown (runner stopped, control
        listener cancelled) always runs; Channels would skip ``disconnect()`` when a handler raises.
        """
        self.scope = scope
        self.channel_layer = None  # no layer receive in the consumer loop: control comes through calls.live_control
        self._asgi_send = send
        self.sender_id = uuid.uuid4().hex
        self.opened_at = time.monotonic()
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        except Exception:
            log.exception("Call %s: the stream socket failed; ending the call", self.call_uuid or "?")
            await self._close_quietly(CLOSE_ERROR, "internal error")
        finally:
            await self._teardown()

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

    async def base_send(self, message: dict) -> None:
        """Every message to the client (Channels' ``send`` calls it; a method, not the attribute Channels sets,
        which would tie the consumer in a reference cycle). Nothing follows a close; a send that finds the socket
        gone ends the stream."""
        if self._socket_done:
            return
        self._socket_done = message["type"] == "websocket.close"
        try:
            await self._asgi_send(message)
        except Exception as exc:
            if not socket_gone(exc):
                raise
            self._socket_done = True
            self._stream_over(f"the caller's socket is gone ({type(exc).__name__})")

    def _stream_over(self, why: str) -> None:
        """The socket went away under the call: one INFO line, and the runner stops (without waiting for Channels
        to hear of the disconnect)."""
        if self._ended_logged or self.runner is None:
            return
        self._ended_logged = True
        log.info("Call %s: %s; the stream ends", self.call_uuid, why)
        self._stopping = asyncio.get_running_loop().create_task(self.runner.stop())

    async def connect(self) -> None:
        cancelled_tasks.install()  # once per event loop: see streaming/cancelled_tasks.py
        try:
            self.call_uuid = read_stream_token(self.scope["url_route"]["kwargs"]["token"])
            self.live_call = await records.load_call(self.call_uuid)
        except BadStreamToken as exc:
            log.warning("Refused a Plivo stream: %s", exc)
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        except records.CallNotLive as exc:
            log.warning("Refused a Plivo stream: %s", exc)
            await self.close(code=CLOSE_NOT_LIVE)
            return
        await self.accept()  # a socket takes the call over only with a valid start (see _take_over)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = text_data if text_data is not None else bytes_data or b""
            event = plivo.parse(frame, started=self.runner is not None)
        except plivo.CodecError as exc:
            await self._bad_frame(exc)
            return
        if isinstance(event, plivo.Start):
            await self._start(event)
        elif isinstance(event, plivo.Stop):  # the call is over: what was sent from here on is never heard
            await self.close()
            self._stream_over("Plivo stopped the stream")
        elif self.runner:
            self.runner.handle(event)

    async def _bad_frame(self, exc: plivo.CodecError) -> None:
        if exc.fatal:
            log.warning("Call %s: %s; closing", self.call_uuid, exc)
            await self.close(code=CLOSE_PROTOCOL, reason=str(exc)[:120])
        elif self.runner:
            self.runner.note_bad_frame(exc)

    async def _start(self, start: plivo.Start) -> None:
        if self.runner is not None or self._replaced:
            return  # a repeated start changes nothing
        if start.call_id != self.call_uuid:
            await self.close(code=CLOSE_PROTOCOL, reason="start.callId does not match the stream token")
            return
        if start.encoding != plivo.MULAW or start.sample_rate != plivo.SAMPLE_RATE:
            await self.close(code=CLOSE_PROTOCOL, reason=f"unsupported media format {start.encoding}"[:120])
            return
        previous = await self._take_over()
        call = self.live_call
        assert call is not None  # connect() refused the socket otherwise
        if previous is not None or call.reconnect:  # the turns so far (the previous runner's are all stored now)
            call = await records.load_history(dataclasses.replace(call, stream_id=previous or call.stream_id))
        if call.mode == "listen":  # people talk; we only transcribe (nothing is ever sent back)
            self.runner = ListenRunner(
                call,
                start.stream_id,
                self.close,
                provider_factory(),
                site_url=self._site_url(),
                opened_at=self.opened_at,
            )
        else:
            self.runner = self._agent_runner(call, start.stream_id)
        _RUNNING[self.call_uuid] = self
        joined = asyncio.Event()
        listening = live_control.listen_control(self.call_uuid, self._on_control, joined)
        self._control = asyncio.get_running_loop().create_task(listening)
        await self.runner.start()
        if call.outbound and call.mode != "listen" and call.answered_by != "voicemail":
            self._verdict = asyncio.get_running_loop().create_task(self._late_machine_verdict(call.id, joined))

    async def _late_machine_verdict(self, call_id: int, joined: asyncio.Event) -> None:
        """Machine detection's verdict, recorded after ``connect`` read the call but before its control group held
        this process, was told to nobody: read it once the group does (one query, outbound calls only)."""
        await joined.wait()
        try:
            answered_by = await records.answered_by(call_id)
        except Exception as exc:  # the database at its limit: the control message is the other way it arrives
            log.warning("Call %s: could not read the machine-detection verdict: %s", self.call_uuid, exc)
            return
        if answered_by == "voicemail" and self.runner:
            self.runner.machine_answered()

    def _agent_runner(self, call: records.LiveCall, stream_id: str) -> CallRunner:
        return CallRunner(
            call,
            stream_id,
            self.send,
            self.close,
            provider_factory(),
            site_url=self._site_url(),
            greet=not call.reconnect,
            opened_at=self.opened_at,
        )

    async def _take_over(self) -> str | None:
        """A valid start: the socket that ran the call so far is closed (4409) and its runner stopped first, here
        directly, in another process through the control group (best effort: the layer may be down; sent in the
        background, the greeting does not wait for Redis). Returns the
        stream id of the runner stopped here, if any."""
        previous = _RUNNING.get(self.call_uuid)
        stopped = None
        if previous is not None and previous is not self:
            stopped = previous.runner.stream_id if previous.runner else None
            await previous.replaced()
        # another process's socket, if any, hears of it beside our greeting: a Redis round trip is not awaited first
        self._telling = asyncio.get_running_loop().create_task(
            live_control.send_control(self.call_uuid, "replace", sender=self.sender_id)
        )
        return stopped

    async def replaced(self) -> None:
        if self._replaced:
            return
        self._replaced = True
        log.warning("Call %s: stream replaced by a newer socket", self.call_uuid)
        await self._close_quietly(CLOSE_REPLACED, "replaced by a newer stream for this call")
        if self.runner:
            await self.runner.stop()

    async def _on_control(self, message: dict) -> None:
        """From the call's control group: an operator's hang-up, or a newer socket for this call elsewhere."""
        if message.get("sender") == self.sender_id:
            return
        if message.get("action") == "hangup" and self.runner:
            self.runner.operator_hangup()
        elif message.get("action") == "machine" and self.runner:  # calls.plivo.outbound_webhooks: voicemail
            self.runner.machine_answered()
        elif message.get("action") == "replace":
            await self.replaced()

    def _site_url(self) -> str:
        if settings.PUBLIC_URL:
            return settings.PUBLIC_URL
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"localhost").decode("latin-1")
        return f"{'https' if self.scope.get('scheme') == 'wss' else 'http'}://{host}"

    async def _close_quietly(self, code: int, reason: str) -> None:
        try:
            await self.close(code=code, reason=reason)
        except Exception:
            log.info("Call %s: the socket could not be closed (already gone?)", self.call_uuid, exc_info=True)

    async def disconnect(self, code: int) -> None:
        """The client closed the socket: nothing more is sent; ``_teardown`` runs when the consumer loop ends."""
        if not self._socket_done:
            self._socket_done = True
            self._stream_over(f"the caller's socket closed ({code})")

    async def _teardown(self) -> None:
        if self._telling is not None:  # bounded: calls.live never waits long
            await asyncio.gather(self._telling, return_exceptions=True)
        for side in (self._control, self._verdict):
            if side is not None:
                side.cancel()
                await asyncio.gather(side, return_exceptions=True)
        if _RUNNING.get(self.call_uuid) is self:
            del _RUNNING[self.call_uuid]
        if self.runner:
            await self.runner.stop()
        if self._stopping is not None:
            await asyncio.gather(self._stopping, return_exceptions=True)
        # The server's protocol objects and this consumer may sit in reference cycles of their own: what the call
        # held is let go here, so that it is freed now rather than by the cyclic collector's next full pass.
        self.runner = self.live_call = self._control = self._verdict = self._telling = self._stopping = None
