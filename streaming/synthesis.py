"""Text into an utterance: TTS audio and word timings streamed into the player, with look-ahead.

A reply's pieces (sentences, or a first clause) are synthesized as soon as each is complete, while the earlier
ones are still being queued, so that the next piece's audio is ready when the last one ends: no hole at the
sentence boundary. At most ``LOOKAHEAD`` syntheses are in flight; all of them are cancelled together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from streaming.audio import SAMPLE_RATE
from streaming.playback import Player, Utterance
from streaming.providers.base import TextToSpeech, WordMark
from streaming.reply import provider_deadline

LOOKAHEAD = 2  # the piece being queued and the one after it
Chunks = asyncio.Queue[bytes | WordMark | BaseException | None]  # None: the synthesis ended


class Synthesizer:
    def __init__(self, tts: TextToSpeech, player: Player, stall_s: float) -> None:
        self.tts = tts
        self.player = player
        self.stall_s = stall_s

    async def speak(self, utterance: Utterance, text: str, on_audio: Callable[[], None] | None = None) -> bytes:
        """Synthesize one piece into the utterance as it streams in; returns all of its audio."""
        chunks: Chunks = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self._synthesize(text, chunks))
        try:
            return await self._drain(utterance, text, chunks, on_audio)
        finally:
            task.cancel()

    async def speak_all(
        self, utterance: Utterance, pieces: AsyncIterator[str], on_audio: Callable[[], None] | None = None
    ) -> None:
        """Synthesize ``pieces`` into the utterance in order, each starting as soon as it arrives (bounded).

        An error from ``pieces`` (the language model) or from a synthesis is raised here."""
        loop = asyncio.get_running_loop()
        order: asyncio.Queue[tuple[str, Chunks] | BaseException | None] = asyncio.Queue()
        slots = asyncio.Semaphore(LOOKAHEAD)
        syntheses: list[asyncio.Task] = []

        async def feed() -> None:
            try:
                async for text in pieces:
                    await slots.acquire()
                    chunks: Chunks = asyncio.Queue()
                    syntheses.append(loop.create_task(self._synthesize(text, chunks)))
                    order.put_nowait((text, chunks))
                order.put_nowait(None)
            except Exception as exc:  # handed to the consumer below
                order.put_nowait(exc)

        feeder = loop.create_task(feed())
        try:
            while (item := await order.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                await self._drain(utterance, *item, on_audio)
                slots.release()
        finally:
            for task in (feeder, *syntheses):
                task.cancel()

    async def _synthesize(self, text: str, chunks: Chunks) -> None:
        try:
            async for chunk in self.tts.speak(text, on_word=chunks.put_nowait):
                chunks.put_nowait(chunk)
            chunks.put_nowait(None)
        except Exception as exc:  # handed to the consumer
            chunks.put_nowait(exc)

    async def _drain(
        self, utterance: Utterance, text: str, chunks: Chunks, on_audio: Callable[[], None] | None
    ) -> bytes:
        """Move one piece's audio and word marks into the utterance. A TTS that sends nothing for ``stall_s``
        fails with a ProviderError."""
        start = self.player.add_text(utterance, text)
        audio: list[bytes] = []
        loop = asyncio.get_running_loop()
        stalled = f"text-to-speech sent nothing for {self.stall_s:g} s"
        async with provider_deadline(asyncio.timeout(self.stall_s), stalled, self.tts.name) as stall:
            while (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, WordMark):
                    self.player.add_word(utterance, start + round(item.offset_ms * SAMPLE_RATE / 1000))
                    continue
                stall.reschedule(loop.time() + self.stall_s)
                audio.append(item)
                first = utterance.pushed_bytes == 0
                self.player.add_audio(utterance, item)
                if first and on_audio:
                    on_audio()
        return b"".join(audio)
