"""Speaking: LLM text streamed sentence by sentence into TTS while the LLM is still writing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from streaming.providers.base import (
    Conversation,
    LanguageModel,
    ProviderError,
    ReplyEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from streaming.providers.speech_cache import SpeechCache, speech_cache  # noqa: F401  (re-exported)

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"[,;:—]\s+")
LONG_CLAUSE = 60  # split at a comma once this many characters are waiting
FIRST_CLAUSE = 20  # the first piece of a reply: a clause this long is enough to start speaking


class SentenceSplitter:
    """Cuts streamed text into speakable pieces: sentences, or long clauses. The first piece of a reply may be a
    clause once it is ``first_clause`` characters long, so the first audio does not wait for a whole sentence."""

    def __init__(self, first_clause: int = FIRST_CLAUSE) -> None:
        self._buffer = ""
        self._first_clause = first_clause
        self._pieces = 0

    def push(self, text: str) -> list[str]:
        self._buffer += text
        pieces: list[str] = []
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if not match and self._pieces == 0 and self._first_clause:
                match = _CLAUSE_END.search(self._buffer, self._first_clause)
            if not match and len(self._buffer) >= LONG_CLAUSE:
                match = _CLAUSE_END.search(self._buffer, LONG_CLAUSE // 2)
            if not match:
                return pieces
            piece, self._buffer = self._buffer[: match.end()].strip(), self._buffer[match.end() :]
            if piece:
                pieces.append(piece)
                self._pieces += 1

    def flush(self) -> str:
        piece, self._buffer = self._buffer.strip(), ""
        return piece


@dataclass
class TurnTiming:
    """Monotonic timestamps of one agent reply, turned into the latency record of the turn."""

    speech_end: float | None = None
    stt_final: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_frame_sent: float | None = None

    def as_latency(self) -> dict[str, float]:
        steps = [
            ("stt_ms", self.speech_end, self.stt_final),
            ("llm_ms", self.stt_final, self.llm_first_token),
            ("tts_ms", self.llm_first_token, self.tts_first_audio),
            ("send_ms", self.tts_first_audio, self.first_frame_sent),
            ("voice_to_voice_ms", self.speech_end, self.first_frame_sent),
        ]
        return {
            name: round((end - start) * 1000, 1) for name, start, end in steps if start is not None and end is not None
        }


@dataclass
class ReplyOutcome:
    text: str = ""
    tools: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None


@contextlib.asynccontextmanager
async def provider_deadline(scope: asyncio.Timeout, message: str, provider: str) -> AsyncIterator[asyncio.Timeout]:
    """Run the block under ``scope``; when *this* scope expires, raise ProviderError(``message``) instead of
    TimeoutError (a TimeoutError from inside the block is left alone)."""
    try:
        async with scope:
            yield scope
    except TimeoutError:
        if not scope.expired():
            raise
        raise ProviderError(message, provider=provider) from None


async def stream_sentences(
    llm: LanguageModel,
    conversation: Conversation,
    timing: TurnTiming,
    outcome: ReplyOutcome,
    stall_s: float | None = None,
) -> AsyncIterator[str]:
    """The LLM's reply as sentences, as soon as each is complete; tools and usage land in ``outcome``.

    The LLM keeps streaming in its own task while the caller of this generator synthesizes earlier sentences.
    With ``stall_s``, an LLM that sends nothing for that long once it has started fails the reply with a
    ProviderError (how long the first event may take is the caller's deadline, not this one).
    """
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    async def think() -> None:
        splitter = SentenceSplitter()
        loop = asyncio.get_running_loop()
        try:  # everything in here: whatever fails must reach the consumer, or it would wait forever
            stalled = f"the language model sent nothing for {stall_s or 0:g} s"
            name = getattr(llm, "name", type(llm).__name__)
            async with provider_deadline(asyncio.timeout(None), stalled, name) as stall:
                async for event in llm.reply(conversation):
                    if stall_s is not None:
                        stall.reschedule(loop.time() + stall_s)
                    _collect(event, splitter, queue, timing, outcome)
            if rest := splitter.flush():
                queue.put_nowait(rest)
            queue.put_nowait(None)
        except Exception as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(exc)

    thinker = asyncio.get_running_loop().create_task(think())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        thinker.cancel()


def _collect(
    event: ReplyEvent, splitter: SentenceSplitter, queue: asyncio.Queue, timing: TurnTiming, outcome: ReplyOutcome
) -> None:
    if isinstance(event, TextDelta):
        if timing.llm_first_token is None and event.text.strip():
            timing.llm_first_token = time.monotonic()
        outcome.text += event.text
        for sentence in splitter.push(event.text):
            queue.put_nowait(sentence)
    elif isinstance(event, ToolCall):
        outcome.tools.append(event)
    elif isinstance(event, Usage):
        outcome.usage = event
