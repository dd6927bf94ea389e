"""What Plivo does with the audio we send: a buffer played out in real time, checkpoints acknowledged when the
audio before them has played, and clearAudio dropping whatever has not played yet. Pure and clock-driven."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Playout:
    clock: Callable[[], float] = time.monotonic
    play_until: float = 0.0
    checkpoints: list[tuple[str, float]] = field(default_factory=list)
    played: list[tuple[float, bytes]] = field(default_factory=list)  # (play start, audio), dropped audio removed
    frames_received: int = 0
    first_audio_at: float | None = None
    underruns: list[float] = field(default_factory=list)  # ms of silence between consecutive frames of speech
    # Holes: ms of silence before a frame of the same utterance (its predecessor's playout had run dry). An utterance
    # ends at a checkpoint or clearAudio: the gap after those is a latency (a reply, a resumption), not a hole.
    holes: list[float] = field(default_factory=list)
    in_utterance: bool = False

    def audio(self, payload: bytes) -> float:
        """Queue a playAudio payload; returns when it starts playing."""
        now = self.clock()
        self.frames_received += 1
        if self.first_audio_at is None:
            self.first_audio_at = now
        if 0 < self.play_until < now and now - self.play_until < 0.5:
            self.underruns.append((now - self.play_until) * 1000)
        if self.in_utterance and self.play_until < now:
            self.holes.append((now - self.play_until) * 1000)
        self.in_utterance = True
        start = max(now, self.play_until)
        self.play_until = start + len(payload) / 8000
        self.played.append((start, payload))
        return start

    def checkpoint(self, name: str) -> None:
        self.in_utterance = False
        self.checkpoints.append((name, max(self.clock(), self.play_until)))

    def clear(self) -> None:
        """Drop unplayed audio; earlier checkpoints are never acknowledged."""
        now = self.clock()
        self.in_utterance = False
        self.played = [(start, audio) for start, audio in self.played if start <= now]
        self.checkpoints.clear()
        self.play_until = min(self.play_until, now)

    def due(self) -> list[str]:
        """Checkpoints whose audio has played by now (removed once returned)."""
        now = self.clock()
        ready = [name for name, at in self.checkpoints if at <= now]
        self.checkpoints = [(name, at) for name, at in self.checkpoints if at > now]
        return ready

    def next_due_in(self) -> float | None:
        if not self.checkpoints:
            return None
        return max(0.0, min(at for _, at in self.checkpoints) - self.clock())

    def is_playing(self) -> bool:
        return self.play_until > self.clock()
