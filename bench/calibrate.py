"""How long the scripted providers themselves take on this machine, with no engine and an idle event loop.

The nominal provider time (X + Y + first-sentence tokens + Z) assumes every ``asyncio.sleep`` is exact and that
producing audio is free. In fact each sleep wakes up to ~1 ms late (the loop's timer granularity) and
``ScriptedTTS`` computes its tone in pure Python before the first chunk. This measures that floor, so that the
engine's own overhead can be told apart from the measuring instrument's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import time

from bench.metrics import FRAME_MS, Latency
from streaming.providers.base import Conversation, Message, TextDelta
from streaming.providers.config import CallConfig
from tests.fakes.scripted import ScriptedLLM, ScriptedTTS


async def _first_audio_s(llm: ScriptedLLM, tts: ScriptedTTS, conversation: Conversation) -> float:
    """Seconds from asking the LLM to the TTS's first chunk of the first sentence (split like the engine)."""
    began, text = time.monotonic(), ""
    async with contextlib.aclosing(llm.reply(conversation)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                text += event.text
                if ". " in text:
                    break
    sentence = text.split(". ", 1)[0] + "."
    async with contextlib.aclosing(tts.speak(sentence)) as chunks:
        async for _ in chunks:
            break
    return time.monotonic() - began


async def _measure(latency: Latency, phrase: str, repeats: int) -> list[float]:
    llm = ScriptedLLM(first_token_ms=latency.llm_ms, tokens_per_s=latency.tokens_per_s)
    tts = ScriptedTTS(first_audio_ms=latency.tts_ms)
    conversation = Conversation(bench_config(), [Message("caller", phrase)])
    return [await _first_audio_s(llm, tts, conversation) for _ in range(repeats)]


def scripted_floor_ms(latency: Latency, phrase: str, repeats: int = 7) -> float:
    """Median measured provider time for one reply: STT frames (exact, frame-driven) + LLM→first TTS audio."""
    stt = math.ceil(latency.stt_ms / FRAME_MS) * FRAME_MS
    return round(stt + 1000 * statistics.median(asyncio.run(_measure(latency, phrase, repeats))), 1)


def bench_config() -> CallConfig:
    """A call config with the agent model's defaults (the scripted providers ignore it; Conversation needs one)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    django.setup()
    from tests.factories import make_config

    return make_config()
