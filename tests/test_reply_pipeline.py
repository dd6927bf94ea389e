"""Speaking while the LLM writes: sentence splitting, per-turn latency, and the fixed-line speech cache."""

from __future__ import annotations

import time

import pytest

from streaming.providers.base import ProviderError, TextDelta, ToolCall, Usage
from streaming.reply import LONG_CLAUSE, ReplyOutcome, SentenceSplitter, SpeechCache, TurnTiming, stream_sentences

LONG = "We are open from nine in the morning, until five in the evening on weekdays, and closed on Sundays"


def split(*chunks: str) -> tuple[list[list[str]], str]:
    splitter = SentenceSplitter()
    return [splitter.push(c) for c in chunks], splitter.flush()


@pytest.mark.parametrize(
    ("chunks", "pushed", "rest"),
    [
        (["Hello there. How are you?"], [["Hello there."]], "How are you?"),  # the last needs a space or a flush
        (["Hello there. How are you? "], [["Hello there.", "How are you?"]], ""),
        (["Wow!! Really?! Yes… ok"], [["Wow!!", "Really?!", "Yes…"]], "ok"),
        (["A.\nB.\n"], [["A.", "B."]], ""),
        (["Hel", "lo. Wo", "rld. ", "x"], [[], ["Hello."], ["World."], []], "x"),
        (["Hello.", " ", "Bye."], [[], ["Hello."], []], "Bye."),
        (["It costs 3.50 dollars. Fine"], [["It costs 3.50 dollars."]], "Fine"),  # no space after the point
        (["Dr. Smith is in. Ok"], [["Dr.", "Smith is in."]], "Ok"),  # no abbreviation list: "Dr." is a piece
        (["e.g. this one. Done"], [["e.g.", "this one."]], "Done"),
        (["   . Hi. "], [[".", "Hi."]], ""),
        (["Well, maybe later"], [[]], "Well, maybe later"),  # short: commas do not split
        (
            [LONG],
            [["We are open from nine in the morning,", "until five in the evening on weekdays,"]],
            "and closed on Sundays",
        ),
        (
            ["Hi, there is a very long clause without any sentence end that goes on and on, then more"],
            [["Hi, there is a very long clause without any sentence end that goes on and on,"]],
            "then more",
        ),
        (
            ["one; two; three; four five six seven eight nine ten eleven twelve; x"],
            [["one; two; three; four five six seven eight nine ten eleven twelve;"]],
            "x",
        ),
        ([f"{'word ' * 13}and no comma at all here"], [[]], f"{'word ' * 13}and no comma at all here"),
        (["", "  "], [[], []], ""),
    ],
)
def test_sentence_splitter(chunks, pushed, rest):
    assert split(*chunks) == (pushed, rest)


@pytest.mark.parametrize(
    ("text", "pieces", "rest"),
    [
        ('He said "hi." Then left', ['He said "hi."'], "Then left"),
        ("(Like this.) Next", ["(Like this.)"], "Next"),
        ("It's 'done.' Next", ["It's 'done.'"], "Next"),
        ("See [note.] Next", ["See [note.]"], "Next"),
    ],
)
def test_sentence_splitter_keeps_closing_quotes_and_brackets(text, pieces, rest):
    """The closing quote or bracket after a sentence end belongs to that sentence; no text may be lost."""
    assert split(text) == ([pieces], rest)


def test_streamed_token_by_token_gives_the_same_pieces():
    text = "Sure. We open at nine, and we close at five in the evening on every weekday, except holidays. Bye! "
    whole = SentenceSplitter().push(text)
    splitter = SentenceSplitter()
    streamed = [piece for ch in text for piece in splitter.push(ch)]
    assert splitter.flush() == ""
    assert streamed[0] == "Sure." and streamed[-1] == "Bye!"
    assert " ".join(streamed) == " ".join(text.split())
    assert whole[0] == "Sure." and whole[-1] == "Bye!" and LONG_CLAUSE == 60


def test_the_first_piece_may_be_a_clause_the_later_ones_wait_for_a_sentence():
    """The first audio need not wait for a whole sentence: a clause of FIRST_CLAUSE characters is enough."""
    text = "Our hours this week are nine to five, and on Saturday, ten to two. Then, on Sunday, closed. "
    splitter = SentenceSplitter()
    streamed = [piece for ch in text for piece in splitter.push(ch)]
    assert streamed == [
        "Our hours this week are nine to five,",
        "and on Saturday, ten to two.",
        "Then, on Sunday, closed.",
    ]
    assert split("Well, maybe, later, ok") == ([[]], "Well, maybe, later, ok")  # no clause end past 20
    assert SentenceSplitter(first_clause=0).push("Our hours this week are nine to five, and") == []


def test_flush_empties_the_buffer():
    splitter = SentenceSplitter()
    assert splitter.push("  trailing words ") == []
    assert splitter.flush() == "trailing words"
    assert splitter.flush() == ""


# ---- TurnTiming ----
FULL = {"speech_end": 10.0, "stt_final": 10.25, "llm_first_token": 10.75, "tts_first_audio": 11.0}


@pytest.mark.parametrize(
    ("stamps", "latency"),
    [
        (
            {**FULL, "first_frame_sent": 11.125},
            {"stt_ms": 250.0, "llm_ms": 500.0, "tts_ms": 250.0, "send_ms": 125.0, "voice_to_voice_ms": 1125.0},
        ),
        (FULL, {"stt_ms": 250.0, "llm_ms": 500.0, "tts_ms": 250.0}),
        ({"stt_final": 10.25, "llm_first_token": 10.75}, {"llm_ms": 500.0}),
        ({"speech_end": 1.0, "first_frame_sent": 2.0}, {"voice_to_voice_ms": 1000.0}),
        ({"speech_end": 1.0, "stt_final": 1.00012345}, {"stt_ms": 0.1}),
        ({"speech_end": 1.0, "stt_final": 1.00016}, {"stt_ms": 0.2}),
        ({"speech_end": 2.0, "stt_final": 1.5}, {"stt_ms": -500.0}),
        ({}, {}),
    ],
)
def test_turn_timing_as_latency(stamps, latency):
    assert TurnTiming(**stamps).as_latency() == latency


# ---- SpeechCache ----
class FakeTts:
    pass


def test_speech_cache_key():
    assert SpeechCache.key(FakeTts(), "en-US-Ava", "en-US", 1.0, "Goodbye!") == (
        "FakeTts",
        "en-US-Ava",
        "en-US",
        1.0,
        "Goodbye!",
    )


def test_speech_cache_lru_eviction():
    cache = SpeechCache(max_entries=2)
    cache.put(("a",), b"A")
    cache.put(("b",), b"B")
    assert cache.get(("a",)) == b"A"  # a is now the most recent
    cache.put(("c",), b"C")
    assert (cache.get(("a",)), cache.get(("b",)), cache.get(("c",))) == (b"A", None, b"C")
    cache.put(("a",), b"A2")  # overwrite refreshes it
    cache.put(("d",), b"D")
    assert (cache.get(("a",)), cache.get(("c",)), cache.get(("d",))) == (b"A2", None, b"D")
    assert cache.get(("missing",)) is None


def test_speech_cache_miss_does_not_change_order():
    cache = SpeechCache(max_entries=2)
    cache.put(("a",), b"A")
    cache.put(("b",), b"B")
    assert cache.get(("zzz",)) is None
    cache.put(("c",), b"C")
    assert cache.get(("a",)) is None and cache.get(("b",)) == b"B"


# ---- stream_sentences ----
class ScriptedLlm:
    def __init__(self, events, error: Exception | None = None) -> None:
        self.events, self.error = events, error

    async def reply(self, conversation):
        for event in self.events:
            yield event
        if self.error:
            raise self.error


async def collect(llm, timing, outcome) -> list[str]:
    return [sentence async for sentence in stream_sentences(llm, None, timing, outcome)]


async def test_stream_sentences_collects_text_tools_and_usage():
    tool = ToolCall("t1", "end_call", {"reason": "done"})
    events = [TextDelta(" "), TextDelta("Hello"), TextDelta(" there. How"), tool, TextDelta(" are you?"), Usage(3, 4)]
    timing, outcome = TurnTiming(), ReplyOutcome()
    before = time.monotonic()
    assert await collect(ScriptedLlm(events), timing, outcome) == ["Hello there.", "How are you?"]
    assert outcome.text == " Hello there. How are you?"
    assert outcome.tools == [tool] and outcome.usage == Usage(3, 4)
    assert before <= timing.llm_first_token <= time.monotonic()


async def test_stream_sentences_reraises_after_the_sentences_so_far():
    timing, outcome = TurnTiming(), ReplyOutcome()
    llm = ScriptedLlm([TextDelta("One. Two")], error=ProviderError("boom", provider="llm"))
    got: list[str] = []
    with pytest.raises(ProviderError):
        async for sentence in stream_sentences(llm, None, timing, outcome):
            got.append(sentence)
    assert got == ["One."] and outcome.text == "One. Two"


async def test_stream_sentences_with_only_whitespace():
    timing, outcome = TurnTiming(), ReplyOutcome()
    assert await collect(ScriptedLlm([TextDelta("  ")]), timing, outcome) == []
    assert timing.llm_first_token is None and outcome.text == "  "
