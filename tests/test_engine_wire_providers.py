"""Whole calls through the consumer with the real Azure Speech and OpenAI SDKs against local wire fakes."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async

from calls.models import CallEvent
from streaming.audio import FRAME_BYTES
from tests.fakes.openai_server import ChatScript, ScriptedToolCall
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, eventually, turns

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "What are your opening hours?"
ANSWER = "We open at nine and close at five."
FALLBACK = "Sorry, I didn't catch that — could you say it again?"


def agent_audio(caller) -> bytes:
    return b"".join(base64.b64decode(m["media"]["payload"]) for m in caller.events("playAudio"))


def padded(audio: bytes) -> bytes:
    return audio + b"\xff" * (-len(audio) % FRAME_BYTES)


async def ask(caller, text: str = QUESTION) -> None:
    await caller.send_audio(synthesize_ulaw(text))
    await caller.send_silence(900)


async def test_caller_audio_to_openai_to_azure_voice_and_back(azure_fake, openai_fake):
    azure_fake.script_stt(QUESTION)
    openai_fake.script(ChatScript(content=ANSWER))
    caller = await connected_call(
        greeting="", voice="en-GB-SoniaNeural", language="en-GB", end_of_speech_ms=500, preemptive_reply=False
    )
    await ask(caller)
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=20)

    body = openai_fake.requests[0].body
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}
    assert body["stream"] is True
    assert azure_fake.syntheses[-1].text == ANSWER
    assert 'name="en-GB-SoniaNeural"' in azure_fake.syntheses[-1].ssml
    assert agent_audio(caller) == padded(azure_fake.audio_for(ANSWER))
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] != "")
    assert [t[:3] for t in await sync_to_async(turns)()] == [("caller", QUESTION, ""), ("agent", ANSWER, ANSWER)]
    await caller.hang_up()


async def test_llm_end_call_tool_says_goodbye_and_ends_the_call(azure_fake, openai_fake):
    azure_fake.script_stt("That is all, thanks.")
    openai_fake.script(ChatScript(content="", tool_calls=[ScriptedToolCall("end_call", '{"reason": "done"}')]))
    caller = await connected_call(greeting="", goodbye_message="Goodbye from Azure.", end_call_phrases="")
    await ask(caller, "That is all, thanks.")
    await caller.wait_for(lambda: caller.closed_code is not None, timeout=20)
    assert "Goodbye from Azure." in [s.text for s in azure_fake.syntheses]  # ready before it was needed
    assert agent_audio(caller).endswith(padded(azure_fake.audio_for("Goodbye from Azure.")))
    events = await sync_to_async(lambda: list(CallEvent.objects.values_list("kind", "data")))()
    assert ("tool", {"name": "end_call", "arguments": {"reason": "done"}}) in events
    assert ("hangup", {"reason": "agent ended the call", "result": "stream-closed"}) in events
    await caller.hang_up()


@pytest.mark.parametrize(
    "script",
    [
        ChatScript(status=500),
        ChatScript(status=401),
        ChatScript(status=429),
        ChatScript(content=ANSWER, cut_after_chunks=1),
    ],
)
async def test_llm_errors_speak_the_fallback_and_the_call_continues(azure_fake, openai_fake, script):
    azure_fake.script_stt(QUESTION, QUESTION)
    openai_fake.script(script, ChatScript(content=ANSWER))
    caller = await connected_call(greeting="", end_of_speech_ms=500)
    await ask(caller)
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=20)
    errors = await sync_to_async(lambda: list(CallEvent.objects.filter(kind="error").values_list("data", flat=True)))()
    assert len(errors) == 1 and errors[0]["provider"] == "openai"
    if script.cut_after_chunks is None:  # nothing was said: the caller hears the fallback line
        assert agent_audio(caller) == padded(azure_fake.audio_for(FALLBACK))
    await ask(caller)
    await caller.wait_for_checkpoints(2, timeout=20)
    assert azure_fake.syntheses[-1].text == ANSWER
    await caller.hang_up()


async def test_tts_failure_falls_back_and_is_recorded(azure_fake, openai_fake):
    azure_fake.script_stt(QUESTION)
    openai_fake.script(ChatScript(content=ANSWER))
    caller = await connected_call(greeting="", end_of_speech_ms=500)
    azure_fake.reject_status = 401
    await ask(caller)
    await eventually(lambda: CallEvent.objects.filter(kind="error").exists(), timeout=20)
    errors = await sync_to_async(lambda: list(CallEvent.objects.filter(kind="error").values_list("data", flat=True)))()
    assert errors[0]["provider"].startswith("azure")
    assert caller.closed_code is None
    await caller.hang_up()
