"""The stream socket: who may connect, bad frames, reconnects, isolation between calls, recordings."""

from __future__ import annotations

import asyncio
import base64
import json
import wave

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from calls.models import Call, CallEvent, Turn
from calls.plivo.tokens import make_stream_token, stream_path
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, eventually
from voiceproject.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def test_invalid_token_is_refused_before_accept(scripted):
    await sync_to_async(make_agent)()
    for path in ("/ws/plivo/garbage/", stream_path(make_stream_token("call-1")[:-3] + "abc")):
        communicator = WebsocketCommunicator(application, path)
        connected, code = await communicator.connect()
        assert (connected, code) == (False, 4403)
    assert await sync_to_async(Call.objects.count)() == 0


async def test_start_must_come_first(scripted):
    await sync_to_async(make_agent)()
    caller = PlivoCaller(await answer("call-1"), "call-1")
    await caller.connect()
    await caller.send({"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}})
    await caller.wait_for(lambda: caller.closed_code is not None)
    assert caller.closed_code == 4400
    await caller.hang_up()


async def test_start_for_another_call_is_refused(scripted):
    await sync_to_async(make_agent)()
    caller = PlivoCaller(await answer("call-1"), "someone-else")
    await caller.connect()
    await caller.start()
    await caller.wait_for(lambda: caller.closed_code is not None)
    assert caller.closed_code == 4400
    await caller.hang_up()


BAD_FRAMES = [
    "not json at all",
    "[1, 2, 3]",
    json.dumps({"event": "media", "media": {"payload": "***not base64***"}}),
    json.dumps({"event": "media", "media": {"payload": "A" * 100_000}}),
    json.dumps({"event": "media"}),
    json.dumps({"event": "dtmf", "dtmf": {"digit": "X"}}),
    json.dumps({"no": "event"}),
]


async def test_bad_frames_are_counted_and_the_call_goes_on(scripted):
    scripted.transcripts = ["hello there"]
    scripted.replies = ["Hi!"]
    caller = await connected_call(greeting="")
    for frame in BAD_FRAMES:
        await caller.comm.send_to(text_data=frame)
    await caller.send({"event": "somethingNew", "foo": 1})
    await caller.send_audio(synthesize_ulaw("Hello there"))
    await caller.send_silence(400)
    await caller.wait_for_checkpoints(1)
    assert caller.closed_code is None
    await caller.hang_up()
    call = await sync_to_async(Call.objects.get)()
    assert call.metrics["stream"]["bad_frames"] == len(BAD_FRAMES)
    assert call.metrics["stream"]["unknown_events"] == 1


async def test_a_new_socket_replaces_the_old_one_without_a_second_greeting(scripted):
    caller = await connected_call()
    await caller.wait_for_checkpoints(1)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    second = PlivoCaller(await answer("call-1"), "call-1", stream_id="stream-2")
    await second.connect()
    await second.start()  # a socket takes over with a valid start, not on connect (tests/test_takeover.py)
    await caller.wait_for(lambda: caller.closed_code is not None)
    assert caller.closed_code == 4409
    await asyncio.sleep(0.5)
    assert second.events("playAudio") == []
    call = await sync_to_async(Call.objects.get)()
    assert (call.stream_id, call.stream_ended_at) == ("stream-2", None)
    await second.hang_up()
    await caller.hang_up()


async def test_two_simultaneous_calls_do_not_mix(scripted):
    scripted.transcripts = ["first caller", "second caller"]
    await sync_to_async(make_agent)(name="One", number="+14155550101", greeting="Hi from one")
    await sync_to_async(make_agent)(name="Two", number="+14155550102", greeting="A longer hello from agent two")
    one = PlivoCaller(await answer("call-a", to="14155550101"), "call-a", stream_id="s-a")
    two = PlivoCaller(await answer("call-b", to="14155550102"), "call-b", stream_id="s-b")
    for caller in (one, two):
        await caller.connect()
        await caller.start()
    await asyncio.gather(one.wait_for_checkpoints(1), two.wait_for_checkpoints(1))
    for caller, greeting in ((one, "Hi from one"), (two, "A longer hello from agent two")):
        audio = b"".join(base64.b64decode(m["media"]["payload"]) for m in caller.events("playAudio"))
        expected = scripted.created[0][2].audio_for(greeting)
        assert audio[: len(expected)] == expected
        assert {m["streamId"] for m in caller.events("checkpoint")} == {caller.stream_id}
    await eventually(lambda: Turn.objects.filter(interrupted=False, heard_text__gt="").count() == 2)
    greetings = await sync_to_async(lambda: sorted(Turn.objects.values_list("call__call_uuid", "text")))()
    assert greetings == [("call-a", "Hi from one"), ("call-b", "A longer hello from agent two")]
    await one.hang_up()
    await two.hang_up()


async def test_recording_is_a_stereo_wav_of_the_call(scripted):
    scripted.transcripts = ["hello"]
    scripted.replies = ["Hi there, welcome."]
    caller = await connected_call(record_calls=True)
    await caller.wait_for_checkpoints(1)
    await caller.send_audio(synthesize_ulaw("Hello"))
    await caller.send_silence(500)
    await caller.wait_for_checkpoints(2)
    await caller.wait_for(lambda: not caller.playout.checkpoints)
    sent_frames = caller.chunk
    await caller.hang_up()
    call = await sync_to_async(Call.objects.get)()
    assert call.recording_path.endswith("/call-1.wav")
    with wave.open(str(settings.RECORDINGS_DIR / call.recording_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert sent_frames * 160 <= wav.getnframes() <= (sent_frames + 20) * 160


async def test_transfer_tool_hands_the_call_to_the_transfer_path(scripted, settings):
    from streaming.providers.base import ToolCall
    from tests.fakes.plivo_api import FakePlivoApi

    scripted.transcripts = ["a person please"]
    scripted.replies = [[ToolCall("t1", "transfer_call", {"reason": "caller asked"})]]
    with FakePlivoApi() as plivo_api:
        caller = await connected_call(greeting="", transfer_number="+14155550999")
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = plivo_api.auth_id, plivo_api.auth_token
        settings.PLIVO_API_URL = plivo_api.url
        settings.PUBLIC_URL = "https://voice.example.com"
        await caller.send_audio(synthesize_ulaw("A person please"))
        await caller.send_silence(400)
        await eventually(lambda: CallEvent.objects.filter(kind="transfer").exists(), timeout=10)
        assert [(r["method"], r["path"], r["body"]["aleg_url"]) for r in plivo_api.requests] == [
            ("POST", f"/v1/Account/{plivo_api.auth_id}/Call/call-1/", "https://voice.example.com/plivo/transfer/")
        ]
    events = await sync_to_async(lambda: list(CallEvent.objects.values_list("kind", "data")))()
    assert ("tool", {"name": "transfer_call", "arguments": {"reason": "caller asked"}}) in events
    transferred = {"destination": "default", "number": "+14155550999", "warm": False, "summary": ""}
    assert ("transfer", {**transferred, "status": "transferred"}) in events
    assert "Please hold while I transfer you." in scripted.tts.spoken
    await caller.hang_up()


async def test_media_frames_do_not_hop_to_the_database_thread(scripted, monkeypatch):
    """Channels closes old DB connections in the sync thread before every message; the stream consumer must not
    (one thread round trip per 20 ms frame per call was its largest per-frame cost)."""
    hops: list[int] = []

    async def counting_close() -> None:
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting_close)
    caller = await connected_call(greeting="")
    await caller.send_silence(200)
    await caller.hang_up()
    assert caller.chunk >= 10
    assert hops == []
