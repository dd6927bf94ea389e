"""AzureTTS's two synthesizers, with the real Speech SDK against the local Azure Speech fake: the next sentence
is synthesized while the current one still streams (look-ahead), each on its own connection."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest

from streaming.providers.azure.tts import AzureTTS
from streaming.providers.base import ProviderError, WordMark
from tests.fakes.azure_speech import AzureSpeechFake, Synthesis
from tests.test_azure_tts import (
    LONG_TEXT,
    MARKED_TEXT,
    MARKED_WORDS,
    SPEC,
    TIMEOUT,
    assert_each_mark_precedes_its_chunk,
    speak_all,
    speak_marked,
    wait_for,
)


@pytest.fixture
async def tts(azure_fake: AzureSpeechFake) -> AsyncIterator[AzureTTS]:
    synthesizer = AzureTTS(SPEC)
    yield synthesizer
    await synthesizer.close()


SHORT_TEXT = "Second sentence."  # 16 characters: 320 ms of fake audio, 4 chunks


def synthesis_of(azure_fake: AzureSpeechFake, text: str) -> Synthesis:
    (synthesis,) = [s for s in azure_fake.syntheses if s.text == text]
    return synthesis


async def timed_chunks(speech: AsyncIterator[bytes]) -> list[tuple[float, bytes]]:
    async with asyncio.timeout(TIMEOUT):
        return [(time.monotonic(), chunk) async for chunk in speech]


async def test_two_overlapping_speaks_stream_at_the_same_time_on_two_connections(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_first_byte_delay = 0.1
    azure_fake.tts_chunk_delay = 0.05  # LONG_TEXT: 18 chunks, about 1 s
    await tts.start()
    await wait_for(lambda: azure_fake.connections)
    first = asyncio.create_task(timed_chunks(tts.speak(LONG_TEXT)))
    await wait_for(lambda: bool(azure_fake.syntheses and azure_fake.syntheses[0].chunk_times))

    second = await timed_chunks(tts.speak(SHORT_TEXT))
    first_chunks = await first

    long, short = synthesis_of(azure_fake, LONG_TEXT), synthesis_of(azure_fake, SHORT_TEXT)
    assert b"".join(c for _, c in first_chunks) == azure_fake.audio_for(LONG_TEXT)
    assert b"".join(c for _, c in second) == azure_fake.audio_for(SHORT_TEXT)
    assert long.finished_at is not None and short.finished_at is not None
    assert second[0][0] < long.finished_at  # the second streamed while the first was still being synthesized
    assert short.chunk_times[0] < long.chunk_times[-1]
    assert len(azure_fake.connections) == 2

    for _ in range(2):  # later rounds reuse both synthesizers: no more connections
        texts = [f"Round sentence {n}." for n in range(2)]
        results = await asyncio.gather(*(speak_all(tts, text) for text in texts))
        assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
    assert b"".join(await speak_all(tts, "Alone again.")) == azure_fake.audio_for("Alone again.")
    assert len(azure_fake.connections) == 2


async def test_speaks_started_together_reach_the_service_in_order_and_still_overlap(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_first_byte_delay = 0.05
    azure_fake.tts_chunk_delay = 0.03
    rounds = [[f"Round {n}, the sentence heard first.", f"Round {n}, the one after it."] for n in range(4)]

    for texts in rounds:
        results = await asyncio.gather(*(speak_all(tts, text) for text in texts))
        assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
        earlier, later = (synthesis_of(azure_fake, text) for text in texts)
        assert earlier.finished_at is not None
        assert later.chunk_times[0] < earlier.finished_at  # it waited for the first answer, not for the end

    assert [s.text for s in azure_fake.syntheses] == [text for texts in rounds for text in texts]
    assert len(azure_fake.connections) == 2


async def test_a_third_concurrent_speak_waits_for_a_free_synthesizer(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_chunk_delay = 0.02
    texts = ["First of three.", "Second of three.", "Third of three."]

    results = await asyncio.gather(*(speak_all(tts, text) for text in texts))

    assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
    assert [s.text for s in azure_fake.syntheses] == texts
    first, second, third = (synthesis_of(azure_fake, text) for text in texts)
    assert first.finished_at is not None and second.finished_at is not None
    assert third.chunk_times[0] > min(first.finished_at, second.finished_at)  # it waited for one of them
    assert len(azure_fake.connections) == 2


async def test_a_speak_cancelled_while_waiting_for_a_synthesizer_takes_none(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_chunk_delay = 0.02  # LONG_TEXT: 18 chunks, about 0.35 s
    busy = [asyncio.create_task(speak_all(tts, text)) for text in (LONG_TEXT, LONG_TEXT.upper())]
    await wait_for(lambda: len(azure_fake.syntheses) == 2)
    waiting = asyncio.create_task(speak_all(tts, "Never said."))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.gather(*busy)

    texts = ["After one.", "After two."]
    results = await asyncio.gather(*(speak_all(tts, text) for text in texts))
    assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
    assert "Never said." not in [s.text for s in azure_fake.syntheses]
    assert len(azure_fake.connections) == 2


async def test_overlapping_speaks_each_get_exactly_their_own_marks(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_chunk_delay = 0.02
    tts.word_wait = 5.0

    long_events, marked_events = await asyncio.gather(speak_marked(tts, LONG_TEXT), speak_marked(tts, MARKED_TEXT))

    assert [s.text for s in azure_fake.syntheses] == [LONG_TEXT, MARKED_TEXT]
    long, marked = synthesis_of(azure_fake, LONG_TEXT), synthesis_of(azure_fake, MARKED_TEXT)
    assert long.finished_at is not None and marked.chunk_times[0] < long.finished_at  # they did overlap
    long_words = [WordMark(word.group(), word.start() * 20.0) for word in re.finditer(r"\w+", LONG_TEXT)]
    for events, text, words in ((long_events, LONG_TEXT, long_words), (marked_events, MARKED_TEXT, MARKED_WORDS)):
        assert [e for e in events if isinstance(e, WordMark)] == words
        assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(text)
        assert_each_mark_precedes_its_chunk(events)
    assert len(azure_fake.connections) == 2


async def test_closing_one_iterator_early_does_not_disturb_the_other(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_chunk_delay = 0.05
    interrupted = tts.speak(LONG_TEXT)
    async with asyncio.timeout(TIMEOUT):
        await anext(interrupted)
    other = asyncio.create_task(speak_marked(tts, MARKED_TEXT))
    await wait_for(lambda: len(azure_fake.syntheses) == 2 and bool(azure_fake.syntheses[1].chunk_times))

    await interrupted.aclose()  # barge-in on the first; the second goes on
    events = await other

    assert synthesis_of(azure_fake, LONG_TEXT).finished_at is None
    assert [e for e in events if isinstance(e, WordMark)] == MARKED_WORDS
    assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(MARKED_TEXT)
    assert len(azure_fake.connections) == 3  # two synthesizers, and the stopped one reconnected
    azure_fake.tts_chunk_delay = 0.0
    texts = ["Sorry, go ahead.", "I am listening."]
    results = await asyncio.gather(*(speak_all(tts, text) for text in texts))
    assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
    assert len(azure_fake.connections) == 3


async def test_close_ends_both_syntheses_and_closes_both_connections(azure_fake: AzureSpeechFake) -> None:
    azure_fake.tts_chunk_delay = 0.05
    tts = AzureTTS(SPEC)
    received: dict[str, list[bytes]] = {LONG_TEXT: [], LONG_TEXT.upper(): []}  # about 0.85 s each

    async def play(text: str) -> None:
        async for chunk in tts.speak(text):
            received[text].append(chunk)

    players = [asyncio.create_task(play(text)) for text in received]
    await wait_for(lambda: all(received.values()))
    waiting = asyncio.create_task(speak_all(tts, "Third, waiting."))
    await asyncio.sleep(0.02)

    await tts.close()
    await tts.close()

    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(*players)  # ended, no error
        assert await waiting == []
    assert len(azure_fake.tts_sessions) == 2
    await wait_for(lambda: all(session.closed_at is not None for session in azure_fake.tts_sessions))
    assert all(s.finished_at is None for s in azure_fake.syntheses)
    assert "Third, waiting." not in [s.text for s in azure_fake.syntheses]
    assert await speak_all(tts, "Anyone?") == []


@pytest.mark.parametrize("failure", ["stall", "rejected"])
async def test_a_failing_second_synthesis_leaves_the_first_streaming(
    azure_fake: AzureSpeechFake, tts: AzureTTS, failure: str
) -> None:
    azure_fake.tts_chunk_delay = 0.05
    tts.stall_timeout, tts.connect_wait = 0.3, 0.1
    first = asyncio.create_task(speak_all(tts, LONG_TEXT))
    await wait_for(lambda: bool(azure_fake.syntheses and azure_fake.syntheses[0].chunk_times))
    if failure == "stall":
        azure_fake.tts_first_byte_delay = 2.0  # read when a synthesis starts: only the second one waits
    else:
        azure_fake.reject_status = 401  # the second synthesizer's connection is refused

    with pytest.raises(ProviderError) as caught:
        await speak_all(tts, MARKED_TEXT)

    assert caught.value.permanent is (failure == "rejected")
    assert b"".join(await first) == azure_fake.audio_for(LONG_TEXT)
    azure_fake.tts_first_byte_delay, azure_fake.reject_status = 0.0, None
    texts = ["Back one.", "Back two."]
    results = await asyncio.gather(*(speak_all(tts, text) for text in texts))
    assert [b"".join(chunks) for chunks in results] == [azure_fake.audio_for(text) for text in texts]
