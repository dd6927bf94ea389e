"""Offline caller speech for tests: eSpeak NG synthesis as 8 kHz μ-law, silence and 20 ms frames."""

from __future__ import annotations

import functools

from streaming.providers.offline import espeak_engine

ULAW_SILENCE = b"\xff"
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law


@functools.lru_cache(maxsize=256)
def synthesize_ulaw(text: str, *, language: str = "en-US", rate: float = 1.0) -> bytes:
    """``text`` spoken by the offline TTS as 8 kHz mono μ-law (cached; blocking, a few ms per sentence)."""
    voice = espeak_engine.voice_language(language)
    return espeak_engine.synthesize_ulaw(text, voice, espeak_engine.words_per_minute(rate))


def silence_ulaw(ms: int) -> bytes:
    """``ms`` milliseconds of 8 kHz μ-law silence."""
    return ULAW_SILENCE * (8 * ms)


def frames(ulaw: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """``ulaw`` cut into frames of ``size`` bytes, the last one padded with silence."""
    chunks = [ulaw[i : i + size] for i in range(0, len(ulaw), size)]
    if chunks and len(chunks[-1]) < size:
        chunks[-1] += ULAW_SILENCE * (size - len(chunks[-1]))
    return chunks
