"""A listen-mode call through the real consumer: both tracks transcribed, nothing sent back, alerts everywhere."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import xml.etree.ElementTree as ET
from collections import deque

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import AsyncClient, Client

from agents.models import PhoneNumber
from calls.models import Call, CallEvent, Turn
from streaming.simulator import wire
from tests.call_factories import make_user
from tests.factories import make_agent
from tests.fakes.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS
from tests.fakes.webhook_receiver import Receiver
from tests.speech import frames, synthesize_ulaw
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
SILENT = b"\xff" * 160
CALLER_1 = "I want to cancel my account"
PERSON_1 = "I am sorry to hear that"
PERSON_2 = "Let me look at your contract for a moment please"
CALLER_2 = "My lawyer read it too"
SCRIPTS: deque[list[str]] = deque()


def factory(config):
    """The listen runner makes the caller's STT first, then the person's: each gets its own script."""
    return ScriptedSTT(config, SCRIPTS.popleft(), final_ms=150), ScriptedLLM(config), ScriptedTTS(config)


@pytest.fixture
async def close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def listen_agent(webhook_url: str) -> None:
    agent = make_agent(number=None, webhook_url=webhook_url, webhook_secret="s3cret")
    PhoneNumber.objects.create(
        number="+14155550100",
        agent=agent,
        mode=PhoneNumber.Mode.LISTEN,
        listen_dial="+14155550123",
        alert_phrases="cancel my account\nlawyer",
    )


def session_cookie() -> str:
    client = Client()
    client.force_login(make_user("supervisor", permitted=True))
    return client.cookies["sessionid"].value


class TwoTracks:
    """Plivo's one-way stream of both sides: a frame of each track every 20 ms, silence when a side is quiet."""

    def __init__(self, path: str, call_uuid: str) -> None:
        self.comm = WebsocketCommunicator(application, path)
        self.call_uuid = call_uuid
        self.queues = {"inbound": deque(), "outbound": deque()}
        self.templates = {track: wire.media_template("stream-1", track) for track in self.queues}
        self.sequence = 0
        self.received: list[dict] = []

    async def start(self) -> None:
        connected, _ = await self.comm.connect()
        assert connected
        start = wire.start_message(self.call_uuid, "stream-1", "MA1", ("inbound", "outbound"))
        await self.comm.send_to(text_data=json.dumps({"sequenceNumber": 1, **start}))
        self.sequence = 1
        self.pump = asyncio.create_task(self._pump())

    def say(self, track: str, text: str) -> float:
        """Queue ``text`` on ``track``; returns how long it lasts (s)."""
        audio = frames(synthesize_ulaw(text))
        self.queues[track].extend(audio)
        return len(audio) * 0.02

    async def _pump(self) -> None:
        began, sent = time.monotonic(), 0
        while True:
            for track, queue in self.queues.items():
                frame = queue.popleft() if queue else SILENT
                self.sequence += 1
                payload = base64.b64encode(frame).decode()
                message = self.templates[track] % (self.sequence, int(time.time() * 1000), sent, payload)
                await self.comm.send_to(text_data=message)
            sent += 1
            await asyncio.sleep(max(0.0, began + sent * 0.02 - time.monotonic()))

    async def hang_up(self) -> None:
        self.pump.cancel()
        while not await self.comm.receive_nothing(timeout=0.05):
            self.received.append(await self.comm.receive_output())
        await self.comm.disconnect()


async def until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await sync_to_async(condition)():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_both_sides_transcribed_nothing_sent_back_alerts_on_page_db_and_webhook(
    settings, close_thread_connections
):
    settings.VOICE_PROVIDER_FACTORY = "tests.test_listen_call.factory"
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    SCRIPTS.extend([[CALLER_1, CALLER_2], [PERSON_1, PERSON_2]])
    with Receiver([]) as receiver:
        await sync_to_async(listen_agent)(receiver.url)
        params = {"CallUUID": "L-1", "From": "14155550111", "To": "14155550100", "Direction": "inbound"}
        answer = await AsyncClient().post("/plivo/answer/", params)
        stream_url = ET.fromstring(answer.content).find("Stream").text
        cookie = await sync_to_async(session_cookie)()
        headers = [(b"origin", b"http://testserver"), (b"cookie", f"sessionid={cookie}".encode())]
        page = WebsocketCommunicator(application, "/ws/calls/L-1/live/", headers=headers)
        assert (await page.connect())[0]
        stream = TwoTracks(stream_url.split("testserver", 1)[1], "L-1")
        await stream.start()
        await asyncio.sleep(0.3)
        await asyncio.sleep(stream.say("inbound", CALLER_1) + 0.5)
        await asyncio.sleep(stream.say("outbound", PERSON_1) + 0.5)
        person_2 = stream.say("outbound", PERSON_2)
        await asyncio.sleep(0.6)  # the caller talks over the person
        await asyncio.sleep(max(stream.say("inbound", CALLER_2), person_2 - 0.6) + 0.8)
        await until(lambda: Turn.objects.filter(call__call_uuid="L-1").count() == 4)
        await stream.hang_up()
        await until(lambda: Call.objects.get(call_uuid="L-1").stream_ended_at is not None)
        page_events = []
        while not await page.receive_nothing(timeout=0.3):
            page_events.append(await page.receive_json_from())
        await page.disconnect()
    assert stream.received == [{"type": "websocket.close", "code": 1000}] or stream.received == []
    turns = await sync_to_async(list)(
        Turn.objects.filter(call__call_uuid="L-1")
        .order_by("start_ms")
        .values_list("role", "text", "start_ms", "end_ms")
    )
    assert [(role, text) for role, text, _, _ in turns] == [
        ("caller", CALLER_1),
        ("person", PERSON_1),
        ("person", PERSON_2),
        ("caller", CALLER_2),
    ]
    (_, _, c1_start, c1_end), (_, _, p1_start, _), (_, _, p2_start, p2_end), (_, _, c2_start, _) = turns
    assert 200 <= c1_start <= 600 and c1_end < p1_start  # real stream times: the caller spoke first
    assert p2_start < c2_start < p2_end  # overlapping speech: two turns, each with its own start
    alerts = await sync_to_async(list)(
        CallEvent.objects.filter(kind="alert").order_by("id").values_list("data", flat=True)
    )
    assert [(a["phrase"], a["speaker"], a["text"]) for a in alerts] == [
        ("cancel my account", "caller", CALLER_1),
        ("lawyer", "caller", CALLER_2),
    ]
    assert alerts[0]["at_ms"] == c1_start and alerts[1]["at_ms"] == c2_start
    shown = [e["data"] for e in page_events if e["kind"] == "alert"]
    assert shown == alerts
    roles = [e["data"]["role"] for e in page_events if e["kind"] == "turn"]
    assert sorted(roles) == ["caller", "caller", "person", "person"]
    sentiments = [e["data"] for e in page_events if e["kind"] == "sentiment"]
    assert {s["role"] for s in sentiments} == {"caller", "person"}
    assert any(e["kind"] == "listen-stats" for e in page_events)
    bodies = [json.loads(body) for path, _, body in receiver.requests]
    assert sorted(b["alert"]["phrase"] for b in bodies) == ["cancel my account", "lawyer"]
    assert {b["event"] for b in bodies} == {"call.alert"}
    assert all(headers["x-signature"].startswith("sha256=") for _, headers, _ in receiver.requests)
    call = await sync_to_async(Call.objects.get)(call_uuid="L-1")
    assert call.mode == "listen"
    assert set(call.metrics["listen_sentiment"]) == {str(n) for n in range(1, 5)}
    assert call.metrics["listen_live"]["caller_talk_ms"] > 0 and call.metrics["listen_live"]["person_talk_ms"] > 0
