"""A stalled language model or TTS never means silence: the caller hears the fallback line, the error is on the call.

The real OpenAI SDK against the wire fake, hanging where real servers hang: before the response headers, after
them, and in the middle of a sentence.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent
from tests.fakes.openai_server import ChatScript
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, eventually
from tests.test_engine_wire_providers import ANSWER, FALLBACK, QUESTION, agent_audio, ask, padded

pytestmark = pytest.mark.django_db(transaction=True)
HANG_S = 8.0  # far longer than any deadline below: the fake is still hanging when the fallback plays

NO_AUDIO = "no reply audio within 1200 ms of the caller's end of speech"
FAULTS = {
    "hang before the response headers": (ChatScript(content=ANSWER, headers_delay=HANG_S), NO_AUDIO),
    "hang after the response headers": (ChatScript(content=ANSWER, first_token_delay=HANG_S), NO_AUDIO),
    "stall in the middle of a sentence": (
        ChatScript(content=ANSWER, stall_after_chunks=3, stall_seconds=HANG_S),
        "the language model sent nothing for 0.5 s",
    ),
}


def errors() -> list[dict]:
    return list(CallEvent.objects.filter(kind="error").values_list("data", flat=True))


@pytest.mark.parametrize(("script", "message"), FAULTS.values(), ids=FAULTS.keys())
async def test_a_stalled_llm_gets_the_fallback_line_and_the_call_goes_on(
    settings, azure_fake, openai_fake, script, message
):
    settings.REPLY_DEADLINE_MS, settings.LLM_STALL_MS = 1200, 500
    azure_fake.script_stt(QUESTION, QUESTION)
    openai_fake.script(script, ChatScript(content=ANSWER))
    caller = await connected_call(greeting="", end_of_speech_ms=500)
    await ask(caller)
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=20)
    assert agent_audio(caller) == padded(azure_fake.audio_for(FALLBACK))
    assert await sync_to_async(errors)() == [{"provider": "openai", "message": message, "permanent": False}]
    notes = await sync_to_async(lambda: Call.objects.get().error_notes)()
    assert notes == f"openai: {message}"
    await ask(caller)  # the next question is answered normally
    await caller.wait_for_checkpoints(2, timeout=20)
    assert azure_fake.syntheses[-1].text == ANSWER
    await caller.hang_up()


async def test_a_stall_after_the_first_sentence_keeps_what_was_said(settings, azure_fake, openai_fake):
    settings.REPLY_DEADLINE_MS, settings.LLM_STALL_MS = 1200, 500
    first = "We open at nine."
    azure_fake.script_stt(QUESTION)
    pieces = ["We", " open", " at", " nine.", " And", " we"]
    openai_fake.script(ChatScript(content=pieces, stall_after_chunks=6, stall_seconds=HANG_S))
    caller = await connected_call(greeting="", end_of_speech_ms=500)
    await ask(caller)
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=20)
    assert agent_audio(caller) == padded(azure_fake.audio_for(first))  # no fallback: the caller got an answer
    message = "the language model sent nothing for 0.5 s"
    stalled = [{"provider": "openai", "message": message, "permanent": False}]
    await eventually(lambda: errors() == stalled)  # stored by a side task, maybe just after the checkpoint's ack
    await caller.hang_up()


async def test_a_stalled_tts_is_an_error_on_the_call_not_a_hung_call(settings, scripted):
    settings.TTS_STALL_MS = 300
    scripted.transcripts, scripted.tts_first_audio_ms = ["hours please"], 5000
    caller = await connected_call(greeting="")
    await caller.send_audio(synthesize_ulaw(QUESTION))
    await caller.send_silence(300)
    await eventually(lambda: CallEvent.objects.filter(kind="error").count() == 2, timeout=10)
    stalled = {"provider": "scripted-tts", "message": "text-to-speech sent nothing for 0.3 s", "permanent": False}
    assert await sync_to_async(errors)() == [stalled, stalled]  # the reply, then the fallback line
    assert caller.closed_code is None and caller.events("playAudio") == []
    await caller.hang_up()
