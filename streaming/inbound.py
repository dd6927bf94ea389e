"""Counters for the caller's audio: frames in, bad frames, how late we processed them; the flood guard."""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from streaming.audio import FRAME_BYTES, Framer

MAX_LAG_MS = 2000
BYTES_PER_MS = 8  # μ-law at 8 kHz
FLOOD_ALLOWANCE_MS = 1000  # audio accepted ahead of real time (a burst after a network hiccup is behind, not ahead)
FLOOD_LIMIT_MS = 10_000  # audio offered ahead of real time that ends the stream


class Admit(enum.Enum):
    ACCEPT = "accept"
    DROP = "drop"
    FLOOD = "flood"


class FloodGuard:
    """Caller audio against real time since the socket opened (Plivo cannot send audio before it is spoken).

    Audio more than ``allowance_ms`` ahead of real time is dropped; offered audio (dropped included) more than
    ``limit_ms`` ahead means a sustained flood. O(1) per frame: one clock read and a few additions.
    """

    def __init__(
        self,
        opened_at: float,
        *,
        allowance_ms: int = FLOOD_ALLOWANCE_MS,
        limit_ms: int = FLOOD_LIMIT_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opened_at = opened_at
        self._allowance_ms = allowance_ms
        self._limit_ms = limit_ms
        self._clock = clock
        self._accepted_ms = 0.0
        self._offered_ms = 0.0

    def admit(self, payload_bytes: int) -> Admit:
        duration_ms = payload_bytes / BYTES_PER_MS
        elapsed_ms = (self._clock() - self._opened_at) * 1000
        self._offered_ms += duration_ms
        if self._offered_ms - elapsed_ms > self._limit_ms:
            return Admit.FLOOD
        if self._accepted_ms + duration_ms - elapsed_ms > self._allowance_ms:
            return Admit.DROP
        self._accepted_ms += duration_ms
        return Admit.ACCEPT

    def ahead_ms(self) -> int:
        """Offered audio ahead of real time now (for the log line of a flood)."""
        return round(self._offered_ms - (self._clock() - self._opened_at) * 1000)


class InboundStats:
    """Inbound lag = our processing time minus Plivo's frame timestamp (epoch ms), as seen on this host.

    Lags go into a fixed 1 ms histogram, so a long call costs no more memory than a short one.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.flood_dropped_frames = 0
        self.bad_frames = 0
        self.unknown_events = 0
        self._pending: deque[int] = deque()
        self._histogram = [0] * (MAX_LAG_MS + 1)
        self._measured = 0

    def received(self, timestamp_ms: int | None) -> None:
        self.frames += 1
        if timestamp_ms is not None:
            self._pending.append(timestamp_ms)

    def processed(self) -> None:
        if self._pending:
            lag = time.time() * 1000 - self._pending.popleft()
            self._histogram[min(MAX_LAG_MS, max(0, int(lag)))] += 1
            self._measured += 1

    def lag_p99_ms(self) -> int | None:
        if not self._measured:
            return None
        threshold, seen = self._measured * 0.99, 0
        for lag, count in enumerate(self._histogram):
            seen += count
            if seen >= threshold:
                return lag
        return MAX_LAG_MS

    def summary(self, frames_out: int) -> dict:
        return {
            "frames_in": self.frames,
            "frames_out": frames_out,
            "bad_frames": self.bad_frames,
            "unknown_events": self.unknown_events,
            "flood_dropped_frames": self.flood_dropped_frames,
            "inbound_lag_p99_ms": self.lag_p99_ms(),
        }


class InboundAudio:
    """One side's audio from the socket: admitted against the flood guard and counted as it arrives (``feed``, never
    blocks), read back by its own task as 20 ms frames (``frames``)."""

    def __init__(self, opened_at: float) -> None:
        self.stats = InboundStats()
        self.flood = FloodGuard(opened_at)
        self._framer = Framer()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed(self, audio: bytes, timestamp_ms: int | None = None) -> Admit:
        verdict = self.flood.admit(len(audio))
        if verdict is Admit.ACCEPT:
            self.stats.received(timestamp_ms)
            self._queue.put_nowait(audio)
        else:
            self.stats.received(None)
            self.stats.flood_dropped_frames += 1
        return verdict

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            self.stats.processed()
            for frame in self._framer.push(chunk) if len(chunk) != FRAME_BYTES else (chunk,):
                yield frame
