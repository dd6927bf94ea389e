"""The latency record of a fixed line (greeting, reprompt, fallback, goodbye, transfer, voicemail).

A fixed line has no caller speech before it: its record measures from the moment the engine decided to speak it
to its first frame on the wire, split into getting the audio (the shared speech store, or TTS) and sending it.
Same interface as ``streaming.reply.TurnTiming`` (``first_frame_sent``, ``as_latency``), so the speaker stores
either with the turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start) * 1000, 1)


@dataclass
class LineTiming:
    """Monotonic timestamps of one fixed line."""

    purpose: str
    requested: float
    audio_ready: float | None = None
    cached: bool | None = None
    first_frame_sent: float | None = None

    def as_latency(self) -> dict[str, Any]:
        steps = {
            "tts_ms": ms(self.requested, self.audio_ready),
            "send_ms": ms(self.audio_ready, self.first_frame_sent),
            "line_ms": ms(self.requested, self.first_frame_sent),
        }
        latency: dict[str, Any] = {"line": self.purpose}
        if self.cached is not None:
            latency["cached"] = self.cached
        return latency | {name: value for name, value in steps.items() if value is not None}

    @staticmethod
    def wrap(timing: LineTiming | None, then: Callable[[], None]) -> Callable[[], None]:
        """``then``, noting first the moment the line's first audio came out of TTS."""

        def first_audio() -> None:
            if timing is not None and timing.audio_ready is None:
                timing.audio_ready = time.monotonic()
            then()

        return first_audio
