"""eSpeak NG text-to-speech: 8 kHz μ-law output, streaming, cancellation, one engine thread shared."""

from __future__ import annotations

import asyncio
import audioop
import math
import struct
import time

import pytest

from streaming.providers.offline import espeak_engine
from streaming.providers.offline.audio import Resampler
from streaming.providers.offline.tts import EspeakTTS
from streaming.providers.registry import create_tts
from tests.factories import make_config

SENTENCE = "What are your opening hours?"  # 5 words: 1.26 s at 175 words per minute
LONG_TEXT = " ".join(["Our opening hours are nine to five, Monday to Friday."] * 10)  # ~32 s of speech


async def speak(tts: EspeakTTS, text: str) -> list[bytes]:
    return [chunk async for chunk in tts.speak(text)]


def seconds(ulaw: bytes) -> float:
    return len(ulaw) / 8000


@pytest.fixture
def submissions(monkeypatch):
    """Every (request, future) handed to the engine thread, still going through the real engine."""
    seen = []
    real_submit = espeak_engine.submit

    def recording_submit(request):
        future = real_submit(request)
        seen.append((request, future))
        return future

    monkeypatch.setattr(espeak_engine, "submit", recording_submit)
    return seen


async def test_sentence_becomes_plausible_ulaw():
    chunks = await speak(EspeakTTS(make_config()), SENTENCE)
    audio = b"".join(chunks)

    assert all(isinstance(chunk, bytes) and chunk for chunk in chunks)
    assert all(len(chunk) % 160 == 0 for chunk in chunks[:-1])
    assert 1.0 <= seconds(audio) <= 1.6  # 5 words at 175 wpm, with eSpeak's short pauses
    assert audioop.rms(audioop.ulaw2lin(audio, 2), 2) > 1000  # speech, not silence


async def test_speaking_rate_changes_duration():
    normal = seconds(b"".join(await speak(EspeakTTS(make_config()), SENTENCE)))
    fast = seconds(b"".join(await speak(EspeakTTS(make_config(speaking_rate=2.0)), SENTENCE)))
    slow = seconds(b"".join(await speak(EspeakTTS(make_config(speaking_rate=0.6)), SENTENCE)))

    assert 0.4 * normal <= fast <= 0.65 * normal
    assert 1.4 * normal <= slow <= 1.9 * normal


def test_voice_and_speed_come_from_the_agent():
    tts = EspeakTTS(make_config(language="en-GB", speaking_rate=1.2))

    assert (tts.language, tts.wpm) == ("en-gb", 210)
    assert espeak_engine.words_per_minute(0.1) == 80
    assert espeak_engine.words_per_minute(9.0) == 450


@pytest.mark.parametrize("language", ["fr-FR", "de-DE", "xx-YY", ""])
async def test_other_and_unknown_languages_still_speak(language):
    audio = b"".join(await speak(EspeakTTS(make_config(language=language)), "Bonjour"))

    assert 0.3 <= seconds(audio) <= 1.5


async def test_empty_text_yields_nothing():
    assert await speak(EspeakTTS(make_config()), "  ") == []


async def test_first_chunk_arrives_while_synthesis_is_still_running(submissions):
    stream = EspeakTTS(make_config()).speak(LONG_TEXT)

    first = await anext(stream)
    _request, future = submissions[-1]
    running_at_first_chunk = not future.done()
    rest = [chunk async for chunk in stream]

    assert running_at_first_chunk
    assert len(first) == 800  # eSpeak's first 100 ms, converted to 8 kHz
    assert 25 <= seconds(first + b"".join(rest)) <= 40


async def test_closing_the_stream_abandons_the_synthesis(submissions):
    tts = EspeakTTS(make_config())
    stream = tts.speak(LONG_TEXT * 4)  # ~2 minutes of speech, ~0.5 s of work

    await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(asyncio.wrap_future(submissions[-1][1]), 1)

    assert submissions[-1][0].cancelled.is_set()
    assert seconds(b"".join(await speak(tts, "Yes."))) < 1  # the engine is free again


async def test_cancelling_the_consumer_task_abandons_the_synthesis(submissions):
    tts = EspeakTTS(make_config())
    got_one = asyncio.Event()

    async def consume():
        async for _chunk in tts.speak(LONG_TEXT * 4):
            got_one.set()

    task = asyncio.create_task(consume())
    await got_one.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(asyncio.wrap_future(submissions[-1][1]), 1)

    assert submissions[-1][0].cancelled.is_set()


async def test_concurrent_calls_get_their_own_audio():
    first, second = EspeakTTS(make_config()), EspeakTTS(make_config(speaking_rate=1.5))
    solo_short = seconds(b"".join(await speak(first, "Yes.")))
    solo_long = seconds(b"".join(await speak(second, LONG_TEXT)))

    long_audio, short_audio = await asyncio.gather(speak(second, LONG_TEXT), speak(first, "Yes."))

    assert abs(seconds(b"".join(short_audio)) - solo_short) < 0.05
    assert abs(seconds(b"".join(long_audio)) - solo_long) < 0.5


async def test_the_event_loop_keeps_running_during_synthesis():
    gaps, stop = [], False

    async def tick():
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await speak(EspeakTTS(make_config()), LONG_TEXT)
    synthesis_took = time.perf_counter() - started
    stop = True
    await ticker

    assert len(gaps) > 5
    assert max(gaps) < synthesis_took / 2  # a synthesis on the loop would show up as one gap as long as itself


async def test_start_close_and_registry():
    tts = create_tts(make_config(tts_provider="offline"))

    assert isinstance(tts, EspeakTTS)
    await tts.start()
    await tts.close()
    await tts.close()


def tone(frequency: float, rate: int, seconds_: float = 0.5) -> bytes:
    count = int(rate * seconds_)
    return struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count)))


@pytest.mark.parametrize(("frequency", "low", "high"), [(1000, 5500, 5800), (3000, 5000, 5800), (6000, 0, 60)])
def test_downsampling_keeps_the_voice_band_and_removes_what_would_alias(frequency, low, high):
    out = Resampler(22050, 8000).process(tone(frequency, 22050))

    assert len(out) == 8000  # 0.5 s at 8 kHz, PCM16
    assert low <= audioop.rms(out[400:], 2) <= high  # input rms is 5657


def test_resampling_in_chunks_equals_resampling_at_once():
    audio = tone(1234, 22050)
    chunked = Resampler(22050, 8000)

    pieces = b"".join(chunked.process(audio[i : i + 1000]) for i in range(0, len(audio), 1000))

    assert pieces == Resampler(22050, 8000).process(audio)
