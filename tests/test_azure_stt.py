"""AzureSTT with the real Speech SDK against a local fake of the Azure Speech service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from streaming.providers.azure.stt import AzureSTT
from streaming.providers.base import ProviderError, Transcript
from tests.factories import make_config
from tests.fakes.azure_speech import NO_MATCH, AzureSpeechFake
from tests.fakes.azure_usp import frames, silence, speech

SPEC = make_config(language="en-GB", end_of_speech_ms=400)
TIMEOUT = 20  # generous: a dropped SDK connection can take seconds to give up


@pytest.fixture
async def stt(azure_fake: AzureSpeechFake) -> AsyncIterator[AzureSTT]:
    recognizer = AzureSTT(SPEC)
    yield recognizer
    await recognizer.close()


def utterance(speech_ms: int = 800) -> bytes:
    """Caller audio: a little silence, speech, then silence long enough to end the utterance."""
    return silence(200) + speech(speech_ms) + silence(600)


async def feed(stt: AzureSTT, audio: bytes) -> None:
    """Feed 20 ms frames faster than real time (the fake works in audio time)."""
    for frame in frames(audio):
        stt.feed(frame)
        await asyncio.sleep(0.001)


async def collect_finals(stt: AzureSTT, count: int) -> list[Transcript]:
    """Everything ``results()`` yields up to and including the ``count``-th final."""
    received: list[Transcript] = []
    async with asyncio.timeout(TIMEOUT):
        async for transcript in stt.results():
            received.append(transcript)
            if sum(t.final for t in received) == count:
                return received
    return received


@contextlib.asynccontextmanager
async def pumping(stt: AzureSTT) -> AsyncIterator[None]:
    """Keep caller audio flowing in the background, as a live call does."""

    async def pump() -> None:
        while True:
            await feed(stt, utterance(400))

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_partials_then_final(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.script_stt("What is my balance.")
    await stt.start()
    audio = utterance(800)

    await feed(stt, audio)
    received = await collect_finals(stt, 1)

    partials = [t.text for t in received if not t.final]
    assert partials == ["what", "what is", "what is my", "what is my balance"]
    assert received[-1] == Transcript("What is my balance.", final=True)
    assert audio.startswith(bytes(azure_fake.stt_audio))  # μ-law reached the service untouched
    assert len(azure_fake.stt_audio) >= 8 * 1400


async def test_language_segmentation_and_key_reach_the_service(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    await stt.start()
    await feed(stt, silence(200))

    async with asyncio.timeout(TIMEOUT):
        while not azure_fake.sent("audio"):
            await asyncio.sleep(0.01)
    context = azure_fake.sent("speech.context")[0].json()
    assert context["phraseDetection"]["language"] == "en-GB"
    assert context["phraseDetection"]["CONVERSATION"]["segmentation"]["segmentationSilenceTimeoutMs"] == 400
    connection = azure_fake.connections[0]
    assert connection.path.startswith("/speech/recognition/conversation/cognitiveservices/v1?language=en-GB")
    assert connection.headers["ocp-apim-subscription-key"] == "test-key"
    wav_header = azure_fake.sent("audio")[0].body
    assert wav_header[:4] == b"RIFF" and int.from_bytes(wav_header[20:22], "little") == 7  # μ-law format tag


async def test_no_match_produces_no_transcript(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.script_stt(NO_MATCH, "Second try.")
    await stt.start()

    await feed(stt, utterance(600) + utterance(600))
    received = await collect_finals(stt, 1)

    assert [t.text for t in received] == ["second", "second try", "Second try."]


async def test_several_utterances_arrive_in_order(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.script_stt("Hello.", "I need an appointment.", "Tomorrow morning.")
    await stt.start()

    await feed(stt, utterance(300) + utterance(900) + utterance(500))
    received = await collect_finals(stt, 3)

    assert [t.text for t in received if t.final] == ["Hello.", "I need an appointment.", "Tomorrow morning."]


async def test_authentication_failure_is_permanent_and_not_retried(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.reject_status = 401
    await stt.start()

    with pytest.raises(ProviderError) as caught:
        async with pumping(stt):
            await collect_finals(stt, 1)

    assert caught.value.permanent is True
    assert caught.value.provider == "azure_stt"
    assert "AuthenticationFailure" in str(caught.value)
    assert stt.reconnects == 0


async def test_reconnects_once_then_fails(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.stt_drop_after_bytes = 1600  # every connection closes with 1011 after 200 ms of audio
    await stt.start()

    with pytest.raises(ProviderError) as caught:
        async with pumping(stt):
            await collect_finals(stt, 1)

    assert caught.value.permanent is False
    assert "ServiceError" in str(caught.value)
    assert stt.reconnects == 1


async def test_reconnect_recovers_the_transcripts(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    azure_fake.stt_drop_after_bytes = 1600
    azure_fake.stt_default = "Are you still there?"
    await stt.start()
    results = stt.results()

    async with pumping(stt), asyncio.timeout(TIMEOUT):
        pending = asyncio.ensure_future(anext(results))  # drives the reconnect
        while stt.reconnects == 0:
            await asyncio.sleep(0.005)
        azure_fake.stt_drop_after_bytes = None  # the service is back
        transcript = await pending
        while not transcript.final:
            transcript = await anext(results)

    assert transcript == Transcript("Are you still there?", final=True)
    assert stt.reconnects == 1
    await results.aclose()


async def test_close_is_idempotent_and_ends_results(azure_fake: AzureSpeechFake, stt: AzureSTT) -> None:
    await stt.start()
    await feed(stt, silence(100))

    await stt.close()
    await stt.close()
    stt.feed(silence(20))  # ignored

    assert [t async for t in stt.results()] == []


async def test_not_configured_is_a_permanent_error(settings) -> None:
    settings.AZURE_SPEECH_HOST = ""
    settings.AZURE_SPEECH_KEY = ""
    stt = AzureSTT(SPEC)

    with pytest.raises(ProviderError) as caught:
        await stt.start()

    assert caught.value.permanent is True
    await stt.close()
