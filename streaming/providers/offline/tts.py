"""Offline text-to-speech: eSpeak NG (robotic but instant), streamed as 8 kHz μ-law.

All synthesis of the process runs on the single eSpeak engine thread (``espeak_engine``). ``speak``
yields each ~100 ms piece as soon as eSpeak produces it; closing the iterator or cancelling its task
sets the request's cancel flag, which aborts the synthesis at eSpeak's next callback, or skips it if it
was still queued behind another call's.

No word marks: ``speak`` accepts ``on_word`` and ignores it, because ``espeak_engine`` passes on audio only.
(eSpeak's synth callback does receive word events, with ``audio_position`` in ms: reading them there and
handing them on with the audio would be the way to add marks.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from streaming.providers.base import ProviderError, TextToSpeech, WordMark
from streaming.providers.config import CallConfig
from streaming.providers.offline import espeak_engine

_DONE = object()


class EspeakTTS(TextToSpeech):
    """eSpeak NG voice for the agent's language (falls back to English) at its speaking rate."""

    name = "espeak"

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.language = espeak_engine.voice_language(config.language)
        self.wpm = espeak_engine.words_per_minute(config.speaking_rate)

    async def start(self) -> None:
        """Load the engine now rather than on the first sentence."""
        await asyncio.wrap_future(espeak_engine.submit(espeak_engine.SynthesisRequest("")))

    async def speak(self, text: str, on_word: Callable[[WordMark], None] | None = None) -> AsyncIterator[bytes]:
        """Stream the synthesis; ``on_word`` is never called (the engine reports no word timings)."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        def deliver(item: object) -> None:  # engine thread -> event loop
            loop.call_soon_threadsafe(chunks.put_nowait, item)

        request = espeak_engine.SynthesisRequest(text, self.language, self.wpm, on_chunk=deliver)
        future = espeak_engine.submit(request)
        future.add_done_callback(lambda done: _deliver_end(deliver, done))
        try:
            while (item := await chunks.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise ProviderError(f"eSpeak synthesis failed: {item}", provider=self.name) from item
                yield item
        finally:
            request.cancelled.set()


def _deliver_end(deliver, future) -> None:
    """Tell the consumer the synthesis is over (or failed); its event loop may already be closed."""
    with contextlib.suppress(RuntimeError):
        deliver(future.exception() or _DONE)
