"""AzureTTS with the real Speech SDK against a local fake of the Azure Speech service."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator

import pytest

from streaming.providers.azure.tts import AzureTTS, build_ssml
from streaming.providers.base import ProviderError, WordMark
from tests.factories import make_config
from tests.fakes.azure_speech import AzureSpeechFake

SPEC = make_config(voice="en-GB-SoniaNeural", language="en-GB")
TIMEOUT = 20
LONG_TEXT = "Thanks for calling Acme Dental, how can I help you today? We are open from nine to five."


@pytest.fixture
async def tts(azure_fake: AzureSpeechFake) -> AsyncIterator[AzureTTS]:
    synthesizer = AzureTTS(SPEC)
    yield synthesizer
    await synthesizer.close()


async def speak_all(tts: AzureTTS, text: str) -> list[bytes]:
    async with asyncio.timeout(TIMEOUT):
        return [chunk async for chunk in tts.speak(text)]


async def wait_for(condition, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_chunks_arrive_before_synthesis_completes(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_release = threading.Event()  # the fake holds back everything after the first chunk
    await tts.start()

    speech = tts.speak("Hello there, how can I help?")
    async with asyncio.timeout(TIMEOUT):
        first = await anext(speech)

    synthesis = azure_fake.syntheses[0]
    assert first == synthesis.audio[:800]
    assert synthesis.finished_at is None  # the service has not finished: the chunk was streamed
    azure_fake.tts_release.set()
    rest = [chunk async for chunk in speech]
    assert first + b"".join(rest) == azure_fake.audio_for("Hello there, how can I help?")
    assert synthesis.finished_at is not None


async def test_exact_audio_bytes_in_several_chunks(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_chunk_bytes = 333

    chunks = await speak_all(tts, LONG_TEXT)

    expected = azure_fake.audio_for(LONG_TEXT)
    assert b"".join(chunks) == expected
    assert len(chunks) == -(-len(expected) // 333)


async def test_ssml_carries_voice_language_rate_and_escaped_text(azure_fake: AzureSpeechFake) -> None:
    tts = AzureTTS(make_config(voice="fr-FR-DeniseNeural", language="fr-FR", speaking_rate=1.25))
    try:
        await speak_all(tts, 'Tom & Jerry <3 "quotes"')
    finally:
        await tts.close()

    assert azure_fake.ssml_requests == [
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="fr-FR">'
        '<voice name="fr-FR-DeniseNeural"><prosody rate="+25%">Tom &amp; Jerry &lt;3 "quotes"</prosody></voice>'
        "</speak>"
    ]
    assert azure_fake.syntheses[0].text == 'Tom & Jerry <3 "quotes"'
    context = azure_fake.sent("synthesis.context")[0].json()
    assert context["synthesis"]["audio"]["outputFormat"] == "raw-8khz-8bit-mono-mulaw"


def test_ssml_has_no_prosody_at_the_normal_rate_and_clamps_extremes() -> None:
    assert build_ssml("Hi", "en-US-JennyNeural", "en-US") == (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">'
        '<voice name="en-US-JennyNeural">Hi</voice></speak>'
    )
    assert '<prosody rate="+100%">' in build_ssml("Hi", "v", "en-US", rate=3.0)
    assert '<prosody rate="-50%">' in build_ssml("Hi", "v", "en-US", rate=0.1)


async def test_start_preconnects_and_calls_reuse_the_connection(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    await tts.start()
    await wait_for(lambda: azure_fake.connections)

    assert azure_fake.connections[0].path == "/cognitiveservices/websocket/v1"
    assert azure_fake.connections[0].headers["ocp-apim-subscription-key"] == "test-key"
    assert azure_fake.syntheses == []
    await speak_all(tts, "One.")
    await speak_all(tts, "Two.")
    assert [s.text for s in azure_fake.syntheses] == ["One.", "Two."]
    assert len(azure_fake.connections) == 1


async def test_closing_the_iterator_stops_synthesis_and_the_next_one_works(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_chunk_delay = 0.05
    speech = tts.speak(LONG_TEXT)
    async with asyncio.timeout(TIMEOUT):
        await anext(speech)
        await anext(speech)

    await speech.aclose()  # barge-in

    interrupted = azure_fake.syntheses[0]
    assert interrupted.finished_at is None
    azure_fake.tts_chunk_delay = 0.0
    assert b"".join(await speak_all(tts, "Sorry, go ahead.")) == azure_fake.audio_for("Sorry, go ahead.")
    assert len(interrupted.chunk_times) < len(interrupted.audio) // 800
    assert len(azure_fake.connections) == 2  # stopping closed the connection; it was reopened


async def test_cancelling_the_consuming_task_stops_synthesis(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_chunk_delay = 0.05
    received: list[bytes] = []

    async def play() -> None:
        async for chunk in tts.speak(LONG_TEXT):
            received.append(chunk)

    task = asyncio.create_task(play())
    await wait_for(lambda: len(received) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert azure_fake.syntheses[0].finished_at is None
    assert b"".join(await speak_all(tts, "Still here.")) == azure_fake.audio_for("Still here.")


async def test_authentication_failure_is_permanent(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.reject_status = 401
    tts.connect_wait = 0.1  # the failed pre-connection reports nothing: do not wait long for it

    with pytest.raises(ProviderError) as caught:
        await speak_all(tts, "Hello.")

    assert caught.value.permanent is True
    assert caught.value.provider == "azure_tts"
    assert "AuthenticationFailure" in str(caught.value)


async def test_connection_closed_mid_synthesis_is_a_temporary_error(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_drop_after_chunks = 1
    received: list[bytes] = []

    with pytest.raises(ProviderError) as caught:
        async with asyncio.timeout(TIMEOUT):
            async for chunk in tts.speak(LONG_TEXT):
                received.append(chunk)

    assert caught.value.permanent is False
    assert "ServiceError" in str(caught.value)
    assert received == [azure_fake.audio_for(LONG_TEXT)[:800]]
    azure_fake.tts_drop_after_chunks = None
    assert b"".join(await speak_all(tts, "Back.")) == azure_fake.audio_for("Back.")


async def test_slow_first_byte_times_out(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_first_byte_delay = 2.0
    tts.stall_timeout = 0.3
    started = time.monotonic()

    with pytest.raises(ProviderError) as caught:
        await speak_all(tts, "Hello.")

    assert caught.value.permanent is False
    assert time.monotonic() - started < 1.5


async def test_slow_first_byte_within_the_limit_still_streams(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_first_byte_delay = 0.3

    assert b"".join(await speak_all(tts, "Patience.")) == azure_fake.audio_for("Patience.")


async def test_every_reply_streams_its_first_chunk(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    """Three syntheses in a row: each first chunk is ours while the fake has sent only that one chunk."""
    azure_fake.tts_chunk_delay = 0.5  # wide enough that "before the second chunk" is not a race on a loaded machine
    await tts.start()
    await wait_for(lambda: azure_fake.connections)
    chunks_sent_when_yielded = []
    for text in ("First sentence.", "Second sentence.", "Third sentence."):
        speech = tts.speak(text)
        await anext(speech)
        chunks_sent_when_yielded.append(len(azure_fake.syntheses[-1].chunk_times))
        await speech.aclose()

    assert chunks_sent_when_yielded == [1, 1, 1]


async def test_blank_text_sends_nothing(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    assert await speak_all(tts, "  ") == []
    assert azure_fake.syntheses == []


async def test_close_is_idempotent_and_speak_after_close_yields_nothing(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    await tts.start()
    await tts.close()
    await tts.close()

    assert await speak_all(tts, "Anyone?") == []


async def test_not_configured_is_a_permanent_error(settings) -> None:
    settings.AZURE_SPEECH_HOST = ""
    settings.AZURE_SPEECH_REGION = ""
    tts = AzureTTS(SPEC)

    with pytest.raises(ProviderError) as caught:
        await tts.start()

    assert caught.value.permanent is True
    await tts.close()


# --- word marks ----------------------------------------------------------------------------------------------

MARKED_TEXT = "Hello there, how can I help?"  # 28 characters: 560 ms of fake audio, 20 ms per character
MARKED_WORDS = [
    WordMark("Hello", 0.0),
    WordMark("there", 120.0),
    WordMark("how", 260.0),
    WordMark("can", 340.0),
    WordMark("I", 420.0),
    WordMark("help", 460.0),
]


async def speak_marked(tts: AzureTTS, text: str) -> list[WordMark | bytes]:
    """Everything ``speak`` delivers, marks and chunks, in the order the consumer saw it."""
    events: list[WordMark | bytes] = []
    async with asyncio.timeout(TIMEOUT):
        async for chunk in tts.speak(text, on_word=events.append):
            events.append(chunk)
    return events


def assert_each_mark_precedes_its_chunk(events: list[WordMark | bytes]) -> None:
    yielded = 0
    for event in events:
        if isinstance(event, WordMark):
            assert yielded <= event.offset_ms * 8, (event, yielded)  # its first byte was not yielded yet
        else:
            yielded += len(event)


async def test_word_marks_are_exact_in_order_and_precede_their_audio(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    tts.word_wait = 5.0  # wait for the marks themselves, not for the grace period (tested below)

    events = await speak_marked(tts, MARKED_TEXT)

    assert [e for e in events if isinstance(e, WordMark)] == MARKED_WORDS
    assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(MARKED_TEXT)
    assert_each_mark_precedes_its_chunk(events)
    context = azure_fake.sent("synthesis.context")[0].json()
    assert context["synthesis"]["audio"]["metadataOptions"]["wordBoundaryEnabled"] is True
    sent = azure_fake.syntheses[0].boundaries
    assert [(b.text, b.kind) for b in sent if b.kind == "PunctuationBoundary"] == [
        (",", "PunctuationBoundary"),
        ("?", "PunctuationBoundary"),
    ]  # the service sent them; the adapter left them out


async def test_word_marks_with_a_30_ms_wait(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    tts.word_wait = 0.03
    events = await speak_marked(tts, LONG_TEXT)

    expected = [WordMark(word.group(), word.start() * 20.0) for word in re.finditer(r"\w+", LONG_TEXT)]
    assert [e for e in events if isinstance(e, WordMark)] == expected  # 20 ms of fake audio per character
    assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(LONG_TEXT)
    assert_each_mark_precedes_its_chunk(events)  # the SDK fires marks late: without the wait, often not


async def test_by_default_audio_is_never_held_and_every_mark_still_comes(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    events = await speak_marked(tts, LONG_TEXT)
    expected = [WordMark(word.group(), word.start() * 20.0) for word in re.finditer(r"\w+", LONG_TEXT)]
    assert [e for e in events if isinstance(e, WordMark)] == expected
    assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(LONG_TEXT)


async def test_a_chunk_waits_for_its_marks_at_most_word_wait(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    azure_fake.tts_release = threading.Event()  # after the first chunk the fake sends nothing until released
    tts.word_wait = 0.3
    await tts.start()
    marks: list[WordMark] = []

    speech = tts.speak(LONG_TEXT, on_word=marks.append)  # "Thanks" starts in the first chunk, "for" after it
    async with asyncio.timeout(TIMEOUT):
        first = await anext(speech)

    yielded_at = time.monotonic()
    synthesis = azure_fake.syntheses[0]
    assert first == synthesis.audio[:800]
    assert marks == [WordMark("Thanks", 0.0)]
    assert synthesis.finished_at is None
    assert 0.25 < yielded_at - synthesis.chunk_times[0] < 0.3 + 1.0  # held for a later mark, but not for long
    azure_fake.tts_release.set()
    rest = [chunk async for chunk in speech]
    assert first + b"".join(rest) == synthesis.audio
    assert marks[1] == WordMark("for", 140.0)


async def test_speaking_without_a_listener_ignores_the_boundaries(azure_fake: AzureSpeechFake, tts: AzureTTS) -> None:
    assert b"".join(await speak_all(tts, MARKED_TEXT)) == azure_fake.audio_for(MARKED_TEXT)
    assert len(azure_fake.syntheses[0].boundaries) == 8  # six words, two punctuation marks: sent all the same


async def test_closing_early_with_marks_then_the_next_sentence_gets_only_its_own(
    azure_fake: AzureSpeechFake, tts: AzureTTS
) -> None:
    azure_fake.tts_chunk_delay = 0.05
    tts.word_wait = 5.0
    marks: list[WordMark] = []
    speech = tts.speak(LONG_TEXT, on_word=marks.append)
    async with asyncio.timeout(TIMEOUT):
        await anext(speech)
        await anext(speech)

    await speech.aclose()  # barge-in

    assert azure_fake.syntheses[0].finished_at is None
    assert marks == [WordMark("Thanks", 0.0), WordMark("for", 140.0), WordMark("calling", 220.0)]
    azure_fake.tts_chunk_delay = 0.0
    events = await speak_marked(tts, MARKED_TEXT)
    assert [e for e in events if isinstance(e, WordMark)] == MARKED_WORDS
    assert b"".join(e for e in events if isinstance(e, bytes)) == azure_fake.audio_for(MARKED_TEXT)
    assert_each_mark_precedes_its_chunk(events)
