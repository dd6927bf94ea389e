"""The agent's audio is ready when it is needed: no holes between a reply's sentences (look-ahead synthesis), and
a greeting from the shared speech store on the first call after a restart."""

from __future__ import annotations

import base64

import pytest

from streaming.audio import FRAME_BYTES
from streaming.providers.speech_cache import speech_cache
from tests.factories import make_config
from tests.fakes.scripted import ScriptedTTS
from tests.test_engine_call import GREETING, connected_call
from tests.test_engine_turn_taking import answered_with_reply

pytestmark = pytest.mark.django_db(transaction=True)
THREE_SENTENCES = "We open at nine in the morning. We close at five in the evening. On Sundays we are closed."


def agent_audio(caller) -> bytes:
    return b"".join(base64.b64decode(m["media"]["payload"]) for m in caller.events("playAudio"))


async def test_no_hole_between_sentences_with_a_real_time_tts(scripted):
    """Each sentence's TTS takes 150 ms to its first audio and then streams in real time: synthesized only after
    the previous one ended, every boundary would leave a hole of ~150 ms."""
    scripted.replies = [THREE_SENTENCES]
    scripted.tts_first_audio_ms = 150
    scripted.ms_per_char = 30
    scripted.tokens_per_s = 1000
    caller = await answered_with_reply(scripted, ["What are your opening hours?"])
    await caller.wait_for_checkpoints(1, timeout=20)
    pieces = [t for t in scripted.tts.spoken if t in THREE_SENTENCES]
    assert len(pieces) == 3
    expected = b"".join(scripted.tts.audio_for(p) for p in pieces)
    assert agent_audio(caller) == expected + b"\xff" * (-len(expected) % FRAME_BYTES)
    assert caller.playout.holes == [] or max(caller.playout.holes) <= 40, caller.playout.holes
    await caller.hang_up()


async def test_the_first_call_after_a_restart_gets_its_greeting_from_the_shared_store(scripted, settings, tmp_path):
    """Another process (or the agent's save) stored the greeting; this process has never synthesized it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    config = make_config(greeting=GREETING)  # what the new agent's version 1 runs with
    stored = b"\x11" * 4000  # not what the scripted TTS would make: proves where the audio came from
    speech_cache.publish_shared(speech_cache.line_key(ScriptedTTS(), config, GREETING), stored)
    speech_cache.clear()  # a fresh process: nothing local

    caller = await connected_call(greeting=GREETING)
    await caller.wait_for_checkpoints(1)
    assert agent_audio(caller) == stored
    assert GREETING not in scripted.tts.spoken
    await caller.hang_up()
