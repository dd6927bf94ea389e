"""Pause and resume with the real Azure Speech and OpenAI SDKs against the wire fakes: the caller says "mm-hmm"
mid-reply, the agent stops at once and goes on from the first word the caller did not hear (word boundaries from
the Azure TTS fake's ``audio.metadata``)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, Turn
from streaming.audio import FRAME_BYTES
from tests.fakes.azure_usp import TICKS_PER_ULAW_BYTE
from tests.fakes.openai_server import ChatScript
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, eventually, turns
from tests.test_engine_resume import assert_resumed_at_the_first_unheard_word

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "What are your opening hours?"
ANSWER = "We open at nine in the morning and close at five in the evening. On Saturdays we open at ten."


async def test_mm_hmm_mid_reply_pauses_once_and_resumes_at_the_first_unheard_word(azure_fake, openai_fake):
    azure_fake.script_stt(QUESTION, "mm-hmm")
    openai_fake.script(ChatScript(content=ANSWER))
    caller = await connected_call(greeting="", end_of_speech_ms=500, preemptive_reply=False)
    await caller.send_audio(synthesize_ulaw(QUESTION))
    await caller.send_silence(900)
    await caller.wait_for(lambda: len(caller.events("playAudio")) > 60, timeout=20)
    await caller.send_audio(synthesize_ulaw("mm hmm"))
    await caller.send_silence(700)
    await caller.wait_for_checkpoints(1, timeout=20)

    assert caller.events("clearAudio") == [{"event": "clearAudio", "streamId": "stream-1"}]
    pieces = sorted((s for s in azure_fake.syntheses if s.text in ANSWER), key=lambda s: ANSWER.index(s.text))
    full, word_starts = b"", []
    for synthesis in pieces:
        word_starts += [
            len(full) + b.offset // TICKS_PER_ULAW_BYTE for b in synthesis.boundaries if b.kind == "WordBoundary"
        ]
        full += synthesis.audio
    full += b"\xff" * (-len(full) % FRAME_BYTES)
    assert_resumed_at_the_first_unheard_word(caller, full, word_starts)

    await eventually(lambda: len(turns()) == 2, timeout=10)
    agent_turn = await sync_to_async(Turn.objects.get)(sequence=2)
    assert (agent_turn.text, agent_turn.heard_text, agent_turn.interrupted, agent_turn.resumed) == (
        ANSWER,
        ANSWER,
        False,
        True,
    )
    assert len(openai_fake.requests) == 1
    await caller.hang_up()


async def test_the_reply_is_prepared_before_a_slow_final_and_kept_when_it_matches(azure_fake, openai_fake):
    """Azure-like endpointing (the final 500 ms after the segmentation silence the adapter asks for, which is the
    agent's end of speech) and a VAD that closes the utterance after 300 ms: the OpenAI request goes out on the
    partial, before the final, and its answer is what the caller hears."""
    azure_fake.final_delay_ms = 500
    azure_fake.script_stt(QUESTION)
    openai_fake.script(ChatScript(content="We open at nine."))
    caller = await connected_call(greeting="", end_of_speech_ms=300)
    await caller.send_audio(synthesize_ulaw(QUESTION))
    await caller.send_silence(1500)
    await caller.wait_for_checkpoints(1, timeout=20)
    assert len(openai_fake.requests) == 1
    assert openai_fake.requests[0].body["messages"][-1] == {"role": "user", "content": "what are your opening hours"}
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] != "", timeout=10)
    assert [t[:2] for t in await sync_to_async(turns)()] == [("caller", QUESTION), ("agent", "We open at nine.")]
    await caller.hang_up()
    await eventually(lambda: Call.objects.get().stream_ended_at is not None)
    assert (await sync_to_async(lambda: Call.objects.get().metrics)())["preemptive"] == {"hits": 1, "misses": 0}
