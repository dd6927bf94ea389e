"""Counters for the caller's audio: frames in, bad frames, and how late we processed them."""

from __future__ import annotations

import time
from collections import deque

MAX_LAG_MS = 2000


class InboundStats:
    """Inbound lag = our processing time minus Plivo's frame timestamp (epoch ms), as seen on this host.

    Lags go into a fixed 1 ms histogram, so a long call costs no more memory than a short one.
    """

    def __init__(self) -> None:
        self.frames = 0
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
            "inbound_lag_p99_ms": self.lag_p99_ms(),
        }
