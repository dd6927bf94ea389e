"""pocketsphinx speech-to-text on offline-synthesized caller speech: exact phrases, partials, pooling."""

from __future__ import annotations

import asyncio
import audioop
import itertools
import math
import random
import time

import pytest

from streaming.providers.base import ProviderError, Transcript
from streaming.providers.config import FaqEntry
from streaming.providers.offline.sphinx_models import Domain, choose_text, domain_for, normalize
from streaming.providers.offline.sphinx_pool import Recognizer, RecognizerPool
from streaming.providers.offline.sphinx_segmenter import SpeechSegmenter
from streaming.providers.offline.stt import PARTIAL_INTERVAL, PocketsphinxSTT
from streaming.providers.registry import create_stt
from tests.factories import make_config
from tests.speech import frames, silence_ulaw, synthesize_ulaw

FAQ = (
    FaqEntry(("hours", "open"), "What are your opening hours?", "Nine to five."),
    FaqEntry(("parking",), "Is there parking?", "Yes."),
    FaqEntry(("price", "haircut"), "How much does a haircut cost?", "Twenty dollars."),
)
SPEC = make_config(faq=FAQ, end_of_speech_ms=600)


def caller_says(text: str) -> list[bytes]:
    """20 ms μ-law frames: 0.4 s of silence, the phrase, then 0.8 s of silence (enough to end it)."""
    return frames(silence_ulaw(400) + synthesize_ulaw(text) + silence_ulaw(800))


async def feed(stt: PocketsphinxSTT, audio_frames: list[bytes], *, pace: float = 0.0) -> None:
    for index, frame in enumerate(audio_frames):
        stt.feed(frame)
        if pace:
            await asyncio.sleep(pace)
        elif index % 10 == 0:
            await asyncio.sleep(0)


async def transcripts_until_final(stt: PocketsphinxSTT) -> list[Transcript]:
    got = []
    async for transcript in stt.results():
        got.append(transcript)
        if transcript.final:
            return got
    return got


async def final_text(stt: PocketsphinxSTT, text: str) -> str:
    listener = asyncio.create_task(transcripts_until_final(stt))
    await feed(stt, caller_says(text))
    got = await asyncio.wait_for(listener, 10)
    return got[-1].text


@pytest.fixture
async def stt():
    recognizer = PocketsphinxSTT(SPEC)
    await recognizer.start()
    yield recognizer
    await recognizer.close()


@pytest.mark.parametrize(
    "phrase",
    [  # each measured exact in at least 12 of 12 fresh syntheses (eSpeak varies slightly run to run)
        "What are your opening hours?",
        "Is there parking?",
        "How much does a haircut cost?",
        "Goodbye.",
        "Talk to a person.",
        "I want to speak to a human",
        "Operator",
        "Yes.",
        "No.",
        "Hello.",
    ],
)
async def test_faq_and_call_phrases_come_through_exactly(stt, phrase):
    assert await final_text(stt, phrase) == normalize(phrase)


async def test_utterances_in_a_row_on_one_call(stt):
    assert [await final_text(stt, p) for p in ("hello", "is there parking", "goodbye")] == [
        "hello",
        "is there parking",
        "goodbye",
    ]


async def test_partials_come_before_the_final_at_most_every_300_ms(stt):
    arrivals = []

    async def listen():
        async for transcript in stt.results():
            arrivals.append((time.monotonic(), transcript))
            if transcript.final:
                return

    listener = asyncio.create_task(listen())
    await feed(stt, caller_says("what are your opening hours"), pace=0.02)  # real time
    await asyncio.wait_for(listener, 5)

    partials = [(at, t) for at, t in arrivals if not t.final]
    assert arrivals[-1][1] == Transcript("what are your opening hours", final=True)
    assert len(partials) >= 2
    assert partials[0][1].text.split()[0] == "what"
    assert all(a.text != b.text for (_, a), (_, b) in itertools.pairwise(partials))
    assert all(b - a >= PARTIAL_INTERVAL - 0.02 for (a, _), (b, _) in itertools.pairwise(partials))


async def test_two_calls_at_once_hear_their_own_caller():
    first, second = PocketsphinxSTT(SPEC), PocketsphinxSTT(SPEC)

    texts = await asyncio.gather(final_text(first, "is there parking"), final_text(second, "talk to a person"))

    assert texts == ["is there parking", "talk to a person"]
    await asyncio.gather(first.close(), second.close())


async def test_a_full_pool_makes_the_second_caller_wait_not_fail():
    pool = RecognizerPool(max_size=1)
    first, second = PocketsphinxSTT(SPEC, pool=pool), PocketsphinxSTT(SPEC, pool=pool)

    texts = await asyncio.gather(final_text(first, "goodbye"), final_text(second, "what are your opening hours"))

    assert texts == ["goodbye", "what are your opening hours"]
    assert (pool.busy, pool.idle) == (0, 1)
    await first.close()
    await second.close()


async def test_silence_gives_no_transcript_and_close_ends_results(stt):
    listener = asyncio.create_task(transcripts_until_final(stt))
    await feed(stt, frames(silence_ulaw(2000)))
    await asyncio.sleep(0.05)
    await stt.close()

    assert await asyncio.wait_for(listener, 1) == []


async def test_close_is_idempotent_and_returns_the_decoder():
    pool = RecognizerPool(max_size=2)
    stt = PocketsphinxSTT(SPEC, pool=pool)
    await stt.start()
    await feed(stt, frames(silence_ulaw(400) + synthesize_ulaw("what are your opening hours")))  # still speaking
    await asyncio.sleep(0.2)

    await stt.close()
    await stt.close()
    stt.feed(silence_ulaw(20))  # ignored after close
    await asyncio.sleep(0.05)

    assert pool.busy == 0
    assert [t async for t in stt.results()] == []


class FailingPool(RecognizerPool):
    """A pool whose model cannot be loaded."""

    def try_acquire(self, domain):
        raise RuntimeError("model missing")


async def test_a_decoder_failure_surfaces_as_provider_error():
    stt = PocketsphinxSTT(SPEC, pool=FailingPool())
    await feed(stt, caller_says("hello"))

    with pytest.raises(ProviderError, match="offline STT failed: model missing") as failure:
        await asyncio.wait_for(transcripts_until_final(stt), 5)
    stt.feed(silence_ulaw(20))  # dropped, no error

    assert failure.value.provider == "pocketsphinx"
    await stt.close()


async def test_registry_creates_it_for_offline_agents():
    stt = create_stt(make_config(stt_provider="offline"))

    assert isinstance(stt, PocketsphinxSTT)
    await stt.close()


def test_domain_holds_faq_questions_keywords_and_common_phrases():
    domain = domain_for(SPEC)

    assert {"what are your opening hours", "is there parking", "goodbye", "talk to a person"} <= set(domain.phrases)
    assert domain.keywords == ("hours", "open", "parking", "price", "haircut")
    assert domain_for(SPEC).key == domain.key != domain_for(make_config()).key


@pytest.mark.parametrize(
    ("free", "grammar", "chosen"),
    [
        ("what are your opening hours", "what are your opening hours", "what are your opening hours"),
        ("no can you", "no thank you", "no thank you"),  # the grammar agrees with half the words
        ("talk to a", "talk", "talk to a person"),  # incomplete grammar path; free text snaps
        ("monday dog", "one", "monday dog"),  # nothing known: free text stays
        ("i would like can order", "", "i would like can order"),
    ],
)
def test_choose_text(free, grammar, chosen):
    domain = Domain(("what are your opening hours", "no thank you", "talk to a person", "one"), ())

    assert choose_text(free, grammar, domain) == chosen


def test_segmenter_finds_one_utterance_and_its_end():
    segmenter = SpeechSegmenter(end_of_speech_ms=600)
    audio = frames(silence_ulaw(400) + synthesize_ulaw("hello") + silence_ulaw(1000))

    segments = [segmenter.push(audioop.ulaw2lin(frame, 2)) for frame in audio]

    starts = [i for i, s in enumerate(segments) if s.started]
    ends = [i for i, s in enumerate(segments) if s.ended]
    assert len(starts) == len(ends) == 1
    speech_end = 20 + math.ceil(len(synthesize_ulaw("hello")) / 160)  # frame index after the word
    assert 21 <= starts[0] <= 24  # 3 voiced frames out of 5 once the word begins at frame 20
    assert 30 <= ends[0] - speech_end <= 38  # 600 ms (30 frames) of silence plus the VAD's own hangover
    assert len(segments[starts[0]].audio) == 15 * 320  # 300 ms of pre-roll


def test_a_pooled_decoder_forgets_the_audio_of_the_utterance_before():
    """pocketsphinx adapts its cepstral mean to what it decodes; a pooled decoder starts every utterance from the
    initial one, so one caller's line (here loud noise) never changes what the next caller is heard saying."""
    recognizer = Recognizer(domain_for(SPEC))
    noise = bytes(random.Random(1).getrandbits(8) for _ in range(64000))
    for phrase, heard in (("Yes.", "yes"), ("Hello.", "hello"), ("Operator", "operator")):
        recognizer.begin()
        recognizer.process(noise)
        recognizer.finish()
        recognizer.begin()
        recognizer.process(pcm_16k(silence_ulaw(300) + synthesize_ulaw(phrase) + silence_ulaw(300)))
        assert recognizer.finish() == heard


def pcm_16k(ulaw: bytes) -> bytes:
    return audioop.ratecv(audioop.ulaw2lin(ulaw, 2), 2, 1, 8000, 16000, None)[0]
