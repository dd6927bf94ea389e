"""A whole call through the consumer and runner with scripted providers and real (offline) caller speech."""

from __future__ import annotations

import asyncio
import base64

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent, Turn
from streaming.audio import FRAME_BYTES
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.speech import synthesize_ulaw

pytestmark = pytest.mark.django_db(transaction=True)
GREETING = "Hello, how can I help?"


async def connected_call(call_uuid: str = "call-1", **agent_fields) -> PlivoCaller:
    agent_fields.setdefault("greeting", GREETING)
    await sync_to_async(make_agent)(**agent_fields)
    caller = PlivoCaller(await answer(call_uuid), call_uuid)
    connected, _ = await caller.connect()
    assert connected
    await caller.start()
    return caller


def turns(call_uuid: str = "call-1") -> list[tuple]:
    return list(
        Turn.objects.filter(call__call_uuid=call_uuid)
        .order_by("sequence")
        .values_list("role", "text", "heard_text", "interrupted")
    )


async def eventually(condition, timeout: float = 5.0) -> None:
    """Poll a database condition until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await sync_to_async(condition)():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def db_turns(call_uuid: str = "call-1") -> list[tuple]:
    return await sync_to_async(turns)(call_uuid)


async def test_greeting_then_an_answer_with_checkpoints(scripted):
    scripted.transcripts = ["What are your opening hours?"]
    scripted.replies = ["We open at nine. We close at five."]
    caller = await connected_call()
    await caller.wait_for_checkpoints(1)
    greeting_audio = scripted.tts.audio_for(GREETING)
    frames = caller.events("playAudio")
    assert [m["event"] for _, m in caller.received][: len(frames) + 1] == ["playAudio"] * len(frames) + ["checkpoint"]
    assert all(f["media"]["contentType"] == "audio/x-mulaw" and f["media"]["sampleRate"] == 8000 for f in frames)
    sent = b"".join(base64.b64decode(f["media"]["payload"]) for f in frames)
    assert sent[: len(greeting_audio)] == greeting_audio
    assert len(sent) == -(-len(greeting_audio) // FRAME_BYTES) * FRAME_BYTES
    times = [t for t, m in caller.received if m["event"] == "playAudio"]
    assert times[-1] - times[0] >= len(sent) / 8000 - 0.15  # paced: never more than ~100 ms ahead
    assert caller.events("checkpoint") == [{"event": "checkpoint", "streamId": "stream-1", "name": "utterance-1"}]
    await caller.wait_for(lambda: not caller.playout.is_playing() and not caller.playout.checkpoints)

    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(400)
    await caller.wait_for_checkpoints(2)
    await caller.send_silence(100)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=10)
    await eventually(lambda: len(turns()) == 3 and turns()[2][2] != "")
    assert await db_turns() == [
        ("agent", GREETING, GREETING, False),
        ("caller", "What are your opening hours?", "", False),
        ("agent", "We open at nine. We close at five.", "We open at nine. We close at five.", False),
    ]
    assert scripted.tts.spoken[-2:] == ["We open at nine.", "We close at five."]
    reply = await sync_to_async(Turn.objects.get)(call__call_uuid="call-1", sequence=3)
    assert set(reply.latency) == {"stt_ms", "llm_ms", "tts_ms", "send_ms", "voice_to_voice_ms"}
    assert reply.latency["llm_ms"] >= 30  # the scripted LLM's first-token delay is included
    assert all(value >= 0 for value in reply.latency.values())
    await caller.hang_up()
    call = await sync_to_async(Call.objects.get)(call_uuid="call-1")
    assert call.stream_ended_at is not None
    assert call.metrics["greeting_ms"] < 1000
    assert call.metrics["stream"]["bad_frames"] == 0


async def test_events_are_recorded(scripted):
    caller = await connected_call()
    await caller.wait_for_checkpoints(1)
    await caller.hang_up()
    assert await sync_to_async(CallEvent.objects.count)() == 0
