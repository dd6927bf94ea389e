"""Scripted providers with controlled latency, for tests and the benchmark (no speech engines involved).

They ignore the call config (it is optional). The benchmark selects them by dotted path, from the repository root:
``VOICE_PROVIDER_FACTORY=tests.fakes.scripted.create_scripted_providers``.

- STT: energy-based; emits partials while the caller speaks and the next scripted transcript ``final_ms`` after
  the caller's speech ends.
- LLM: first token after ``first_token_ms``, then ``tokens_per_s`` words per second.
- TTS: first audio after ``first_audio_ms``, then audio in real time (``ms_per_char`` of tone per character);
  word marks where each word's first character falls in that audio.
"""

from __future__ import annotations

import asyncio
import audioop
import functools
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from streaming.providers.base import (
    Conversation,
    LanguageModel,
    ProviderError,
    ReplyEvent,
    SpeechToText,
    TextDelta,
    TextToSpeech,
    ToolCall,
    Transcript,
    Usage,
)

try:
    from streaming.providers.base import WordMark
except ImportError:  # `bench/calls.py --source <older commit>` runs these fakes against an engine without it

    @dataclass(frozen=True)
    class WordMark:  # type: ignore[no-redef]
        text: str
        offset_ms: float


from streaming.providers.config import CallConfig

FRAME_MS = 20
WORD = re.compile(r"\w+(?:['’-]\w+)*")  # what ScriptedTTS marks as a word (punctuation is not one)
ENERGY_THRESHOLD = 300  # RMS of 16-bit PCM; speech is in the thousands, μ-law silence is ~0


class ScriptedSTT(SpeechToText):
    """Energy-based, timed like a streaming recognizer. From an utterance's first voiced frame: a partial every
    ``partial_every_ms`` (so the first after that long), showing one more word of the transcript per ``word_ms``
    (capped at the whole transcript; partials go on in the trailing silence until then, as a real recognizer
    catches up, and an unchanged text is not sent twice); the final ``final_ms`` after the last voiced frame.

    Each utterance gets the next of ``transcripts``, cycling: give the call's utterances in order (e.g. a caller
    turn, the "mm-hmm" said over the reply, the next turn). ``partial_every_ms=100``: the older, faster partials.
    """

    name = "scripted-stt"

    def __init__(
        self,
        config: CallConfig | None = None,
        transcripts: Sequence[str] = (),
        *,
        final_ms: int = 150,
        partial_every_ms: int = 300,
        word_ms: int = 300,
    ) -> None:
        self._transcripts = list(transcripts)
        self._final_ms = final_ms
        self._partial_every = partial_every_ms
        self._word_ms = word_ms
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self._elapsed_ms = 0  # since the open utterance's first voiced frame (0: none open)
        self._silence_ms = 0
        self._shown = ""  # the open utterance's last partial
        self._count = 0
        self.fed_bytes = 0

    def _text(self) -> str:
        if self._transcripts:
            return self._transcripts[self._count % len(self._transcripts)]
        return f"caller utterance {self._count + 1}"

    def feed(self, ulaw: bytes) -> None:
        self.fed_bytes += len(ulaw)
        voiced = audioop.rms(audioop.ulaw2lin(ulaw, 2), 2) > ENERGY_THRESHOLD
        if not voiced and not self._elapsed_ms:
            return
        self._elapsed_ms += FRAME_MS
        self._silence_ms = 0 if voiced else self._silence_ms + FRAME_MS
        if self._silence_ms >= max(FRAME_MS, self._final_ms):
            self._queue.put_nowait(Transcript(self._text(), final=True))
            self._count += 1
            self._elapsed_ms = self._silence_ms = 0
            self._shown = ""
        elif self._elapsed_ms % self._partial_every == 0:
            words = self._text().split()
            shown = " ".join(words[: max(1, self._elapsed_ms // self._word_ms)])
            if shown != self._shown:
                self._shown = shown
                self._queue.put_nowait(Transcript(shown, final=False))

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        self._queue.put_nowait(None)


ScriptedReply = str | Sequence[ReplyEvent] | Exception
Replier = Callable[[Conversation], ScriptedReply]


def echo_text(heard: str) -> str:
    """The scripted LLM's default answer to the caller's words ``heard``."""
    return f"You said {heard}. What else can I do for you?"


def echo_reply(conversation: Conversation) -> str:
    """``echo_text`` of the caller's last message."""
    return echo_text(next((m.text for m in reversed(conversation.messages) if m.role == "caller"), ""))


class ScriptedLLM(LanguageModel):
    name = "scripted-llm"

    def __init__(
        self,
        config: CallConfig | None = None,
        replies: Sequence[ScriptedReply] | Replier = echo_reply,
        *,
        first_token_ms: int = 300,
        tokens_per_s: float = 50.0,
    ) -> None:
        self._replies = replies
        self._first_token = first_token_ms / 1000
        self._gap = 1 / tokens_per_s if tokens_per_s else 0.0
        self.conversations: list[Conversation] = []

    def _next(self, conversation: Conversation) -> ScriptedReply:
        if callable(self._replies):
            return self._replies(conversation)
        index = len(self.conversations) - 1
        return self._replies[min(index, len(self._replies) - 1)]

    async def reply(self, conversation: Conversation) -> AsyncIterator[ReplyEvent]:
        self.conversations.append(conversation)
        scripted = self._next(conversation)
        await asyncio.sleep(self._first_token)
        if isinstance(scripted, Exception):
            raise scripted if isinstance(scripted, ProviderError) else ProviderError(str(scripted), provider=self.name)
        if isinstance(scripted, str):
            tokens = scripted.split(" ")
            for i, token in enumerate(tokens):
                if i:
                    await asyncio.sleep(self._gap)
                yield TextDelta(token if i == 0 else " " + token)
            yield Usage(
                prompt_tokens=sum(len(m.text.split()) for m in conversation.messages), completion_tokens=len(tokens)
            )
            return
        for event in scripted:
            yield event


@functools.cache
def _tone_second(freq: int) -> bytes:
    """One second of a sine at a whole number of Hz: it repeats seamlessly."""
    pcm = b"".join(
        int(8000 * math.sin(2 * math.pi * freq * i / 8000)).to_bytes(2, "little", signed=True) for i in range(8000)
    )
    return audioop.lin2ulaw(pcm, 2)


def tone(ms: int, seed: int = 0) -> bytes:
    """A deterministic μ-law tone (a 'voice' the caller can hear and VAD would call speech). Cheap: cached."""
    second = _tone_second(220 + (seed % 7) * 30)
    samples = 8 * ms
    return (second * (samples // 8000 + 1))[:samples]


class ScriptedTTS(TextToSpeech):
    name = "scripted-tts"

    def __init__(
        self,
        config: CallConfig | None = None,
        *,
        first_audio_ms: int = 100,
        ms_per_char: int = 60,
        chunk_ms: int = 100,
        realtime: bool = True,
        fail: Exception | None = None,
    ) -> None:
        self._first_audio = first_audio_ms / 1000
        self._ms_per_char = ms_per_char
        self._chunk_ms = chunk_ms
        self._realtime = realtime
        self.fail = fail
        self.spoken: list[str] = []

    def audio_ms(self, text: str) -> int:
        return max(self._chunk_ms, len(text) * self._ms_per_char)

    def audio_for(self, text: str) -> bytes:
        return tone(self.audio_ms(text), seed=len(text))

    def word_marks(self, text: str) -> list[WordMark]:
        """Each word of ``text`` at ``ms_per_char`` per character before it, clamped to ``audio_for(text)``."""
        end = self.audio_ms(text)
        return [WordMark(m.group(), float(min(m.start() * self._ms_per_char, end))) for m in WORD.finditer(text)]

    async def speak(self, text: str, on_word: Callable[[WordMark], None] | None = None) -> AsyncIterator[bytes]:
        """``on_word`` gets ``word_marks(text)``, each just before the chunk holding its offset is yielded."""
        self.spoken.append(text)
        await asyncio.sleep(self._first_audio)
        if self.fail is not None:
            raise ProviderError(str(self.fail), provider=self.name)
        audio = self.audio_for(text)
        marks = self.word_marks(text) if on_word is not None else []
        size = 8 * self._chunk_ms
        started = time.monotonic()
        for n, i in enumerate(range(0, len(audio), size)):
            if self._realtime and n:
                await asyncio.sleep(max(0.0, started + n * self._chunk_ms / 1000 - time.monotonic()))
            last = i + size >= len(audio)  # it also takes a mark clamped to the very end of the audio
            while on_word is not None and marks and (last or marks[0].offset_ms * 8 < i + size):
                on_word(marks.pop(0))
            yield audio[i : i + size]


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def create_scripted_providers(config: CallConfig) -> tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]:
    """VOICE_PROVIDER_FACTORY for the benchmark: latencies from SCRIPTED_STT_MS (the STT's endpoint delay: the
    final after that much silence) / _LLM_MS / _TTS_MS, SCRIPTED_STT_PARTIAL_MS (300: a partial, one more word, per
    300 ms); SCRIPTED_TRANSCRIPTS "a|b|…": one call's utterances in order (cycling), e.g. "turn 1|mm-hmm|turn 2"."""
    transcripts = [t for t in os.environ.get("SCRIPTED_TRANSCRIPTS", "").split("|") if t]
    stt_ms, partial_ms = _env_int("SCRIPTED_STT_MS", 150), _env_int("SCRIPTED_STT_PARTIAL_MS", 300)
    return (
        ScriptedSTT(config, transcripts, final_ms=stt_ms, partial_every_ms=partial_ms),
        ScriptedLLM(
            config, first_token_ms=_env_int("SCRIPTED_LLM_MS", 300), tokens_per_s=_env_int("SCRIPTED_TOKENS_PER_S", 50)
        ),
        ScriptedTTS(config, first_audio_ms=_env_int("SCRIPTED_TTS_MS", 100)),
    )


_LISTEN_STTS: list[int] = [0]  # STTs made by create_listen_providers in this process


def create_listen_providers(config: CallConfig) -> tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]:
    """VOICE_PROVIDER_FACTORY for listen-mode calls (one at a time): a listen call makes its two STTs in pairs,
    the caller's first, so odd ones get SCRIPTED_TRANSCRIPTS (the caller's utterances) and even ones
    SCRIPTED_PERSON_TRANSCRIPTS (the person's); the STT's endpoint delay is SCRIPTED_STT_MS."""
    person = _LISTEN_STTS[0] % 2 == 1
    _LISTEN_STTS[0] += 1
    name = "SCRIPTED_PERSON_TRANSCRIPTS" if person else "SCRIPTED_TRANSCRIPTS"
    transcripts = [t for t in os.environ.get(name, "").split("|") if t]
    return (
        ScriptedSTT(config, transcripts, final_ms=_env_int("SCRIPTED_STT_MS", 150)),
        ScriptedLLM(config),
        ScriptedTTS(config),
    )


__all__ = [
    "ScriptedLLM",
    "ScriptedSTT",
    "ScriptedTTS",
    "ToolCall",
    "create_listen_providers",
    "create_scripted_providers",
    "echo_reply",
    "echo_text",
    "tone",
]
