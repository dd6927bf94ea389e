"""A Plivo stand-in for engine tests, over Channels' WebsocketCommunicator (no network)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable

from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from streaming.simulator import wire
from streaming.simulator.playout import Playout
from tests.speech import frames, silence_ulaw
from voiceproject.asgi import application

SILENT_FRAME = silence_ulaw(20)


async def answer(call_uuid: str, to: str = "14155550100", caller: str = "14155550111") -> str:
    """POST the answer URL like Plivo; returns the WebSocket path from the <Stream> element."""
    response = await AsyncClient().post(
        "/plivo/answer/",
        {"CallUUID": call_uuid, "From": caller, "To": to, "Direction": "inbound", "CallStatus": "ringing"},
    )
    assert response.status_code == 200, response.content
    url = ET.fromstring(response.content).find("Stream").text
    return url.split("testserver", 1)[1]


class PlivoCaller:
    def __init__(self, path: str, call_uuid: str, stream_id: str = "stream-1") -> None:
        self.comm = WebsocketCommunicator(application, path)
        self.call_uuid, self.stream_id = call_uuid, stream_id
        self.received: list[tuple[float, dict]] = []
        self.playout = Playout()
        self.sequence = 0
        self.chunk = 0
        self._media_template = wire.media_template(stream_id)
        self.closed_code: int | None = None
        self.closed_reason = ""
        self.ack_checkpoints = True
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self._outgoing: deque[bytes] = deque()
        self._drained = asyncio.Event()

    async def connect(self) -> tuple[bool, int | None]:
        connected, code = await self.comm.connect()
        if connected:
            self._tasks.append(asyncio.create_task(self._read()))
        return connected, code

    async def send(self, message: dict | str) -> None:
        """A frame: a dict (numbered like Plivo's, from ``wire``'s builders) or raw text, sent as is."""
        self.sequence += 1
        if isinstance(message, dict):
            message = json.dumps({"sequenceNumber": self.sequence, **message})
        await self.comm.send_to(text_data=message)

    async def start(self) -> None:
        await self.send(wire.start_message(self.call_uuid, self.stream_id, "MA123"))
        self.started_at = time.monotonic()
        self._tasks.append(asyncio.create_task(self._pump()))

    async def send_frame(self, frame: bytes) -> None:
        """One ``media`` frame, as the simulator builds it (``wire.media_template``)."""
        self.sequence += 1
        self.chunk += 1
        payload = base64.b64encode(frame).decode()
        await self.comm.send_to(
            text_data=self._media_template % (self.sequence, int(time.time() * 1000), self.chunk, payload)
        )

    async def _pump(self) -> None:
        """Like Plivo: a frame every 20 ms for the whole call, silence when the caller says nothing."""
        began, sent = time.monotonic(), 0
        while True:
            frame = self._outgoing.popleft() if self._outgoing else SILENT_FRAME
            if not self._outgoing:
                self._drained.set()
            await self.send_frame(frame)
            sent += 1
            await asyncio.sleep(max(0.0, began + sent * 0.02 - time.monotonic()))

    async def send_audio(self, ulaw: bytes) -> None:
        """Speak: queue the audio into the 20 ms stream and wait until it has all been sent."""
        self._drained.clear()
        self._outgoing.extend(frames(ulaw))
        await self._drained.wait()

    async def send_silence(self, ms: int) -> None:
        await self.send_audio(silence_ulaw(ms))

    async def _read(self) -> None:
        while True:
            try:
                raw = await self.comm.receive_output(timeout=3600)
            except asyncio.CancelledError:
                raise
            if raw["type"] == "websocket.close":
                self.closed_code = raw.get("code", 1000)
                self.closed_reason = raw.get("reason") or ""
                self._changed.set()
                return
            message = json.loads(raw["text"])
            self.received.append((time.monotonic(), message))
            self._handle(message)
            self._changed.set()

    def _handle(self, message: dict) -> None:
        event = message["event"]
        if event == "playAudio":
            self.playout.audio(base64.b64decode(message["media"]["payload"]))
        elif event == "checkpoint" and self.ack_checkpoints:
            self.playout.checkpoint(message["name"])
            self._tasks.append(asyncio.create_task(self._ack_when_played()))
        elif event == "clearAudio":
            self.playout.clear()
            self._tasks.append(asyncio.create_task(self.send(wire.cleared_audio_message(self.stream_id))))

    async def _ack_when_played(self) -> None:
        while (wait := self.playout.next_due_in()) is not None:
            await asyncio.sleep(wait)
            for name in self.playout.due():
                await self.send(wire.played_stream_message(self.stream_id, name))

    def events(self, name: str) -> list[dict]:
        return [m for _, m in self.received if m["event"] == name]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = [m["event"] for _, m in self.received][-20:]
                raise TimeoutError(f"condition not met in {timeout}s; last received: {recent}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for_checkpoints(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: len(self.events("checkpoint")) >= count, timeout)

    async def hang_up(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.comm.disconnect()
