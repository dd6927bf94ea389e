"""Pause on the caller's voice, resume after a backchannel, and the preemptive reply, through the consumer.

Scripted providers (tests/fakes/scripted.py): the TTS reports word timings (``ms_per_char`` per character), so the
test knows where every word of the reply starts in the audio it receives.
"""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent, Turn
from streaming.audio import FRAME_BYTES
from streaming.providers.base import ProviderError
from tests.speech import synthesize_ulaw
from tests.test_engine_call import connected_call, db_turns, eventually, turns
from tests.test_engine_turn_taking import LONG_REPLY, answered_with_reply

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "What are your opening hours?"


def reply_audio(tts, reply: str) -> tuple[bytes, list[int]]:
    """The reply's audio as the player frames it (its pieces back to back, the tail padded) and where every word
    starts in it. The TTS also synthesized the fixed lines the call keeps ready: those are not pieces."""
    audio, starts = b"", []
    for text in [t for t in tts.spoken if t in reply]:
        starts += [len(audio) + round(mark.offset_ms * 8) for mark in tts.word_marks(text)]
        audio += tts.audio_for(text)
    return audio + b"\xff" * (-len(audio) % FRAME_BYTES), starts


def split_at_clear(caller) -> tuple[bytes, bytes]:
    """The reply audio the caller heard before the clearAudio, and everything sent after it."""
    clear_at = next(t for t, m in caller.received if m["event"] == "clearAudio")
    heard = b"".join(audio for start, audio in caller.playout.played if start <= clear_at)
    after = b"".join(
        base64.b64decode(m["media"]["payload"])
        for t, m in caller.received
        if t > clear_at and m["event"] == "playAudio"
    )
    return heard, after


def assert_resumed_at_the_first_unheard_word(caller, full: bytes, word_starts: list[int]) -> None:
    """What the caller heard before the clearAudio is the reply's start, what came after it is the reply's end, and
    the two overlap by exactly the word the caller was hearing when it was cut (from that word's frame)."""
    heard, after = split_at_clear(caller)
    assert full.startswith(heard) and full.endswith(after)
    resumed_at = len(full) - len(after)
    assert resumed_at in {w - w % FRAME_BYTES for w in word_starts}  # at a word's start (its frame)
    assert resumed_at <= len(heard)  # no word lost: the first word not fully heard is said again
    later_words = [w for w in word_starts if w > resumed_at]
    assert not later_words or later_words[0] >= len(heard) - FRAME_BYTES  # ...and only that one


async def test_a_backchannel_pauses_and_the_reply_resumes_from_the_first_unheard_word(scripted):
    scripted.replies = [LONG_REPLY]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, [QUESTION, "mm-hmm"])
    await caller.send_audio(synthesize_ulaw("mm hmm"))
    await caller.send_silence(300)
    await caller.wait_for(lambda: caller.events("clearAudio"))
    await caller.wait_for_checkpoints(1, timeout=20)
    await caller.wait_for(lambda: not caller.playout.checkpoints, timeout=20)

    assert caller.events("clearAudio") == [{"event": "clearAudio", "streamId": "stream-1"}]
    assert_resumed_at_the_first_unheard_word(caller, *reply_audio(scripted.tts, LONG_REPLY))
    assert caller.events("checkpoint")[-1]["name"] == "utterance-1-1"  # renamed: the old one was cleared

    await eventually(lambda: len(turns()) == 2)
    agent_turn = await sync_to_async(Turn.objects.get)(sequence=2)
    assert (agent_turn.text, agent_turn.heard_text, agent_turn.interrupted, agent_turn.resumed) == (
        LONG_REPLY,
        LONG_REPLY,
        False,
        True,
    )
    kinds = await sync_to_async(lambda: list(CallEvent.objects.values_list("kind", flat=True)))()
    assert kinds.count("pause") == 1 and kinds.count("resume") == 1 and "barge-in" not in kinds
    assert len(scripted.llm.conversations) == 1  # the backchannel asked for nothing
    await caller.hang_up()


async def test_noise_without_words_resumes_too(scripted):
    scripted.replies = [LONG_REPLY]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, [QUESTION, ""])  # the STT recognises nothing in it
    await caller.send_audio(synthesize_ulaw("hmm"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(1, timeout=20)
    assert len(caller.events("clearAudio")) == 1
    full, _ = reply_audio(scripted.tts, LONG_REPLY)
    heard, after = split_at_clear(caller)
    assert full.endswith(after) and len(full) - len(after) <= len(heard)
    await eventually(lambda: len(turns()) == 2)
    assert await sync_to_async(lambda: Turn.objects.get(sequence=2).resumed)()
    await caller.hang_up()


async def test_words_over_the_agent_are_a_real_interruption_with_one_clear(scripted):
    scripted.replies = [LONG_REPLY, "Sure."]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, [QUESTION, "Wait, what about Sunday"])
    await caller.send_audio(synthesize_ulaw("Wait what about Sunday?"))
    await caller.send_silence(400)
    await eventually(lambda: len(turns()) >= 3, timeout=10)
    agent_turn = await sync_to_async(Turn.objects.get)(sequence=2)
    assert agent_turn.interrupted and not agent_turn.resumed and agent_turn.text == LONG_REPLY
    heard, _ = split_at_clear(caller)
    assert agent_turn.heard_text and LONG_REPLY.startswith(agent_turn.heard_text) and heard
    assert caller.events("clearAudio") == [{"event": "clearAudio", "streamId": "stream-1"}]  # the pause's only
    await caller.hang_up()


async def test_stop_on_words_mode_does_not_pause_for_a_backchannel(scripted):
    scripted.replies = [LONG_REPLY]
    scripted.ms_per_char = 40
    caller = await answered_with_reply(scripted, [QUESTION, "okay"], interruption_mode="words")
    await caller.send_audio(synthesize_ulaw("okay"))
    await caller.send_silence(300)
    await caller.wait_for_checkpoints(1, timeout=15)
    assert caller.events("clearAudio") == []
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] == LONG_REPLY)
    assert [t[:2] for t in await db_turns()] == [("caller", QUESTION), ("agent", LONG_REPLY)]
    await caller.hang_up()


# ---- the preemptive reply ----
async def preempted_call(scripted, transcripts: list[str], **agent):
    """A call whose STT final comes 800 ms after the caller stops and whose VAD closes the utterance after 200 ms:
    the reply is prepared on the partial before the final."""
    scripted.transcripts = transcripts
    scripted.stt_final_ms = 800
    caller = await connected_call(greeting="", end_of_speech_ms=200, **agent)
    await caller.send_audio(synthesize_ulaw(QUESTION))
    await caller.send_silence(1000)
    await caller.wait_for_checkpoints(1, timeout=10)
    return caller


async def test_a_prepared_reply_is_sent_when_the_final_matches(scripted):
    scripted.replies = lambda conversation: "We open at nine."
    caller = await preempted_call(scripted, [QUESTION])
    assert [(m.role, m.text) for m in scripted.llm.conversations[0].messages] == [("caller", QUESTION)]
    assert len(scripted.llm.conversations) == 1
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] != "")
    assert [t[:2] for t in await db_turns()] == [("caller", QUESTION), ("agent", "We open at nine.")]
    await caller.hang_up()
    await eventually(lambda: Call.objects.get().stream_ended_at is not None)
    metrics = await sync_to_async(lambda: Call.objects.get().metrics)()
    assert metrics["preemptive"] == {"hits": 1, "misses": 0}


async def test_a_prepared_reply_is_discarded_when_the_final_differs(scripted):
    """The partial says one thing, the final another: nothing of the prepared reply is sent, the final is
    answered, and the wasted request is counted."""
    answers = {"What": "PREPARED.", QUESTION: "We open at nine."}
    scripted.replies = lambda conversation: answers[conversation.messages[-1].text]
    scripted.stt_word_ms = 10_000  # the partials show only the first word: the final adds the rest
    caller = await preempted_call(scripted, [QUESTION])
    texts = [c.messages[-1].text for c in scripted.llm.conversations]
    assert texts[-1] == QUESTION and len(texts) == 2
    sent = b"".join(base64.b64decode(m["media"]["payload"]) for m in caller.events("playAudio"))
    answer = scripted.tts.audio_for("We open at nine.")
    assert sent == answer + b"\xff" * (-len(answer) % FRAME_BYTES)  # only the answer to the final, padded
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] != "")
    assert [t[:2] for t in await db_turns()] == [("caller", QUESTION), ("agent", "We open at nine.")]
    await caller.hang_up()
    await eventually(lambda: Call.objects.get().stream_ended_at is not None)
    metrics = await sync_to_async(lambda: Call.objects.get().metrics)()
    assert metrics["preemptive"] == {"hits": 0, "misses": 1}


async def test_a_prepared_reply_that_fails_is_asked_again_once_the_final_confirms(scripted):
    """The speculative request fails: the caller hears no fallback line, the confirmed turn asks again."""
    replies = [ProviderError("upstream 500", provider="scripted-llm"), "We open at nine."]
    scripted.replies = lambda conversation: replies.pop(0)
    caller = await preempted_call(scripted, [QUESTION])
    assert [c.messages[-1].text for c in scripted.llm.conversations] == [QUESTION, QUESTION]
    sent = b"".join(base64.b64decode(m["media"]["payload"]) for m in caller.events("playAudio"))
    answer = scripted.tts.audio_for("We open at nine.")
    assert sent == answer + b"\xff" * (-len(answer) % FRAME_BYTES)
    await eventually(lambda: len(turns()) == 2 and turns()[1][2] != "")
    errors = await sync_to_async(lambda: list(CallEvent.objects.filter(kind="error").values_list("data", flat=True)))()
    assert [e["message"] for e in errors] == ["upstream 500"]
    await caller.hang_up()
    await eventually(lambda: Call.objects.get().stream_ended_at is not None)
    metrics = await sync_to_async(lambda: Call.objects.get().metrics)()
    assert metrics["preemptive"] == {"hits": 0, "misses": 1}
