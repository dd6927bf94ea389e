"""Counters for the caller's audio: frames in, bad frames, and how late we processed them."""

from __future__ import annotations

import time


class InboundStats:
    """Inbound lag = our processing time minus Plivo's frame timestamp (epoch ms), as seen on this host."""

    def __init__(self) -> None:
        self.frames = 0
        self.bad_frames = 0
        self.unknown_events = 0
        self._pending: list[float] = []
        self._lags: list[float] = []

    def received(self, timestamp_ms: int | None) -> None:
        self.frames += 1
        if timestamp_ms is not None:
            self._pending.append(timestamp_ms)

    def processed(self) -> None:
        if self._pending:
            sent = self._pending.pop(0)
            if len(self._lags) < 200_000:
                self._lags.append(time.time() * 1000 - sent)

    def lag_p99_ms(self) -> float | None:
        if not self._lags:
            return None
        ordered = sorted(self._lags)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)

    def summary(self, frames_out: int) -> dict:
        return {
            "frames_in": self.frames,
            "frames_out": frames_out,
            "bad_frames": self.bad_frames,
            "unknown_events": self.unknown_events,
            "inbound_lag_p99_ms": self.lag_p99_ms(),
        }
