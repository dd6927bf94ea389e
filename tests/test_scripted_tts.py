"""ScriptedTTS word marks: each word at ``ms_per_char`` per character before it, ahead of the chunk holding it."""

from __future__ import annotations

from streaming.providers.base import WordMark
from tests.fakes.scripted import ScriptedTTS


async def spoken(tts: ScriptedTTS, text: str) -> list[WordMark | bytes]:
    """Marks and chunks in the order the consumer sees them."""
    events: list[WordMark | bytes] = []
    async for chunk in tts.speak(text, on_word=events.append):
        events.append(chunk)
    return events


async def test_marks_are_exact_and_come_before_the_chunk_holding_their_start() -> None:
    tts = ScriptedTTS(first_audio_ms=0, ms_per_char=60, chunk_ms=100, realtime=False)

    events = await spoken(tts, "Hi, it's Ava. Call me back!")

    audio = tts.audio_for("Hi, it's Ava. Call me back!")  # 27 characters: 1620 ms, 17 chunks of 100 ms
    chunk_sizes = [len(e) for e in events if isinstance(e, bytes)]
    assert b"".join(e for e in events if isinstance(e, bytes)) == audio
    assert chunk_sizes == [800] * 16 + [160]
    marks = [e for e in events if isinstance(e, WordMark)]
    assert marks == [
        WordMark("Hi", 0.0),
        WordMark("it's", 240.0),
        WordMark("Ava", 540.0),
        WordMark("Call", 840.0),
        WordMark("me", 1140.0),
        WordMark("back", 1320.0),
    ]
    # Each mark right before the chunk holding its start: after the chunks that end at or before it.
    assert [len(b"".join(e for e in events[: events.index(m)] if isinstance(e, bytes))) for m in marks] == [
        0,
        1600,  # 240 ms is in the third chunk (200-300 ms)
        4000,
        6400,
        8800,
        10400,
    ]


async def test_a_text_shorter_than_one_chunk_gets_all_its_marks_before_that_chunk() -> None:
    tts = ScriptedTTS(first_audio_ms=0, ms_per_char=60, chunk_ms=500, realtime=False)  # "Ok, go": 360 ms < 500 ms

    events = await spoken(tts, "Ok, go")

    assert events == [WordMark("Ok", 0.0), WordMark("go", 240.0), tts.audio_for("Ok, go")]  # one chunk of 500 ms


async def test_without_a_listener_the_audio_is_unchanged() -> None:
    tts = ScriptedTTS(first_audio_ms=0, ms_per_char=10, chunk_ms=20, realtime=False)
    chunks = [chunk async for chunk in tts.speak("Hello there.")]

    assert b"".join(chunks) == tts.audio_for("Hello there.")
    assert [len(chunk) for chunk in chunks] == [160] * 6
    assert tts.spoken == ["Hello there."]
